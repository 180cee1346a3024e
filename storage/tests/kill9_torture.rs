//! kill -9 torture: a child process (this test binary, re-executed) puts a sustained
//! load through the engine with tiny segments, a fast clock (one real second is one
//! hour, so retention runs) and occasional splits, and reports each acknowledgment on
//! stdout only after the engine returned it. The parent kills it with SIGKILL at random
//! moments — also during recovery — restarts it, and checks that every acknowledged,
//! unexpired record is present byte for byte, in order per shard, without duplicates,
//! with sequence numbers increasing across restarts.
//!
//! `FRESHET_TORTURE_KILLS` (default 200) and `FRESHET_TORTURE_SECONDS` (default 150)
//! bound the run.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use freshet_storage::*;
use rand::{Rng, SeedableRng};

const STREAM: &str = "torture";
const SPEEDUP: i64 = 3600;

/// One real second is an hour: retention (24 h) deletes data after 24 seconds.
#[derive(Debug)]
struct FastClock {
    origin_ms: i64,
}

impl Clock for FastClock {
    fn now_ms(&self) -> i64 {
        let real = SystemClock.now_ms();
        self.origin_ms + (real - self.origin_ms) * SPEEDUP
    }
}

fn config(dir: &str, origin_ms: i64, retention: bool) -> EngineConfig {
    let mut cfg = EngineConfig::new(dir);
    cfg.segment_bytes = 4096;
    cfg.index_interval_bytes = 512;
    cfg.retention_interval = retention.then(|| Duration::from_millis(100));
    cfg.clock = Arc::new(FastClock { origin_ms });
    cfg
}

fn payload(id: u64, len: usize) -> Bytes {
    Bytes::from(
        (0..len)
            .map(|i| (id.wrapping_mul(31).wrapping_add(i as u64 * 7) % 251) as u8)
            .collect::<Vec<_>>(),
    )
}

/// The child: runs until killed. Not a real test unless the parent sets the variables.
#[test]
fn torture_child() {
    let (Ok(dir), Ok(origin), Ok(seed)) = (
        std::env::var("FRESHET_TORTURE_DIR"),
        std::env::var("FRESHET_TORTURE_ORIGIN"),
        std::env::var("FRESHET_TORTURE_SEED"),
    ) else {
        return;
    };
    let origin: i64 = origin.parse().expect("origin");
    let seed: u64 = seed.parse().expect("seed");
    let engine = Engine::open(config(&dir, origin, true)).expect("child open");
    if engine.describe_stream(STREAM).is_err() {
        engine
            .create_stream(CreateStream::new(STREAM, 3))
            .expect("create");
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let out = std::io::stdout();
    let mut batch_no = 0u64;
    loop {
        batch_no += 1;
        let n = rng.gen_range(1..20);
        let records: Vec<(u64, usize, PutRecordInput)> = (0..n)
            .map(|_| {
                let id = rng.gen::<u64>() >> 1;
                let len = if rng.gen_ratio(1, 50) {
                    rng.gen_range(2000..6000)
                } else {
                    rng.gen_range(0..300)
                };
                (
                    id,
                    len,
                    PutRecordInput::new(format!("pk-{}", id % 97), payload(id, len)),
                )
            })
            .collect();
        let results = engine
            .put_records(STREAM, records.iter().map(|r| r.2.clone()).collect())
            .expect("put_records");
        let mut lock = out.lock();
        for ((id, len, _), r) in records.iter().zip(results) {
            if let Ok(ok) = r {
                writeln!(
                    lock,
                    "ACK {} {} {id} {len}",
                    ok.shard_id, ok.sequence_number
                )
                .expect("stdout");
            }
        }
        lock.flush().expect("flush");
        drop(lock);
        if batch_no.is_multiple_of(150) {
            let desc = engine.describe_stream(STREAM).expect("describe");
            let open: Vec<_> = desc.shards.iter().filter(|s| !s.is_closed()).collect();
            if open.len() < 8 {
                let s = open[rng.gen_range(0..open.len())];
                let mid = s.range.start + (s.range.end - s.range.start) / 2;
                let _ = engine.split_shard(STREAM, &s.shard_id, mid);
            } else {
                let _ = engine.update_shard_count(STREAM, 4);
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Ack {
    seq: SequenceNumber,
    id: u64,
    len: usize,
    acked_at_ms: i64,
}

fn verify(dir: &str, origin: i64, acks: &BTreeMap<String, Vec<Ack>>) {
    let clock = FastClock { origin_ms: origin };
    let engine = Engine::open(config(dir, origin, false)).expect("parent open");
    // Records acknowledged before this cutoff may have expired (with a margin for the
    // time between a record's arrival stamp and its ack line).
    let cutoff = clock.now_ms() - 24 * 3_600_000 + 2 * 3_600_000;
    let desc = engine
        .describe_stream(STREAM)
        .expect("stream exists once a record was acked");
    let mut seen_ids = HashMap::new();
    for (shard, shard_acks) in acks {
        let listed = desc.shards.iter().any(|s| &s.shard_id == shard);
        let mut got = Vec::new();
        if listed {
            let mut offset = engine
                .start_offset(STREAM, shard, StartingPosition::TrimHorizon)
                .expect("horizon");
            loop {
                let r = engine
                    .read(STREAM, shard, offset, 10_000, 10 << 20)
                    .expect("read");
                if r.records.is_empty() {
                    break;
                }
                offset = r.next_offset;
                got.extend(r.records);
            }
        }
        for w in got.windows(2) {
            assert!(
                w[0].sequence_number < w[1].sequence_number,
                "order in {shard}"
            );
        }
        for w in shard_acks.windows(2) {
            assert!(
                w[0].seq < w[1].seq,
                "sequence numbers increase across restarts in {shard}"
            );
        }
        let by_seq: HashMap<SequenceNumber, &Record> =
            got.iter().map(|r| (r.sequence_number, r)).collect();
        for a in shard_acks {
            match by_seq.get(&a.seq) {
                Some(r) => {
                    assert_eq!(
                        r.data,
                        payload(a.id, a.len),
                        "record {} in {shard} intact",
                        a.seq
                    );
                    assert!(
                        seen_ids.insert(a.id, a.seq).is_none(),
                        "record id {} duplicated",
                        a.id
                    );
                }
                None => assert!(
                    a.acked_at_ms < cutoff,
                    "acknowledged record {} of {shard} lost (acked at {}, cutoff {cutoff})",
                    a.seq,
                    a.acked_at_ms
                ),
            }
        }
    }
    engine.shutdown().expect("shutdown");
}

#[test]
fn survives_kill_9_at_random_moments() {
    let kills: usize = std::env::var("FRESHET_TORTURE_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let budget = Duration::from_secs(
        std::env::var("FRESHET_TORTURE_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(150),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let dir_s = dir.path().to_str().expect("utf-8 path").to_string();
    let origin = SystemClock.now_ms();
    let exe = std::env::current_exe().expect("test binary");
    let mut rng = rand::rngs::StdRng::seed_from_u64(origin as u64);
    let mut acks: BTreeMap<String, Vec<Ack>> = BTreeMap::new();
    let started = Instant::now();
    let mut done = 0;
    let mut total_acks = 0usize;
    while done < kills && started.elapsed() < budget {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "torture_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("FRESHET_TORTURE_DIR", &dir_s)
            .env("FRESHET_TORTURE_ORIGIN", origin.to_string())
            .env("FRESHET_TORTURE_SEED", rng.gen::<u64>().to_string())
            .env("RUST_BACKTRACE", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("pipe");
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("ACK ") {
                    lines.push((line, clock_now(origin)));
                }
            }
            lines
        });
        // Sometimes kill during start-up and recovery, usually under load.
        let wait = if rng.gen_ratio(1, 4) {
            rng.gen_range(1..40)
        } else {
            rng.gen_range(40..400)
        };
        std::thread::sleep(Duration::from_millis(wait));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        for (line, at) in reader.join().expect("reader") {
            let parts: Vec<_> = line.split(' ').collect();
            let [_, shard, seq, id, len] = parts[..] else {
                continue;
            };
            acks.entry(shard.to_string()).or_default().push(Ack {
                seq: seq.parse().expect("seq"),
                id: id.parse().expect("id"),
                len: len.parse().expect("len"),
                acked_at_ms: at,
            });
            total_acks += 1;
        }
        done += 1;
        if done.is_multiple_of(25) {
            verify(&dir_s, origin, &acks);
        }
    }
    verify(&dir_s, origin, &acks);
    eprintln!(
        "kill -9 torture: {done} kills, {total_acks} acknowledged records verified, {:?}",
        started.elapsed()
    );
    assert!(
        done >= kills.min(20),
        "too few kills in the time budget: {done}"
    );
    assert!(total_acks > 0, "the child acknowledged nothing");
}

fn clock_now(origin: i64) -> i64 {
    FastClock { origin_ms: origin }.now_ms()
}
