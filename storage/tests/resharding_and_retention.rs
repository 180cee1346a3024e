//! Resharding lineage survives restarts, children's sequence numbers exceed their
//! parents', reads at a closed shard's end name the children; retention deletes whole
//! segment files, moves the trim horizon, and drops fully expired closed shards; a
//! trim below a delivered offset deletes only the segments wholly before it.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use freshet_storage::*;

fn config(dir: &std::path::Path, clock: &Arc<ManualClock>) -> EngineConfig {
    let mut cfg = EngineConfig::new(dir);
    cfg.segment_bytes = 8192;
    cfg.retention_interval = None;
    cfg.clock = clock.clone();
    cfg
}

/// A fresh engine (on a manual clock) with one stream `s` of `shards` shards.
fn open_with_stream(shards: u32) -> (tempfile::TempDir, Arc<ManualClock>, Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let engine = Engine::open(config(dir.path(), &clock)).expect("open");
    engine
        .create_stream(CreateStream::new("s", shards))
        .expect("create");
    (dir, clock, engine)
}

fn put_many(engine: &Engine, n: usize) {
    for i in 0..n {
        engine
            .put_record(
                "s",
                PutRecordInput::new(format!("k{i}"), Bytes::from(vec![b'x'; 300])),
            )
            .expect("put");
    }
}

/// Segment files of every shard (the catalog's RocksDB `.log` files are not counted).
fn segment_files(dir: &std::path::Path) -> usize {
    walk(&dir.join("streams"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .count()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn lineage_persists_and_children_follow_parents() {
    let (dir, clock, engine) = open_with_stream(2);
    put_many(&engine, 50);
    engine
        .split_shard("s", "shardId-000000000000", 1u128 << 126)
        .expect("split");
    engine
        .merge_shards("s", "shardId-000000000003", "shardId-000000000001")
        .expect("merge");
    put_many(&engine, 50);
    let before = engine.describe_stream("s").expect("describe");
    engine.shutdown().expect("shutdown");
    drop(engine);

    let engine = Engine::open(config(dir.path(), &clock)).expect("reopen");
    let after = engine.describe_stream("s").expect("describe");
    assert_eq!(
        before.shards, after.shards,
        "lineage and ranges survive a restart"
    );
    let merged = after
        .shards
        .iter()
        .find(|s| s.shard_id == "shardId-000000000004")
        .expect("merged child");
    assert_eq!(
        merged.parent_shard_id.as_deref(),
        Some("shardId-000000000003")
    );
    assert_eq!(
        merged.adjacent_parent_shard_id.as_deref(),
        Some("shardId-000000000001")
    );
    assert_eq!(after.open_shard_count(), 2);

    // Reading a parent to its end reports its children; children's numbers are higher.
    let parent = &after.shards[0];
    let end = engine
        .read("s", &parent.shard_id, 0, 10_000, 10 << 20)
        .expect("read parent");
    let children = end
        .child_shards
        .expect("children at the end of a closed shard");
    let ids: Vec<_> = children.iter().map(|c| c.shard_id.as_str()).collect();
    assert_eq!(ids, ["shardId-000000000002", "shardId-000000000003"]);
    let last_parent = end.records.last().expect("parent records").sequence_number;
    for c in &children {
        let got = engine
            .read("s", &c.shard_id, 0, 10_000, 10 << 20)
            .expect("read child");
        if let Some(first) = got.records.first() {
            assert!(first.sequence_number > last_parent);
        }
    }
    // Closed shards refuse splitting again, with a typed error naming the shard.
    match engine.split_shard("s", "shardId-000000000000", 1u128 << 125) {
        Err(e @ Error::ShardClosed { .. }) => {
            let m = e.to_string();
            assert!(m.contains("has already been merged or split"), "{m}");
            assert!(
                matches!(e, Error::ShardClosed { ref shard, ref stream } if shard == "shardId-000000000000" && stream == "s")
            );
        }
        other => panic!("expected ShardClosed, got {other:?}"),
    }
}

#[test]
fn retention_deletes_segments_and_expired_closed_shards() {
    let (dir, clock, engine) = open_with_stream(1);
    put_many(&engine, 200);
    let files_before = segment_files(dir.path());
    assert!(files_before > 3, "several segments: {files_before}");

    // Nothing expires within the retention period.
    clock.advance(Duration::from_secs(23 * 3600));
    assert_eq!(
        engine.enforce_retention().expect("retention"),
        RetentionReport::default()
    );

    // Newer records arrive; then the first batch passes 24 hours.
    put_many(&engine, 20);
    clock.advance(Duration::from_secs(2 * 3600));
    let report = engine.enforce_retention().expect("retention");
    assert!(report.segments_deleted >= files_before - 2, "{report:?}");
    let horizon = engine
        .start_offset("s", "shardId-000000000000", StartingPosition::TrimHorizon)
        .expect("horizon");
    assert!((180..=200).contains(&horizon), "horizon {horizon}");
    let got = engine
        .read("s", "shardId-000000000000", 0, 10_000, 10 << 20)
        .expect("read from expired");
    assert_eq!(
        got.records.first().expect("kept").sequence_number.offset,
        horizon,
        "an expired start reads from the trim horizon"
    );
    assert_eq!(
        got.records.last().expect("kept").sequence_number.offset,
        219
    );

    // Split, then let everything expire: the closed parent leaves the listings.
    engine
        .split_shard("s", "shardId-000000000000", 1u128 << 127)
        .expect("split");
    clock.advance(Duration::from_secs(25 * 3600));
    let report = engine.enforce_retention().expect("retention");
    assert_eq!(report.shards_expired, 1);
    let ids: Vec<_> = engine
        .describe_stream("s")
        .expect("describe")
        .shards
        .into_iter()
        .map(|s| s.shard_id)
        .collect();
    assert_eq!(ids, ["shardId-000000000001", "shardId-000000000002"]);
    engine.shutdown().expect("shutdown");
    drop(engine);
    let engine = Engine::open(config(dir.path(), &clock)).expect("reopen");
    assert_eq!(
        engine.describe_stream("s").expect("describe").shards.len(),
        2
    );
}

#[test]
fn trim_below_deletes_only_segments_wholly_before_the_offset() {
    let (dir, clock, engine) = open_with_stream(1);
    let shard = "shardId-000000000000";
    put_many(&engine, 200);
    let files_before = segment_files(dir.path());
    assert!(files_before > 4, "several segments: {files_before}");
    let horizon = |e: &Engine| {
        e.start_offset("s", shard, StartingPosition::TrimHorizon)
            .expect("horizon")
    };

    // Below the first segment's end: nothing goes.
    assert_eq!(engine.trim_below("s", shard, 1).expect("trim"), 0);
    assert_eq!(horizon(&engine), 0);

    // Up to offset 100: the segments that end at or before it go, the one holding
    // offset 100 stays, and reads start at the new horizon.
    let gone = engine.trim_below("s", shard, 100).expect("trim");
    assert!(gone >= 1, "{gone}");
    assert_eq!(segment_files(dir.path()), files_before - gone);
    let h = horizon(&engine);
    assert!(h > 0 && h <= 100, "horizon {h}");
    let got = engine.read("s", shard, 0, 10_000, 10 << 20).expect("read");
    assert_eq!(got.records.first().expect("kept").sequence_number.offset, h);
    assert_eq!(
        got.records.len(),
        200 - h as usize,
        "nothing at or after the horizon lost"
    );

    // Beyond every record: the active segment of the open shard stays.
    engine.trim_below("s", shard, u64::MAX).expect("trim all");
    assert_eq!(segment_files(dir.path()), 1, "the active segment stays");
    let h = horizon(&engine);
    assert!(h <= 200);
    put_many(&engine, 3);
    let got = engine.read("s", shard, h, 10_000, 10 << 20).expect("read");
    assert_eq!(got.records.last().expect("new").sequence_number.offset, 202);

    // Unknown stream or shard: the engine's errors.
    assert!(engine.trim_below("nope", shard, 1).is_err());
    assert!(engine.trim_below("s", "shardId-000000000009", 1).is_err());

    // The horizon is in the catalog: a restart keeps it.
    engine.shutdown().expect("shutdown");
    drop(engine);
    let engine = Engine::open(config(dir.path(), &clock)).expect("reopen");
    assert_eq!(horizon(&engine), h);
    let got = engine.read("s", shard, 0, 10_000, 10 << 20).expect("read");
    assert_eq!(got.records.first().expect("kept").sequence_number.offset, h);
    assert_eq!(got.records.len(), 203 - h as usize);
}

#[test]
fn limits_and_bad_input_are_refused_with_typed_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let engine = Engine::open(config(dir.path(), &clock)).expect("open");
    assert!(matches!(
        engine.create_stream(CreateStream::new("bad name", 1)),
        Err(Error::InvalidStreamName {
            rule: StreamNameRule::Characters,
            ..
        })
    ));
    assert!(matches!(
        engine.create_stream(CreateStream::new("s", 100_000)),
        Err(Error::ShardLimitExceeded {
            open: 0,
            requested: 100_000,
            limit: 500
        })
    ));
    assert!(
        engine.list_streams().expect("list").is_empty(),
        "nothing half-created"
    );
    engine
        .create_stream(CreateStream::new("s", 2))
        .expect("create");
    assert!(matches!(
        engine.create_stream(CreateStream::new("s", 1)),
        Err(Error::StreamExists { .. })
    ));
    assert!(matches!(
        engine.put_record("nope", PutRecordInput::new("k", "v")),
        Err(Error::StreamNotFound { .. })
    ));
    assert!(matches!(
        engine.put_record("s", PutRecordInput::new("", "v")),
        Err(Error::PartitionKeyLength { chars: 0, .. })
    ));
    assert!(matches!(
        engine.put_record("s", PutRecordInput::new("k", vec![0u8; MAX_DATA_BYTES + 1])),
        Err(Error::DataTooLarge { .. })
    ));
    assert!(matches!(
        engine.read("s", "shardId-000000000009", 0, 1, 1),
        Err(Error::ShardNotFound { .. })
    ));
    assert!(matches!(
        engine.read("s", "garbage", 0, 1, 1),
        Err(Error::ShardNotFound { .. })
    ));
    let seq_other_shard = SequenceNumber::new(1, 0);
    assert!(matches!(
        engine.start_offset(
            "s",
            "shardId-000000000000",
            StartingPosition::AtSequenceNumber(seq_other_shard)
        ),
        Err(Error::SequenceNumberOfOtherShard { .. })
    ));
    assert!(matches!(
        engine.update_shard_count("s", 5),
        Err(Error::ScalingBeyondRange {
            current: 2,
            target: 5,
            ..
        })
    ));
    assert!(matches!(
        engine.set_retention("s", 23, true),
        Err(Error::RetentionOutOfRange { hours: 23, .. })
    ));
    engine.set_retention("s", 48, true).expect("increase");
    assert!(matches!(
        engine.set_retention("s", 24, true),
        Err(Error::RetentionShorterThanCurrent {
            requested: 24,
            current: 48,
            ..
        })
    ));
    engine.set_retention("s", 24, false).expect("decrease");
    let scaled = engine.update_shard_count("s", 3).expect("scale 2 -> 3");
    assert_eq!((scaled.current, scaled.target), (2, 3));
    let mut open: Vec<_> = engine
        .describe_stream("s")
        .expect("describe")
        .shards
        .into_iter()
        .filter(|s| !s.is_closed())
        .collect();
    open.sort_by_key(|s| s.range.start);
    assert_eq!(
        open.iter().map(|s| s.range).collect::<Vec<_>>(),
        hash_key::even_ranges(3)
    );
    for s in &open {
        assert!(s.parent_shard_id.is_some());
    }
}

#[test]
fn idle_shards_release_their_maps_and_map_again_on_read() {
    let (dir, _clock, engine) = open_with_stream(1);
    put_many(&engine, 100);
    let sealed = segment_files(dir.path()) - 1;
    assert!(sealed > 2, "several sealed segments: {sealed}");
    // Just written and read: nothing is idle yet.
    let before = engine
        .read("s", "shardId-000000000000", 0, 10_000, 10 << 20)
        .expect("read");
    assert_eq!(engine.release_idle_maps().expect("sweep"), 0);
    // Untouched since the previous sweep: every sealed segment lets its map go.
    assert_eq!(engine.release_idle_maps().expect("sweep"), sealed);
    assert_eq!(engine.release_idle_maps().expect("sweep"), 0);
    // Slices handed out before stay valid; a new read maps the segments again.
    let after = engine
        .read("s", "shardId-000000000000", 0, 10_000, 10 << 20)
        .expect("read");
    assert_eq!(before.records, after.records);
    assert_eq!(after.records.len(), 100);
}

#[test]
fn owned_streams_keep_data_for_less_than_a_day() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let engine = Engine::open(config(dir.path(), &clock)).expect("open");
    engine
        .create_owned_stream("kinesisvideo", CreateStream::new("cam", 1))
        .expect("create");
    let owned = Engine::owned_stream("kinesisvideo", "cam").expect("name");
    engine
        .create_stream(CreateStream::new("s", 1))
        .expect("create");
    // Kinesis streams keep Kinesis' rules; owned streams take 0 to 8,760 hours.
    assert!(matches!(
        engine.set_owned_retention("s", 1),
        Err(Error::RetentionOutOfRange { min: 24, .. })
    ));
    assert!(matches!(
        engine.set_owned_retention(&owned, 8761),
        Err(Error::RetentionOutOfRange { min: 0, .. })
    ));
    engine.set_owned_retention(&owned, 1).expect("one hour");
    assert_eq!(
        engine
            .describe_stream(&owned)
            .expect("describe")
            .retention_hours,
        1
    );
    for i in 0..200u32 {
        engine
            .put_record(
                &owned,
                PutRecordInput::new("k", Bytes::from(vec![i as u8; 100])),
            )
            .expect("put");
    }
    let shard = "shardId-000000000000";
    clock.advance(Duration::from_secs(59 * 60));
    assert_eq!(
        engine.enforce_retention().expect("retention"),
        RetentionReport::default(),
        "nothing expires within the hour"
    );
    clock.advance(Duration::from_secs(2 * 60));
    let report = engine.enforce_retention().expect("retention");
    assert!(report.segments_deleted >= 1, "{report:?}");
    let horizon = engine
        .start_offset(&owned, shard, StartingPosition::TrimHorizon)
        .expect("horizon");
    assert_eq!(
        horizon, 200,
        "every segment expired, the active one rolled first"
    );
    // Back up to a day and more: nothing else changes.
    engine.set_owned_retention(&owned, 48).expect("longer");
    engine.set_owned_retention(&owned, 0).expect("zero");
}
