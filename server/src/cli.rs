//! The `freshet` command line: `freshet serve`, `freshet bench`, and the commands for
//! people ([`crate::people`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use freshet_storage::{Durability, Engine, EngineConfig, RecoveryMode};
use tokio::net::TcpListener;

use freshet_firehose::{FirehoseConfig, FirehoseService};
use freshet_iam::{IamConfig, IamService};
use freshet_kinesis::{ApiConfig, KinesisService};
use freshet_lambda::{LambdaConfig, LambdaService};

use crate::admission::ResourceLimits;
use crate::router::Router;

/// Freshet: Amazon Kinesis Data Streams on one host.
#[derive(Debug, Parser)]
#[command(name = "freshet", version, about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands: the server (`serve`), a load generator (`bench`), and commands for
/// people that talk to a server over HTTP (`streams` ... `completions`, in
/// [`crate::people`]).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the Kinesis API.
    Serve(ServeArgs),
    /// Drive a Kinesis endpoint with a put or get workload and report throughput and latency.
    Bench(crate::bench::BenchArgs),
    /// A hyper-only server that reads request bodies and answers canned replies: the
    /// wire API's ceiling on this machine, for `freshet bench` to measure against.
    #[command(hide = true)]
    BenchCeiling(crate::ceiling::CeilingArgs),
    /// List streams: name, status, mode, open shards, retention, records/s now.
    #[command(after_help = crate::people::streams::STREAMS_HELP)]
    Streams(crate::people::streams::StreamsArgs),
    /// Create a stream and wait until it is ACTIVE.
    #[command(after_help = crate::people::streams::CREATE_HELP)]
    Create(crate::people::streams::CreateArgs),
    /// Delete a stream and wait until it is gone.
    #[command(after_help = crate::people::streams::DELETE_HELP)]
    Delete(crate::people::streams::DeleteArgs),
    /// Show a stream: its summary and its shards' hash ranges and lineage as a tree.
    #[command(after_help = crate::people::streams::DESCRIBE_HELP)]
    Describe(crate::people::streams::DescribeArgs),
    /// Put lines of stdin or a file as records (KPL aggregation), with a summary.
    #[command(after_help = crate::people::put::PUT_HELP)]
    Put(crate::people::put::PutArgs),
    /// Print a stream's records (raw, JSON or hex), following splits and merges.
    #[command(after_help = crate::people::tail::TAIL_HELP)]
    Tail(crate::people::tail::TailArgs),
    /// Show a KCL application's leases: owner, checkpoint, records and ms behind.
    #[command(after_help = crate::people::lag::LAG_HELP)]
    Lag(crate::people::lag::LagArgs),
    /// Run SQL over streams and print the result (a server's PostgreSQL port, or a data directory).
    #[command(after_help = crate::people::sql::SQL_HELP)]
    Sql(crate::people::sql::SqlArgs),
    /// Print a shell completion script for freshet.
    #[command(after_help = crate::people::COMPLETIONS_HELP)]
    Completions(crate::people::CompletionsArgs),
}

/// Options of `freshet serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "FRESHET_ADDR", default_value = "127.0.0.1:4567")]
    pub addr: SocketAddr,
    /// Data directory (created when absent).
    #[arg(long, env = "FRESHET_DATA_DIR", default_value = "./freshet-data")]
    pub data_dir: PathBuf,
    /// When writes are acknowledged: `sync-data` (after fdatasync) or `buffered`.
    #[arg(long, env = "FRESHET_DURABILITY", default_value = "sync-data")]
    pub durability: Durability,
    /// How opening repairs damage: `truncate-torn-tail` (cut bytes after the last
    /// valid frame of each shard's active segment, which were never acknowledged) or
    /// `strict` (refuse to start on any damage and change nothing, naming the file,
    /// offset and failed check). Damage anywhere else always stops the start.
    #[arg(long, env = "FRESHET_RECOVERY", default_value = "truncate-torn-tail")]
    pub recovery: RecoveryMode,
    /// Size of a segment file, bytes.
    #[arg(long, env = "FRESHET_SEGMENT_BYTES", default_value_t = 128 * 1024 * 1024)]
    pub segment_bytes: u64,
    /// Retention of new streams, hours (24 to 8760).
    #[arg(long, env = "FRESHET_RETENTION_HOURS", default_value_t = 24)]
    pub retention_hours: u32,
    /// How long a new stream stays CREATING before it turns ACTIVE, ms.
    #[arg(long, env = "FRESHET_CREATE_DELAY_MS", default_value_t = 0)]
    pub create_delay_ms: u64,
    /// Enforce per-shard throughput limits (1 MiB/s and 1000 records/s in; 2 MiB/s and
    /// 5 reads/s out).
    #[arg(long, env = "FRESHET_ENFORCE_LIMITS", default_value_t = false)]
    pub enforce_limits: bool,
    /// Open shards allowed across all streams (AWS's account default; DescribeLimits'
    /// ShardLimit). CreateStream, SplitShard and UpdateShardCount beyond it fail with
    /// LimitExceededException.
    #[arg(long, env = "FRESHET_SHARD_LIMIT", default_value_t = 500)]
    pub shard_limit: u32,
    /// UpdateShardCount calls a stream accepts per rolling 24 hours (AWS: 10).
    #[arg(long, env = "FRESHET_MAX_SCALING_OPS_PER_DAY", default_value_t = 10)]
    pub max_scaling_ops_per_day: u32,
    /// Whether on-demand streams split hot shards and merge cold ones by themselves
    /// (`false`: they keep the shards they have, as provisioned ones do).
    #[arg(long, env = "FRESHET_ON_DEMAND_SCALING", default_value_t = true, action = clap::ArgAction::Set)]
    pub on_demand_scaling: bool,
    /// Seconds an on-demand stream's shard must stay over a shard's write limits (1 MiB/s
    /// or 1,000 records/s) before it is split.
    #[arg(long, env = "FRESHET_ON_DEMAND_SPLIT_AFTER_SECS", default_value_t = 60)]
    pub on_demand_split_after_secs: u64,
    /// Seconds two adjacent shards of an on-demand stream must stay under half of one
    /// shard's write limits before they are merged (never below 4 open shards).
    #[arg(
        long,
        env = "FRESHET_ON_DEMAND_MERGE_AFTER_SECS",
        default_value_t = 3600
    )]
    pub on_demand_merge_after_secs: u64,
    /// How often the on-demand scaler samples write rates, ms.
    #[arg(
        long,
        env = "FRESHET_ON_DEMAND_INTERVAL_MS",
        default_value_t = 1000,
        hide = true
    )]
    pub on_demand_interval_ms: u64,
    /// Puts are refused with a retryable 503 while the data directory's file system has
    /// less than this many bytes free; they resume by themselves once space returns (0
    /// turns the check off).
    #[arg(long, env = "FRESHET_MIN_FREE_BYTES", default_value_t = 256 << 20)]
    pub min_free_bytes: u64,
    /// Most open client connections; beyond it a connection waits briefly, then gets a
    /// 503.
    #[arg(long, env = "FRESHET_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Most request-body bytes held in memory across all requests; beyond it a request
    /// waits briefly, then gets a 503.
    #[arg(long, env = "FRESHET_MAX_INFLIGHT_BYTES", default_value_t = 256 << 20)]
    pub max_inflight_bytes: usize,
    /// How long a connection or request waits for a free slot before a 503, ms.
    #[arg(long, env = "FRESHET_ADMISSION_WAIT_MS", default_value_t = 500)]
    pub admission_wait_ms: u64,
    /// How long a client may take to send a request head, ms (also how long an idle
    /// keep-alive connection stays open).
    #[arg(long, env = "FRESHET_HEADER_READ_TIMEOUT_MS", default_value_t = 30_000)]
    pub header_read_timeout_ms: u64,
    /// How long a client may take to send a request body, ms.
    #[arg(long, env = "FRESHET_BODY_READ_TIMEOUT_MS", default_value_t = 30_000)]
    pub body_read_timeout_ms: u64,
    /// How long a request may take from its head to its reply, ms.
    #[arg(long, env = "FRESHET_REQUEST_TIMEOUT_MS", default_value_t = 60_000)]
    pub request_timeout_ms: u64,
    /// How long shard iterators stay valid, ms (for tests of ExpiredIteratorException).
    #[arg(
        long,
        env = "FRESHET_ITERATOR_TTL_MS",
        default_value_t = 300_000,
        hide = true
    )]
    pub iterator_ttl_ms: u64,
    /// How long a SubscribeToShard subscription lasts, ms (for tests of re-subscription).
    #[arg(
        long,
        env = "FRESHET_SUBSCRIPTION_TTL_MS",
        default_value_t = 300_000,
        hide = true
    )]
    pub subscription_ttl_ms: u64,
    /// Verify SigV4 signatures against `--access-key` (otherwise any Authorization is
    /// accepted).
    #[arg(long, env = "FRESHET_AUTH", default_value_t = false)]
    pub auth: bool,
    /// An accepted access key as `ID:SECRET` (repeatable; the environment variable takes
    /// a comma-separated list).
    #[arg(
        long = "access-key",
        env = "FRESHET_ACCESS_KEYS",
        value_delimiter = ','
    )]
    pub access_keys: Vec<String>,
    /// HTTPS: `--tls-cert` and `--tls-key`.
    #[command(flatten)]
    pub tls: Box<crate::tls::TlsArgs>,
    /// Serve the web console at `/console` (on `--addr` only when it is a loopback
    /// address; see `--console-addr`).
    #[arg(long, env = "FRESHET_CONSOLE", default_value_t = true, action = clap::ArgAction::Set)]
    pub console: bool,
    /// Also listen on this address for the web console together with the whole API
    /// (the page calls the API on its own origin), for example to reach the console
    /// from another host while `--addr` is not a loopback address.
    #[arg(long, env = "FRESHET_CONSOLE_ADDR", value_name = "ADDR")]
    pub console_addr: Option<SocketAddr>,
    /// Region named in ARNs.
    #[arg(long, env = "FRESHET_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Account id named in ARNs and error messages.
    #[arg(long, env = "FRESHET_ACCOUNT_ID", default_value = "000000000000")]
    pub account_id: String,
    /// The Python interpreter that runs `python3.x` functions (it must import
    /// awslambdaric).
    #[arg(long, env = "FRESHET_LAMBDA_PYTHON", default_value = "python3")]
    pub lambda_python: PathBuf,
    /// Instances of one function that may run at once, unless it reserves another
    /// number (PutFunctionConcurrency).
    #[arg(long, env = "FRESHET_LAMBDA_CONCURRENCY", default_value_t = 10)]
    pub lambda_concurrency: u32,
    /// Seconds an idle function instance is kept warm before it is stopped.
    #[arg(long, env = "FRESHET_LAMBDA_IDLE_SECS", default_value_t = 300)]
    pub lambda_idle_secs: u64,
    /// Firehose's S3 destination.
    #[command(flatten)]
    pub s3: Box<S3Args>,
    /// SQL over streams: `--sql-addr`, `--sql`, `--sql-scan-limit`.
    #[command(flatten)]
    pub sql: Box<crate::people::sql::SqlServeArgs>,
}

/// Where Firehose delivers when not to local directories: an S3 endpoint and its
/// credentials (boxed in [`ServeArgs`], so that `Command`'s variants stay close in size).
#[derive(Debug, Clone, Args)]
pub struct S3Args {
    /// The S3 endpoint Firehose delivers to (every bucket ARN names a bucket there,
    /// addressed path-style). Without it, `AWS_ENDPOINT_URL_S3`, else
    /// `AWS_ENDPOINT_URL`, as the AWS SDKs read them; with none, buckets are directories
    /// under `<data dir>/buckets`.
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// The signing region of the S3 endpoint (else `AWS_DEFAULT_REGION`, else
    /// `--region`).
    #[arg(long, env = "AWS_REGION", value_name = "REGION")]
    pub s3_region: Option<String>,
    /// The access key id Firehose signs S3 requests with (without keys: web identity,
    /// container or instance credentials, as the AWS SDKs find them).
    #[arg(long, env = "AWS_ACCESS_KEY_ID", value_name = "ID")]
    pub s3_access_key_id: Option<String>,
    /// The secret access key that goes with `--s3-access-key-id`.
    #[arg(
        long,
        env = "AWS_SECRET_ACCESS_KEY",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub s3_secret_access_key: Option<String>,
    /// The session token of temporary S3 credentials.
    #[arg(
        long,
        env = "AWS_SESSION_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub s3_session_token: Option<String>,
}

/// Waits for SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
}

/// Firehose's S3 destination, when an endpoint is configured (the flag, else the AWS
/// SDKs' endpoint variables).
fn s3_settings(args: &ServeArgs) -> Option<freshet_firehose::store::S3Settings> {
    let set = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
    let s3 = &args.s3;
    let endpoint = set(&s3.s3_endpoint).or_else(freshet_firehose::store::s3_endpoint_from_env)?;
    let region = set(&s3.s3_region)
        .or_else(|| {
            std::env::var("AWS_DEFAULT_REGION")
                .ok()
                .filter(|v| !v.is_empty())
        })
        .unwrap_or_else(|| args.region.clone());
    Some(freshet_firehose::store::S3Settings {
        endpoint,
        region: Some(region),
        access_key_id: set(&s3.s3_access_key_id),
        secret_access_key: set(&s3.s3_secret_access_key),
        session_token: set(&s3.s3_session_token),
    })
}

/// Runs `freshet serve` until a signal, then shuts down cleanly.
pub async fn serve(args: ServeArgs) -> Result<(), String> {
    if !(24..=8760).contains(&args.retention_hours) {
        return Err(format!(
            "--retention-hours must be between 24 and 8760, not {}",
            args.retention_hours
        ));
    }
    let mut keys = std::collections::BTreeMap::new();
    for k in &args.access_keys {
        let (id, secret) = k
            .split_once(':')
            .ok_or_else(|| format!("--access-key must be ID:SECRET, not {k}"))?;
        keys.insert(id.to_string(), secret.to_string());
    }
    if args.auth && keys.is_empty() {
        return Err("--auth needs at least one --access-key ID:SECRET".into());
    }
    // Checked before anything opens, so a bad file changes nothing.
    let tls = args.tls.acceptor()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut cfg = EngineConfig::new(&args.data_dir);
    cfg.durability = args.durability;
    cfg.recovery = args.recovery;
    cfg.segment_bytes = args.segment_bytes;
    cfg.default_retention_hours = args.retention_hours;
    cfg.shard_limit = args.shard_limit as usize;
    cfg.max_scaling_ops_per_day = args.max_scaling_ops_per_day as usize;
    cfg.min_free_bytes = args.min_free_bytes;
    let engine = tokio::task::spawn_blocking(move || Engine::open(cfg))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot open {}: {e}", args.data_dir.display()))?;
    let api = ApiConfig {
        region: args.region.clone(),
        account_id: args.account_id.clone(),
        create_delay_ms: i64::try_from(args.create_delay_ms).unwrap_or(i64::MAX),
        enforce_limits: args.enforce_limits,
        shard_limit: args.shard_limit,
        iterator_ttl_ms: i64::try_from(args.iterator_ttl_ms).unwrap_or(i64::MAX),
        subscription_ttl_ms: i64::try_from(args.subscription_ttl_ms).unwrap_or(i64::MAX),
        scaling: freshet_kinesis::ScalingConfig {
            enabled: args.on_demand_scaling,
            split_after: Duration::from_secs(args.on_demand_split_after_secs.max(1)),
            merge_after: Duration::from_secs(args.on_demand_merge_after_secs.max(1)),
            interval: Duration::from_millis(args.on_demand_interval_ms.clamp(10, 60_000)),
        },
        ..ApiConfig::default()
    };
    let auth = crate::auth::AuthConfig {
        enabled: args.auth,
        keys,
    };
    let limits = ResourceLimits {
        max_connections: args.max_connections.max(1),
        max_inflight_bytes: args.max_inflight_bytes.max(1),
        admission_wait: Duration::from_millis(args.admission_wait_ms),
        header_read_timeout: Duration::from_millis(args.header_read_timeout_ms.max(1)),
        body_read_timeout: Duration::from_millis(args.body_read_timeout_ms.max(1)),
        request_timeout: Duration::from_millis(args.request_timeout_ms.max(1)),
    };
    let kinesis = {
        let engine = engine.clone();
        tokio::task::spawn_blocking(move || KinesisService::open(engine, api))
            .await
            .map_err(|e| e.to_string())??
    };
    let kinesis_state = std::sync::Arc::clone(kinesis.state());
    let logs = {
        let engine = engine.clone();
        let cfg = freshet_logs::LogsConfig {
            region: args.region.clone(),
            account_id: args.account_id.clone(),
        };
        tokio::task::spawn_blocking(move || freshet_logs::LogsService::open(engine, cfg))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot start the CloudWatch Logs service: {e}"))?
    };
    let functions_endpoint = std::sync::Arc::new(std::sync::OnceLock::new());
    let lambda = {
        let mut cfg = LambdaConfig::new(&args.data_dir);
        cfg.endpoint = std::sync::Arc::clone(&functions_endpoint);
        cfg.logs = Some(logs.sink());
        cfg.region = args.region.clone();
        cfg.account_id = args.account_id.clone();
        cfg.python = args.lambda_python.clone();
        cfg.default_concurrency = args.lambda_concurrency;
        cfg.idle_timeout = Duration::from_secs(args.lambda_idle_secs.max(1));
        let engine = engine.clone();
        tokio::task::spawn_blocking(move || LambdaService::open(engine, cfg))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot start the Lambda service: {e}"))?
    };
    let firehose = {
        let cfg = FirehoseConfig {
            region: args.region.clone(),
            account_id: args.account_id.clone(),
            buckets_root: args.data_dir.join("buckets"),
            s3: s3_settings(&args),
            functions: Some(lambda.functions()),
        };
        let engine = engine.clone();
        tokio::task::spawn_blocking(move || FirehoseService::open(engine, cfg))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot start the Firehose service: {e}"))?
    };
    let iam = IamService::open(
        &engine,
        IamConfig {
            account_id: args.account_id.clone(),
            region: args.region.clone(),
        },
    )
    .map_err(|e| format!("cannot start the IAM service: {e}"))?;
    let mut router = Router::default();
    router
        .add(std::sync::Arc::new(kinesis))
        .map_err(|e| e.to_string())?;
    router
        .add(std::sync::Arc::new(firehose))
        .map_err(|e| e.to_string())?;
    router
        .add(std::sync::Arc::new(lambda))
        .map_err(|e| e.to_string())?;
    router
        .add(std::sync::Arc::new(iam))
        .map_err(|e| e.to_string())?;
    // Kept to drain its sink after the requests (below).
    let logs = std::sync::Arc::new(logs);
    let logs_service: std::sync::Arc<dyn freshet_protocol::service::Service> = logs.clone();
    router.add(logs_service).map_err(|e| e.to_string())?;
    let video = {
        let cfg = freshet_video::VideoConfig {
            region: args.region.clone(),
            account_id: args.account_id.clone(),
            scheme: scheme.to_string(),
            ..freshet_video::VideoConfig::default()
        };
        let engine = engine.clone();
        tokio::task::spawn_blocking(move || freshet_video::VideoService::open(engine, cfg))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot start the Kinesis Video service: {e}"))?
    };
    router
        .add(std::sync::Arc::new(video))
        .map_err(|e| e.to_string())?;
    let console =
        crate::console::Console::new(&kinesis_state, router.services(), args.auth, &args.region);
    router.add(console.clone()).map_err(|e| e.to_string())?;
    let door = crate::FrontDoor::new(router, limits, auth);
    let listener = TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // Functions reach this server through the address it listens on.
    let _ = functions_endpoint.set(format!("{scheme}://{local}"));
    tracing::info!(addr = %local, %scheme, data_dir = %args.data_dir.display(), durability = ?args.durability, "freshet listening");
    // A line tests and scripts can wait for.
    println!("freshet listening on {scheme}://{local}");
    let console_listener = crate::console::listen(
        &door,
        console,
        args.console,
        args.console_addr,
        local,
        scheme,
    )
    .await?;
    // SQL over streams (PostgreSQL wire protocol), stopped with the front door.
    let sql_stop = crate::people::sql::start_listener(&args.sql, &engine).await?;
    crate::console::serve(listener, console_listener, door, tls, shutdown_signal()).await;
    drop(sql_stop);
    // Functions' last lines, written while requests drained, before the engine refuses
    // writes.
    let drained = tokio::task::spawn_blocking(move || logs.drain(Duration::from_secs(10)))
        .await
        .unwrap_or(false);
    if !drained {
        tracing::warn!("the logs sink did not drain within 10 s");
    }
    tokio::task::spawn_blocking(move || engine.shutdown())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("engine shutdown failed: {e}"))?;
    tracing::info!("stopped cleanly");
    Ok(())
}
