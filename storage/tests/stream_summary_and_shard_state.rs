//! The hot-path lookups agree with DescribeStream: a stream's summary, one shard's state
//! with its children (from the children index, rebuilt from the lineage on open), and
//! key routing.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use freshet_storage::*;

fn config(dir: &std::path::Path) -> EngineConfig {
    let mut cfg = EngineConfig::new(dir);
    cfg.retention_interval = None;
    cfg
}

fn check_against_describe(engine: &Engine) {
    let d = engine.describe_stream("s").expect("describe");
    let sum = engine.stream_summary("s").expect("summary");
    assert_eq!(sum.name, d.name);
    assert_eq!(sum.uid, d.uid);
    assert_eq!(sum.status, d.status);
    assert_eq!(sum.retention_hours, d.retention_hours);
    assert_eq!(sum.mode, d.mode);
    assert_eq!(sum.encryption, d.encryption);
    assert_eq!(sum.open_shard_count, d.open_shard_count());
    for s in &d.shards {
        let st = engine.shard_state("s", &s.shard_id).expect("state");
        assert_eq!(st.index, s.index);
        assert_eq!(st.range, s.range);
        assert_eq!(st.is_closed(), s.is_closed());
        assert_eq!(st.ending_sequence_number, s.ending_sequence_number);
        assert_eq!(st.parent_shard_id, s.parent_shard_id);
        assert_eq!(st.adjacent_parent_shard_id, s.adjacent_parent_shard_id);
        // Children as the scan over every shard finds them.
        let mut expected: Vec<String> = d
            .shards
            .iter()
            .filter(|c| {
                c.parent_shard_id.as_deref() == Some(&s.shard_id)
                    || c.adjacent_parent_shard_id.as_deref() == Some(&s.shard_id)
            })
            .map(|c| c.shard_id.clone())
            .collect();
        expected.sort();
        let mut got: Vec<String> = st.children.iter().map(|c| c.shard_id.clone()).collect();
        got.sort();
        assert_eq!(got, expected, "children of {}", s.shard_id);
        // A read at the end of a closed shard names the same children.
        if let Some(end) = st.end_offset {
            let read = engine
                .read("s", &s.shard_id, end, 10, 1 << 20)
                .expect("read");
            let mut named: Vec<String> = read
                .child_shards
                .expect("children at the end")
                .into_iter()
                .map(|c| c.shard_id)
                .collect();
            named.sort();
            assert_eq!(named, expected);
            assert!(st.is_finished_at(end));
        }
    }
}

#[test]
fn summary_shard_state_and_routing_agree_with_describe_through_reshards_and_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    engine
        .create_stream(CreateStream::new("s", 2))
        .expect("create");
    for i in 0..20 {
        let put = engine
            .put_record("s", PutRecordInput::new(format!("k{i}"), "v"))
            .expect("put");
        let routed = engine
            .route("s", hash_key_of(&format!("k{i}")))
            .expect("route");
        assert_eq!(shard_id(routed), &*put.shard_id);
    }
    let open = engine
        .shard_state("s", "shardId-000000000000")
        .expect("state");
    assert!(!open.is_closed());
    assert!(open.children.is_empty());
    assert_eq!(open.start_offset, 0);
    assert!(open.next_offset > 0);
    assert!(open.newest_arrival_ms.is_some());

    let r0 = open.range;
    engine
        .split_shard(
            "s",
            "shardId-000000000000",
            r0.start + (r0.end - r0.start) / 2,
        )
        .expect("split");
    engine
        .merge_shards("s", "shardId-000000000002", "shardId-000000000003")
        .expect("merge");
    engine.update_shard_count("s", 4).expect("scale");
    check_against_describe(&engine);

    let parent = engine
        .shard_state("s", "shardId-000000000000")
        .expect("state");
    assert_eq!(
        parent
            .children
            .iter()
            .map(|c| c.shard_id.as_str())
            .collect::<Vec<_>>(),
        ["shardId-000000000002", "shardId-000000000003"]
    );
    let merged = engine
        .shard_state("s", "shardId-000000000004")
        .expect("state");
    assert_eq!(
        merged.parent_shard_id.as_deref(),
        Some("shardId-000000000002")
    );
    assert_eq!(
        merged.adjacent_parent_shard_id.as_deref(),
        Some("shardId-000000000003")
    );
    for i in 0..20 {
        let put = engine
            .put_record("s", PutRecordInput::new(format!("k{i}"), "v"))
            .expect("put");
        let routed = engine
            .route("s", hash_key_of(&format!("k{i}")))
            .expect("route");
        assert_eq!(shard_id(routed), &*put.shard_id);
    }

    engine.shutdown().expect("shutdown");
    drop(engine);
    let engine = Engine::open(config(dir.path())).expect("reopen");
    check_against_describe(&engine);
    assert!(matches!(
        engine.shard_state("s", "shardId-000000000099"),
        Err(Error::ShardNotFound { .. })
    ));
    assert!(matches!(
        engine.stream_summary("nope"),
        Err(Error::StreamNotFound { .. })
    ));
}
