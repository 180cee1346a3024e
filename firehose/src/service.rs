//! [`FirehoseService`]: Amazon Data Firehose's API (`Firehose_20150804.*`, JSON 1.1)
//! behind the front door, and a delivery job per delivery stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use freshet_protocol::error::ApiError;
use freshet_protocol::service::{BoxFuture, Call, Reply, Route, Service};
use freshet_storage::{Engine, JobId, ServiceState, TailFrom};

use crate::delivery::{Delivery, DeliveryStats};
use crate::params::{DeliveryStreamConfig, StreamKind};
use crate::pipeline::{Pipeline, PipelineContext};
use crate::sink::Sink;
use crate::store::Buckets;

/// The owner name of the streams this service keeps (`firehose:NAME`).
pub const OWNER: &str = "firehose";

/// The operations it answers.
pub const ACTIONS: &[&str] = &[
    "CreateDeliveryStream",
    "DescribeDeliveryStream",
    "ListDeliveryStreams",
    "DeleteDeliveryStream",
    "UpdateDestination",
    "PutRecord",
    "PutRecordBatch",
    "TagDeliveryStream",
    "UntagDeliveryStream",
    "ListTagsForDeliveryStream",
    "StartDeliveryStreamEncryption",
    "StopDeliveryStreamEncryption",
];

/// Settings of the service.
#[derive(Clone)]
pub struct FirehoseConfig {
    /// Region in ARNs.
    pub region: String,
    /// Account in ARNs.
    pub account_id: String,
    /// Where local buckets live (`<data dir>/buckets`).
    pub buckets_root: std::path::PathBuf,
    /// The S3 endpoint every bucket goes to; `None`: buckets are local directories
    /// under [`buckets_root`](Self::buckets_root).
    pub s3: Option<crate::store::S3Settings>,
    /// The functions service, for Lambda transforms (`None`: a transform fails its
    /// records to the error output).
    pub functions: Option<Arc<dyn freshet_protocol::service::Functions>>,
}

impl std::fmt::Debug for FirehoseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirehoseConfig")
            .field("region", &self.region)
            .field("buckets_root", &self.buckets_root)
            .field("s3", &self.s3)
            .field("functions", &self.functions.is_some())
            .finish()
    }
}

struct Running {
    job: JobId,
    stats: Arc<DeliveryStats>,
}

/// What the handlers share.
pub(crate) struct Firehose {
    pub cfg: FirehoseConfig,
    pub engine: Engine,
    pub state: ServiceState,
    pub buckets: Buckets,
    running: Mutex<HashMap<String, Running>>,
    /// Every delivery stream's kind, by name: what a put needs, without reading the
    /// catalog per request.
    kinds: std::sync::RwLock<HashMap<String, StreamKind>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The catalog key of a delivery stream's settings.
pub(crate) fn stream_key(name: &str) -> String {
    format!("stream/{name}")
}

impl Firehose {
    /// A delivery stream's kind (`None`: no such delivery stream).
    pub fn kind_of(&self, name: &str) -> Option<StreamKind> {
        self.kinds
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .copied()
    }

    /// Records (or forgets, with `None`) a delivery stream's kind.
    pub fn set_kind(&self, name: &str, kind: Option<StreamKind>) {
        let mut kinds = self
            .kinds
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match kind {
            Some(k) => kinds.insert(name.to_string(), k),
            None => kinds.remove(name),
        };
    }

    /// The configs of every delivery stream.
    pub fn all(&self) -> Result<Vec<DeliveryStreamConfig>, ApiError> {
        self.state
            .scan("stream/")
            .map_err(crate::api::storage)?
            .into_iter()
            .map(|(k, v)| {
                serde_json::from_slice(&v).map_err(|e| {
                    ApiError::custom(
                        "ServiceUnavailableException",
                        format!("catalog entry {k}: {e}"),
                        500,
                    )
                })
            })
            .collect()
    }

    /// Starts (or restarts) a delivery stream's job.
    pub fn start(self: &Arc<Self>, config: DeliveryStreamConfig) {
        // The counters outlive a restart (UpdateDestination): they are totals.
        let stats = lock(&self.running)
            .get(&config.name)
            .map(|r| Arc::clone(&r.stats))
            .unwrap_or_default();
        self.stop(&config.name);
        stats
            .active
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let (source, first_start) = match config.kind {
            StreamKind::DirectPut => match Engine::owned_stream(OWNER, &config.name) {
                Ok(s) => (s, TailFrom::TrimHorizon),
                Err(_) => return,
            },
            StreamKind::KinesisStreamAsSource => {
                let stream = config
                    .source_stream_arn
                    .as_deref()
                    .and_then(|a| a.split_once(":stream/"))
                    .map(|(_, s)| s.to_string())
                    .unwrap_or_default();
                (stream, TailFrom::Latest)
            }
        };
        let cx = PipelineContext {
            functions: self.cfg.functions.clone(),
            stream_arn: config.arn(&self.cfg.region, &self.cfg.account_id),
            source_arn: config.source_stream_arn.clone(),
            region: self.cfg.region.clone(),
        };
        let built = Pipeline::new(
            config.destination.processing.as_ref(),
            config.destination.dynamic_partitioning_enabled(),
            cx,
        )
        .and_then(|p| {
            Ok((
                p,
                Sink::of(&config, &config.arn(&self.cfg.region, &self.cfg.account_id))?,
            ))
        });
        let (pipeline, sink) = match built {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(delivery_stream = %config.name, error = %e, "cannot start the delivery");
                return;
            }
        };
        let delivery = Delivery {
            pipeline: Arc::new(pipeline),
            sink: Arc::new(tokio::sync::Mutex::new(sink)),
            engine: self.engine.clone(),
            state: self.state.clone(),
            buckets: self.buckets.clone(),
            config: config.clone(),
            deaggregate: config.kind == StreamKind::KinesisStreamAsSource,
            source,
            first_start,
            stats: Arc::clone(&stats),
        };
        let spawned = self.engine.jobs().spawn_task(
            &format!("firehose-{}", config.name),
            move |ctx: freshet_storage::JobContext| {
                let stop = ctx.stop_signal().clone();
                async move { delivery.run(stop).await }
            },
        );
        match spawned {
            Ok(job) => {
                lock(&self.running).insert(config.name, Running { job, stats });
            }
            Err(e) => {
                tracing::warn!(delivery_stream = %config.name, error = %e, "cannot start a delivery")
            }
        }
    }

    /// `DeliveryStreamStatus`: `CREATING` until its delivery has opened its source and
    /// reached its destination, then `ACTIVE`.
    pub fn status(&self, name: &str) -> &'static str {
        match lock(&self.running).get(name) {
            Some(r) if !r.stats.active.load(std::sync::atomic::Ordering::Relaxed) => "CREATING",
            _ => "ACTIVE",
        }
    }

    /// Stops a delivery stream's job and waits for it (its object in flight is
    /// finished or left as an intent to redo).
    pub fn stop(&self, name: &str) {
        if let Some(r) = lock(&self.running).remove(name) {
            let jobs = self.engine.jobs().clone();
            let _ = jobs.stop(r.job, std::time::Duration::from_secs(30));
        }
    }
}

/// Firehose behind the front door.
pub struct FirehoseService {
    inner: Arc<Firehose>,
}

impl FirehoseService {
    /// Opens the service and starts every delivery stream's job. Call within a tokio
    /// runtime (on a blocking thread: it reads the catalog).
    pub fn open(engine: Engine, cfg: FirehoseConfig) -> Result<FirehoseService, String> {
        let state = engine.service_state(OWNER).map_err(|e| e.to_string())?;
        let buckets = match &cfg.s3 {
            Some(s3) => Buckets::s3(s3.clone())?,
            None => Buckets::local(&cfg.buckets_root),
        };
        let inner = Arc::new(Firehose {
            buckets,
            cfg,
            engine,
            state,
            running: Mutex::new(HashMap::new()),
            kinds: std::sync::RwLock::new(HashMap::new()),
        });
        for config in inner.all().map_err(|e| e.message)? {
            inner.set_kind(&config.name, Some(config.kind));
            inner.start(config);
        }
        Ok(FirehoseService { inner })
    }
}

impl Service for FirehoseService {
    fn name(&self) -> &'static str {
        "firehose"
    }

    fn routes(&self) -> Vec<Route> {
        vec![Route::TargetPrefix("Firehose_20150804.")]
    }

    fn knows(&self, _route: &Route, operation: &str) -> bool {
        ACTIONS.contains(&operation)
    }

    fn call(&self, call: Call) -> BoxFuture<'static, Reply> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let op = call.operation.clone();
            if op == "PutRecordBatch" || op == "PutRecord" {
                // Typed puts on a task of their own (this worker's queue: no thread
                // hand-off), so a panic still answers this request with a 500.
                let (f, body, o) = (Arc::clone(&inner), call.body.clone(), op.clone());
                match tokio::spawn(async move { crate::api::put_on_task(&f, &o, &body).await })
                    .await
                {
                    Ok(Some(Ok(r))) => return r,
                    Ok(Some(Err(e))) => return Reply::Error(e),
                    Ok(None) => {}
                    Err(e) => {
                        return Reply::Error(ApiError::custom(
                            "ServiceUnavailableException",
                            format!("task failed: {e}"),
                            500,
                        ))
                    }
                }
            }
            match tokio::task::spawn_blocking(move || crate::api::dispatch(&inner, &op, &call))
                .await
            {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => Reply::Error(e),
                Err(e) => Reply::Error(ApiError::custom(
                    "ServiceUnavailableException",
                    format!("task failed: {e}"),
                    500,
                )),
            }
        })
    }

    fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        use std::sync::atomic::Ordering::Relaxed;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        for (name, r) in lock(&self.inner.running).iter() {
            let s = &r.stats;
            // The buffer in flight is older than the one filling, when there is one.
            let oldest = match s.oldest_in_flight_ms.load(Relaxed) {
                0 => s.oldest_undelivered_ms.load(Relaxed),
                in_flight => in_flight,
            };
            let freshness = if oldest == 0 {
                0
            } else {
                now.saturating_sub(oldest)
            };
            for (metric, value) in [
                ("records_delivered_total", s.records.load(Relaxed)),
                ("bytes_delivered_total", s.bytes.load(Relaxed)),
                ("objects_written_total", s.objects.load(Relaxed)),
                ("upload_failures_total", s.failures.load(Relaxed)),
                ("error_output_records_total", s.errors.load(Relaxed)),
                ("transform_dropped_total", s.dropped.load(Relaxed)),
                ("data_freshness_ms", freshness),
                ("buffer_expiries_total", s.trimmed.load(Relaxed)),
            ] {
                let _ = writeln!(
                    out,
                    "freshet_firehose_{metric}{{delivery_stream=\"{name}\"}} {value}"
                );
            }
        }
    }

    fn shut_down(&self) {
        // The delivery jobs are stopped and joined by the engine's shutdown, after the
        // front door has drained: a put acknowledged while draining is still delivered
        // (after a restart at the latest).
    }
}
