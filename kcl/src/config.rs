//! Worker settings. Times are milliseconds on the worker's own monotonic clock.

/// Where a shard with no checkpoint starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialPosition {
    /// The oldest retained record.
    TrimHorizon,
    /// After the newest record.
    Latest,
    /// The first record that arrived at or after a time, ms since the epoch.
    AtTimestamp(i64),
}

/// How a worker reads the shards it holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Retrieval {
    /// GetShardIterator and GetRecords, with idle back-off (the default).
    #[default]
    Polling,
    /// Enhanced fan-out: the worker registers the stream consumer `consumer_name` (or
    /// reuses it when it exists) and keeps one SubscribeToShard subscription per held
    /// shard; records are pushed to the processor as the service sends them. Needs a
    /// [`SubscribeSource`](crate::SubscribeSource), given to
    /// [`Scheduler::with_fan_out`](crate::Scheduler::with_fan_out).
    FanOut {
        /// The consumer's name: one per application, shared by its workers.
        consumer_name: String,
    },
}

/// How one worker consumes one stream as part of one application.
#[derive(Debug, Clone)]
pub struct Config {
    /// Application name: the lease table.
    pub application: String,
    /// This worker's id, unique in the application.
    pub worker_id: String,
    /// Where shards without a checkpoint start.
    pub initial_position: InitialPosition,
    /// A lease whose counter did not change for this long (on the observer's clock) is
    /// expired; owners renew every third of it.
    pub failover_ms: u64,
    /// How often the worker lists leases and takes or steals.
    pub take_interval_ms: u64,
    /// How often the worker lists shards and creates leases for new ones.
    pub shard_sync_interval_ms: u64,
    /// A handoff the owner did not honour within this long becomes a forced take
    /// (fenced: the taker waits `failover_ms` before processing).
    pub handoff_timeout_ms: u64,
    /// An owner processes only while `now + margin < last renewal + failover`.
    pub safety_margin_ms: u64,
    /// Most records per GetRecords.
    pub max_records: u32,
    /// First wait after an empty GetRecords; doubles up to `max_idle_ms`.
    pub idle_ms: u64,
    /// Longest wait between polls of an idle shard (in fan-out mode: the longest
    /// wait before a failed subscription is opened again).
    pub max_idle_ms: u64,
    /// Polling (GetRecords) or enhanced fan-out (SubscribeToShard).
    pub retrieval: Retrieval,
}

impl Config {
    /// Defaults: TRIM_HORIZON, 10 s failover, take every 2 s, shard sync every 10 s,
    /// handoff timeout 2 failovers, 1 s safety margin, 10,000 records, idle back-off
    /// 100 ms to 1 s, polling.
    pub fn new(application: impl Into<String>, worker_id: impl Into<String>) -> Self {
        Config {
            application: application.into(),
            worker_id: worker_id.into(),
            initial_position: InitialPosition::TrimHorizon,
            failover_ms: 10_000,
            take_interval_ms: 2_000,
            shard_sync_interval_ms: 10_000,
            handoff_timeout_ms: 20_000,
            safety_margin_ms: 1_000,
            max_records: 10_000,
            idle_ms: 100,
            max_idle_ms: 1_000,
            retrieval: Retrieval::Polling,
        }
    }

    /// Switches to enhanced fan-out through the stream consumer `consumer_name`.
    pub fn with_fan_out(mut self, consumer_name: impl Into<String>) -> Self {
        self.retrieval = Retrieval::FanOut {
            consumer_name: consumer_name.into(),
        };
        self
    }

    /// Sets the failover time and scales the other periods to it (take every
    /// failover/5, sync every failover, handoff timeout 2 failovers, margin
    /// failover/10).
    pub fn with_failover_ms(mut self, failover_ms: u64) -> Self {
        let f = failover_ms.max(10);
        self.failover_ms = f;
        self.take_interval_ms = (f / 5).max(1);
        self.shard_sync_interval_ms = f;
        self.handoff_timeout_ms = 2 * f;
        self.safety_margin_ms = f / 10;
        self
    }

    /// Renewal period: a third of the failover time.
    pub fn renew_interval_ms(&self) -> u64 {
        (self.failover_ms / 3).max(1)
    }
}
