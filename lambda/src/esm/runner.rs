//! One mapping at work: which shards to read (parents before children, after a split
//! or merge), from where (its checkpoints, else the starting position, fixed durably
//! the first time), and a worker per shard.

use crate::lock;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use freshet_storage::{Engine, StartingPosition as EnginePosition};
use tokio::sync::{mpsc, watch};

use super::checkpoint::Checkpoint;
use super::event::EventContext;
use super::filter::FilterCriteria;
use super::params::{MappingConfig, StartingPosition};
use super::shard::{ShardEnd, ShardWorker};
use crate::catalog::{blocking, Catalog};
use crate::config::LambdaConfig;
use crate::model::parse_function_ref;
use crate::runtime::{FunctionSpec, InvokeOutcome, Runtimes};

/// A function's spec and role, as a mapping last loaded it (`None`: no such function).
type CachedSpec = (Instant, Option<(FunctionSpec, String)>);

/// What every mapping shares: the engine, the catalog, the instances.
pub(crate) struct Shared {
    pub engine: Engine,
    pub catalog: Catalog,
    pub runtimes: Runtimes,
    pub cfg: LambdaConfig,
    /// Sends on-failure records to SQS, SNS and S3 endpoints.
    pub destinations: crate::esm::destinations::Sender,
    specs: Mutex<BTreeMap<String, CachedSpec>>,
}

/// How long a function's settings are cached by mappings.
const SPEC_TTL: Duration = Duration::from_millis(500);

impl Shared {
    pub fn new(engine: Engine, catalog: Catalog, runtimes: Runtimes, cfg: LambdaConfig) -> Shared {
        Shared {
            engine,
            catalog,
            runtimes,
            cfg,
            destinations: crate::esm::destinations::Sender::default(),
            specs: Mutex::new(BTreeMap::new()),
        }
    }

    /// The function's spec and role, cached briefly; `None` when it does not exist.
    async fn spec(&self, name: &str) -> Result<Option<(FunctionSpec, String)>, String> {
        if let Some((at, s)) = lock(&self.specs).get(name) {
            if at.elapsed() < SPEC_TTL {
                return Ok(s.clone());
            }
        }
        let catalog = self.catalog.clone();
        let n = name.to_string();
        let f = blocking(move || catalog.function(&n))
            .await
            .map_err(|e| e.message)?;
        let spec = f.and_then(|f| {
            let region = &self.cfg.region;
            let account = &self.cfg.account_id;
            Some((
                FunctionSpec {
                    name: f.name.clone(),
                    arn: f.arn(region, account),
                    runtime: f.runtime.clone(),
                    kind: crate::model::runtime_kind(&f.runtime)?,
                    handler: f.handler.clone(),
                    task_root: crate::code::task_root(&self.cfg.root, &f.name, &f.code_sha256),
                    timeout: Duration::from_secs(u64::from(f.timeout)),
                    memory_size: f.memory_size,
                    environment: f.environment.clone(),
                    revision: f.revision_id.clone(),
                    concurrency: f
                        .reserved_concurrency
                        .unwrap_or(self.cfg.default_concurrency),
                },
                f.role.clone(),
            ))
        });
        lock(&self.specs).insert(name.to_string(), (Instant::now(), spec.clone()));
        Ok(spec)
    }

    /// Invokes a mapping's function, waiting for a free instance. `Err` names the
    /// problem (no such function, shutting down).
    pub async fn invoke(
        &self,
        function_arn: &str,
        payload: Bytes,
    ) -> Result<InvokeOutcome, String> {
        let name = parse_function_ref(function_arn)
            .map(|(n, _)| n)
            .ok_or_else(|| format!("PROBLEM: Function {function_arn} is not a function ARN"))?;
        let Some((spec, _role)) = self.spec(&name).await? else {
            return Err("PROBLEM: Function not found".into());
        };
        self.runtimes
            .invoke(&spec, payload, true, false, None)
            .await
            .map_err(|e| format!("PROBLEM: {e:?}"))
    }

    /// The function's role (`invokeIdentityArn`).
    pub async fn role(&self, function_arn: &str) -> String {
        let name = parse_function_ref(function_arn)
            .map(|(n, _)| n)
            .unwrap_or_default();
        match self.spec(&name).await {
            Ok(Some((_, role))) => role,
            _ => String::new(),
        }
    }
}

/// Counters of one mapping (metrics, LastProcessingResult).
#[derive(Default)]
pub(crate) struct MappingStats {
    pub records: AtomicU64,
    pub invocations: AtomicU64,
    pub errors: AtomicU64,
    pub discarded: AtomicU64,
    pub behind_ms: AtomicU64,
    pub last_result: Mutex<Option<String>>,
}

impl MappingStats {
    pub fn delivered(&self, n: usize) {
        self.records.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub fn invoked(&self, ok: bool) {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_result) = Some(
            if ok {
                "OK"
            } else {
                "PROBLEM: Function call failed"
            }
            .into(),
        );
    }
    pub fn failed(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
    pub fn discarded(&self, n: usize) {
        self.discarded.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub fn problem(&self, p: String) {
        *lock(&self.last_result) = Some(p);
    }
    pub fn set_behind(&self, ms: u64) {
        self.behind_ms.store(ms, Ordering::Relaxed);
    }
    /// LastProcessingResult, when anything was processed.
    pub fn last_result(&self) -> Option<String> {
        lock(&self.last_result).clone()
    }
}

/// The stream a Kinesis source ARN names (a stream ARN or an EFO consumer's).
pub(crate) fn stream_of(arn: &str) -> Option<String> {
    let rest = arn.split_once(":stream/")?.1;
    let name = rest.split('/').next()?;
    (!name.is_empty()).then(|| name.to_string())
}

/// How a mapping's run ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RunEnd {
    /// Asked to stop.
    Stopped,
    /// Its stream was deleted.
    StreamGone,
}

/// Runs one mapping until `stop` turns true or its stream is deleted.
pub(crate) async fn run_mapping(
    shared: Arc<Shared>,
    cfg: Arc<MappingConfig>,
    stop: watch::Receiver<bool>,
    stats: Arc<MappingStats>,
) -> RunEnd {
    let Some(stream) = stream_of(&cfg.event_source_arn) else {
        return RunEnd::StreamGone;
    };
    let filters = match FilterCriteria::parse(&cfg.filter_patterns) {
        Ok(f) => Arc::new(f),
        Err(e) => {
            stats.problem(format!("PROBLEM: {e}"));
            return RunEnd::Stopped;
        }
    };
    let ctx = Arc::new(EventContext {
        event_source_arn: cfg.event_source_arn.clone(),
        region: shared.cfg.region.clone(),
        invoke_identity_arn: shared.role(&cfg.function_arn).await,
    });
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(String, ShardEnd)>();
    let mut checkpoints: BTreeMap<String, Checkpoint> = {
        let catalog = shared.catalog.clone();
        let uuid = cfg.uuid.clone();
        match blocking(move || catalog.checkpoints::<Checkpoint>(&uuid)).await {
            Ok(c) => c.into_iter().collect(),
            Err(e) => {
                stats.problem(format!("PROBLEM: {}", e.message));
                return RunEnd::Stopped;
            }
        }
    };
    let mut running: BTreeSet<String> = BTreeSet::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut stop_rx = stop.clone();
    let end = loop {
        if *stop_rx.borrow() {
            break RunEnd::Stopped;
        }
        let Ok(desc) = shared.engine.describe_stream(&stream) else {
            break RunEnd::StreamGone;
        };
        let retained: BTreeSet<&str> = desc.shards.iter().map(|s| s.shard_id.as_str()).collect();
        for shard in &desc.shards {
            let id = shard.shard_id.clone();
            if running.contains(&id) || checkpoints.get(&id).is_some_and(|c| c.finished) {
                continue;
            }
            let parents: Vec<&str> = [&shard.parent_shard_id, &shard.adjacent_parent_shard_id]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .filter(|p| retained.contains(p))
                .collect();
            if parents
                .iter()
                .any(|p| !checkpoints.get(*p).is_some_and(|c| c.finished))
            {
                continue;
            }
            let cp = match checkpoints.get(&id) {
                Some(c) => c.clone(),
                None => {
                    // First read of this shard: a child of finished parents starts at
                    // its beginning; any other shard at the starting position.
                    let position = if !parents.is_empty() {
                        EnginePosition::TrimHorizon
                    } else {
                        match cfg.starting_position {
                            StartingPosition::TrimHorizon => EnginePosition::TrimHorizon,
                            StartingPosition::Latest => EnginePosition::Latest,
                            StartingPosition::AtTimestamp => EnginePosition::AtTimestamp(
                                (cfg.starting_position_timestamp.unwrap_or(0.0) * 1000.0) as i64,
                            ),
                        }
                    };
                    let Ok(offset) = shared.engine.start_offset(&stream, &id, position) else {
                        continue;
                    };
                    let c = Checkpoint {
                        next_offset: offset,
                        ..Checkpoint::default()
                    };
                    // Fixed durably, so LATEST means the same after a restart.
                    let catalog = shared.catalog.clone();
                    let (uuid, sid, saved) = (cfg.uuid.clone(), id.clone(), c.clone());
                    if blocking(move || catalog.put_checkpoint(&uuid, &sid, &saved))
                        .await
                        .is_err()
                    {
                        continue;
                    }
                    checkpoints.insert(id.clone(), c.clone());
                    c
                }
            };
            running.insert(id.clone());
            let worker = ShardWorker {
                shared: Arc::clone(&shared),
                cfg: Arc::clone(&cfg),
                filters: Arc::clone(&filters),
                sizer: super::event::EntrySizer::new(&ctx, &id),
                ctx: Arc::clone(&ctx),
                stream: stream.clone(),
                shard_id: Arc::from(id.as_str()),
                checkpoint: cp,
                stop: stop.clone(),
                stats: Arc::clone(&stats),
            };
            let tx = done_tx.clone();
            tasks.spawn(async move {
                let end = worker.run().await;
                let _ = tx.send((id, end));
            });
        }
        // Wait for a shard to finish (its children may start), or look again later
        // for shards a reshard added.
        tokio::select! {
            Some((id, end)) = done_rx.recv() => {
                running.remove(&id);
                match end {
                    ShardEnd::Finished => {
                        checkpoints.entry(id).or_default().finished = true;
                    }
                    ShardEnd::StreamGone => {
                        if shared.engine.describe_stream(&stream).is_err() {
                            break RunEnd::StreamGone;
                        }
                    }
                    ShardEnd::Stopped => {}
                }
            }
            _ = stop_rx.changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    };
    // Workers see the same stop signal; wait for them to reach a checkpoint.
    while tasks.join_next().await.is_some() {}
    end
}
