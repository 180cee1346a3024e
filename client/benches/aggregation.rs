//! Aggregation codec throughput: 100-byte user records into 51,200-byte aggregates and
//! back. `cargo bench -p freshet-client --bench aggregation`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use freshet_client::aggregation::{deaggregate, Aggregator, DEFAULT_MAX_AGGREGATE_BYTES};
use freshet_client::{PutRecordsEntry, Record};

fn entries(n: usize) -> Vec<PutRecordsEntry> {
    (0..n)
        .map(|i| PutRecordsEntry::new(format!("key-{}", i % 1000), Bytes::from(vec![b'x'; 100])))
        .collect()
}

fn bench(c: &mut Criterion) {
    let users = entries(400);
    let mut g = c.benchmark_group("aggregation");
    g.throughput(Throughput::Elements(users.len() as u64));
    g.bench_function("aggregate_400x100B", |b| {
        b.iter(|| {
            let mut agg = Aggregator::new(DEFAULT_MAX_AGGREGATE_BYTES, usize::MAX);
            for e in &users {
                agg.try_add(e).unwrap();
            }
            black_box(agg.finish())
        })
    });
    let mut agg = Aggregator::new(DEFAULT_MAX_AGGREGATE_BYTES, usize::MAX);
    for e in &users {
        agg.try_add(e).unwrap();
    }
    let blob = agg.finish().unwrap();
    let record = Record {
        sequence_number: "1".into(),
        approximate_arrival_ms: None,
        partition_key: blob.partition_key,
        data: blob.data,
    };
    g.bench_function("deaggregate_400x100B", |b| {
        b.iter(|| black_box(deaggregate(black_box(&record))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
