#![allow(clippy::expect_used, clippy::unwrap_used)]
//! The producer against the in-process engine: many tasks, a split during the run,
//! injected failures and throttling, back-pressure, expiry. Every acknowledged user
//! record is read back, deaggregated as the KCL does, at its receipt's shard, sequence
//! and sub-sequence number.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use freshet_client::aggregation::deaggregate_in_range;
use freshet_client::{
    ApiFuture, EngineClient, Error, KinesisApi, Producer, ProducerConfig, PutReceipt,
    PutRecordOutput, PutRecordsEntry, PutRecordsOutput, RecordError, ShardIteratorType,
};
use freshet_storage::{Engine, EngineConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn engine(dir: &std::path::Path) -> Engine {
    let mut cfg = EngineConfig::new(dir);
    cfg.retention_interval = None;
    Engine::open(cfg).unwrap()
}

fn fast_config() -> ProducerConfig {
    ProducerConfig {
        rate_limit_percent: None,
        max_buffered_time: Duration::from_millis(20),
        retry_base_delay: Duration::from_millis(5),
        retry_max_delay: Duration::from_millis(50),
        ..ProducerConfig::default()
    }
}

/// Where each user record was read: (pk, data) -> [(shard, sequence, sub-sequence)].
type ReadBack = HashMap<(String, Bytes), Vec<(String, String, u64)>>;

/// Every user record of the stream, read from every shard (closed ones too) and
/// deaggregated with the KCL's hash-range filter: (pk, data) -> (shard, seq, sub).
async fn read_all(api: &dyn KinesisApi, stream: &str) -> ReadBack {
    let mut out = ReadBack::new();
    for shard in api.list_shards(stream).await.unwrap() {
        let mut it = api
            .get_shard_iterator(stream, &shard.shard_id, ShardIteratorType::TrimHorizon)
            .await
            .unwrap();
        for _ in 0..100_000 {
            let got = api.get_records(&it, Some(10_000)).await.unwrap();
            let empty = got.records.is_empty();
            for r in &got.records {
                for u in deaggregate_in_range(r, &shard.hash_key_range) {
                    out.entry((u.partition_key.clone(), u.data.clone()))
                        .or_default()
                        .push((
                            shard.shard_id.clone(),
                            u.sequence_number.clone(),
                            u.sub_sequence_number,
                        ));
                }
            }
            match got.next_shard_iterator {
                Some(next) if !(empty && shard.is_open()) => it = next,
                _ => break,
            }
        }
    }
    out
}

fn check_all_present(receipts: &[(String, Bytes, PutReceipt)], read: &ReadBack) {
    assert_eq!(
        read.len(),
        receipts.len(),
        "distinct user records read back"
    );
    for (pk, data, r) in receipts {
        let found = read
            .get(&(pk.clone(), data.clone()))
            .unwrap_or_else(|| panic!("record {pk} lost"));
        assert!(
            found.contains(&(
                r.shard_id.to_string(),
                r.sequence_number.to_string(),
                r.sub_sequence_number
            )),
            "record {pk} not at its receipt {r:?}: {found:?}"
        );
    }
}

async fn produce(
    producer: &Producer,
    stream: &str,
    tasks: usize,
    per_task: usize,
) -> Vec<(String, Bytes, PutReceipt)> {
    let mut handles = Vec::new();
    for t in 0..tasks {
        let p = producer.clone();
        let stream = stream.to_string();
        handles.push(tokio::spawn(async move {
            let mut pending = Vec::with_capacity(per_task);
            for i in 0..per_task {
                let pk = format!("task{t}-key{}", i % 97);
                let data = Bytes::from(format!("task{t}-record{i}-{}", "x".repeat(i % 50)));
                let fut = p
                    .submit(&stream, pk.clone(), data.clone(), None)
                    .await
                    .unwrap();
                pending.push((pk, data, fut));
                // Paced, so that a reshard lands in the middle of the run.
                if i % 100 == 99 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            let mut out = Vec::with_capacity(per_task);
            for (pk, data, fut) in pending {
                out.push((pk, data, fut.await.unwrap()));
            }
            out
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_all_records_readable_with_sub_sequence_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let api = Arc::new(EngineClient::new(engine(dir.path())));
    api.create_stream("s", 4).await.unwrap();
    let producer = Producer::new(api.clone(), fast_config());
    let started = Instant::now();
    let receipts = produce(&producer, "s", 4, 5_000).await;
    let elapsed = started.elapsed();
    producer.shutdown().await.unwrap();
    let m = producer.metrics();
    eprintln!("20k records in {elapsed:?}; metrics {m:?}");
    assert_eq!(m.user_records_put, 20_000);
    assert!(m.user_records_per_kinesis_record() > 10.0, "{m:?}");
    assert!(receipts.iter().any(|(_, _, r)| r.sub_sequence_number > 0));
    let read = read_all(api.as_ref(), "s").await;
    check_all_present(&receipts, &read);
    assert!(read.values().all(|v| v.len() == 1), "duplicates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_during_the_run_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let api = Arc::new(EngineClient::new(engine(dir.path())));
    api.create_stream("s", 2).await.unwrap();
    let producer = Producer::new(api.clone(), fast_config());
    let producer_for_split = producer.clone();
    let splitter = {
        let api = api.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            while producer_for_split.metrics().user_records_put < 4_000 && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let shards = api.list_shards("s").await.unwrap();
            let s0 = &shards[0];
            let mid =
                s0.hash_key_range.start + (s0.hash_key_range.end - s0.hash_key_range.start) / 2;
            api.split_shard("s", &s0.shard_id, mid).await.unwrap();
        })
    };
    let receipts = produce(&producer, "s", 4, 5_000).await;
    splitter.await.unwrap();
    producer.shutdown().await.unwrap();
    let shards = api.list_shards("s").await.unwrap();
    assert_eq!(shards.len(), 4, "split happened");
    let on_children = receipts
        .iter()
        .filter(|(_, _, r)| {
            &*r.shard_id != "shardId-000000000000" && &*r.shard_id != "shardId-000000000001"
        })
        .count();
    assert!(
        on_children > 1_000,
        "records put to the children: {on_children}"
    );
    let m = producer.metrics();
    eprintln!("split run metrics {m:?}");
    assert!(m.shard_map_refreshes >= 2, "{m:?}");
    let read = read_all(api.as_ref(), "s").await;
    check_all_present(&receipts, &read);
}

/// Fails a share of the entries of each `PutRecords` call before they reach the
/// engine (as Kinesis does for throttled or failed entries) and throttles whole calls
/// now and then.
struct Flaky {
    inner: EngineClient,
    calls: AtomicU64,
    throttle_entries: bool,
    /// Every n-th call is throttled whole, every m-th fails with a 500, and entry i of
    /// call c fails when (i + c) is a multiple of k: (n, m, k).
    pattern: (u64, u64, u64),
    /// Instead of the pattern: the odds that a call is throttled, that it fails with a
    /// 500 and that an entry fails, drawn from a seeded generator.
    odds: Option<(f64, f64, f64, Mutex<StdRng>)>,
}

impl Flaky {
    fn new(inner: EngineClient, throttle_entries: bool) -> Self {
        Flaky {
            inner,
            calls: AtomicU64::new(0),
            throttle_entries,
            pattern: (7, 11, 3),
            odds: None,
        }
    }
}

impl KinesisApi for Flaky {
    fn create_stream<'a>(&'a self, s: &'a str, n: u32) -> ApiFuture<'a, ()> {
        self.inner.create_stream(s, n)
    }
    fn delete_stream<'a>(&'a self, s: &'a str) -> ApiFuture<'a, ()> {
        self.inner.delete_stream(s)
    }
    fn describe_stream_summary<'a>(
        &'a self,
        s: &'a str,
    ) -> ApiFuture<'a, freshet_client::StreamSummary> {
        self.inner.describe_stream_summary(s)
    }
    fn list_streams(&self) -> ApiFuture<'_, Vec<String>> {
        self.inner.list_streams()
    }
    fn list_shards<'a>(&'a self, s: &'a str) -> ApiFuture<'a, Vec<freshet_client::Shard>> {
        self.inner.list_shards(s)
    }
    fn put_record<'a>(&'a self, s: &'a str, e: PutRecordsEntry) -> ApiFuture<'a, PutRecordOutput> {
        self.inner.put_record(s, e)
    }
    fn put_records<'a>(
        &'a self,
        s: &'a str,
        entries: Vec<PutRecordsEntry>,
    ) -> ApiFuture<'a, PutRecordsOutput> {
        Box::pin(async move {
            let call = self.calls.fetch_add(1, Ordering::Relaxed);
            let (n, m, k) = self.pattern;
            let draws: Option<(bool, bool, Vec<bool>)> =
                self.odds.as_ref().map(|(t, f, e, rng)| {
                    let mut rng = rng.lock().unwrap();
                    (
                        rng.gen_bool(*t),
                        rng.gen_bool(*f),
                        (0..entries.len()).map(|_| rng.gen_bool(*e)).collect(),
                    )
                });
            if let Some((throttle, fail, _)) = &draws {
                if *throttle {
                    return Err(Error::Throttled("Rate exceeded for stream".into()));
                }
                if *fail {
                    return Err(Error::Service {
                        code: "InternalFailure".into(),
                        message: "injected 500".into(),
                        status: 500,
                    });
                }
            } else if call % n == n / 2 {
                return Err(Error::Throttled("Rate exceeded for stream".into()));
            }
            if draws.is_none() && call % m == m / 2 {
                return Err(Error::Service {
                    code: "InternalFailure".into(),
                    message: "injected 500".into(),
                    status: 500,
                });
            }
            let mut forward = Vec::new();
            let mut slots = Vec::new();
            for (i, e) in entries.into_iter().enumerate() {
                let fail = match &draws {
                    Some((_, _, entry_fails)) => entry_fails.get(i).copied().unwrap_or(false),
                    None => (i as u64 + call).is_multiple_of(k),
                };
                if fail {
                    slots.push(None);
                } else {
                    slots.push(Some(forward.len()));
                    forward.push(e);
                }
            }
            let mut done = if forward.is_empty() {
                Vec::new()
            } else {
                self.inner.put_records(s, forward).await?.records
            }
            .into_iter();
            let code = if self.throttle_entries {
                "ProvisionedThroughputExceededException"
            } else {
                "InternalFailure"
            };
            let records: Vec<_> = slots
                .into_iter()
                .map(|slot| match slot {
                    Some(_) => done.next().unwrap(),
                    None => Err(RecordError {
                        error_code: code.into(),
                        error_message: "injected".into(),
                    }),
                })
                .collect();
            Ok(PutRecordsOutput {
                failed_record_count: records.iter().filter(|r| r.is_err()).count(),
                records,
            })
        })
    }
    fn get_shard_iterator<'a>(
        &'a self,
        s: &'a str,
        shard: &'a str,
        p: ShardIteratorType,
    ) -> ApiFuture<'a, String> {
        self.inner.get_shard_iterator(s, shard, p)
    }
    fn get_records<'a>(
        &'a self,
        it: &'a str,
        l: Option<u32>,
    ) -> ApiFuture<'a, freshet_client::GetRecordsOutput> {
        self.inner.get_records(it, l)
    }
    fn split_shard<'a>(&'a self, s: &'a str, sh: &'a str, k: u128) -> ApiFuture<'a, ()> {
        self.inner.split_shard(s, sh, k)
    }
    fn merge_shards<'a>(&'a self, s: &'a str, a: &'a str, b: &'a str) -> ApiFuture<'a, ()> {
        self.inner.merge_shards(s, a, b)
    }
    fn update_shard_count<'a>(
        &'a self,
        s: &'a str,
        n: u32,
    ) -> ApiFuture<'a, freshet_client::UpdateShardCountOutput> {
        self.inner.update_shard_count(s, n)
    }
    fn set_retention_period<'a>(&'a self, s: &'a str, h: u32, inc: bool) -> ApiFuture<'a, ()> {
        self.inner.set_retention_period(s, h, inc)
    }
    fn add_tags<'a>(&'a self, s: &'a str, t: BTreeMap<String, String>) -> ApiFuture<'a, ()> {
        self.inner.add_tags(s, t)
    }
    fn list_tags<'a>(&'a self, s: &'a str) -> ApiFuture<'a, BTreeMap<String, String>> {
        self.inner.list_tags(s)
    }
    fn remove_tags<'a>(&'a self, s: &'a str, k: Vec<String>) -> ApiFuture<'a, ()> {
        self.inner.remove_tags(s, k)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_failures_and_throttling_lose_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let api = Arc::new(Flaky::new(EngineClient::new(engine(dir.path())), true));
    api.create_stream("s", 3).await.unwrap();
    let cfg = ProducerConfig {
        // Small aggregates so each call carries many entries to fail one by one.
        aggregation_max_bytes: 2_000,
        ..fast_config()
    };
    let producer = Producer::new(api.clone(), cfg);
    let receipts = produce(&producer, "s", 3, 3_000).await;
    producer.shutdown().await.unwrap();
    let m = producer.metrics();
    eprintln!("flaky run metrics {m:?}");
    assert!(m.retries > 0 && m.kinesis_records_failed > 0, "{m:?}");
    assert!(receipts.iter().any(|(_, _, r)| r.attempts > 1));
    let read = read_all(&api.inner, "s").await;
    check_all_present(&receipts, &read);
    assert!(read.values().all(|v| v.len() == 1), "duplicates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_if_throttled_and_ttl_fail_records() {
    let dir = tempfile::tempdir().unwrap();
    let api = Arc::new(Flaky::new(EngineClient::new(engine(dir.path())), true));
    api.create_stream("s", 1).await.unwrap();
    let cfg = ProducerConfig {
        fail_if_throttled: true,
        aggregation: false,
        ..fast_config()
    };
    let producer = Producer::new(api.clone(), cfg);
    let mut throttled = 0;
    let mut ok = 0;
    let mut pending = Vec::new();
    for i in 0..300 {
        pending.push(
            producer
                .submit("s", format!("k{i}"), "d", None)
                .await
                .unwrap(),
        );
    }
    for p in pending {
        match p.await {
            Ok(_) => ok += 1,
            Err(Error::Throttled(_)) => throttled += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(throttled > 0 && ok > 0, "{throttled} {ok}");
    producer.shutdown().await.unwrap();

    // A time to live shorter than the retry backoff: records expire.
    let cfg = ProducerConfig {
        record_ttl: Duration::from_millis(30),
        retry_base_delay: Duration::from_millis(200),
        retry_max_delay: Duration::from_millis(200),
        aggregation: false,
        ..fast_config()
    };
    let api2 = Arc::new(Flaky::new(api.inner.clone(), false));
    let producer = Producer::new(api2, cfg);
    let mut expired = 0;
    let mut pending = Vec::new();
    for i in 0..100 {
        pending.push(
            producer
                .submit("s", format!("k{i}"), "d", None)
                .await
                .unwrap(),
        );
    }
    for p in pending {
        if let Err(Error::RecordExpired { attempts, .. }) = p.await {
            assert!(attempts >= 1);
            expired += 1;
        }
    }
    assert!(expired > 0);
    assert!(producer.metrics().user_records_failed >= expired);
    producer.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_pressure_bounds_outstanding_records() {
    let dir = tempfile::tempdir().unwrap();
    let api = Arc::new(EngineClient::new(engine(dir.path())));
    api.create_stream("s", 1).await.unwrap();
    let cfg = ProducerConfig {
        max_outstanding_records: 10,
        max_buffered_time: Duration::from_millis(300),
        ..fast_config()
    };
    let producer = Producer::new(api.clone(), cfg);
    let mut pending = Vec::new();
    for i in 0..10 {
        pending.push(
            producer
                .try_submit("s", format!("k{i}"), "d", None)
                .await
                .unwrap(),
        );
    }
    assert!(matches!(
        producer.try_submit("s", "k", "d", None).await,
        Err(Error::Full)
    ));
    assert_eq!(producer.outstanding_records(), 10);
    // put_record waits for room, then for its own outcome.
    let started = Instant::now();
    let waited = producer.put_record("s", "late", "d", None).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(waited.attempts, 1);
    for p in pending {
        p.await.unwrap();
    }
    // flush sends at once.
    let f = producer.submit("s", "k", "d", None).await.unwrap();
    let started = Instant::now();
    producer.flush();
    f.await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(250));
    producer.shutdown().await.unwrap();
    assert!(matches!(
        producer.submit("s", "k", "d", None).await,
        Err(Error::ShutDown)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_spreads_a_burst_over_time() {
    let dir = tempfile::tempdir().unwrap();
    let api = Arc::new(EngineClient::new(engine(dir.path())));
    api.create_stream("s", 1).await.unwrap();
    let cfg = ProducerConfig {
        aggregation: false,
        rate_limit_percent: Some(100),
        ..fast_config()
    };
    let producer = Producer::new(api.clone(), cfg);
    let started = Instant::now();
    let mut pending = Vec::new();
    // One second's bucket (1,000) plus 300 more: the last 300 wait about 0.3 s.
    for i in 0..1_300 {
        pending.push(
            producer
                .submit("s", format!("k{i}"), "d", None)
                .await
                .unwrap(),
        );
    }
    for p in pending {
        p.await.unwrap();
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    producer.shutdown().await.unwrap();
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(8))]

    /// Under any pattern of throttled calls, failed calls and failed entries, every
    /// record is acknowledged once and read back once, where its receipt says.
    #[test]
    fn no_record_lost_or_duplicated_under_any_failure_pattern(
        throttle_odds in 0.0f64..0.4,
        fail_odds in 0.0f64..0.3,
        entry_odds in 0.0f64..0.6,
        seed in proptest::prelude::any::<u64>(),
        throttle_entries in proptest::bool::ANY,
        aggregation_max_bytes in 300usize..8_000,
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let dir = tempfile::tempdir().unwrap();
            let mut flaky = Flaky::new(EngineClient::new(engine(dir.path())), throttle_entries);
            flaky.odds = Some((
                throttle_odds,
                fail_odds,
                entry_odds,
                Mutex::new(StdRng::seed_from_u64(seed)),
            ));
            let api = Arc::new(flaky);
            api.create_stream("s", 2).await.unwrap();
            let cfg = ProducerConfig {
                aggregation_max_bytes,
                ..fast_config()
            };
            let producer = Producer::new(api.clone(), cfg);
            let receipts = produce(&producer, "s", 2, 1_000).await;
            producer.shutdown().await.unwrap();
            let m = producer.metrics();
            assert_eq!(m.user_records_put, 2_000, "{m:?}");
            let read = read_all(&api.inner, "s").await;
            check_all_present(&receipts, &read);
            assert!(read.values().all(|v| v.len() == 1), "duplicates");
        });
    }
}

/// A record too large to aggregate goes out alone, after the records of its shard
/// already waiting in the aggregate: one key's records stay in submission order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_too_large_to_aggregate_keeps_its_keys_order() {
    let dir = tempfile::tempdir().unwrap();
    let api = Arc::new(EngineClient::new(engine(dir.path())));
    api.create_stream("s", 1).await.unwrap();
    let cfg = ProducerConfig {
        aggregation_max_bytes: 4096,
        max_in_flight_requests: 1,
        ..fast_config()
    };
    let producer = Producer::new(api.clone(), cfg);
    let mut pending = Vec::new();
    for i in 0..200usize {
        let size = if i % 10 == 9 { 8192 } else { 10 };
        let data = Bytes::from(format!("{i:05}{}", "x".repeat(size)));
        let fut = producer
            .submit("s", "one-key".to_string(), data, None)
            .await
            .unwrap();
        pending.push(fut);
    }
    for fut in pending {
        fut.await.unwrap();
    }
    producer.shutdown().await.unwrap();
    let read = read_all(api.as_ref(), "s").await;
    let mut order: Vec<((u128, u64), usize)> = read
        .iter()
        .map(|((_, data), at)| {
            let n: usize = std::str::from_utf8(&data[..5]).unwrap().parse().unwrap();
            let (_, seq, sub) = &at[0];
            ((seq.parse::<u128>().unwrap(), *sub), n)
        })
        .collect();
    order.sort();
    let numbers: Vec<usize> = order.into_iter().map(|(_, n)| n).collect();
    assert_eq!(numbers, (0..200).collect::<Vec<_>>());
}
