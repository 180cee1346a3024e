//! I/O errors injected at chosen operations: a failed fdatasync poisons the shard and
//! acknowledges nothing after it; ENOSPC while rolling leaves no half segment and
//! writes resume once space returns; a restart keeps every earlier acknowledgment.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use bytes::Bytes;
use freshet_storage::fs::{FaultFs, FaultOp};
use freshet_storage::*;

const STREAM: &str = "f";
const SHARD: &str = "shardId-000000000000";

fn open(dir: &std::path::Path, fs: &FaultFs) -> Engine {
    let mut cfg = EngineConfig::new(dir);
    cfg.segment_bytes = 4096;
    cfg.retention_interval = None;
    cfg.fs = Arc::new(fs.clone());
    Engine::open(cfg).expect("open")
}

/// [`open`], with the one-shard stream `STREAM` created.
fn open_one_shard(dir: &std::path::Path, fs: &FaultFs) -> Engine {
    let engine = open(dir, fs);
    engine
        .create_stream(CreateStream::new(STREAM, 1))
        .expect("create");
    engine
}

fn put(engine: &Engine, i: usize) -> Result<PutOutcome, Error> {
    engine.put_record(
        STREAM,
        PutRecordInput::new("k", Bytes::from(format!("record {i} {}", "x".repeat(200)))),
    )
}

fn all(engine: &Engine) -> Vec<Bytes> {
    engine
        .read(STREAM, SHARD, 0, 10_000, 10 << 20)
        .expect("read")
        .records
        .into_iter()
        .map(|r| r.data)
        .collect()
}

#[test]
fn failed_fdatasync_poisons_the_shard_and_keeps_durable_data_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = FaultFs::new(1);
    let engine = open_one_shard(dir.path(), &fs);
    for i in 0..5 {
        put(&engine, i).expect("acknowledged");
    }
    fs.fail(FaultOp::Sync, 0, libc::EIO, false, Some(".log"));
    let failed = put(&engine, 5);
    assert!(
        failed.is_err(),
        "a put whose sync failed is not acknowledged: {failed:?}"
    );
    // The fault is gone, but the shard stays poisoned: nothing more is acknowledged.
    match put(&engine, 6) {
        Err(Error::Poisoned { shard, cause }) => {
            assert!(shard.contains(SHARD), "{shard}");
            assert!(
                cause.contains("Input/output error") || cause.contains("os error 5"),
                "{cause}"
            );
        }
        other => panic!("expected Poisoned, got {other:?}"),
    }
    // Durable data stays readable, and nothing unacknowledged is served.
    assert_eq!(all(&engine).len(), 5);
    engine.simulate_crash();
    fs.crash(freshet_storage::fs::CrashMode::DropUnsynced)
        .expect("crash");
    let engine = open(dir.path(), &fs);
    let got = all(&engine);
    assert_eq!(
        got.len(),
        5,
        "every acknowledged record, and the failed one lost with its pages"
    );
    put(&engine, 7).expect("a restart clears the poison");
}

#[test]
fn enospc_while_rolling_leaves_no_half_segment_and_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = FaultFs::new(2);
    let engine = open(dir.path(), &fs);
    engine
        .create_stream(CreateStream::new(STREAM, 1))
        .expect("create");
    let mut acked = 0;
    while acked < 12 {
        put(&engine, acked).expect("acknowledged");
        acked += 1;
    }
    let shard_dir = std::fs::read_dir(dir.path().join("streams"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("000000000000");
    let segments = || {
        std::fs::read_dir(&shard_dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "log")
            })
            .count()
    };
    let before = segments();
    // The disk fills: creating and growing files fails with ENOSPC.
    fs.fail(FaultOp::Allocate, 0, libc::ENOSPC, true, Some(".log"));
    let mut refused = 0;
    for i in 0..40 {
        match put(&engine, 100 + i) {
            Ok(_) => acked += 1,
            Err(Error::Io { source, .. }) => {
                assert_eq!(source.raw_os_error(), Some(libc::ENOSPC));
                refused += 1;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(refused > 0, "the full disk refused some puts");
    assert!(segments() <= before + 1, "no half segments left behind");
    assert_eq!(
        all(&engine).len(),
        acked,
        "reads go on while the disk is full"
    );
    // Space returns: writes resume by themselves.
    fs.heal();
    put(&engine, 1000).expect("writes resume");
    acked += 1;
    engine.simulate_crash();
    fs.crash(freshet_storage::fs::CrashMode::TornTail)
        .expect("crash");
    let engine = open(dir.path(), &fs);
    assert_eq!(
        all(&engine).len(),
        acked,
        "a restart keeps every acknowledgment"
    );
}

#[test]
fn low_disk_pauses_puts_and_they_resume_by_themselves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = FaultFs::new(3);
    let engine = open(dir.path(), &fs);
    engine
        .create_stream(CreateStream::new(STREAM, 1))
        .expect("create");
    put(&engine, 0).expect("acknowledged");
    fs.set_available_bytes(Some(1 << 20));
    std::thread::sleep(std::time::Duration::from_millis(150));
    match put(&engine, 1) {
        Err(e @ Error::DiskFull { .. }) => {
            assert!(e.is_retryable());
            assert!(e.to_string().contains("low watermark"), "{e}");
        }
        other => panic!("expected DiskFull, got {other:?}"),
    }
    // Reads, retention and deletes go on.
    assert_eq!(all(&engine).len(), 1);
    engine.enforce_retention().expect("retention runs");
    fs.set_available_bytes(None);
    std::thread::sleep(std::time::Duration::from_millis(150));
    put(&engine, 2).expect("puts resume once space returns");
    assert_eq!(all(&engine).len(), 2);
}

/// The async put (a runtime task, the syncs on flusher threads) meets a failed
/// fdatasync as the blocking one does: not acknowledged, the shard poisoned, and the
/// waiting task woken to see it rather than left waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_fdatasync_fails_an_async_put_and_wakes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = FaultFs::new(1);
    let engine = open_one_shard(dir.path(), &fs);
    let rec = |i: usize| vec![PutRecordInput::new("k", Bytes::from(format!("async {i}")))];
    for i in 0..5 {
        let got = engine.put_records_async(STREAM, rec(i)).await.expect("put");
        assert!(got[0].is_ok(), "{got:?}");
    }
    fs.fail(FaultOp::Sync, 0, libc::EIO, false, Some(".log"));
    let failed = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        engine.put_records_async(STREAM, rec(5)),
    )
    .await
    .expect("the waiting put is woken by the failed sync")
    .expect("a per-record result");
    assert!(failed[0].is_err(), "{failed:?}");
    let after = engine.put_records_async(STREAM, rec(6)).await;
    assert!(
        matches!(after, Err(Error::Poisoned { .. })) || after.is_ok_and(|r| r[0].is_err()),
        "the shard stays poisoned"
    );
    assert_eq!(all(&engine).len(), 5);
}
