//! Per-worker metrics.

use std::collections::BTreeMap;

/// A snapshot of one worker's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerMetrics {
    /// Leases held now.
    pub leases_held: usize,
    /// User records delivered to processors.
    pub records_processed: u64,
    /// MillisBehindLatest of the last GetRecords, per shard held.
    pub millis_behind_latest: BTreeMap<String, u64>,
    /// Leases taken (unowned, expired or forced).
    pub leases_taken: u64,
    /// Leases lost to another worker.
    pub leases_lost: u64,
    /// Handoffs this worker asked for.
    pub handoffs_requested: u64,
    /// Leases this worker released at another's request.
    pub handoffs_honoured: u64,
    /// Handoffs that timed out and became forced takes.
    pub forced_takes: u64,
    /// Shards processed to SHARD_END.
    pub shards_completed: u64,
    /// Failed lease-store or Kinesis calls.
    pub errors: u64,
}
