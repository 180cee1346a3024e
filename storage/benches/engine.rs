//! Engine benchmarks: appends (Buffered and SyncData with group commit), large-record
//! appends, sequential reads from the page cache, and reopen after clean and unclean
//! stops. Run with `cargo bench -p freshet-storage`; figures in BENCHMARKS.md.
#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use freshet_storage::*;

const STREAM: &str = "bench";
const SHARD: &str = "shardId-000000000000";

fn engine(dir: &Path, durability: Durability) -> Engine {
    let mut cfg = EngineConfig::new(dir);
    cfg.durability = durability;
    cfg.retention_interval = None;
    let engine = Engine::open(cfg).expect("open");
    if engine.describe_stream(STREAM).is_err() {
        engine
            .create_stream(CreateStream::new(STREAM, 1))
            .expect("create");
    }
    engine
}

fn batch(n: usize, size: usize) -> Vec<PutRecordInput> {
    (0..n)
        .map(|i| PutRecordInput::new(format!("pk-{}", i % 64), Bytes::from(vec![i as u8; size])))
        .collect()
}

fn appends(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    g.sample_size(10).measurement_time(Duration::from_secs(8));

    let dir = tempfile::tempdir().expect("tempdir");
    let e = engine(dir.path(), Durability::Buffered);
    let records = batch(500, 100);
    g.throughput(Throughput::Elements(500));
    // Building the request (the caller's work) is set-up, outside the timing.
    g.bench_function("buffered_100B_x500", |b| {
        b.iter_batched(
            || records.clone(),
            |r| e.put_records(STREAM, r).expect("put"),
            BatchSize::SmallInput,
        );
    });
    drop(e);

    let dir = tempfile::tempdir().expect("tempdir");
    let e = engine(dir.path(), Durability::SyncData);
    g.throughput(Throughput::Elements(500 * 8));
    g.bench_function("syncdata_100B_x500_8_producers", |b| {
        b.iter_custom(|iters| {
            let barrier = Arc::new(Barrier::new(9));
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let e = e.clone();
                    let barrier = Arc::clone(&barrier);
                    let records = batch(500, 100);
                    std::thread::spawn(move || {
                        barrier.wait();
                        for _ in 0..iters {
                            e.put_records(STREAM, records.clone()).expect("put");
                        }
                    })
                })
                .collect();
            barrier.wait();
            let start = Instant::now();
            for t in threads {
                t.join().expect("producer");
            }
            start.elapsed()
        });
    });
    drop(e);

    let dir = tempfile::tempdir().expect("tempdir");
    let e = engine(dir.path(), Durability::SyncData);
    let big = batch(1, 64 * 1024);
    g.throughput(Throughput::Bytes(64 * 1024));
    g.bench_function("syncdata_64KiB_x1", |b| {
        b.iter(|| e.put_records(STREAM, big.clone()).expect("put"));
    });
    g.finish();
}

fn reads(c: &mut Criterion) {
    let mut g = c.benchmark_group("read");
    g.sample_size(20);
    for size in [1024usize, 64 * 1024] {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = engine(dir.path(), Durability::Buffered);
        let per_batch = (512 * 1024 / size).clamp(1, 500);
        let total_bytes = 256usize << 20;
        let batches = total_bytes / (size * per_batch);
        for _ in 0..batches {
            e.put_records(STREAM, batch(per_batch, size)).expect("fill");
        }
        let count = (batches * per_batch) as u64;
        g.throughput(Throughput::Bytes((count as usize * size) as u64));
        g.bench_function(format!("sequential_{size}B_records_256MiB"), |b| {
            b.iter(|| {
                let mut offset = 0;
                let mut bytes = 0usize;
                loop {
                    let got = e
                        .read(STREAM, SHARD, offset, 10_000, 10 << 20)
                        .expect("read");
                    if got.records.is_empty() {
                        break;
                    }
                    bytes += got.records.iter().map(|r| r.data.len()).sum::<usize>();
                    offset = got.next_offset;
                }
                assert_eq!(bytes, count as usize * size);
            });
        });
    }
    g.finish();
}

fn reopen(c: &mut Criterion) {
    let mut g = c.benchmark_group("reopen_1_1GiB");
    g.sample_size(10);
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let e = engine(dir.path(), Durability::Buffered);
        // 8 full 128 MiB segments (255 batches of 8 x 64 KiB each) and an active segment
        // of 250 batches (125 MiB), about 1.1 GiB: the unclean reopen scans the latter.
        for _ in 0..(255 * 8 + 250) {
            e.put_records(STREAM, batch(8, 64 * 1024)).expect("fill");
        }
        e.shutdown().expect("shutdown");
    }
    g.bench_function("after_clean_shutdown", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let e = engine(dir.path(), Durability::SyncData);
                total += start.elapsed();
                e.shutdown().expect("shutdown");
            }
            total
        });
    });
    g.bench_function("after_kill_9", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                engine(dir.path(), Durability::SyncData).simulate_crash();
                let start = Instant::now();
                let e = engine(dir.path(), Durability::SyncData);
                total += start.elapsed();
                e.shutdown().expect("shutdown");
            }
            total
        });
    });
    g.finish();
}

criterion_group!(benches, appends, reads, reopen);
criterion_main!(benches);
