//! The worker: a state machine over leases and shards that steps on an injected clock
//! (`tick(now)`, milliseconds on the worker's own monotonic clock) and reads through an
//! injected [`ShardSource`]. The real-time [`Scheduler`](crate::Scheduler) drives it
//! with `Instant`; a simulation drives it with a virtual clock.

mod fanout;
mod leases;
mod shard;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use freshet_client::Shard;
use tokio::sync::Notify;

use crate::checkpointer::Checkpointer;
use crate::config::{Config, Retrieval};
use crate::lease::{ExtendedSequence, StoredLease};
use crate::metrics::WorkerMetrics;
use crate::processor::{ShardRecordProcessor, ShardRecordProcessorFactory};
use crate::source::{ShardSource, SubscribeSource};
use crate::store::LeaseStore;

/// Where the processing of one held shard is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardState {
    /// Held, but a parent has not reached SHARD_END yet.
    WaitingOnParents,
    /// About to call `initialize`.
    Initializing,
    /// Reading (polling GetRecords, or subscribed with enhanced fan-out) and
    /// delivering.
    Processing {
        /// The next iterator (`None`: get one from the checkpoint; always `None` with
        /// enhanced fan-out).
        iterator: Option<String>,
        /// Records up to this position were already processed (resume point).
        skip_through: Option<ExtendedSequence>,
    },
    /// Read to the end of a closed shard; waiting for the SHARD_END checkpoint.
    ShardEnded,
}

impl ShardState {
    fn initialized(&self) -> bool {
        matches!(self, ShardState::Processing { .. } | ShardState::ShardEnded)
    }
}

struct Held<P> {
    processor: P,
    cp: Checkpointer,
    state: ShardState,
    /// When the last successful renewal (or the take) started.
    renewed_at: u64,
    /// No processing before this (fence after a forced take).
    not_before: u64,
    next_poll: u64,
    idle: u64,
    /// The enhanced fan-out subscription, while one is open.
    subscription: Option<fanout::Subscription>,
}

/// One worker of an application: holds leases, balances them with the other workers
/// through the lease store, and runs a processor per held shard.
pub struct Worker<F: ShardRecordProcessorFactory> {
    cfg: Config,
    store: Arc<dyn LeaseStore>,
    source: Arc<dyn ShardSource>,
    factory: F,
    held: BTreeMap<String, Held<F::Processor>>,
    /// Per lease: the heartbeat last seen and when (own clock) it was first seen.
    observed: HashMap<String, (u64, u64)>,
    snapshot: BTreeMap<String, StoredLease>,
    shards: BTreeMap<String, Shard>,
    next_sync: u64,
    next_renew: u64,
    next_take: u64,
    /// A handoff this worker asked for: key and when.
    handoff: Option<(String, u64)>,
    metrics: WorkerMetrics,
    /// Enhanced fan-out, when configured and given a [`SubscribeSource`].
    fan_out: Option<fanout::FanOut>,
    /// Woken when a subscription delivers.
    wake: Arc<Notify>,
}

impl<F: ShardRecordProcessorFactory> std::fmt::Debug for Worker<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("worker_id", &self.cfg.worker_id)
            .field("held", &self.held.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl<F: ShardRecordProcessorFactory> Worker<F> {
    /// A worker that has not done anything yet; its first `tick` syncs shards, takes
    /// leases and starts processing.
    pub fn new(
        cfg: Config,
        store: Arc<dyn LeaseStore>,
        source: Arc<dyn ShardSource>,
        factory: F,
    ) -> Self {
        Worker {
            cfg,
            store,
            source,
            factory,
            held: BTreeMap::new(),
            observed: HashMap::new(),
            snapshot: BTreeMap::new(),
            shards: BTreeMap::new(),
            next_sync: 0,
            next_renew: 0,
            next_take: 0,
            handoff: None,
            metrics: WorkerMetrics::default(),
            fan_out: None,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Reads with enhanced fan-out through `source` when the configuration asks for
    /// it ([`Retrieval::FanOut`]); with [`Retrieval::Polling`] the source is unused.
    pub fn with_fan_out(mut self, source: Arc<dyn SubscribeSource>) -> Self {
        if let Retrieval::FanOut { consumer_name } = &self.cfg.retrieval {
            self.fan_out = Some(fanout::FanOut::new(
                source,
                consumer_name,
                Arc::clone(&self.wake),
            ));
        }
        self
    }

    /// Notified whenever an enhanced fan-out subscription delivers something: a
    /// driver waiting for [`Worker::next_wakeup`] should also wake on it.
    pub fn wakeup(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Does whatever is due at `now` (ms, own monotonic clock): lease renewal, shard
    /// sync, lease taking, then one step of every held shard.
    pub async fn tick(&mut self, now: u64) {
        if now >= self.next_renew {
            self.renew_all(now).await;
            self.next_renew = now + self.cfg.renew_interval_ms();
        }
        if now >= self.next_sync {
            self.sync_shards(now).await;
            self.next_sync = now + self.cfg.shard_sync_interval_ms;
        }
        if now >= self.next_take {
            self.take_leases(now).await;
            // Come back as soon as another worker's lease expires rather than up to a
            // taking period later: a dead worker's shards are owned again within the
            // failover time plus one taking period of its last renewal.
            let periodic = now + self.cfg.take_interval_ms;
            self.next_take = self
                .earliest_foreign_expiry()
                .map_or(periodic, |at| periodic.min(at.max(now + 1)));
        }
        self.process(now).await;
        self.metrics.leases_held = self.held.len();
    }

    /// When the next `tick` has something to do.
    pub fn next_wakeup(&self) -> u64 {
        let polls = self
            .held
            .values()
            .filter(|h| h.state.initialized() || h.state == ShardState::Initializing)
            .map(|h| h.next_poll.max(h.not_before));
        polls
            .chain([self.next_renew, self.next_sync, self.next_take])
            .min()
            .unwrap_or(self.next_renew)
    }

    /// Graceful shutdown: every processor gets `shutdown_requested` (to checkpoint),
    /// then every lease is released.
    pub async fn shutdown(&mut self, now: u64) {
        let keys: Vec<String> = self.held.keys().cloned().collect();
        for key in keys {
            self.hand_back(&key, now, false).await;
        }
        self.metrics.leases_held = 0;
    }

    /// The shards whose leases this worker holds.
    pub fn held_leases(&self) -> Vec<String> {
        self.held.keys().cloned().collect()
    }

    /// The state of a held shard.
    pub fn shard_state(&self, shard_id: &str) -> Option<&ShardState> {
        self.held.get(shard_id).map(|h| &h.state)
    }

    /// A snapshot of the metrics.
    pub fn metrics(&self) -> WorkerMetrics {
        let mut m = self.metrics.clone();
        m.leases_held = self.held.len();
        m
    }

    fn fresh(&self, h: &Held<F::Processor>, now: u64) -> bool {
        now + self.cfg.safety_margin_ms < h.renewed_at + self.cfg.failover_ms
    }

    /// Drops a lease another worker took (or that vanished).
    async fn lose(&mut self, key: &str) {
        if let Some(mut h) = self.held.remove(key) {
            // End the subscription first: the new owner will open its own.
            h.subscription = None;
            h.cp.mark_lost();
            if h.state.initialized() {
                h.processor.lease_lost().await;
            }
            self.metrics.leases_lost += 1;
            self.metrics.millis_behind_latest.remove(key);
            tracing::info!(worker = %self.cfg.worker_id, shard = key, "lease lost");
        }
    }

    /// Gives a lease up: `shutdown_requested` (while the lease is fresh), then release.
    async fn hand_back(&mut self, key: &str, now: u64, handoff: bool) {
        let Some(mut h) = self.held.remove(key) else {
            return;
        };
        h.subscription = None;
        self.metrics.millis_behind_latest.remove(key);
        if h.state.initialized() && self.fresh(&h, now) && !h.cp.is_lost() {
            h.processor.shutdown_requested(&mut h.cp).await;
        }
        if h.cp.is_lost() {
            return;
        }
        for _ in 0..2 {
            match self.store.release(h.cp.lease()).await {
                Ok(next) => {
                    if handoff {
                        self.metrics.handoffs_honoured += 1;
                    }
                    self.snapshot.insert(next.key.clone(), next);
                    return;
                }
                Err(crate::Error::LeaseConflict { .. }) => match h.cp.reload().await {
                    Ok(true) => continue,
                    _ => return,
                },
                Err(e) => {
                    self.metrics.errors += 1;
                    tracing::warn!(shard = key, error = %e, "release failed");
                    return;
                }
            }
        }
    }
}
