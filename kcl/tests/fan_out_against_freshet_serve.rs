#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]
//! Enhanced fan-out end to end against a real `freshet serve` (1.5 s subscription
//! lifetime, `--auth`): a scheduler in fan-out mode processes every record of a
//! 4-shard stream exactly once across re-subscriptions and a split, checkpoints, and a
//! new scheduler resumes from the checkpoints (the lease actions are SigV4-signed and
//! pass `--auth`); two fan-out workers balance the shards
//! (a handoff ends the giver's subscription) and lose nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use freshet_client::{
    wait_for_active, ClientConfig, Credentials, EventStream, KinesisApi, KinesisClient,
    PutRecordsEntry, StartingPosition,
};
use freshet_kcl::{
    Checkpoint, Config, HttpLeaseStore, KinesisSource, LeaseStore, Scheduler, SchedulerHandle,
    SourceFuture, SubscribeSource, WorkerMetrics,
};
use freshet_tests::Server;
use recording::{Factory, Seen};

mod recording;

const KEY_ID: &str = "AKIDEFO";
const SECRET: &str = "efo-secret";
const CONSUMER: &str = "efo-app-consumer";

/// Counts the subscriptions a worker opens.
struct Counting {
    inner: KinesisSource<KinesisClient>,
    subscriptions: Arc<AtomicU64>,
}

impl SubscribeSource for Counting {
    fn consumer_arn<'a>(&'a self, consumer_name: &'a str) -> SourceFuture<'a, String> {
        self.inner.consumer_arn(consumer_name)
    }

    fn subscribe<'a>(
        &'a self,
        consumer_arn: &'a str,
        shard_id: &'a str,
        position: StartingPosition,
    ) -> SourceFuture<'a, EventStream> {
        self.subscriptions.fetch_add(1, Ordering::Relaxed);
        self.inner.subscribe(consumer_arn, shard_id, position)
    }
}

fn client(endpoint: &str) -> KinesisClient {
    let mut cfg = ClientConfig::new(endpoint);
    cfg.credentials = Credentials::new(KEY_ID, SECRET);
    cfg.timeout = Duration::from_secs(10);
    KinesisClient::with_config(cfg).unwrap()
}

fn start_worker(
    api: &KinesisClient,
    stream: &str,
    app: &str,
    id: &str,
    seen: &Seen,
    subscriptions: &Arc<AtomicU64>,
) -> (SchedulerHandle, tokio::task::JoinHandle<WorkerMetrics>) {
    let store = Arc::new(HttpLeaseStore::with_client(api.clone(), stream, app));
    let source = Arc::new(KinesisSource::new(Arc::new(api.clone()), stream));
    let mut cfg = Config::new(app, id)
        .with_failover_ms(1_500)
        .with_fan_out(CONSUMER);
    cfg.idle_ms = 20;
    cfg.max_idle_ms = 200;
    let factory = Factory::new(id, seen);
    let fan_out = Arc::new(Counting {
        inner: KinesisSource::new(Arc::new(api.clone()), stream),
        subscriptions: subscriptions.clone(),
    });
    let (scheduler, handle) = Scheduler::with_fan_out(cfg, store, source, fan_out, factory);
    (handle, tokio::spawn(scheduler.run()))
}

async fn put(api: &KinesisClient, stream: &str, from: u64, to: u64, pause: Duration) {
    let entries: Vec<PutRecordsEntry> = (from..to)
        .map(|i| PutRecordsEntry::new(format!("pk-{}", i % 25), i.to_string()))
        .collect();
    for chunk in entries.chunks(20) {
        let out = api.put_records(stream, chunk.to_vec()).await.unwrap();
        assert_eq!(out.failed_record_count, 0);
        tokio::time::sleep(pause).await;
    }
}

async fn wait_for(seen: &Seen, n: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: BTreeSet<u64> = seen.lock().unwrap().iter().map(|r| r.3).collect();
        if got.len() >= n {
            assert_eq!(got.len(), n, "unexpected records");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {} of {n}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Per partition key, first deliveries come in order.
fn assert_key_order(seen: &Seen) {
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

async fn stop(workers: Vec<(SchedulerHandle, tokio::task::JoinHandle<WorkerMetrics>)>) {
    for (h, _) in &workers {
        h.shutdown();
    }
    for (_, task) in workers {
        let m = tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("worker stops")
            .expect("worker task");
        assert_eq!(m.leases_held, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_scheduler_processes_every_record_once_through_a_split() {
    const STREAM: &str = "kcl-efo";
    const APP: &str = "efo-app";
    let server = Server::start(&[
        "--subscription-ttl-ms",
        "1500",
        "--auth",
        "--access-key",
        &format!("{KEY_ID}:{SECRET}"),
    ]);
    let api = client(&server.endpoint());
    api.create_stream(STREAM, 4).await.unwrap();
    let arn = wait_for_active(&api, STREAM, Duration::from_secs(30))
        .await
        .unwrap()
        .stream_arn;
    put(&api, STREAM, 0, 400, Duration::ZERO).await;

    let seen: Seen = Arc::default();
    let subscriptions = Arc::new(AtomicU64::new(0));
    let worker = start_worker(&api, STREAM, APP, "a", &seen, &subscriptions);
    wait_for(&seen, 400, "the first 400 records").await;

    // Split while the worker runs; write more, paced past the subscription lifetime.
    let shards = api.list_shards(STREAM).await.unwrap();
    let first = shards[0].clone();
    let mid =
        first.hash_key_range.start + (first.hash_key_range.end - first.hash_key_range.start) / 2;
    api.split_shard(STREAM, &first.shard_id, mid).await.unwrap();
    wait_for_active(&api, STREAM, Duration::from_secs(30))
        .await
        .unwrap();
    put(&api, STREAM, 400, 600, Duration::from_millis(200)).await;
    wait_for(&seen, 600, "600 records after the split").await;
    stop(vec![worker]).await;
    // 4 shards and 2 children: more subscriptions than 6 means re-subscriptions.
    let opened = subscriptions.load(Ordering::Relaxed);
    assert!(opened > 6, "expected re-subscriptions, opened {opened}");

    {
        let s = seen.lock().unwrap();
        let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
        for r in s.iter() {
            *counts.entry(r.3).or_default() += 1;
        }
        let twice: Vec<u64> = counts
            .iter()
            .filter(|(_, c)| **c > 1)
            .map(|(n, _)| *n)
            .collect();
        assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    }
    assert_key_order(&seen);

    // One consumer, registered by the worker.
    let consumers = api.list_stream_consumers(&arn).await.unwrap();
    assert_eq!(consumers.len(), 1);
    assert_eq!(consumers[0].consumer_name, CONSUMER);

    // Checkpoints: SHARD_END for the parent, a sequence for every shard with records.
    let store = HttpLeaseStore::with_client(api.clone(), STREAM, APP);
    let leases = store.list().await.unwrap();
    assert_eq!(leases.len(), 6, "{leases:?}");
    // The lease actions are signed: a wrong secret is refused under --auth.
    let mut bad = ClientConfig::new(server.endpoint());
    bad.credentials = Credentials::new(KEY_ID, "wrong");
    bad.retry = freshet_client::RetryPolicy::none();
    let stranger =
        HttpLeaseStore::with_client(KinesisClient::with_config(bad).unwrap(), STREAM, APP);
    assert!(stranger.list().await.is_err());
    assert!(leases.iter().all(|l| l.lease.owner.is_none()), "{leases:?}");
    let with_records: BTreeSet<String> = seen.lock().unwrap().iter().map(|r| r.1.clone()).collect();
    for l in &leases {
        if l.key == first.shard_id {
            assert!(l.lease.checkpoint.is_shard_end(), "{l:?}");
        } else if with_records.contains(&l.key) {
            assert!(
                matches!(l.lease.checkpoint, Checkpoint::Sequence(_)),
                "{l:?}"
            );
        }
    }

    // A new worker resumes from the checkpoints: nothing old again.
    let before = seen.lock().unwrap().len();
    put(&api, STREAM, 600, 700, Duration::ZERO).await;
    let worker = start_worker(&api, STREAM, APP, "b", &seen, &subscriptions);
    wait_for(&seen, 700, "700 records after the restart").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again: Vec<u64> = seen.lock().unwrap()[before..]
        .iter()
        .map(|r| r.3)
        .filter(|n| *n < 600)
        .collect();
    assert!(again.is_empty(), "redelivered after restart: {again:?}");
    stop(vec![worker]).await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_fan_out_workers_balance_and_lose_nothing() {
    const STREAM: &str = "kcl-efo-two";
    const APP: &str = "efo-two";
    let server = Server::start(&[
        "--subscription-ttl-ms",
        "1500",
        "--auth",
        "--access-key",
        &format!("{KEY_ID}:{SECRET}"),
    ]);
    let api = client(&server.endpoint());
    api.create_stream(STREAM, 4).await.unwrap();
    wait_for_active(&api, STREAM, Duration::from_secs(30))
        .await
        .unwrap();
    put(&api, STREAM, 0, 200, Duration::ZERO).await;
    let seen: Seen = Arc::default();
    let subscriptions = Arc::new(AtomicU64::new(0));
    let a = start_worker(&api, STREAM, APP, "a", &seen, &subscriptions);
    wait_for(&seen, 200, "200 records on one worker").await;

    // A second worker takes half of the leases by handoff: the giver's subscriptions
    // end and the taker subscribes from the checkpoints.
    let b = start_worker(&api, STREAM, APP, "b", &seen, &subscriptions);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let held = [a.0.metrics().leases_held, b.0.metrics().leases_held];
        if held == [2, 2] {
            break;
        }
        assert!(Instant::now() < deadline, "leases not balanced: {held:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    put(&api, STREAM, 200, 400, Duration::from_millis(100)).await;
    wait_for(&seen, 400, "400 records on two workers").await;
    {
        let s = seen.lock().unwrap();
        let late: BTreeSet<&str> = s
            .iter()
            .filter(|r| r.3 >= 200)
            .map(|r| r.0.as_str())
            .collect();
        assert_eq!(late.len(), 2, "both workers deliver: {late:?}");
    }
    assert_key_order(&seen);
    stop(vec![a, b]).await;
    drop(server);
}
