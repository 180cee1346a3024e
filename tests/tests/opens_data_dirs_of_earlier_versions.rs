//! Data directories written by earlier versions (committed under `tests/fixtures/`,
//! made by `tests/fixtures/make_data_dir.py` with that version's `freshet serve`) open
//! with this one: every stream, shard, record, tag, retention setting, stream consumer
//! and lease is there, the directory takes new writes, and survives another restart.
//!
//! Add a fixture for every release whose data directory differs (fjall and redb keep
//! such fixtures): `data-v0.1.0` is the layout before the catalog held the Kinesis
//! service's consumers (`consumers.json` beside it).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use freshet_tests::{call_json, Server};
use serde_json::{json, Value};

fn fixture(name: &str) -> PathBuf {
    freshet_tests::manifest_dir().join("fixtures").join(name)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap_or_else(|e| panic!("{e}"));
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

fn ok(addr: SocketAddr, action: &str, body: Value) -> Value {
    let r = call_json(addr, action, &body);
    assert_eq!(
        r.status,
        200,
        "{action}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

/// Every record of a stream, read from every shard's trim horizon.
fn all_data(addr: SocketAddr, stream: &str) -> BTreeSet<String> {
    let shards = ok(addr, "ListShards", json!({"StreamName": stream}));
    let mut out = BTreeSet::new();
    for shard in shards["Shards"].as_array().cloned().unwrap_or_default() {
        let it = ok(
            addr,
            "GetShardIterator",
            json!({"StreamName": stream, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}),
        );
        let mut iterator = it["ShardIterator"].clone();
        for _ in 0..100 {
            let got = ok(addr, "GetRecords", json!({"ShardIterator": iterator}));
            let records = got["Records"].as_array().cloned().unwrap_or_default();
            for r in &records {
                let data = base64::engine::general_purpose::STANDARD
                    .decode(r["Data"].as_str().unwrap_or_default())
                    .unwrap_or_default();
                assert!(
                    out.insert(String::from_utf8_lossy(&data).into_owned()),
                    "a record read twice"
                );
            }
            iterator = got["NextShardIterator"].clone();
            if records.is_empty() || iterator.is_null() {
                break;
            }
        }
    }
    out
}

fn expected(stream: &str, count: usize) -> BTreeSet<String> {
    (0..count)
        .map(|i| format!("{stream}-record-{i:04}"))
        .collect()
}

fn shard_ids(addr: SocketAddr, stream: &str) -> Vec<String> {
    ok(addr, "ListShards", json!({"StreamName": stream}))["Shards"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s["ShardId"].as_str().map(str::to_string))
        .collect()
}

fn leases(addr: SocketAddr) -> Value {
    let body = json!({"StreamName": "events", "TableName": "fixture-app"}).to_string();
    let r = freshet_tests::http::call_target(
        addr,
        "Freshet_20261126.ListLeases",
        "application/x-amz-json-1.1",
        body.as_bytes(),
    )
    .unwrap_or_else(|e| panic!("ListLeases: {e}"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn check_v0_1_0_facts(addr: SocketAddr, extra_orders: usize) {
    let mut orders = expected("orders", 150);
    orders.extend((0..extra_orders).map(|i| format!("after-upgrade-{i}")));
    assert_eq!(all_data(addr, "orders"), orders);
    assert_eq!(all_data(addr, "events"), expected("events", 30));
    assert_eq!(
        shard_ids(addr, "orders"),
        [
            "shardId-000000000000",
            "shardId-000000000001",
            "shardId-000000000002",
            "shardId-000000000003"
        ]
    );
    assert_eq!(
        shard_ids(addr, "events"),
        [
            "shardId-000000000000",
            "shardId-000000000001",
            "shardId-000000000002",
            "shardId-000000000003"
        ]
    );
    let summary = ok(
        addr,
        "DescribeStreamSummary",
        json!({"StreamName": "orders"}),
    );
    assert_eq!(
        summary["StreamDescriptionSummary"]["RetentionPeriodHours"],
        48
    );
    assert_eq!(summary["StreamDescriptionSummary"]["OpenShardCount"], 3);
    let tags = ok(addr, "ListTagsForStream", json!({"StreamName": "orders"}));
    assert_eq!(
        tags["Tags"],
        json!([{"Key": "env", "Value": "fixture"}, {"Key": "team", "Value": "payments"}])
    );
    let arn = ok(
        addr,
        "DescribeStreamSummary",
        json!({"StreamName": "events"}),
    )["StreamDescriptionSummary"]["StreamARN"]
        .clone();
    let consumer = ok(
        addr,
        "DescribeStreamConsumer",
        json!({"StreamARN": arn, "ConsumerName": "fixture-consumer"}),
    );
    assert_eq!(
        consumer["ConsumerDescription"]["ConsumerStatus"], "ACTIVE",
        "{consumer}"
    );
    let leases = leases(addr);
    let keys: Vec<&str> = leases["Leases"]
        .as_array()
        .map(|l| l.iter().filter_map(|e| e["Key"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["shardId-000000000000", "shardId-000000000003"]);
}

#[test]
fn data_dir_of_v0_1_0_opens_takes_writes_and_reopens() {
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let dir = temp.path().join("data");
    copy_dir(&fixture("data-v0.1.0"), &dir);
    assert!(
        dir.join("consumers.json").exists(),
        "the fixture keeps v0.1.0's consumers file"
    );

    // Iterators expire after five minutes; this one was handed out when the fixture was
    // made, so the server is told to keep iterators for longer than this test lives.
    let keep_iterators = ["--iterator-ttl-ms", "100000000000000"];
    let mut server = Server::start_in(&dir, &keep_iterators);
    check_v0_1_0_facts(server.addr, 0);
    // A shard iterator v0.1.0 handed out opens: its key moved into the catalog.
    let old_iterator = std::fs::read_to_string(fixture("data-v0.1.0.iterator"))
        .unwrap_or_else(|e| panic!("the fixture's iterator: {e}"));
    let got = ok(
        server.addr,
        "GetRecords",
        json!({"ShardIterator": old_iterator.trim()}),
    );
    assert!(
        !got["Records"].as_array().map(Vec::is_empty).unwrap_or(true),
        "{got}"
    );
    // v0.1.0's consumers file and iterator key moved into the catalog.
    assert!(!dir.join("consumers.json").exists());
    assert!(dir.join("consumers.json.migrated").exists());
    assert!(!dir.join("iterator.key").exists());
    let put = ok(
        server.addr,
        "PutRecords",
        json!({"StreamName": "orders", "Records": [
            {"Data": base64::engine::general_purpose::STANDARD.encode("after-upgrade-0"), "PartitionKey": "new"},
            {"Data": base64::engine::general_purpose::STANDARD.encode("after-upgrade-1"), "PartitionKey": "new2"},
        ]}),
    );
    assert_eq!(put["FailedRecordCount"], 0);
    assert!(server.stop(), "clean stop:\n{}", server.log());

    let server = Server::start_in(&dir, &[]);
    check_v0_1_0_facts(server.addr, 2);
}
