//! 8 writer threads on 4 shards (half through the async put) with concurrent readers:
//! every acknowledged record is read back exactly once, in order per shard, and
//! readers never see a record before its put was acknowledged.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use bytes::Bytes;
use freshet_storage::*;

const STREAM: &str = "c";

fn run(durability: Durability) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = EngineConfig::new(dir.path());
    cfg.segment_bytes = 64 * 1024; // rolls happen under load
    cfg.retention_interval = None;
    cfg.durability = durability;
    let engine = Engine::open(cfg).expect("open");
    let desc = engine
        .create_stream(CreateStream::new(STREAM, 4))
        .expect("create");
    let shards: Vec<String> = desc.shards.iter().map(|s| s.shard_id.clone()).collect();

    // Acknowledged records: (writer, n) -> sequence number, recorded after the ack.
    let acked: Arc<Mutex<HashMap<(u32, u32), SequenceNumber>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8u32)
        .map(|w| {
            let engine = engine.clone();
            let acked = Arc::clone(&acked);
            thread::spawn(move || {
                // Odd writers put through the async path from a runtime worker (their
                // syncs on flusher threads, the wait a task's, a roll off the worker),
                // even ones block: both share the shards.
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_time()
                    .build()
                    .expect("runtime");
                for batch in 0..40u32 {
                    let recs: Vec<_> = (0..25u32)
                        .map(|i| {
                            let n = batch * 25 + i;
                            PutRecordInput::new(
                                format!("w{w}-k{}", n % 13),
                                Bytes::from(format!("{w}:{n}")),
                            )
                        })
                        .collect();
                    let results = if w % 2 == 1 {
                        let engine = engine.clone();
                        rt.block_on(
                            rt.spawn(async move { engine.put_records_async(STREAM, recs).await }),
                        )
                        .expect("the put task")
                    } else {
                        engine.put_records(STREAM, recs)
                    }
                    .expect("put_records");
                    let mut a = acked.lock().expect("lock");
                    for (i, r) in results.into_iter().enumerate() {
                        let seq = r.expect("acknowledged").sequence_number;
                        a.insert((w, batch * 25 + i as u32), seq);
                    }
                }
            })
        })
        .collect();

    // Readers tail every shard while writers run; whatever they see must already be,
    // or shortly be, acknowledged, and arrive in sequence order without gaps.
    let readers: Vec<_> = shards
        .iter()
        .cloned()
        .map(|shard| {
            let engine = engine.clone();
            let done = Arc::clone(&done);
            thread::spawn(move || {
                let mut offset = engine
                    .start_offset(STREAM, &shard, StartingPosition::TrimHorizon)
                    .expect("start");
                let mut seen: Vec<(SequenceNumber, Bytes)> = Vec::new();
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
                loop {
                    let finished = done.load(Ordering::Acquire);
                    let got = engine
                        .read(STREAM, &shard, offset, 500, 1 << 20)
                        .expect("read");
                    for r in &got.records {
                        if let Some((last, _)) = seen.last() {
                            assert_eq!(
                                r.sequence_number.offset,
                                last.offset + 1,
                                "gap or repeat in {shard}"
                            );
                        }
                        seen.push((r.sequence_number, r.data.clone()));
                    }
                    offset = got.next_offset;
                    if (finished && got.records.is_empty()) || std::time::Instant::now() > deadline
                    {
                        return seen;
                    }
                }
            })
        })
        .collect();

    for w in writers {
        w.join().expect("writer");
    }
    done.store(true, Ordering::Release);
    let acked = acked.lock().expect("lock").clone();
    assert_eq!(acked.len(), 8 * 1000);
    let mut by_seq: BTreeMap<SequenceNumber, (u32, u32)> = BTreeMap::new();
    for (&(w, n), &seq) in &acked {
        assert!(
            by_seq.insert(seq, (w, n)).is_none(),
            "duplicate sequence number {seq}"
        );
    }
    let mut total = 0;
    for r in readers {
        let seen = r.join().expect("reader");
        for (seq, data) in &seen {
            let (w, n) = by_seq
                .get(seq)
                .unwrap_or_else(|| panic!("read an unacknowledged record {seq}"));
            assert_eq!(data, &Bytes::from(format!("{w}:{n}")));
        }
        // Per writer, its records on this shard appear in the order it put them.
        let mut last: HashMap<u32, u32> = HashMap::new();
        for (seq, _) in &seen {
            let (w, n) = by_seq[seq];
            if let Some(prev) = last.insert(w, n) {
                assert!(n > prev, "writer {w} reordered on a shard");
            }
        }
        total += seen.len();
    }
    assert_eq!(
        total,
        acked.len(),
        "every acknowledged record read exactly once"
    );
    engine.shutdown().expect("shutdown");
}

#[test]
fn eight_writers_four_shards_sync_data() {
    run(Durability::SyncData);
}

#[test]
fn eight_writers_four_shards_buffered() {
    run(Durability::Buffered);
}
