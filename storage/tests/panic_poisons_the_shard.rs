//! A panic under a shard's writer lock (or in its group-commit sync) poisons the shard
//! exactly as an fsync failure does: that write and every later one fail with the typed
//! `Poisoned` error naming the panic, durable records stay readable, other shards go
//! on, and a restart clears it.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use bytes::Bytes;
use freshet_storage::fs::{CrashMode, FaultFs, FaultOp};
use freshet_storage::*;

const SHARD: &str = "shardId-000000000000";

fn open(dir: &std::path::Path, fs: &FaultFs) -> Engine {
    let mut cfg = EngineConfig::new(dir);
    cfg.segment_bytes = 64 * 1024;
    cfg.retention_interval = None;
    cfg.fs = Arc::new(fs.clone());
    Engine::open(cfg).expect("open")
}

fn put(engine: &Engine, stream: &str, i: usize) -> Result<PutOutcome, Error> {
    engine.put_record(
        stream,
        PutRecordInput::new("k", Bytes::from(format!("record {i}"))),
    )
}

fn count(engine: &Engine, stream: &str) -> usize {
    engine
        .read(stream, SHARD, 0, 10_000, 10 << 20)
        .expect("durable records stay readable")
        .records
        .len()
}

fn expect_poisoned(result: Result<PutOutcome, Error>) -> String {
    match result {
        Err(Error::Poisoned { shard, cause }) => {
            assert!(shard.ends_with(SHARD), "{shard}");
            cause
        }
        other => panic!("expected Poisoned, got {other:?}"),
    }
}

#[test]
fn panic_while_appending_poisons_the_shard_until_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = FaultFs::new(11);
    let engine = open(dir.path(), &fs);
    for s in ["hit", "other"] {
        engine
            .create_stream(CreateStream::new(s, 1))
            .expect("create");
    }
    for i in 0..5 {
        put(&engine, "hit", i).expect("acknowledged");
    }
    // The next pwrite into the stream's segment panics, with the writer lock held.
    let hit_dir = engine.describe_stream("hit").expect("describe").uid;
    fs.panic_on(FaultOp::Write, 0, Some(&format!("{hit_dir:016x}")));
    let cause = expect_poisoned(put(&engine, "hit", 5));
    assert!(cause.contains("panic while appending"), "{cause}");
    assert!(cause.contains("injected panic"), "{cause}");
    // Later writes fail the same way, naming the same cause; nothing was acknowledged.
    assert_eq!(expect_poisoned(put(&engine, "hit", 6)), cause);
    assert_eq!(count(&engine, "hit"), 5);
    // Another shard is unaffected.
    put(&engine, "other", 0).expect("other shards go on");
    // A restart clears the poison and keeps every acknowledged record.
    engine.simulate_crash();
    fs.crash(CrashMode::KeepAll).expect("crash image");
    let engine = open(dir.path(), &fs);
    assert_eq!(count(&engine, "hit"), 5);
    put(&engine, "hit", 7).expect("a restart clears the poison");
    assert_eq!(count(&engine, "hit"), 6);
    engine.shutdown().expect("shutdown");
}

#[test]
fn panic_in_the_group_commit_sync_poisons_the_shard_and_wakes_its_waiters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = FaultFs::new(12);
    let engine = open(dir.path(), &fs);
    engine
        .create_stream(CreateStream::new("s", 1))
        .expect("create");
    for i in 0..3 {
        put(&engine, "s", i).expect("acknowledged");
    }
    fs.panic_on(FaultOp::Sync, 0, Some(".log"));
    let cause = expect_poisoned(put(&engine, "s", 3));
    assert!(cause.contains("panic while syncing"), "{cause}");
    // Many writers at once: each one returns (none waits forever) with the error.
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let engine = engine.clone();
            std::thread::spawn(move || put(&engine, "s", 10 + i))
        })
        .collect();
    for h in handles {
        expect_poisoned(h.join().expect("writer thread"));
    }
    assert_eq!(count(&engine, "s"), 3);
    assert!(
        engine.shutdown().is_err(),
        "a poisoned shard is not stopped cleanly"
    );
    drop(engine);
    fs.crash(CrashMode::DropUnsynced).expect("crash image");
    let engine = open(dir.path(), &fs);
    assert_eq!(count(&engine, "s"), 3);
    put(&engine, "s", 20).expect("a restart clears the poison");
}
