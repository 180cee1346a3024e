//! Simulated power cuts through the fault-injecting file system: proptest drives
//! appends, segment rolls, retention, splits, clean reopens and crashes that keep
//! synced bytes plus none, all, a random subset, a torn prefix or garbage of the rest
//! and drop unsynced directory entries. Every acknowledged record must survive intact
//! and in order; recovering twice must give what recovering once gave.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use freshet_storage::fs::{CrashMode, FaultFs};
use freshet_storage::*;
use proptest::prelude::*;

const STREAM: &str = "p";

#[derive(Debug, Clone)]
enum Op {
    Put { keys: Vec<u8>, size: usize },
    Crash(CrashMode),
    Reopen,
    Split(usize),
    Advance(u32),
}

fn op() -> impl Strategy<Value = Op> {
    let mode = prop_oneof![
        Just(CrashMode::DropUnsynced),
        Just(CrashMode::KeepAll),
        Just(CrashMode::RandomSubset),
        Just(CrashMode::TornTail),
        Just(CrashMode::Garbage),
    ];
    prop_oneof![
        12 => (proptest::collection::vec(any::<u8>(), 1..12), 0usize..900).prop_map(|(keys, size)| Op::Put { keys, size }),
        3 => mode.prop_map(Op::Crash),
        1 => Just(Op::Reopen),
        1 => any::<usize>().prop_map(Op::Split),
        1 => (1u32..20).prop_map(Op::Advance),
    ]
}

fn open(dir: &std::path::Path, fs: &FaultFs, clock: &Arc<ManualClock>) -> Engine {
    let mut cfg = EngineConfig::new(dir);
    cfg.segment_bytes = 4096;
    cfg.index_interval_bytes = 300;
    cfg.retention_interval = None;
    cfg.clock = clock.clone();
    cfg.fs = Arc::new(fs.clone());
    Engine::open(cfg).expect("recovery must succeed after a power cut")
}

/// Every retained record of every listed shard, by shard.
fn snapshot(engine: &Engine) -> BTreeMap<String, Vec<(SequenceNumber, i64, Bytes)>> {
    let mut out = BTreeMap::new();
    for s in engine.describe_stream(STREAM).expect("describe").shards {
        let mut offset = engine
            .start_offset(STREAM, &s.shard_id, StartingPosition::TrimHorizon)
            .expect("horizon");
        let mut recs = Vec::new();
        loop {
            let got = engine
                .read(STREAM, &s.shard_id, offset, 10_000, 10 << 20)
                .expect("read");
            if got.records.is_empty() {
                break;
            }
            recs.extend(
                got.records
                    .iter()
                    .map(|r| (r.sequence_number, r.arrival_ms, r.data.clone())),
            );
            offset = got.next_offset;
        }
        out.insert(s.shard_id, recs);
    }
    out
}

fn run(ops: Vec<Op>, seed: u64) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = FaultFs::new(seed);
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let mut engine = open(dir.path(), &fs, &clock);
    engine
        .create_stream(CreateStream::new(STREAM, 2))
        .expect("create");
    // Acknowledged records by shard: (sequence number, arrival, data).
    let mut acked: BTreeMap<String, Vec<(SequenceNumber, i64, Bytes)>> = BTreeMap::new();
    let mut n = 0u64;
    for op in ops {
        match op {
            Op::Put { keys, size } => {
                let inputs: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        n += 1;
                        PutRecordInput::new(
                            format!("k{k}"),
                            Bytes::from(format!("{n}:{}", "d".repeat(size))),
                        )
                    })
                    .collect();
                let results = engine.put_records(STREAM, inputs.clone()).expect("put");
                for (input, r) in inputs.iter().zip(results) {
                    let out = r.map_err(|f| TestCaseError::fail(f.message))?;
                    let arrival = clock.now_ms();
                    acked.entry(out.shard_id.to_string()).or_default().push((
                        out.sequence_number,
                        arrival,
                        input.data.clone(),
                    ));
                }
            }
            Op::Crash(mode) => {
                engine.simulate_crash();
                fs.crash(mode).expect("crash image");
                engine = open(dir.path(), &fs, &clock);
                let once = snapshot(&engine);
                // Recover a second time from what the first recovery left.
                engine.simulate_crash();
                fs.crash(CrashMode::DropUnsynced).expect("crash image");
                engine = open(dir.path(), &fs, &clock);
                prop_assert_eq!(
                    &once,
                    &snapshot(&engine),
                    "recovering twice differs from once"
                );
            }
            Op::Reopen => {
                engine.shutdown().expect("shutdown");
                drop(engine);
                engine = open(dir.path(), &fs, &clock);
            }
            Op::Split(i) => {
                let open_shards: Vec<_> = engine
                    .describe_stream(STREAM)
                    .expect("describe")
                    .shards
                    .into_iter()
                    .filter(|s| !s.is_closed())
                    .collect();
                if open_shards.len() < 6 {
                    let s = &open_shards[i % open_shards.len()];
                    let mid = s.range.start + (s.range.end - s.range.start) / 2;
                    engine.split_shard(STREAM, &s.shard_id, mid).expect("split");
                }
            }
            Op::Advance(hours) => {
                clock.advance(Duration::from_secs(u64::from(hours) * 3600));
                engine.enforce_retention().expect("retention");
            }
        }
        // Every acknowledged, unexpired record is present, intact and in order.
        let cutoff = clock.now_ms() - 24 * 3_600_000;
        let now = snapshot(&engine);
        for (shard, recs) in &acked {
            let live: Vec<_> = recs.iter().filter(|r| r.1 >= cutoff).cloned().collect();
            let got = now.get(shard).cloned().unwrap_or_default();
            // The shard may also hold older, not yet deleted records: compare the tail.
            prop_assert!(
                got.len() >= live.len(),
                "shard {} lost records: {} < {}",
                shard,
                got.len(),
                live.len()
            );
            let tail = &got[got.len() - live.len()..];
            for (g, w) in tail.iter().zip(&live) {
                prop_assert_eq!(g.0, w.0);
                prop_assert_eq!(&g.2, &w.2);
            }
            // Nothing beyond what was acknowledged (puts are acknowledged when synced).
            let all_acked_after: Vec<_> = recs
                .iter()
                .filter(|r| got.first().is_some_and(|f| r.0 >= f.0))
                .collect();
            prop_assert_eq!(
                got.len(),
                all_acked_after.len(),
                "shard {} holds records never acknowledged",
                shard
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, max_shrink_iters: 100, ..ProptestConfig::default() })]

    #[test]
    fn acknowledged_records_survive_power_cuts(ops in proptest::collection::vec(op(), 1..40), seed in any::<u64>()) {
        run(ops, seed)?;
    }
}
