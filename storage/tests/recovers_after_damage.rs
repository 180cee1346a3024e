//! Recovery after crashes and damage: torn tails at random offsets, garbage after the
//! last frame, flipped bits in the tail, in a sealed segment and in an index file.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use freshet_storage::*;
use rand::{Rng, SeedableRng};

const STREAM: &str = "s";
const SHARD: &str = "shardId-000000000000";

fn config(dir: &Path, segment_bytes: u64) -> EngineConfig {
    let mut cfg = EngineConfig::new(dir);
    cfg.segment_bytes = segment_bytes;
    cfg.index_interval_bytes = 256;
    cfg.retention_interval = None;
    cfg
}

/// Writes `batches` batches of 3 records each, returning the data written in order.
fn fill(engine: &Engine, batches: usize) -> Vec<Bytes> {
    let mut all = Vec::new();
    for b in 0..batches {
        let recs: Vec<_> = (0..3)
            .map(|i| {
                PutRecordInput::new(
                    "k",
                    Bytes::from(format!("batch {b} record {i} {}", "x".repeat(b % 50))),
                )
            })
            .collect();
        all.extend(recs.iter().map(|r| r.data.clone()));
        for r in engine.put_records(STREAM, recs).expect("put") {
            r.expect("record acknowledged");
        }
    }
    all
}

fn read_all(engine: &Engine) -> Result<Vec<Bytes>, Error> {
    let mut out = Vec::new();
    let mut offset = engine.start_offset(STREAM, SHARD, StartingPosition::TrimHorizon)?;
    loop {
        let got = engine.read(STREAM, SHARD, offset, 1000, 10 << 20)?;
        if got.records.is_empty() {
            return Ok(out);
        }
        out.extend(got.records.into_iter().map(|r| r.data));
        offset = got.next_offset;
    }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for stream in fs::read_dir(dir.join("streams"))
        .expect("streams dir")
        .flatten()
    {
        for shard in fs::read_dir(stream.path()).expect("stream dir").flatten() {
            for f in fs::read_dir(shard.path()).expect("shard dir").flatten() {
                if f.path().extension().is_some_and(|e| e == "log") {
                    all.push(f.path());
                }
            }
        }
    }
    all.sort();
    all
}

fn one_shard_engine(dir: &Path, segment_bytes: u64) -> Engine {
    let engine = Engine::open(config(dir, segment_bytes)).expect("open");
    engine
        .create_stream(CreateStream::new(STREAM, 1))
        .expect("create");
    engine
}

/// Frame boundaries of a segment file (positions where each frame ends).
fn frame_ends(path: &Path) -> Vec<u64> {
    let bytes = fs::read(path).expect("read segment");
    let mut pos = 32usize;
    let mut ends = Vec::new();
    while pos + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        if len == 0 {
            break;
        }
        pos += 8 + len;
        ends.push(pos as u64);
    }
    ends
}

#[test]
fn torn_tail_at_random_offsets_keeps_every_whole_frame() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for round in 0..12 {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = one_shard_engine(dir.path(), 1 << 20);
        let written = fill(&engine, 20);
        engine.simulate_crash();
        let seg = segments(dir.path()).pop().expect("a segment");
        let ends = frame_ends(&seg);
        let cut = rng.gen_range(32..=*ends.last().expect("frames"));
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .expect("open segment")
            .set_len(cut)
            .expect("truncate");
        let whole_frames = ends.iter().filter(|&&e| e <= cut).count();

        let engine = Engine::open(config(dir.path(), 1 << 20)).expect("reopen after torn tail");
        let got = read_all(&engine).expect("read");
        assert_eq!(
            got,
            written[..whole_frames * 3].to_vec(),
            "round {round}, cut at {cut}"
        );
        // Appends continue the log where it was cut, and a second recovery agrees.
        let more = engine
            .put_record(STREAM, PutRecordInput::new("k", "after"))
            .expect("put after recovery");
        assert_eq!(more.sequence_number.offset, (whole_frames * 3) as u64);
        engine.simulate_crash();
        let engine = Engine::open(config(dir.path(), 1 << 20)).expect("second reopen");
        let again = read_all(&engine).expect("read again");
        assert_eq!(again.len(), whole_frames * 3 + 1);
        assert_eq!(&again[..whole_frames * 3], &written[..whole_frames * 3]);
    }
}

#[test]
fn garbage_after_the_last_frame_is_cut_away() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = one_shard_engine(dir.path(), 1 << 20);
    let written = fill(&engine, 10);
    engine.simulate_crash();
    let seg = segments(dir.path()).pop().expect("segment");
    let end = *frame_ends(&seg).last().expect("frames");
    let garbage: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2654435761u32) >> 24) as u8 | 1)
        .collect();
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open")
        .write_all_at(&garbage, end)
        .expect("write garbage");

    let engine = Engine::open(config(dir.path(), 1 << 20)).expect("reopen");
    assert_eq!(read_all(&engine).expect("read"), written);
    engine
        .put_record(STREAM, PutRecordInput::new("k", "next"))
        .expect("append after garbage");
    engine.shutdown().expect("shutdown");
    drop(engine);
    let engine = Engine::open(config(dir.path(), 1 << 20)).expect("reopen clean");
    assert_eq!(read_all(&engine).expect("read").len(), written.len() + 1);
}

#[test]
fn flipped_bit_in_the_tail_truncates_from_that_frame() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = one_shard_engine(dir.path(), 1 << 20);
    let written = fill(&engine, 10);
    engine.simulate_crash();
    let seg = segments(dir.path()).pop().expect("segment");
    let ends = frame_ends(&seg);
    let victim = ends[ends.len() - 2] + 40; // inside the last frame
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&seg)
        .expect("open");
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, victim).expect("read byte");
    f.write_all_at(&[b[0] ^ 0x04], victim).expect("flip");
    drop(f);
    let engine = Engine::open(config(dir.path(), 1 << 20)).expect("reopen");
    assert_eq!(
        read_all(&engine).expect("read"),
        written[..written.len() - 3].to_vec()
    );
}

#[test]
fn flipped_bit_in_a_sealed_segment_is_a_named_hard_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = one_shard_engine(dir.path(), 4096);
    fill(&engine, 60);
    engine.shutdown().expect("shutdown");
    drop(engine);
    let segs = segments(dir.path());
    assert!(segs.len() >= 3, "small segments roll: {}", segs.len());
    let sealed = &segs[0];
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(sealed)
        .expect("open");
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, 100).expect("read");
    f.write_all_at(&[b[0] ^ 0x80], 100).expect("flip");
    drop(f);

    // With its index intact the segment opens; reading the damaged frame fails loudly.
    let engine = Engine::open(config(dir.path(), 4096)).expect("open with index");
    match read_all(&engine) {
        Err(Error::Corruption { path, offset, .. }) => {
            assert_eq!(&path, sealed);
            assert!(offset <= 100, "offset {offset}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    engine.shutdown().expect("shutdown");
    drop(engine);

    // Without the index, the rebuild scan refuses to open the shard.
    fs::remove_file(sealed.with_extension("index")).expect("remove index");
    match Engine::open(config(dir.path(), 4096)) {
        Err(Error::Corruption { path, .. }) => assert_eq!(&path, sealed),
        other => panic!("expected corruption on open, got {other:?}"),
    }
}

#[test]
fn damaged_or_missing_index_files_are_rebuilt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = one_shard_engine(dir.path(), 4096);
    let written = fill(&engine, 60);
    engine.shutdown().expect("shutdown");
    drop(engine);
    let segs = segments(dir.path());
    let index0 = segs[0].with_extension("index");
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&index0)
        .expect("open index");
    f.write_all_at(&[0xff; 8], 60).expect("damage index");
    drop(f);
    fs::remove_file(segs[1].with_extension("index")).expect("remove index");

    let engine = Engine::open(config(dir.path(), 4096)).expect("reopen");
    assert_eq!(read_all(&engine).expect("read"), written);
    // Every position type still resolves through rebuilt indexes.
    let all = engine
        .read(STREAM, SHARD, 0, 10_000, 10 << 20)
        .expect("read");
    for r in all.records.iter().step_by(17) {
        let at = engine
            .start_offset(
                STREAM,
                SHARD,
                StartingPosition::AtSequenceNumber(r.sequence_number),
            )
            .expect("at");
        let got = engine.read(STREAM, SHARD, at, 1, 1 << 20).expect("read at");
        assert_eq!(got.records[0].sequence_number, r.sequence_number);
    }
    assert!(segs[1].with_extension("index").exists(), "index rewritten");
}

#[test]
fn clean_restart_keeps_everything_and_second_opener_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = one_shard_engine(dir.path(), 4096);
    let written = fill(&engine, 30);
    match Engine::open(config(dir.path(), 4096)) {
        Err(Error::Locked { .. }) => {}
        other => panic!("expected the lock to refuse a second opener, got {other:?}"),
    }
    engine.shutdown().expect("shutdown");
    drop(engine);
    let engine = Engine::open(config(dir.path(), 4096)).expect("reopen");
    assert_eq!(read_all(&engine).expect("read"), written);
}
