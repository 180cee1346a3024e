//! The real-time driver of a [`Worker`]: ticks it on `Instant` until shut down.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::config::Config;
use crate::config::Retrieval;
use crate::metrics::WorkerMetrics;
use crate::processor::ShardRecordProcessorFactory;
use crate::source::{ShardSource, SubscribeSource};
use crate::store::LeaseStore;
use crate::worker::Worker;

/// Runs one worker in real time. Make it with [`Scheduler::new`], spawn
/// [`Scheduler::run`], and stop it through the [`SchedulerHandle`].
pub struct Scheduler<F: ShardRecordProcessorFactory> {
    worker: Worker<F>,
    stop: watch::Receiver<bool>,
    metrics: Arc<Mutex<WorkerMetrics>>,
}

impl<F: ShardRecordProcessorFactory> std::fmt::Debug for Scheduler<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

/// Stops a running [`Scheduler`] and reads its metrics.
#[derive(Debug, Clone)]
pub struct SchedulerHandle {
    stop: Arc<watch::Sender<bool>>,
    metrics: Arc<Mutex<WorkerMetrics>>,
}

impl SchedulerHandle {
    /// Asks for a graceful shutdown: processors checkpoint, leases are released, then
    /// `run` returns.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    /// The latest metrics.
    pub fn metrics(&self) -> WorkerMetrics {
        self.metrics
            .lock()
            .map(|m| m.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }
}

impl<F: ShardRecordProcessorFactory> Scheduler<F> {
    /// A scheduler for one worker. With [`Retrieval::FanOut`] configured it still
    /// polls (there is no subscription source): use [`Scheduler::with_fan_out`].
    pub fn new(
        cfg: Config,
        store: Arc<dyn LeaseStore>,
        source: Arc<dyn ShardSource>,
        factory: F,
    ) -> (Self, SchedulerHandle) {
        if matches!(cfg.retrieval, Retrieval::FanOut { .. }) {
            tracing::warn!(
                "enhanced fan-out configured without a SubscribeSource: polling instead (use Scheduler::with_fan_out)"
            );
        }
        Self::build(cfg, store, source, factory)
    }

    fn build(
        cfg: Config,
        store: Arc<dyn LeaseStore>,
        source: Arc<dyn ShardSource>,
        factory: F,
    ) -> (Self, SchedulerHandle) {
        let (tx, rx) = watch::channel(false);
        let metrics = Arc::new(Mutex::new(WorkerMetrics::default()));
        (
            Scheduler {
                worker: Worker::new(cfg, store, source, factory),
                stop: rx,
                metrics: metrics.clone(),
            },
            SchedulerHandle {
                stop: Arc::new(tx),
                metrics,
            },
        )
    }

    /// A scheduler for one worker reading with enhanced fan-out through `fan_out`
    /// (see [`Config::with_fan_out`]; `source` still lists shards).
    pub fn with_fan_out(
        cfg: Config,
        store: Arc<dyn LeaseStore>,
        source: Arc<dyn ShardSource>,
        fan_out: Arc<dyn SubscribeSource>,
        factory: F,
    ) -> (Self, SchedulerHandle) {
        let (mut scheduler, handle) = Self::build(cfg, store, source, factory);
        scheduler.worker = scheduler.worker.with_fan_out(fan_out);
        (scheduler, handle)
    }

    fn publish(&self) {
        if let Ok(mut m) = self.metrics.lock() {
            *m = self.worker.metrics();
        }
    }

    /// Runs until [`SchedulerHandle::shutdown`] (or until every handle is dropped),
    /// then shuts down gracefully; returns the final metrics.
    pub async fn run(mut self) -> WorkerMetrics {
        let start = Instant::now();
        let clock = || u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let cap = self.worker.config().renew_interval_ms();
        let wake = self.worker.wakeup();
        loop {
            if *self.stop.borrow() {
                break;
            }
            let now = clock();
            self.worker.tick(now).await;
            self.publish();
            let wait = self
                .worker
                .next_wakeup()
                .saturating_sub(clock())
                .clamp(1, cap);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                _ = wake.notified() => {}
                changed = self.stop.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        self.worker.shutdown(clock()).await;
        self.publish();
        self.worker.metrics()
    }
}
