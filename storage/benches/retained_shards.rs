//! Hot paths against the number of retained shards: puts, reads, a read at the end of a
//! closed shard (children lookup) and the summary lookups, on a stream that retains
//! 10,000 closed shards beside one open shard, against a stream of one shard. The per
//! call cost must not depend on the closed shards; `describe_stream` (which lists every
//! shard) is measured for contrast. Run with
//! `cargo bench -p freshet-storage --bench retained_shards`; figures in BENCHMARKS.md.
#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use freshet_storage::*;

/// Closed shards the wide stream retains (each split-and-merge cycle closes three).
const CLOSED: usize = 10_000;

fn batch(n: usize, size: usize) -> Vec<PutRecordInput> {
    (0..n)
        .map(|i| PutRecordInput::new(format!("pk-{i}"), Bytes::from(vec![i as u8; size])))
        .collect()
}

/// Splits the stream's one open shard and merges the halves back, until `closed`
/// shards are closed; returns the open shard's id.
fn churn(engine: &Engine, stream: &str, closed: usize) -> String {
    let mut open = 0u64;
    for _ in 0..closed.div_ceil(3) {
        let id = shard_id(open);
        let r = engine.shard_state(stream, &id).expect("state").range;
        engine
            .split_shard(stream, &id, r.start + (r.end - r.start) / 2)
            .expect("split");
        engine
            .merge_shards(stream, &shard_id(open + 1), &shard_id(open + 2))
            .expect("merge");
        open += 3;
    }
    shard_id(open)
}

fn retained_shards(c: &mut Criterion) {
    // tmpfs where there is one: the set-up does thousands of reshards, each with
    // several fsyncs, and the figures are about CPU work per call, not the disk.
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    }
    .expect("tempdir");
    let config = |segment_bytes: u64| {
        let mut cfg = EngineConfig::new(dir.path());
        cfg.retention_interval = None;
        cfg.segment_bytes = segment_bytes;
        cfg.min_free_bytes = 0;
        cfg
    };

    // Set-up with the smallest segments, so that each of the 10,000 closed shards holds
    // one 4 KiB file; then a restart with the default segment size for the measurement
    // (a closed shard's segment is not grown on open; every segment holds a descriptor).
    let started = Instant::now();
    let engine = Engine::open(config(MIN_SEGMENT_BYTES)).expect("open");
    engine
        .create_stream(CreateStream::new("wide", 1))
        .expect("create");
    let wide_open = churn(&engine, "wide", CLOSED);
    engine
        .create_stream(CreateStream::new("one", 1))
        .expect("create");
    let one_open = shard_id(0);
    // A stream with one split-and-merge cycle: three closed shards, for the read at a
    // closed shard's end.
    engine
        .create_stream(CreateStream::new("few", 1))
        .expect("create");
    churn(&engine, "few", 3);
    engine.shutdown().expect("shutdown");
    drop(engine);
    let engine = Engine::open(config(EngineConfig::new("").segment_bytes)).expect("reopen");
    let closed = engine
        .describe_stream("wide")
        .expect("describe")
        .shards
        .iter()
        .filter(|s| s.is_closed())
        .count();
    assert!(closed >= CLOSED, "{closed} closed shards");
    for (stream, shard) in [("wide", &wide_open), ("one", &one_open)] {
        for _ in 0..10 {
            engine.put_records(stream, batch(100, 100)).expect("fill");
        }
        assert_eq!(
            engine
                .shard_state(stream, shard)
                .expect("state")
                .next_offset,
            1000
        );
    }
    eprintln!(
        "set-up: {closed} closed shards in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut g = c.benchmark_group("retained_shards");
    g.sample_size(30)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    // Each operation on both streams back to back, so that load from outside the
    // benchmark weighs on both figures alike.
    let cases = [
        ("1_shard", "one", one_open.as_str()),
        ("10000_closed_shards", "wide", wide_open.as_str()),
    ];
    for (label, stream, _) in cases {
        g.bench_function(format!("put_records_10x100B/{label}"), |b| {
            b.iter_batched(
                || batch(10, 100),
                |r| engine.put_records(stream, r).expect("put"),
                BatchSize::SmallInput,
            );
        });
    }
    for (label, stream, open) in cases {
        g.bench_function(format!("read_100x100B/{label}"), |b| {
            b.iter(|| {
                let got = engine.read(stream, open, 500, 100, 1 << 20).expect("read");
                assert_eq!(got.records.len(), 100);
            });
        });
    }
    // The open shard of "few" has two parents, as the wide stream's has: the state
    // names them, which costs the same whatever the stream retains.
    let lineage_alike = [
        ("1_shard", "one", one_open.as_str()),
        ("3_closed_shards", "few", "shardId-000000000003"),
        ("10000_closed_shards", "wide", wide_open.as_str()),
    ];
    for (label, stream, open) in lineage_alike {
        g.bench_function(format!("shard_state/{label}"), |b| {
            b.iter(|| engine.shard_state(stream, open).expect("state"));
        });
    }
    for (label, stream, _) in cases {
        g.bench_function(format!("stream_summary/{label}"), |b| {
            b.iter(|| engine.stream_summary(stream).expect("summary"));
        });
    }
    for (label, stream, _) in cases {
        g.bench_function(format!("describe_stream/{label}"), |b| {
            b.iter(|| engine.describe_stream(stream).expect("describe"));
        });
    }
    // The oldest closed shard of each stream: the read reports its two children.
    for (label, stream) in [("3_closed_shards", "few"), ("10000_closed_shards", "wide")] {
        let end = engine
            .shard_state(stream, "shardId-000000000000")
            .expect("state")
            .end_offset
            .expect("closed");
        g.bench_function(format!("read_at_closed_shard_end/{label}"), |b| {
            b.iter(|| {
                let got = engine
                    .read(stream, "shardId-000000000000", end, 100, 1 << 20)
                    .expect("read");
                assert_eq!(got.child_shards.map(|c| c.len()), Some(2));
            });
        });
    }
    g.finish();
    engine.shutdown().expect("shutdown");
}

criterion_group!(benches, retained_shards);
criterion_main!(benches);
