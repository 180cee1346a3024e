//! The tailing cursor: records put while it waits arrive (woken by the shards' watch
//! channels), a split and a merge mid-tail keep every record exactly once and in order
//! per key, positions resume a cursor, trimmed records are reported and reading goes on
//! at the trim horizon, and deletion or shutdown end it with a typed error.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use freshet_storage::*;

/// Bound on any one wait in these tests (a hang fails instead of blocking forever).
const BOUND: Duration = Duration::from_secs(20);

fn config(dir: &std::path::Path) -> EngineConfig {
    let mut cfg = EngineConfig::new(dir);
    cfg.retention_interval = None;
    cfg.segment_bytes = 8192;
    cfg
}

fn engine_with(dir: &std::path::Path, shards: u32) -> Engine {
    let engine = Engine::open(config(dir)).expect("open");
    engine
        .create_stream(CreateStream::new("s", shards))
        .expect("create");
    engine
}

async fn put(engine: &Engine, key: String, data: String) -> PutOutcome {
    let engine = engine.clone();
    tokio::task::spawn_blocking(move || engine.put_record("s", PutRecordInput::new(key, data)))
        .await
        .expect("join")
        .expect("put")
}

/// Reads until `n` records arrived (bounded), returning (key, data) in delivery order.
async fn collect(cursor: &mut StreamCursor, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        if out.len() >= n {
            break;
        }
        let batch = cursor.next_within(50, 1 << 20, BOUND).await.expect("next");
        assert!(
            !batch.is_empty(),
            "no record within the bound after {} of {n}",
            out.len()
        );
        for (_, r) in batch.records() {
            out.push((
                r.partition_key_str().to_string(),
                String::from_utf8(r.data.to_vec()).expect("utf8"),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_put_after_the_cursor_waits_arrive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine_with(dir.path(), 2);
    put(&engine, "old".into(), "before the cursor".into()).await;
    let mut cursor = engine.tail_stream("s", TailFrom::Latest).expect("cursor");
    assert!(cursor.read_now(10, 1 << 20).expect("read").is_empty());
    let waiting = tokio::spawn(async move {
        let batch = tokio::time::timeout(BOUND, cursor.next(100, 1 << 20))
            .await
            .expect("woken within the bound")
            .expect("next");
        (cursor, batch)
    });
    // Give the cursor time to park on the watch channels (not a timing assertion: the
    // records must arrive whether or not it had parked yet).
    tokio::time::sleep(Duration::from_millis(50)).await;
    for i in 0..5 {
        put(&engine, format!("k{i}"), format!("new {i}")).await;
    }
    let (mut cursor, first) = waiting.await.expect("join");
    assert!(first.record_count() >= 1);
    let mut got: Vec<String> = first
        .records()
        .map(|(_, r)| String::from_utf8(r.data.to_vec()).unwrap())
        .collect();
    let rest = collect(&mut cursor, 5 - got.len()).await;
    got.extend(rest.into_iter().map(|(_, d)| d));
    got.sort();
    assert_eq!(got, (0..5).map(|i| format!("new {i}")).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_and_a_merge_mid_tail_keep_every_record_once_in_per_key_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine_with(dir.path(), 2);
    let mut cursor = engine
        .tail_stream("s", TailFrom::TrimHorizon)
        .expect("cursor");
    const KEYS: usize = 16;
    const PER_KEY: usize = 60;
    let producer = {
        let engine = engine.clone();
        tokio::task::spawn_blocking(move || {
            for n in 0..PER_KEY {
                let batch: Vec<_> = (0..KEYS)
                    .map(|k| PutRecordInput::new(format!("key-{k}"), format!("{k}:{n}")))
                    .collect();
                for r in engine.put_records("s", batch).expect("put") {
                    r.expect("acknowledged");
                }
                if n == 20 {
                    let r = engine
                        .shard_state("s", "shardId-000000000000")
                        .expect("state")
                        .range;
                    engine
                        .split_shard("s", "shardId-000000000000", r.start + (r.end - r.start) / 2)
                        .expect("split");
                }
                if n == 40 {
                    // The split's right child and the stream's other original shard.
                    engine
                        .merge_shards("s", "shardId-000000000003", "shardId-000000000001")
                        .expect("merge");
                }
            }
        })
    };
    let got = collect(&mut cursor, KEYS * PER_KEY).await;
    producer.await.expect("producer");
    assert_eq!(got.len(), KEYS * PER_KEY, "every record exactly once");
    let mut per_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (key, data) in &got {
        let n: usize = data.split(':').nth(1).unwrap().parse().unwrap();
        per_key.entry(key.clone()).or_default().push(n);
    }
    for (key, ns) in per_key {
        assert_eq!(ns, (0..PER_KEY).collect::<Vec<_>>(), "order of {key}");
    }
    // Nothing more, and the closed shards are finished in the positions.
    assert!(cursor
        .read_now(100, 1 << 20)
        .expect("read")
        .shards
        .is_empty());
    let positions = cursor.positions();
    for closed in [
        "shardId-000000000000",
        "shardId-000000000001",
        "shardId-000000000003",
    ] {
        assert_eq!(
            positions.get(closed),
            Some(&ShardPosition::Finished),
            "{closed}"
        );
    }
    let mut reading = cursor.shards_reading();
    reading.sort();
    assert_eq!(reading, ["shardId-000000000002", "shardId-000000000004"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_resume_a_cursor_across_a_reshard() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine_with(dir.path(), 1);
    for i in 0..10 {
        put(&engine, format!("k{i}"), format!("a{i}")).await;
    }
    let mut cursor = engine
        .tail_stream("s", TailFrom::TrimHorizon)
        .expect("cursor");
    let first = collect(&mut cursor, 10).await;
    assert_eq!(first.len(), 10);
    let saved = cursor.positions();
    drop(cursor);
    engine
        .split_shard("s", "shardId-000000000000", u128::MAX / 2)
        .expect("split");
    for i in 0..10 {
        put(&engine, format!("k{i}"), format!("b{i}")).await;
    }
    let mut resumed = engine
        .tail_stream("s", TailFrom::Positions(saved))
        .expect("cursor");
    let mut rest: Vec<String> = collect(&mut resumed, 10)
        .await
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    rest.sort();
    assert_eq!(rest, (0..10).map(|i| format!("b{i}")).collect::<Vec<_>>());
    assert!(resumed
        .read_now(100, 1 << 20)
        .expect("read")
        .shards
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trimmed_records_are_reported_and_reading_goes_on_at_the_trim_horizon() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let mut cfg = config(dir.path());
    cfg.clock = clock.clone();
    let engine = Engine::open(cfg).expect("open");
    engine
        .create_stream(CreateStream::new("s", 1))
        .expect("create");
    for i in 0..60 {
        engine
            .put_record(
                "s",
                PutRecordInput::new("k", Bytes::from(format!("{i}:{}", "x".repeat(300)))),
            )
            .expect("put");
    }
    let mut cursor = engine
        .tail_stream("s", TailFrom::TrimHorizon)
        .expect("cursor");
    let batch = cursor.read_now(5, 1 << 20).expect("read");
    assert_eq!(batch.record_count(), 5);
    // A day and more passes: every segment expires.
    clock.advance(Duration::from_secs(25 * 3600));
    let report = engine.enforce_retention().expect("retention");
    assert!(report.segments_deleted > 0);
    let horizon = engine
        .shard_state("s", "shardId-000000000000")
        .expect("state")
        .start_offset;
    assert_eq!(horizon, 60);
    engine
        .put_record("s", PutRecordInput::new("k", "fresh"))
        .expect("put");
    let batch = cursor.next_within(100, 1 << 20, BOUND).await.expect("next");
    assert_eq!(
        batch.trimmed,
        vec![Trimmed {
            shard_id: "shardId-000000000000".into(),
            from: 5,
            resumed_at: Some(60),
        }]
    );
    let data: Vec<_> = batch.records().map(|(_, r)| r.data.clone()).collect();
    assert_eq!(data, vec![Bytes::from("fresh")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_stream_ends_a_waiting_cursor_with_a_typed_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine_with(dir.path(), 2);
    let mut cursor = engine.tail_stream("s", TailFrom::Latest).expect("cursor");
    let waiting =
        tokio::spawn(async move { tokio::time::timeout(BOUND, cursor.next(10, 1 << 20)).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    {
        let engine = engine.clone();
        tokio::task::spawn_blocking(move || engine.delete_stream("s"))
            .await
            .expect("join")
            .expect("delete");
    }
    match waiting
        .await
        .expect("join")
        .expect("ended within the bound")
    {
        Err(Error::StreamDeleted { stream }) => assert_eq!(stream, "s"),
        other => panic!("expected StreamDeleted, got {other:?}"),
    }

    // A stream deleted and created again under the same name is another stream.
    engine
        .create_stream(CreateStream::new("s", 1))
        .expect("create");
    let mut cursor = engine
        .tail_stream("s", TailFrom::TrimHorizon)
        .expect("cursor");
    engine.delete_stream("s").expect("delete");
    engine
        .create_stream(CreateStream::new("s", 1))
        .expect("create again");
    engine
        .put_record("s", PutRecordInput::new("k", "new incarnation"))
        .expect("put");
    assert!(matches!(
        cursor.read_now(10, 1 << 20),
        Err(Error::StreamDeleted { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_wait_returns_empty_and_shutdown_ends_a_waiting_cursor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine_with(dir.path(), 1);
    let mut cursor = engine.tail_stream("s", TailFrom::Latest).expect("cursor");
    let batch = cursor
        .next_within(10, 1 << 20, Duration::from_millis(20))
        .await
        .expect("next");
    assert!(batch.is_empty());
    let waiting =
        tokio::spawn(async move { tokio::time::timeout(BOUND, cursor.next(10, 1 << 20)).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    {
        let engine = engine.clone();
        tokio::task::spawn_blocking(move || engine.shutdown())
            .await
            .expect("join")
            .expect("shutdown");
    }
    match waiting
        .await
        .expect("join")
        .expect("ended within the bound")
    {
        Err(Error::ShutDown) => {}
        other => panic!("expected ShutDown, got {other:?}"),
    }
}

#[test]
fn sequence_numbers_are_not_stream_wide_starts() {
    let seq = SequenceNumber::new(0, 0);
    assert!(TailFrom::try_from(StartingPosition::AtSequenceNumber(seq)).is_err());
    assert_eq!(
        TailFrom::try_from(StartingPosition::Latest).expect("latest"),
        TailFrom::Latest
    );
}
