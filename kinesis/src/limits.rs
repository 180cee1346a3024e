//! Per-shard throughput limits, as Kinesis enforces them on provisioned shards: writes
//! of 1 MiB/s and 1,000 records/s, reads of 2 MiB/s and 5 GetRecords calls/s. Counted
//! in one-second windows; enforced only when the server is started with
//! `--enforce-limits`.

use std::collections::HashMap;
use std::sync::Mutex;

/// Write bytes per shard per second.
pub const WRITE_BYTES_PER_SEC: u64 = 1024 * 1024;
/// Write records per shard per second.
pub const WRITE_RECORDS_PER_SEC: u64 = 1000;
/// Read bytes per shard per second.
pub const READ_BYTES_PER_SEC: u64 = 2 * 1024 * 1024;
/// GetRecords calls per shard per second.
pub const READ_CALLS_PER_SEC: u64 = 5;

#[derive(Debug, Default, Clone, Copy)]
struct Window {
    second: i64,
    write_bytes: u64,
    write_records: u64,
    read_bytes: u64,
    read_calls: u64,
}

/// The per-shard usage windows.
#[derive(Debug, Default)]
pub struct Limiter {
    enabled: bool,
    shards: Mutex<HashMap<(String, u64), Window>>,
}

impl Limiter {
    /// A limiter that enforces limits only when `enabled`.
    pub fn new(enabled: bool) -> Self {
        Limiter {
            enabled,
            shards: Mutex::default(),
        }
    }

    /// Whether limits are enforced.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn with<R>(
        &self,
        stream: &str,
        shard: u64,
        now_ms: i64,
        f: impl FnOnce(&mut Window) -> R,
    ) -> R {
        let mut m = self.shards.lock().unwrap_or_else(|p| p.into_inner());
        let w = m.entry((stream.to_string(), shard)).or_default();
        let second = now_ms.div_euclid(1000);
        if w.second != second {
            *w = Window {
                second,
                ..Window::default()
            };
        }
        f(w)
    }

    /// Admits a write of one record of `bytes` bytes, or refuses it.
    pub fn admit_write(&self, stream: &str, shard: u64, bytes: u64, now_ms: i64) -> bool {
        if !self.enabled {
            return true;
        }
        self.with(stream, shard, now_ms, |w| {
            if w.write_records + 1 > WRITE_RECORDS_PER_SEC
                || w.write_bytes + bytes > WRITE_BYTES_PER_SEC
            {
                return false;
            }
            w.write_records += 1;
            w.write_bytes += bytes;
            true
        })
    }

    /// Admits a GetRecords call, or refuses it.
    pub fn admit_read(&self, stream: &str, shard: u64, now_ms: i64) -> bool {
        if !self.enabled {
            return true;
        }
        self.with(stream, shard, now_ms, |w| {
            if w.read_calls + 1 > READ_CALLS_PER_SEC || w.read_bytes >= READ_BYTES_PER_SEC {
                return false;
            }
            w.read_calls += 1;
            true
        })
    }

    /// Counts the bytes a GetRecords call returned.
    pub fn charge_read(&self, stream: &str, shard: u64, bytes: u64, now_ms: i64) {
        if self.enabled {
            self.with(stream, shard, now_ms, |w| w.read_bytes += bytes);
        }
    }

    /// Bytes a read may still return this second.
    pub fn read_budget(&self, stream: &str, shard: u64, now_ms: i64) -> usize {
        if !self.enabled {
            return usize::MAX;
        }
        self.with(stream, shard, now_ms, |w| {
            READ_BYTES_PER_SEC.saturating_sub(w.read_bytes) as usize
        })
    }
}
