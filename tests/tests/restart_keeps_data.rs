//! A server stopped with SIGTERM, or killed outright, comes back on the same data
//! directory with every acknowledged record, its streams, shards, tags and settings,
//! and the shard iterators it handed out still valid.

use freshet_tests::{call_json, Server};
use serde_json::json;

fn put_some(a: std::net::SocketAddr, from: usize, n: usize) -> Vec<(String, String, String)> {
    (from..from + n)
        .map(|i| {
            let data = format!("record-{i}");
            let r = call_json(
                a,
                "PutRecord",
                &json!({"StreamName": "keep", "PartitionKey": format!("k{i}"), "Data": base64(&data)}),
            );
            assert_eq!(r.status, 200, "{:?}", r.json());
            let j = r.json();
            (
                j["ShardId"].as_str().unwrap_or_default().to_string(),
                j["SequenceNumber"].as_str().unwrap_or_default().to_string(),
                data,
            )
        })
        .collect()
}

fn base64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn read_all(a: std::net::SocketAddr, shard: &str) -> Vec<(String, String)> {
    let r = call_json(
        a,
        "GetShardIterator",
        &json!({"StreamName": "keep", "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}),
    );
    let mut it = r.json()["ShardIterator"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut out = Vec::new();
    for _ in 0..100 {
        let r = call_json(a, "GetRecords", &json!({"ShardIterator": it}));
        assert_eq!(r.status, 200, "{:?}", r.json());
        let j = r.json();
        let recs = j["Records"].as_array().cloned().unwrap_or_default();
        for rec in &recs {
            use base64::Engine as _;
            let data = base64::engine::general_purpose::STANDARD
                .decode(rec["Data"].as_str().unwrap_or_default())
                .unwrap_or_default();
            out.push((
                rec["SequenceNumber"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                String::from_utf8_lossy(&data).to_string(),
            ));
        }
        match j["NextShardIterator"].as_str() {
            Some(next) if !recs.is_empty() => it = next.to_string(),
            _ => break,
        }
    }
    out
}

fn check_all(a: std::net::SocketAddr, acked: &[(String, String, String)]) {
    for shard in ["shardId-000000000000", "shardId-000000000001"] {
        let stored = read_all(a, shard);
        let mine: Vec<(String, String)> = acked
            .iter()
            .filter(|(s, _, _)| s == shard)
            .map(|(_, q, d)| (q.clone(), d.clone()))
            .collect();
        assert_eq!(
            stored, mine,
            "shard {shard} holds exactly the acknowledged records"
        );
    }
}

#[test]
fn data_survives_a_clean_restart_and_a_kill() {
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = temp.path().join("data");
    let mut server = Server::start_in(&dir, &[]);
    let a = server.addr;
    assert_eq!(
        call_json(
            a,
            "CreateStream",
            &json!({"StreamName": "keep", "ShardCount": 2, "Tags": {"t": "1"}})
        )
        .status,
        200
    );
    assert_eq!(
        call_json(
            a,
            "IncreaseStreamRetentionPeriod",
            &json!({"StreamName": "keep", "RetentionPeriodHours": 48})
        )
        .status,
        200
    );
    let mut acked = put_some(a, 0, 50);
    // An iterator handed out before the restart...
    let before = call_json(
        a,
        "GetShardIterator",
        &json!({"StreamName": "keep", "ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON"}),
    )
    .json()["ShardIterator"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(server.stop(), "clean exit on SIGTERM:\n{}", server.log());
    assert!(server.log().contains("stopped cleanly"), "{}", server.log());

    let mut server = Server::start_in(&dir, &[]);
    let a = server.addr;
    // ...still works after it (the iterator key lives in the data directory).
    let r = call_json(a, "GetRecords", &json!({"ShardIterator": before}));
    assert_eq!(
        r.status,
        200,
        "an iterator survives a restart: {:?}",
        r.json()
    );
    check_all(a, &acked);
    let d = call_json(a, "DescribeStreamSummary", &json!({"StreamName": "keep"})).json();
    assert_eq!(d["StreamDescriptionSummary"]["RetentionPeriodHours"], 48);
    let t = call_json(a, "ListTagsForStream", &json!({"StreamName": "keep"})).json();
    assert_eq!(t["Tags"], json!([{"Key": "t", "Value": "1"}]));
    acked.extend(put_some(a, 50, 50));
    server.kill();

    let server = Server::start_in(&dir, &[]);
    check_all(server.addr, &acked);
    // New sequence numbers continue above the old ones.
    let more = put_some(server.addr, 100, 10);
    for (shard, seq, _) in &more {
        let max_before = acked
            .iter()
            .filter(|(s, _, _)| s == shard)
            .map(|(_, q, _)| q.clone())
            .max();
        assert!(max_before.is_none_or(|m| *seq > m), "{seq} after restart");
    }
}
