#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]
//! KCL workers that record what they process, for the in-process tests against a real
//! `freshet serve`: each record's data is its number; every delivery is kept in order
//! as (worker, shard, partition key, number); every batch is checkpointed.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use freshet_client::KinesisClient;
use freshet_kcl::{
    Checkpointer, Config, HttpLeaseStore, InitializationInput, KinesisSource, ProcessRecordsInput,
    Scheduler, SchedulerHandle, ShardRecordProcessor, ShardRecordProcessorFactory, WorkerMetrics,
};

/// One delivery: (worker, shard, partition key, record number).
pub type Delivery = (String, String, String, u64);

/// Every delivery of every worker, in order.
pub type Seen = Arc<Mutex<Vec<Delivery>>>;

/// The distinct record numbers delivered.
pub fn delivered(seen: &[Delivery]) -> BTreeSet<u64> {
    seen.iter().map(|d| d.3).collect()
}

/// Records every delivery and checkpoints every batch.
pub struct Recorder {
    worker: String,
    shard: String,
    seen: Seen,
}

impl ShardRecordProcessor for Recorder {
    async fn initialize(&mut self, _input: InitializationInput) {}

    async fn process_records(&mut self, input: ProcessRecordsInput, cp: &mut Checkpointer) {
        {
            let mut seen = self.seen.lock().unwrap();
            for r in &input.records {
                let n: u64 = std::str::from_utf8(&r.data).unwrap().parse().unwrap();
                seen.push((
                    self.worker.clone(),
                    self.shard.clone(),
                    r.partition_key.clone(),
                    n,
                ));
            }
        }
        cp.checkpoint().await.expect("checkpoint");
    }

    async fn shard_ended(&mut self, cp: &mut Checkpointer) {
        cp.checkpoint().await.expect("SHARD_END checkpoint");
    }

    async fn shutdown_requested(&mut self, cp: &mut Checkpointer) {
        let _ = cp.checkpoint().await;
    }
}

/// Makes recording processors for one worker.
pub struct Factory {
    worker: String,
    seen: Seen,
}

impl Factory {
    /// Processors of worker `worker`, recording into `seen`.
    pub fn new(worker: &str, seen: &Seen) -> Self {
        Factory {
            worker: worker.to_string(),
            seen: seen.clone(),
        }
    }
}

impl ShardRecordProcessorFactory for Factory {
    type Processor = Recorder;
    fn create(&self, shard_id: &str) -> Recorder {
        Recorder {
            worker: self.worker.clone(),
            shard: shard_id.to_string(),
            seen: self.seen.clone(),
        }
    }
}

/// A running worker: its handle and its task.
pub type Running = (SchedulerHandle, tokio::task::JoinHandle<WorkerMetrics>);

/// Starts worker `id` of application `app` on `stream`, its leases in the server's
/// lease table, with a 1.5 s failover and short idle waits.
pub fn start_worker(
    endpoint: &str,
    api: &Arc<KinesisClient>,
    stream: &str,
    app: &str,
    id: &str,
    seen: &Seen,
) -> Running {
    let store = Arc::new(HttpLeaseStore::new(endpoint, stream, app).unwrap());
    let source = Arc::new(KinesisSource::new(api.clone(), stream));
    let mut cfg = Config::new(app, id).with_failover_ms(1_500);
    cfg.idle_ms = 20;
    cfg.max_idle_ms = 200;
    let factory = Factory::new(id, seen);
    let (scheduler, handle) = Scheduler::new(cfg, store, source, factory);
    (handle, tokio::spawn(scheduler.run()))
}

/// The leases each worker holds, sorted.
pub fn held(workers: &[Running]) -> Vec<usize> {
    let mut held: Vec<usize> = workers.iter().map(|w| w.0.metrics().leases_held).collect();
    held.sort_unstable();
    held
}
