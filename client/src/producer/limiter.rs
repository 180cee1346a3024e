//! Per-shard token buckets: records per second and bytes per second.

use std::time::{Duration, Instant};

/// Kinesis's write limit per shard, records per second.
pub const SHARD_RECORDS_PER_SEC: f64 = 1000.0;
/// Kinesis's write limit per shard, bytes per second.
pub const SHARD_BYTES_PER_SEC: f64 = 1024.0 * 1024.0;

/// Two token buckets (records and bytes) refilled continuously, each holding at most
/// one second's worth.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    records_per_sec: f64,
    bytes_per_sec: f64,
    records: f64,
    bytes: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket at `percent` of a shard's limits.
    pub fn new(percent: u32, now: Instant) -> Self {
        let f = f64::from(percent.max(1)) / 100.0;
        TokenBucket {
            records_per_sec: SHARD_RECORDS_PER_SEC * f,
            bytes_per_sec: SHARD_BYTES_PER_SEC * f,
            records: SHARD_RECORDS_PER_SEC * f,
            bytes: SHARD_BYTES_PER_SEC * f,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.records = (self.records + dt * self.records_per_sec).min(self.records_per_sec);
        self.bytes = (self.bytes + dt * self.bytes_per_sec).min(self.bytes_per_sec);
    }

    /// Takes one record of `bytes` if both buckets hold enough; a record larger than
    /// the bytes bucket can ever hold passes once the bucket is full.
    pub fn try_take(&mut self, bytes: usize, now: Instant) -> bool {
        self.refill(now);
        let need = (bytes as f64).min(self.bytes_per_sec);
        if self.records >= 1.0 && self.bytes >= need {
            self.records -= 1.0;
            self.bytes -= need;
            true
        } else {
            false
        }
    }

    /// How long until a record of `bytes` could be taken.
    pub fn wait_for(&self, bytes: usize) -> Duration {
        let need = (bytes as f64).min(self.bytes_per_sec);
        let r = ((1.0 - self.records) / self.records_per_sec).max(0.0);
        let b = ((need - self.bytes) / self.bytes_per_sec).max(0.0);
        Duration::from_secs_f64(r.max(b)).max(Duration::from_millis(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_limits_records_and_bytes() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100, t0);
        let mut taken = 0;
        while b.try_take(10, t0) {
            taken += 1;
            assert!(taken <= 1000);
        }
        assert_eq!(taken, 1000);
        assert!(b.wait_for(10) > Duration::ZERO);
        assert!(b.try_take(10, t0 + Duration::from_millis(2)));
        let mut b = TokenBucket::new(100, t0);
        assert!(b.try_take(1024 * 1024, t0));
        assert!(!b.try_take(1, t0));
        assert!(b.try_take(1024 * 1024 + 5, t0 + Duration::from_secs(1)));
    }
}
