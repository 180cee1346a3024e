//! [`LogsService`]: CloudWatch Logs' API (`Logs_20140328.*`, JSON 1.1) behind the front
//! door, and the [`LogSink`] other services write through.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use freshet_protocol::error::ApiError;
use freshet_protocol::service::{BoxFuture, Call, LogSink, Reply, Route, Service};
use freshet_storage::Engine;

use crate::api::ACTIONS;
use crate::params::JSON;
use crate::store::Store;

/// How often the log streams' statistics are saved.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Settings of the service.
#[derive(Debug, Clone)]
pub struct LogsConfig {
    /// Region in ARNs.
    pub region: String,
    /// Account in ARNs.
    pub account_id: String,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
        }
    }
}

/// CloudWatch Logs behind the front door.
pub struct LogsService {
    store: Arc<Store>,
    cfg: Arc<LogsConfig>,
    sink: Arc<dyn LogSink>,
    tx: std::sync::mpsc::SyncSender<crate::sink::Msg>,
    dropped: Arc<AtomicU64>,
}

impl LogsService {
    /// Opens the service over `engine`: loads the log groups, and starts the sink's
    /// writer and the statistics flush as the engine's jobs (stopped, after a last
    /// write and flush, with the engine).
    pub fn open(engine: Engine, cfg: LogsConfig) -> Result<LogsService, String> {
        let store = Arc::new(Store::open(engine.clone()).map_err(|e| e.message)?);
        let (sink, rx) = crate::sink::channel();
        let dropped = Arc::clone(&sink.dropped);
        let tx = sink.tx.clone();
        {
            let store = Arc::clone(&store);
            engine
                .jobs()
                .spawn_thread("logs-sink", move |ctx| crate::sink::run(store, rx, ctx))
                .map_err(|e| e.to_string())?;
        }
        {
            let store = Arc::clone(&store);
            engine
                .jobs()
                .spawn_periodic("logs-flush", FLUSH_EVERY, move || {
                    store.flush().map_err(|e| e.message)
                })
                .map_err(|e| e.to_string())?;
        }
        Ok(LogsService {
            store,
            cfg: Arc::new(cfg),
            sink: Arc::new(sink),
            tx,
            dropped,
        })
    }

    /// The sink other services write log events through (groups and streams are
    /// created when missing).
    pub fn sink(&self) -> Arc<dyn LogSink> {
        Arc::clone(&self.sink)
    }

    /// Writes everything the sink holds and saves the statistics, waiting up to
    /// `bound`; returns whether it finished. Call before shutting the engine down (which
    /// refuses writes from then on): `freshet serve` does, once requests have drained.
    pub fn drain(&self, bound: Duration) -> bool {
        crate::sink::drain(&self.tx, bound)
    }
}

impl Service for LogsService {
    fn name(&self) -> &'static str {
        "logs"
    }

    fn routes(&self) -> Vec<Route> {
        vec![Route::TargetPrefix("Logs_20140328.")]
    }

    fn knows(&self, _route: &Route, operation: &str) -> bool {
        ACTIONS.contains(&operation)
    }

    fn call(&self, call: Call) -> BoxFuture<'static, Reply> {
        let store = Arc::clone(&self.store);
        let cfg = Arc::clone(&self.cfg);
        Box::pin(async move {
            let run = move || crate::api::dispatch(&store, &cfg, &call.operation, &call.body);
            match tokio::task::spawn_blocking(run).await {
                Ok(Ok(v)) => Reply::ok(JSON, v.to_string()),
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
        let _ = writeln!(
            out,
            "freshet_logs_sink_dropped_events_total {}",
            self.dropped.load(Ordering::Relaxed)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use freshet_protocol::service::LogEvent;

    #[test]
    fn what_the_sink_queued_is_written_by_shutdown() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let open = || freshet_storage::Engine::open(freshet_storage::EngineConfig::new(dir.path()));
        let engine = open()?;
        let logs = LogsService::open(engine.clone(), LogsConfig::default())?;
        let sink = logs.sink();
        for i in 0..3 {
            sink.put(
                "/aws/lambda/f",
                "2026/01/01/[$LATEST]00",
                vec![LogEvent {
                    timestamp: 1_000 + i,
                    message: format!("line {i}"),
                }],
            );
        }
        assert!(logs.drain(Duration::from_secs(10)));
        engine.shutdown()?;
        drop((logs, sink, engine));
        let engine = open()?;
        let logs = LogsService::open(engine.clone(), LogsConfig::default())?;
        let body = br#"{"logGroupName": "/aws/lambda/f"}"#;
        let out = crate::api::dispatch(&logs.store, &logs.cfg, "FilterLogEvents", body)
            .map_err(|e| e.message)?;
        let got: Vec<&str> = out["events"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["message"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(got, ["line 0", "line 1", "line 2"]);
        engine.shutdown()?;
        Ok(())
    }
}
