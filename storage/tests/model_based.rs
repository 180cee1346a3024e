//! Model-based property test: random sequences of puts (empty to 1 MiB data), reads
//! from every kind of starting position, splits, merges, scaling, close-and-reopen and
//! clock advances with retention passes, checked against a plain in-memory model.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use freshet_storage::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Put {
        keys: Vec<u8>,
        size: usize,
    },
    Read {
        shard: usize,
        from: Pos,
        limit: usize,
    },
    Split {
        shard: usize,
        at_permille: u16,
    },
    Merge {
        shard: usize,
    },
    Scale {
        up: bool,
    },
    Reopen,
    Advance {
        hours: u32,
    },
}

#[derive(Debug, Clone, Copy)]
enum Pos {
    TrimHorizon,
    Latest,
    At(usize),
    After(usize),
    Time(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let size = prop_oneof![8 => 0usize..300, 1 => Just(0usize), 1 => Just(64 * 1024), 1 => Just(1024 * 1024)];
    let pos = prop_oneof![
        Just(Pos::TrimHorizon),
        Just(Pos::Latest),
        any::<usize>().prop_map(Pos::At),
        any::<usize>().prop_map(Pos::After),
        any::<usize>().prop_map(Pos::Time),
    ];
    prop_oneof![
        10 => (proptest::collection::vec(any::<u8>(), 1..20), size).prop_map(|(keys, size)| Op::Put { keys, size }),
        6 => (any::<usize>(), pos, 1usize..50).prop_map(|(shard, from, limit)| Op::Read { shard, from, limit }),
        1 => (any::<usize>(), 1u16..999).prop_map(|(shard, at_permille)| Op::Split { shard, at_permille }),
        1 => any::<usize>().prop_map(|shard| Op::Merge { shard }),
        1 => any::<bool>().prop_map(|up| Op::Scale { up }),
        1 => Just(Op::Reopen),
        1 => (1u32..30).prop_map(|hours| Op::Advance { hours }),
    ]
}

#[derive(Debug, Clone)]
struct ModelRecord {
    seq: SequenceNumber,
    key: String,
    data: Bytes,
    arrival: i64,
}

/// The model: per shard id, the records still retained.
#[derive(Debug, Default)]
struct Model {
    shards: BTreeMap<String, Vec<ModelRecord>>,
}

const STREAM: &str = "model";

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>, durability: Durability) -> Engine {
    let mut cfg = EngineConfig::new(dir);
    cfg.segment_bytes = 8192;
    cfg.index_interval_bytes = 512;
    cfg.retention_interval = None;
    cfg.durability = durability;
    cfg.clock = clock.clone();
    // The model scales freely; AWS's per-day cap is tested in freshet-tests.
    cfg.max_scaling_ops_per_day = usize::MAX;
    Engine::open(cfg).expect("open engine")
}

fn data_for(i: usize, size: usize) -> Bytes {
    Bytes::from(
        (0..size)
            .map(|j| (i * 31 + j * 7) as u8)
            .collect::<Vec<_>>(),
    )
}

fn run(ops: Vec<Op>, sync: bool) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let durability = if sync {
        Durability::SyncData
    } else {
        Durability::Buffered
    };
    let mut engine = open(dir.path(), &clock, durability);
    engine
        .create_stream(CreateStream::new(STREAM, 2))
        .expect("create");
    let mut model = Model::default();
    for s in engine.describe_stream(STREAM).expect("describe").shards {
        model.shards.insert(s.shard_id, Vec::new());
    }
    let mut counter = 0usize;
    for op in ops {
        let desc = engine.describe_stream(STREAM).expect("describe");
        let open_shards: Vec<_> = desc
            .shards
            .iter()
            .filter(|s| !s.is_closed())
            .cloned()
            .collect();
        match op {
            Op::Put { keys, size } => {
                let inputs: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        counter += 1;
                        PutRecordInput::new(
                            format!("key-{k}"),
                            data_for(
                                counter,
                                if size > 4096 {
                                    size
                                } else {
                                    size + usize::from(*k)
                                },
                            ),
                        )
                    })
                    .take(if size > 4096 { 2 } else { keys.len() })
                    .collect();
                let results = engine.put_records(STREAM, inputs.clone()).expect("put");
                for (input, result) in inputs.into_iter().zip(results) {
                    let outcome = result.map_err(|f| TestCaseError::fail(f.message))?;
                    let hk = hash_key_of(&input.partition_key);
                    let owner = open_shards
                        .iter()
                        .find(|s| s.range.contains(hk))
                        .expect("an owner");
                    prop_assert_eq!(&*outcome.shard_id, owner.shard_id.as_str());
                    let recs = model
                        .shards
                        .get_mut(&*outcome.shard_id)
                        .expect("model shard");
                    if let Some(last) = recs.last() {
                        prop_assert!(outcome.sequence_number > last.seq);
                    }
                    recs.push(ModelRecord {
                        seq: outcome.sequence_number,
                        key: input.partition_key.to_string(),
                        data: input.data,
                        arrival: clock.now_ms(),
                    });
                }
            }
            Op::Read { shard, from, limit } => {
                let ids: Vec<_> = model.shards.keys().cloned().collect();
                let id = &ids[shard % ids.len()];
                let recs = &model.shards[id];
                let (position, expect_from) = match from {
                    Pos::TrimHorizon => (StartingPosition::TrimHorizon, 0),
                    Pos::Latest => (StartingPosition::Latest, recs.len()),
                    Pos::At(i) if !recs.is_empty() => (
                        StartingPosition::AtSequenceNumber(recs[i % recs.len()].seq),
                        i % recs.len(),
                    ),
                    Pos::After(i) if !recs.is_empty() => (
                        StartingPosition::AfterSequenceNumber(recs[i % recs.len()].seq),
                        i % recs.len() + 1,
                    ),
                    Pos::Time(i) if !recs.is_empty() => {
                        let t = recs[i % recs.len()].arrival;
                        (
                            StartingPosition::AtTimestamp(t),
                            recs.partition_point(|r| r.arrival < t),
                        )
                    }
                    _ => (StartingPosition::TrimHorizon, 0),
                };
                let offset = engine
                    .start_offset(STREAM, id, position)
                    .expect("start offset");
                let got = engine
                    .read(STREAM, id, offset, limit, 10 << 20)
                    .expect("read");
                let want: Vec<_> = recs[expect_from..].iter().take(limit).collect();
                // The scans' read in place returns the same records and position.
                let view = engine
                    .read_view(STREAM, id, offset, limit, 10 << 20)
                    .expect("read view");
                prop_assert_eq!(view.log.next_offset, got.next_offset);
                prop_assert_eq!(&view.to_records(), &got.records);
                prop_assert_eq!(
                    got.records.len(),
                    want.len(),
                    "shard {} from {:?}",
                    id,
                    from
                );
                for (g, w) in got.records.iter().zip(&want) {
                    prop_assert_eq!(g.sequence_number, w.seq);
                    prop_assert_eq!(g.partition_key_str(), w.key.as_str());
                    prop_assert_eq!(&g.data, &w.data);
                    prop_assert_eq!(g.arrival_ms, w.arrival);
                }
                let closed = desc
                    .shards
                    .iter()
                    .find(|s| &s.shard_id == id)
                    .is_some_and(|s| s.is_closed());
                let at_end = expect_from + got.records.len() >= recs.len();
                prop_assert_eq!(got.child_shards.is_some(), closed && at_end);
                // Continuing from next_offset yields the rest.
                let rest = engine
                    .read(STREAM, id, got.next_offset, 10_000, 10 << 20)
                    .expect("read rest");
                prop_assert_eq!(
                    rest.records.len(),
                    recs.len() - (expect_from + got.records.len()).min(recs.len())
                );
            }
            Op::Split { shard, at_permille } => {
                let s = &open_shards[shard % open_shards.len()];
                let width = s.range.end - s.range.start;
                let key = s.range.start + width / 1000 * u128::from(at_permille);
                match engine.split_shard(STREAM, &s.shard_id, key) {
                    Ok(()) => {}
                    Err(Error::InvalidSplitKey { .. }) => {}
                    Err(e) => return Err(TestCaseError::fail(format!("split: {e}"))),
                }
            }
            Op::Merge { shard } => {
                if open_shards.len() >= 2 {
                    let mut sorted = open_shards.clone();
                    sorted.sort_by_key(|s| s.range.start);
                    let i = shard % (sorted.len() - 1);
                    engine
                        .merge_shards(STREAM, &sorted[i].shard_id, &sorted[i + 1].shard_id)
                        .expect("merge");
                }
            }
            Op::Scale { up } => {
                let n = open_shards.len() as u32;
                let target = if up {
                    (n + 1).min(8)
                } else {
                    n.div_ceil(2).max(1)
                };
                let done = engine.update_shard_count(STREAM, target).expect("scale");
                prop_assert_eq!(done.target, target as usize);
            }
            Op::Reopen => {
                engine.shutdown().expect("shutdown");
                drop(engine);
                engine = open(dir.path(), &clock, durability);
            }
            Op::Advance { hours } => {
                clock.advance(Duration::from_secs(u64::from(hours) * 3600));
                engine.enforce_retention().expect("retention");
                let cutoff = clock.now_ms() - 24 * 3_600_000;
                let listed: Vec<_> = engine
                    .describe_stream(STREAM)
                    .expect("describe")
                    .shards
                    .into_iter()
                    .map(|s| s.shard_id)
                    .collect();
                for (id, recs) in model.shards.iter_mut() {
                    if !listed.contains(id) {
                        // Only a closed shard whose records all expired may leave.
                        prop_assert!(
                            recs.iter().all(|r| r.arrival < cutoff),
                            "shard {} dropped with live data",
                            id
                        );
                        recs.clear();
                        continue;
                    }
                    let horizon = engine
                        .start_offset(STREAM, id, StartingPosition::TrimHorizon)
                        .expect("horizon");
                    let kept = recs.partition_point(|r| r.seq.offset < horizon);
                    prop_assert!(
                        recs[..kept].iter().all(|r| r.arrival < cutoff),
                        "unexpired record trimmed"
                    );
                    recs.drain(..kept);
                }
                model.shards.retain(|id, _| listed.contains(id));
            }
        }
        // New shards from resharding join the model.
        for s in engine.describe_stream(STREAM).expect("describe").shards {
            model.shards.entry(s.shard_id).or_default();
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_model(ops in proptest::collection::vec(op(), 1..60), sync in any::<bool>()) {
        run(ops, sync)?;
    }
}
