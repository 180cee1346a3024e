//! Recovery walks and diagnoses a shard's whole log before it changes a byte: damage
//! anywhere but at the tail of the active segment is a named hard error that leaves
//! every file as it was, and `RecoveryMode::Strict` refuses even a torn tail, naming
//! the file, the byte offset and the check that failed.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use freshet_storage::*;

const STREAM: &str = "s";
const SHARD: &str = "shardId-000000000000";

fn config(dir: &Path, segment_bytes: u64, recovery: RecoveryMode) -> EngineConfig {
    let mut cfg = EngineConfig::new(dir);
    cfg.segment_bytes = segment_bytes;
    cfg.index_interval_bytes = 256;
    cfg.retention_interval = None;
    cfg.recovery = recovery;
    cfg
}

fn fill(engine: &Engine, batches: usize) -> Vec<Bytes> {
    let mut all = Vec::new();
    for b in 0..batches {
        let recs: Vec<_> = (0..3)
            .map(|i| PutRecordInput::new("k", Bytes::from(format!("batch {b} record {i} ....."))))
            .collect();
        all.extend(recs.iter().map(|r| r.data.clone()));
        for r in engine.put_records(STREAM, recs).expect("put") {
            r.expect("acknowledged");
        }
    }
    all
}

fn read_all(engine: &Engine) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut offset = engine
        .start_offset(STREAM, SHARD, StartingPosition::TrimHorizon)
        .expect("horizon");
    for _ in 0..10_000 {
        let got = engine
            .read(STREAM, SHARD, offset, 1000, 10 << 20)
            .expect("read");
        if got.records.is_empty() {
            break;
        }
        out.extend(got.records.into_iter().map(|r| r.data));
        offset = got.next_offset;
    }
    out
}

/// Every file under `streams/` with its bytes: what "unchanged" is checked against.
fn image(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(d: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in fs::read_dir(d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.insert(p.clone(), fs::read(&p).expect("read file"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&dir.join("streams"), &mut out);
    out
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    image(dir)
        .into_keys()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect()
}

/// Positions where each frame of a segment starts, and the end of the last one.
fn frame_starts(path: &Path) -> (Vec<u64>, u64) {
    let bytes = fs::read(path).expect("read segment");
    let mut pos = 32usize;
    let mut starts = Vec::new();
    while pos + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        if len == 0 {
            break;
        }
        starts.push(pos as u64);
        pos += 8 + len;
    }
    (starts, pos as u64)
}

fn write_at(path: &Path, at: u64, bytes: &[u8]) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open")
        .write_all_at(bytes, at)
        .expect("write");
}

/// A shard of several sealed segments and an active one, stopped like `kill -9`.
fn crashed_shard(dir: &Path) -> Vec<Bytes> {
    let engine = Engine::open(config(dir, 4096, RecoveryMode::default())).expect("open");
    engine
        .create_stream(CreateStream::new(STREAM, 1))
        .expect("create");
    let written = fill(&engine, 80);
    engine.simulate_crash();
    assert!(segments(dir).len() >= 3, "segments roll");
    written
}

fn expect_corruption(result: Result<Engine, Error>) -> (PathBuf, u64, String) {
    match result {
        Err(Error::Corruption {
            path,
            offset,
            reason,
        }) => (path, offset, reason),
        Err(other) => panic!("expected Corruption, got {other}"),
        Ok(_) => panic!("expected Corruption, the engine opened"),
    }
}

#[test]
fn zeroed_tail_of_a_sealed_segment_fails_the_continuity_check_with_the_files_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    crashed_shard(dir.path());
    let segs = segments(dir.path());
    let sealed = &segs[0];
    // Its last frames become zeros, as if they had never been written, and its index
    // goes, so recovery has to walk it.
    let (starts, end) = frame_starts(sealed);
    let from = starts[starts.len() - 2];
    write_at(sealed, from, &vec![0u8; (end - from) as usize]);
    fs::remove_file(sealed.with_extension("index")).expect("remove index");
    // The active segment has a torn tail too: it must not be cut either.
    let active = segs.last().unwrap();
    let (_, active_end) = frame_starts(active);
    write_at(active, active_end, b"\x55torn write");
    let before = image(dir.path());

    let (path, offset, reason) = expect_corruption(Engine::open(config(
        dir.path(),
        4096,
        RecoveryMode::TruncateTornTail,
    )));
    assert_eq!(
        &path, &segs[1],
        "the segment that does not continue the log"
    );
    assert_eq!(offset, 0);
    assert!(reason.contains("offset continuity"), "{reason}");
    assert!(
        image(dir.path()) == before,
        "a failed recovery changed files"
    );
}

#[test]
fn zeros_then_frames_inside_a_sealed_segment_are_corruption_not_a_tail_to_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    crashed_shard(dir.path());
    let segs = segments(dir.path());
    let sealed = &segs[1];
    let (starts, _) = frame_starts(sealed);
    // One frame in the middle is zeroed: the frames after it still hold data.
    let (at, next) = (starts[2], starts[3]);
    write_at(sealed, at, &vec![0u8; (next - at) as usize]);
    fs::remove_file(sealed.with_extension("index")).expect("remove index");
    let before = image(dir.path());

    let (path, offset, reason) = expect_corruption(Engine::open(config(
        dir.path(),
        4096,
        RecoveryMode::TruncateTornTail,
    )));
    assert_eq!(&path, sealed);
    assert_eq!(offset, at, "{reason}");
    assert!(reason.contains("non-zero bytes follow"), "{reason}");
    assert!(
        image(dir.path()) == before,
        "a failed recovery changed files"
    );
}

#[test]
fn flipped_bit_in_a_sealed_segment_leaves_it_and_its_neighbours_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    crashed_shard(dir.path());
    let segs = segments(dir.path());
    let sealed = &segs[0];
    let (starts, _) = frame_starts(sealed);
    write_at(sealed, starts[1] + 20, &[0xA5]);
    fs::remove_file(sealed.with_extension("index")).expect("remove index");
    // A torn tail on the active segment and a stale temporary index stay too.
    let active = segs.last().unwrap();
    let (_, active_end) = frame_starts(active);
    write_at(active, active_end, &[7; 9]);
    fs::write(sealed.with_extension("index.tmp"), b"half an index").expect("tmp");
    let before = image(dir.path());

    let (path, offset, reason) = expect_corruption(Engine::open(config(
        dir.path(),
        4096,
        RecoveryMode::TruncateTornTail,
    )));
    assert_eq!(&path, sealed);
    assert_eq!(offset, starts[1]);
    assert!(reason.contains("CRC"), "{reason}");
    assert!(
        image(dir.path()) == before,
        "a failed recovery changed files"
    );
}

#[test]
fn strict_mode_refuses_a_torn_tail_names_it_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let written = crashed_shard(dir.path());
    let active = segments(dir.path()).pop().unwrap();
    let (starts, end) = frame_starts(&active);
    // The file ends 3 bytes short of its last frame: a torn write.
    let last = *starts.last().unwrap();
    OpenOptions::new()
        .write(true)
        .open(&active)
        .expect("open")
        .set_len(end - 3)
        .expect("tear");
    let before = image(dir.path());

    let (path, offset, reason) =
        expect_corruption(Engine::open(config(dir.path(), 4096, RecoveryMode::Strict)));
    assert_eq!(path, active);
    assert_eq!(offset, last, "the torn frame's position");
    assert!(reason.contains("torn tail"), "{reason}");
    assert!(reason.contains("frame extends past"), "{reason}");
    assert!(image(dir.path()) == before, "strict recovery changed files");

    // The default mode then cuts the torn frame and keeps everything before it.
    let engine = Engine::open(config(dir.path(), 4096, RecoveryMode::TruncateTornTail))
        .expect("default recovery");
    let got = read_all(&engine);
    assert_eq!(got.len(), written.len() - 3);
    assert_eq!(got, written[..written.len() - 3].to_vec());
}

#[test]
fn strict_mode_refuses_garbage_after_the_last_frame() {
    let dir = tempfile::tempdir().expect("tempdir");
    crashed_shard(dir.path());
    let active = segments(dir.path()).pop().unwrap();
    let (_, end) = frame_starts(&active);
    // Zeros where the next frame header would be, then stale bytes.
    write_at(&active, end + 100, b"stale");
    let before = image(dir.path());

    let (path, offset, reason) =
        expect_corruption(Engine::open(config(dir.path(), 4096, RecoveryMode::Strict)));
    assert_eq!(path, active);
    assert_eq!(offset, end);
    assert!(reason.contains("non-zero bytes follow"), "{reason}");
    assert!(image(dir.path()) == before, "strict recovery changed files");
}

#[test]
fn strict_mode_opens_an_undamaged_log_after_a_crash_and_a_clean_stop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let written = crashed_shard(dir.path());
    let engine = Engine::open(config(dir.path(), 4096, RecoveryMode::Strict)).expect("strict open");
    assert_eq!(read_all(&engine), written);
    engine
        .put_record(STREAM, PutRecordInput::new("k", "more"))
        .expect("put");
    engine.shutdown().expect("shutdown");
    drop(engine);
    let engine =
        Engine::open(config(dir.path(), 4096, RecoveryMode::Strict)).expect("strict reopen");
    assert_eq!(read_all(&engine).len(), written.len() + 1);
}

#[test]
fn recovery_mode_parses_from_text() {
    assert_eq!("strict".parse::<RecoveryMode>(), Ok(RecoveryMode::Strict));
    assert_eq!(
        "truncate-torn-tail".parse::<RecoveryMode>(),
        Ok(RecoveryMode::TruncateTornTail)
    );
    assert!("lenient".parse::<RecoveryMode>().is_err());
    assert_eq!(RecoveryMode::default(), RecoveryMode::TruncateTornTail);
}

#[test]
fn a_closed_shards_segment_gets_no_room_to_append_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path(), 1 << 20, RecoveryMode::default());
    cfg.segment_bytes = 8 << 20;
    let engine = Engine::open(cfg.clone()).expect("open");
    engine
        .create_stream(CreateStream::new(STREAM, 1))
        .expect("create");
    let written = fill(&engine, 5);
    engine
        .split_shard(STREAM, SHARD, u128::MAX / 2)
        .expect("split");
    engine.simulate_crash();
    let parent = segments(dir.path())
        .into_iter()
        .find(|p| p.parent().is_some_and(|d| d.ends_with("000000000000")))
        .expect("the parent's segment");
    let (_, end) = frame_starts(&parent);

    let engine = Engine::open(cfg).expect("reopen");
    assert_eq!(
        fs::metadata(&parent).expect("stat").len(),
        1 << 20,
        "the allocation made while the shard was open stays, none is added"
    );
    assert!(end < 1 << 20);
    assert_eq!(
        read_all(&engine),
        written,
        "the closed shard reads as before"
    );
    let state = engine.shard_state(STREAM, SHARD).expect("state");
    assert!(state.is_closed());
}
