//! Group commit: a small pool of threads that `fdatasync` shard logs on behalf of the
//! writers waiting on them. While one sync of a shard runs, later appends to it queue
//! up and are all covered by the next one; syncs of different shards run in parallel.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use super::shard_log::ShardLog;

#[derive(Default)]
struct Queue {
    logs: VecDeque<Arc<ShardLog>>,
    stopping: bool,
}

/// Counts and latencies of group-commit syncs.
#[derive(Debug, Default)]
pub struct SyncStats {
    syncs: AtomicU64,
    total_micros: AtomicU64,
    /// Bucket `i` counts syncs that took under `2^i` microseconds (the last: longer).
    buckets: [AtomicU64; SYNC_BUCKETS],
}

/// Number of latency buckets of [`SyncStats`]: up to 2^23 µs (8 s).
pub const SYNC_BUCKETS: usize = 24;

/// A copy of [`SyncStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSnapshot {
    /// Syncs done.
    pub syncs: u64,
    /// Their total duration, µs.
    pub total_micros: u64,
    /// Bucket `i`: syncs under `2^i` µs and at least `2^(i-1)`.
    pub buckets: Vec<u64>,
}

impl SyncStats {
    /// Records one sync.
    pub fn record(&self, took: std::time::Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.total_micros.fetch_add(micros, Ordering::Relaxed);
        let bucket = (64 - micros.leading_zeros() as usize).min(SYNC_BUCKETS - 1);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> SyncSnapshot {
        SyncSnapshot {
            syncs: self.syncs.load(Ordering::Relaxed),
            total_micros: self.total_micros.load(Ordering::Relaxed),
            buckets: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
        }
    }
}

/// The flusher pool.
pub struct Flusher {
    stats: SyncStats,
    queue: Mutex<Queue>,
    ready: Condvar,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Flusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flusher").finish_non_exhaustive()
    }
}

impl Flusher {
    /// Starts `threads` flusher threads.
    pub fn start(threads: usize) -> std::io::Result<Arc<Flusher>> {
        let flusher = Arc::new(Flusher {
            stats: SyncStats::default(),
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            threads: Mutex::new(Vec::new()),
        });
        let mut handles = Vec::new();
        for i in 0..threads.max(1) {
            let f = Arc::clone(&flusher);
            handles.push(
                std::thread::Builder::new()
                    .name(format!("freshet-flush-{i}"))
                    .spawn(move || f.run())?,
            );
        }
        if let Ok(mut t) = flusher.threads.lock() {
            *t = handles;
        }
        Ok(flusher)
    }

    /// Sync counts and latencies.
    pub fn stats(&self) -> &SyncStats {
        &self.stats
    }

    /// Queues a log for a sync (the log makes sure it is queued at most once).
    pub(crate) fn enqueue(&self, log: Arc<ShardLog>) {
        if let Ok(mut q) = self.queue.lock() {
            q.logs.push_back(log);
            self.ready.notify_one();
        }
    }

    fn run(&self) {
        loop {
            let log = {
                let Ok(mut q) = self.queue.lock() else { return };
                loop {
                    if let Some(log) = q.logs.pop_front() {
                        break log;
                    }
                    if q.stopping {
                        return;
                    }
                    q = match self.ready.wait(q) {
                        Ok(q) => q,
                        Err(_) => return,
                    };
                }
            };
            log.sync_once();
        }
    }

    /// Finishes queued syncs and stops the threads.
    pub fn stop(&self) {
        if let Ok(mut q) = self.queue.lock() {
            q.stopping = true;
            self.ready.notify_all();
        }
        let handles = self
            .threads
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for h in handles {
            let _ = h.join();
        }
    }
}
