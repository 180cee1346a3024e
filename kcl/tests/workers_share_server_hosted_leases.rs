#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]
//! End to end against a real `freshet serve`: three workers in one process share the
//! server-hosted lease table, consume a 4-shard stream through a split, and a fresh set
//! of workers resumes from the checkpoints.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use freshet_client::{wait_for_active, KinesisApi, KinesisClient, PutRecordsEntry};
use freshet_kcl::{
    Checkpointer, Config, HttpLeaseStore, InitializationInput, KinesisSource, LeaseStore,
    ProcessRecordsInput, Scheduler, SchedulerHandle, ShardRecordProcessor,
    ShardRecordProcessorFactory,
};
use freshet_tests::Server;

const STREAM: &str = "kcl-e2e";
const APP: &str = "e2e-app";

#[derive(Default)]
struct Seen {
    /// (worker, shard, partition key, data) in delivery order.
    records: Vec<(String, String, String, u64)>,
}

struct Proc {
    worker: String,
    shard: String,
    seen: Arc<Mutex<Seen>>,
}

impl ShardRecordProcessor for Proc {
    async fn initialize(&mut self, _input: InitializationInput) {}

    async fn process_records(&mut self, input: ProcessRecordsInput, cp: &mut Checkpointer) {
        {
            let mut seen = self.seen.lock().unwrap();
            for r in &input.records {
                let n: u64 = std::str::from_utf8(&r.data).unwrap().parse().unwrap();
                seen.records.push((
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

struct Factory {
    worker: String,
    seen: Arc<Mutex<Seen>>,
}

impl ShardRecordProcessorFactory for Factory {
    type Processor = Proc;
    fn create(&self, shard_id: &str) -> Proc {
        Proc {
            worker: self.worker.clone(),
            shard: shard_id.to_string(),
            seen: self.seen.clone(),
        }
    }
}

fn start_worker(
    endpoint: &str,
    api: &Arc<KinesisClient>,
    id: &str,
    seen: &Arc<Mutex<Seen>>,
) -> (
    SchedulerHandle,
    tokio::task::JoinHandle<freshet_kcl::WorkerMetrics>,
) {
    let store = Arc::new(HttpLeaseStore::new(endpoint, STREAM, APP).unwrap());
    let source = Arc::new(KinesisSource::new(api.clone(), STREAM));
    let mut cfg = Config::new(APP, id).with_failover_ms(1_500);
    cfg.idle_ms = 20;
    cfg.max_idle_ms = 200;
    let factory = Factory {
        worker: id.to_string(),
        seen: seen.clone(),
    };
    let (scheduler, handle) = Scheduler::new(cfg, store, source, factory);
    (handle, tokio::spawn(scheduler.run()))
}

async fn put(api: &KinesisClient, from: u64, to: u64) {
    let entries: Vec<PutRecordsEntry> = (from..to)
        .map(|i| PutRecordsEntry::new(format!("pk-{}", i % 25), i.to_string()))
        .collect();
    for chunk in entries.chunks(100) {
        let out = api.put_records(STREAM, chunk.to_vec()).await.unwrap();
        assert_eq!(out.failed_record_count, 0);
    }
}

async fn wait_for(seen: &Arc<Mutex<Seen>>, want: impl Fn(&Seen) -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !want(&seen.lock().unwrap()) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn delivered(seen: &Seen) -> BTreeSet<u64> {
    seen.records.iter().map(|r| r.3).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_consume_through_a_split_and_resume_from_checkpoints() {
    let server = Server::start(&[]);
    let endpoint = server.endpoint();
    let api = Arc::new(KinesisClient::new(endpoint.clone()).unwrap());
    api.create_stream(STREAM, 4).await.unwrap();
    wait_for_active(api.as_ref(), STREAM, Duration::from_secs(30))
        .await
        .unwrap();
    put(&api, 0, 400).await;

    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut workers: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|id| start_worker(&endpoint, &api, id, &seen))
        .collect();
    wait_for(
        &seen,
        |s| delivered(s).len() == 400,
        "the first 400 records",
    )
    .await;

    // Balance: 4 shards over 3 workers, 2/1/1.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut held: Vec<usize> = workers.iter().map(|w| w.0.metrics().leases_held).collect();
        held.sort_unstable();
        if held == vec![1, 1, 2] {
            break;
        }
        assert!(Instant::now() < deadline, "leases not balanced: {held:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Split the first shard while the workers run, then write more.
    let shards = api.list_shards(STREAM).await.unwrap();
    let first = &shards[0];
    let mid =
        first.hash_key_range.start + (first.hash_key_range.end - first.hash_key_range.start) / 2;
    api.split_shard(STREAM, &first.shard_id, mid).await.unwrap();
    wait_for_active(api.as_ref(), STREAM, Duration::from_secs(30))
        .await
        .unwrap();
    put(&api, 400, 600).await;
    wait_for(
        &seen,
        |s| delivered(s).len() == 600,
        "600 records after the split",
    )
    .await;

    // Graceful shutdown of everyone: checkpoints and releases.
    for (h, _) in &workers {
        h.shutdown();
    }
    for (_, task) in workers.drain(..) {
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("worker stops")
            .expect("worker task");
    }
    let store = HttpLeaseStore::new(&endpoint, STREAM, APP).unwrap();
    let leases = store.list().await.unwrap();
    assert_eq!(leases.len(), 6, "{leases:?}");
    assert!(leases.iter().all(|l| l.lease.owner.is_none()), "{leases:?}");
    assert!(
        leases
            .iter()
            .filter(|l| l.key == first.shard_id)
            .all(|l| l.lease.checkpoint.is_shard_end()),
        "{leases:?}"
    );

    // Per partition key, first deliveries in order.
    {
        let s = seen.lock().unwrap();
        let mut last: BTreeMap<&str, u64> = BTreeMap::new();
        let mut firsts = BTreeSet::new();
        for (_, _, pk, n) in &s.records {
            if !firsts.insert(*n) {
                continue;
            }
            if let Some(prev) = last.insert(pk, *n) {
                assert!(prev < *n, "{pk}: {n} after {prev}");
            }
        }
    }

    // Restart with new workers: nothing before the checkpoints is delivered again.
    let before = seen.lock().unwrap().records.len();
    put(&api, 600, 700).await;
    let workers: Vec<_> = ["d", "e"]
        .iter()
        .map(|id| start_worker(&endpoint, &api, id, &seen))
        .collect();
    wait_for(
        &seen,
        |s| delivered(s).len() == 700,
        "700 records after the restart",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again: Vec<u64> = seen.lock().unwrap().records[before..]
        .iter()
        .map(|r| r.3)
        .filter(|n| *n < 600)
        .collect();
    assert!(again.is_empty(), "redelivered after restart: {again:?}");
    for (h, task) in workers {
        h.shutdown();
        let m = tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("worker stops")
            .expect("worker task");
        assert_eq!(m.leases_held, 0);
    }
    drop(server);
}
