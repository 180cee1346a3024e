//! Routing 500 partition keys (one PutRecords' worth, keys like `pk-7-123`): MD5 one
//! key at a time (`hash_key_of`) against eight side by side (`hash_keys_of`). Run with
//! `cargo bench -p freshet-storage --bench hash_keys`; figures in BENCHMARKS.md.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use freshet_storage::{hash_key_of, hash_keys_of};

fn hash_keys(c: &mut Criterion) {
    let keys: Vec<String> = (0..500).map(|i| format!("pk-{}-{i}", i % 16)).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let mut group = c.benchmark_group("hash_keys");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("one_at_a_time_x500", |b| {
        b.iter(|| {
            keys.iter()
                .map(|k| hash_key_of(k))
                .fold(0u128, |acc, k| acc ^ k)
        })
    });
    let mut out = Vec::new();
    group.bench_function("eight_lanes_x500", |b| {
        b.iter(|| {
            hash_keys_of(&refs, &mut out);
            out.iter().fold(0u128, |acc, k| acc ^ k)
        })
    });
    group.finish();
}

criterion_group!(benches, hash_keys);
criterion_main!(benches);
