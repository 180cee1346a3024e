//! PutRecords (100 records of 100 bytes) and GetRecords (100 records) through the
//! Kinesis service's two paths, the typed JSON fast path (`fast::try_dispatch`, from
//! the request bytes) and the generic path (`dispatch`, from the decoded document:
//! validation, the action, the reply tree), on a stream that retains 10,000 closed
//! shards beside its open one and on a stream of one shard. The per-call cost must not
//! depend on the closed shards. PutRecords is also measured with throughput limits
//! enforced (the limiter's routing of every record; most records are then refused
//! with ProvisionedThroughputExceeded, which is the point: no engine write hides the
//! routing cost). Run with
//! `cargo bench -p freshet-kinesis --bench put_get_retained_shards`; figures in
//! BENCHMARKS.md.
#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion};
use freshet_kinesis::actions::{dispatch, fast};
use freshet_kinesis::{ApiConfig, KinesisState};
use freshet_protocol::value::{decode, Encoding};
use freshet_storage::{shard_id, CreateStream, Engine, EngineConfig, MIN_SEGMENT_BYTES};
use serde_json::json;

/// Closed shards the wide stream retains (each split-and-merge cycle closes three).
const CLOSED: usize = 10_000;

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

fn put_body(stream: &str) -> Vec<u8> {
    let records: Vec<_> = (0..100)
        .map(|i| {
            json!({
                "PartitionKey": format!("pk-{i}"),
                "Data": base64::engine::general_purpose::STANDARD.encode([i as u8; 100]),
            })
        })
        .collect();
    serde_json::to_vec(&json!({"StreamName": stream, "Records": records})).expect("json")
}

fn iterator(state: &KinesisState, stream: &str, shard: &str) -> String {
    let doc = decode(
        Encoding::Json,
        &serde_json::to_vec(&json!({
            "StreamName": stream,
            "ShardId": shard,
            "ShardIteratorType": "TRIM_HORIZON",
        }))
        .expect("json"),
    )
    .expect("decode");
    let deadline = Instant::now() + Duration::from_secs(3600);
    let v = dispatch(state, "GetShardIterator", &doc, deadline).expect("iterator");
    match v.get("ShardIterator") {
        Some(freshet_protocol::value::Value::Str(s)) => s.clone(),
        other => panic!("{other:?}"),
    }
}

fn put_get(c: &mut Criterion) {
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
    // one small file; then a restart with the default segment size for the measurement.
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
    engine.shutdown().expect("shutdown");
    drop(engine);
    let engine = Engine::open(config(EngineConfig::new("").segment_bytes)).expect("reopen");
    let api = ApiConfig {
        iterator_ttl_ms: i64::MAX / 4,
        shard_limit: 100_000,
        ..ApiConfig::default()
    };
    let state = KinesisState::new(engine.clone(), api.clone());
    let limited = KinesisState::new(
        engine.clone(),
        ApiConfig {
            enforce_limits: true,
            ..api
        },
    );
    let retained = engine
        .describe_stream("wide")
        .expect("describe")
        .shards
        .len();
    assert!(retained > CLOSED, "{retained} shards");
    let far = Instant::now() + Duration::from_secs(24 * 3600);
    for stream in ["wide", "one"] {
        for _ in 0..10 {
            fast::try_dispatch(&state, "PutRecords", &put_body(stream), far)
                .expect("fast path")
                .expect("put");
        }
    }
    eprintln!(
        "set-up: {retained} retained shards in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut g = c.benchmark_group("kinesis_retained_shards");
    g.sample_size(30)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    let cases = [
        ("1_shard", "one", one_open.as_str()),
        ("10000_closed_shards", "wide", wide_open.as_str()),
    ];
    // Each operation on both streams back to back, so drifting load from elsewhere
    // weighs on both alike.
    let prepared: Vec<_> = cases
        .iter()
        .map(|&(label, stream, open)| {
            let put = put_body(stream);
            let put_doc = decode(Encoding::Json, &put).expect("decode");
            let get = serde_json::to_vec(&json!({
                "ShardIterator": iterator(&state, stream, open),
                "Limit": 100,
            }))
            .expect("json");
            let get_doc = decode(Encoding::Json, &get).expect("decode");
            (label, put, put_doc, get, get_doc)
        })
        .collect();
    for (label, put, _, _, _) in &prepared {
        g.bench_function(format!("put_records_100x100B_fast/{label}"), |b| {
            b.iter(|| {
                fast::try_dispatch(&state, "PutRecords", put, far)
                    .expect("fast path")
                    .expect("put")
            });
        });
    }
    for (label, _, put_doc, _, _) in &prepared {
        g.bench_function(format!("put_records_100x100B_generic/{label}"), |b| {
            b.iter(|| dispatch(&state, "PutRecords", put_doc, far).expect("put"));
        });
    }
    for (label, put, _, _, _) in &prepared {
        g.bench_function(format!("put_records_100x100B_limited/{label}"), |b| {
            b.iter(|| {
                fast::try_dispatch(&limited, "PutRecords", put, far)
                    .expect("fast path")
                    .expect("put")
            });
        });
    }
    for (label, _, _, get, _) in &prepared {
        g.bench_function(format!("get_records_100x100B_fast/{label}"), |b| {
            b.iter(|| {
                let reply = fast::try_dispatch(&state, "GetRecords", get, far)
                    .expect("fast path")
                    .expect("get");
                assert!(reply.len() > 100 * 100);
            });
        });
    }
    for (label, _, _, _, get_doc) in &prepared {
        g.bench_function(format!("get_records_100x100B_generic/{label}"), |b| {
            b.iter(|| dispatch(&state, "GetRecords", get_doc, far).expect("get"));
        });
    }
    g.finish();
    engine.shutdown().expect("shutdown");
}

criterion_group!(benches, put_get);
criterion_main!(benches);
