//! Engine configuration: durability, segment sizing, retention and the clock.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::fs::{Fs, RealFs};

/// When an append is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Acknowledged once written to the page cache (pwrite returned). Survives a process
    /// crash, not a power cut or kernel crash.
    Buffered,
    /// Acknowledged only after an `fdatasync` covers the record (the default). Concurrent
    /// appends to a shard share one sync (group commit).
    #[default]
    SyncData,
}

impl std::str::FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "buffered" => Ok(Durability::Buffered),
            "sync" | "syncdata" | "sync-data" => Ok(Durability::SyncData),
            other => Err(format!(
                "unknown durability '{other}': expected 'buffered' or 'sync-data'"
            )),
        }
    }
}

/// What recovery may repair when it opens a shard log that was not shut down cleanly.
///
/// Recovery always walks and checks every frame it has to before it changes any file,
/// and damage anywhere but at the tail of a shard's active (newest) segment is a hard
/// [`Error::Corruption`](crate::Error::Corruption) that leaves every file as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// Cut a torn tail off the active segment of a shard (the default): bytes after the
    /// last valid frame there belong to writes that were never acknowledged (a torn
    /// write, garbage, a bit flip in the unsynced tail), or to a segment whose creation
    /// never completed.
    #[default]
    TruncateTornTail,
    /// Refuse to open on any damage, a torn tail of the active segment included, and
    /// change nothing; the error names the file, the byte offset and the check that
    /// failed. For inspecting a data directory before anything repairs it.
    Strict,
}

impl std::str::FromStr for RecoveryMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "truncate-torn-tail" | "truncatetorntail" | "truncate" => {
                Ok(RecoveryMode::TruncateTornTail)
            }
            "strict" => Ok(RecoveryMode::Strict),
            other => Err(format!(
                "unknown recovery mode '{other}': expected 'truncate-torn-tail' or 'strict'"
            )),
        }
    }
}

/// A source of wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Current time in milliseconds since the epoch.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to: for tests of retention and timestamps.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    /// A manual clock set to `start_ms`.
    pub fn new(start_ms: i64) -> Self {
        ManualClock {
            now: AtomicI64::new(start_ms),
        }
    }
    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.now.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
    /// Sets the clock.
    pub fn set(&self, ms: i64) {
        self.now.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

/// How an [`Engine`](crate::Engine) is opened.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The data directory (created when absent).
    pub data_dir: PathBuf,
    /// When appends are acknowledged.
    pub durability: Durability,
    /// What recovery may repair on open (default: cut a torn tail off the active
    /// segment of each shard; see [`RecoveryMode`]).
    pub recovery: RecoveryMode,
    /// Size a segment file is preallocated to; a segment rolls when the next batch
    /// would not fit. Default 128 MiB.
    pub segment_bytes: u64,
    /// Bytes of log between two sparse index entries. Default 4 KiB.
    pub index_interval_bytes: u64,
    /// Retention of new streams, in hours (24 to 8760). Default 24.
    pub default_retention_hours: u32,
    /// How often the background retention pass (and the release of idle segment maps)
    /// runs; `None` starts neither job (call
    /// [`Engine::enforce_retention`](crate::Engine::enforce_retention) yourself).
    pub retention_interval: Option<Duration>,
    /// How long shutdown waits for the background jobs ([`Engine::jobs`]) to stop
    /// after telling them to, all together. Default 10 s.
    ///
    /// [`Engine::jobs`]: crate::Engine::jobs
    pub jobs_stop_timeout: Duration,
    /// Time source for arrival timestamps and retention.
    pub clock: Arc<dyn Clock>,
    /// Most open shards across all streams (AWS's account shard limit). Default 500.
    pub shard_limit: usize,
    /// Most UpdateShardCount calls a stream accepts per rolling 24 hours (AWS's default
    /// is 10). SplitShard and MergeShards do not count. Default 10.
    pub max_scaling_ops_per_day: usize,
    /// Puts are refused with [`Error::DiskFull`](crate::Error::DiskFull) while the data
    /// directory's file system has less than this many bytes free (reads, deletes and
    /// retention go on; puts resume by themselves once space returns). Default 256 MiB;
    /// 0 turns the check off.
    pub min_free_bytes: u64,
    /// The file system shard logs are written through ([`RealFs`]; tests use the
    /// fault-injecting `FaultFs` of the `fault-injection` feature).
    pub fs: Arc<dyn Fs>,
}

impl EngineConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        EngineConfig {
            data_dir: data_dir.into(),
            durability: Durability::SyncData,
            recovery: RecoveryMode::TruncateTornTail,
            segment_bytes: 128 * 1024 * 1024,
            index_interval_bytes: 4096,
            default_retention_hours: 24,
            retention_interval: Some(Duration::from_secs(60)),
            jobs_stop_timeout: Duration::from_secs(10),
            clock: Arc::new(SystemClock),
            shard_limit: 500,
            max_scaling_ops_per_day: 10,
            min_free_bytes: 256 << 20,
            fs: Arc::new(RealFs),
        }
    }
}

/// Smallest segment size accepted: big enough for one maximal batch header and record.
pub const MIN_SEGMENT_BYTES: u64 = 4096;
