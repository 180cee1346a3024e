//! Producer metrics: plain counters, read with [`ProducerMetrics::snapshot`].

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of a producer.
#[derive(Debug, Default)]
pub struct ProducerMetrics {
    pub(crate) user_records_received: AtomicU64,
    pub(crate) user_records_put: AtomicU64,
    pub(crate) user_records_failed: AtomicU64,
    pub(crate) kinesis_records_put: AtomicU64,
    pub(crate) kinesis_records_failed: AtomicU64,
    pub(crate) put_records_calls: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) buffering_time_us: AtomicU64,
    pub(crate) request_time_us: AtomicU64,
    pub(crate) shard_map_refreshes: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// User records accepted by `put_record` and friends.
    pub user_records_received: u64,
    /// User records acknowledged by Kinesis.
    pub user_records_put: u64,
    /// User records that failed for good (expired, throttled, refused).
    pub user_records_failed: u64,
    /// Kinesis records (aggregates or plain) acknowledged.
    pub kinesis_records_put: u64,
    /// Kinesis records that failed an attempt.
    pub kinesis_records_failed: u64,
    /// `PutRecords` calls made.
    pub put_records_calls: u64,
    /// User records sent again after a failed attempt.
    pub retries: u64,
    /// Mean time from acceptance to the send of a user record's last attempt, ms.
    pub mean_buffering_ms: f64,
    /// Mean duration of a `PutRecords` call, ms.
    pub mean_request_ms: f64,
    /// Shard map reloads.
    pub shard_map_refreshes: u64,
}

impl MetricsSnapshot {
    /// User records per Kinesis record put: the aggregation factor.
    pub fn user_records_per_kinesis_record(&self) -> f64 {
        if self.kinesis_records_put == 0 {
            0.0
        } else {
            self.user_records_put as f64 / self.kinesis_records_put as f64
        }
    }
}

impl ProducerMetrics {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let put = get(&self.user_records_put) + get(&self.user_records_failed);
        let calls = get(&self.put_records_calls);
        MetricsSnapshot {
            user_records_received: get(&self.user_records_received),
            user_records_put: get(&self.user_records_put),
            user_records_failed: get(&self.user_records_failed),
            kinesis_records_put: get(&self.kinesis_records_put),
            kinesis_records_failed: get(&self.kinesis_records_failed),
            put_records_calls: calls,
            retries: get(&self.retries),
            mean_buffering_ms: if put == 0 {
                0.0
            } else {
                get(&self.buffering_time_us) as f64 / put as f64 / 1000.0
            },
            mean_request_ms: if calls == 0 {
                0.0
            } else {
                get(&self.request_time_us) as f64 / calls as f64 / 1000.0
            },
            shard_map_refreshes: get(&self.shard_map_refreshes),
        }
    }
}
