#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]
//! End to end against a real `freshet serve`: three workers in one process share the
//! server-hosted lease table, consume a 4-shard stream through a split, and a fresh set
//! of workers resumes from the checkpoints.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use freshet_client::{wait_for_active, KinesisApi, KinesisClient, PutRecordsEntry};
use freshet_kcl::{HttpLeaseStore, LeaseStore};
use freshet_tests::Server;
use recording::{delivered, held, start_worker, Delivery, Seen};

mod recording;

const STREAM: &str = "kcl-e2e";
const APP: &str = "e2e-app";

async fn put(api: &KinesisClient, from: u64, to: u64) {
    let entries: Vec<PutRecordsEntry> = (from..to)
        .map(|i| PutRecordsEntry::new(format!("pk-{}", i % 25), i.to_string()))
        .collect();
    for chunk in entries.chunks(100) {
        let out = api.put_records(STREAM, chunk.to_vec()).await.unwrap();
        assert_eq!(out.failed_record_count, 0);
    }
}

async fn wait_for(seen: &Seen, want: impl Fn(&[Delivery]) -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !want(&seen.lock().unwrap()) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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

    let seen: Seen = Arc::default();
    let mut workers: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|id| start_worker(&endpoint, &api, STREAM, APP, id, &seen))
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
        let held = held(&workers);
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
        for (_, _, pk, n) in s.iter() {
            if !firsts.insert(*n) {
                continue;
            }
            if let Some(prev) = last.insert(pk, *n) {
                assert!(prev < *n, "{pk}: {n} after {prev}");
            }
        }
    }

    // Restart with new workers: nothing before the checkpoints is delivered again.
    let before = seen.lock().unwrap().len();
    put(&api, 600, 700).await;
    let workers: Vec<_> = ["d", "e"]
        .iter()
        .map(|id| start_worker(&endpoint, &api, STREAM, APP, id, &seen))
        .collect();
    wait_for(
        &seen,
        |s| delivered(s).len() == 700,
        "700 records after the restart",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again: Vec<u64> = seen.lock().unwrap()[before..]
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
