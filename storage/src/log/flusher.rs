//! Group commit: a small pool of threads that `fdatasync` shard logs on behalf of the
//! writers waiting on them. While one sync of a shard runs, later appends to it queue
//! up and are all covered by the next one; syncs of different shards run in parallel.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use super::shard_log::ShardLog;

#[derive(Default)]
struct Queue {
    logs: VecDeque<Arc<ShardLog>>,
    stopping: bool,
}

/// The flusher pool.
pub struct Flusher {
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
