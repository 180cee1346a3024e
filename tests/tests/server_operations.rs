//! Operating the server: health and Prometheus metrics, CREATING -> ACTIVE after the
//! configured delay, per-shard throughput limits when enabled, and cleartext HTTP/2.

use std::time::{Duration, Instant};

use freshet_tests::{call_json, http::raw, Server};
use serde_json::json;

fn get(a: std::net::SocketAddr, path: &str) -> freshet_tests::RawResponse {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\n\r\n");
    raw(a, req.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn health_and_metrics_report_traffic() {
    let server = Server::start(&[]);
    let a = server.addr;
    assert_eq!(get(a, "/health").status, 200);
    assert_eq!(
        call_json(
            a,
            "CreateStream",
            &json!({"StreamName": "m", "ShardCount": 1})
        )
        .status,
        200
    );
    assert_eq!(
        call_json(
            a,
            "PutRecord",
            &json!({"StreamName": "m", "PartitionKey": "k", "Data": "aGVsbG8="})
        )
        .status,
        200
    );
    let it = call_json(
        a,
        "GetShardIterator",
        &json!({"StreamName": "m", "ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON"}),
    );
    let it = it.json()["ShardIterator"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        call_json(a, "GetRecords", &json!({"ShardIterator": it})).status,
        200
    );
    let m = get(a, "/metrics");
    assert_eq!(m.status, 200);
    let text = String::from_utf8_lossy(&m.body);
    for line in [
        "freshet_incoming_records_total{stream=\"m\",shard=\"shardId-000000000000\"} 1",
        "freshet_incoming_bytes_total{stream=\"m\",shard=\"shardId-000000000000\"} 5",
        "freshet_outgoing_records_total{stream=\"m\",shard=\"shardId-000000000000\"} 1",
        "freshet_outgoing_bytes_total{stream=\"m\",shard=\"shardId-000000000000\"} 5",
        "freshet_put_latency_seconds_count 1",
        "freshet_get_latency_seconds_count 1",
        "freshet_requests_total{service=\"kinesis\",action=\"PutRecord\",outcome=\"ok\"} 1",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    // The put waited for a group-commit sync (sync-data is the default): the engine's
    // sync histogram counts it, its buckets cumulative up to the count.
    let series = |prefix: &str| -> Vec<u64> {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect()
    };
    let count = series("freshet_storage_sync_seconds_count");
    assert!(
        count.first().is_some_and(|&n| n >= 1),
        "{count:?} in\n{text}"
    );
    let buckets = series("freshet_storage_sync_seconds_bucket");
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert_eq!(buckets.last(), count.first(), "+Inf bucket is the count");
}

#[test]
fn streams_are_creating_until_the_delay_passes() {
    let server = Server::start(&["--create-delay-ms", "700"]);
    let a = server.addr;
    let started = Instant::now();
    assert_eq!(
        call_json(
            a,
            "CreateStream",
            &json!({"StreamName": "slow", "ShardCount": 1})
        )
        .status,
        200
    );
    let d = call_json(a, "DescribeStreamSummary", &json!({"StreamName": "slow"})).json();
    if started.elapsed() < Duration::from_millis(600) {
        assert_eq!(d["StreamDescriptionSummary"]["StreamStatus"], "CREATING");
        let r = call_json(
            a,
            "PutRecord",
            &json!({"StreamName": "slow", "PartitionKey": "k", "Data": "AA=="}),
        );
        assert_eq!(r.error_type(), "ResourceNotFoundException");
    }
    let mut active = false;
    for _ in 0..50 {
        let d = call_json(a, "DescribeStreamSummary", &json!({"StreamName": "slow"})).json();
        if d["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE" {
            active = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(active, "the stream turned ACTIVE");
    assert_eq!(
        call_json(
            a,
            "PutRecord",
            &json!({"StreamName": "slow", "PartitionKey": "k", "Data": "AA=="})
        )
        .status,
        200
    );
}

#[test]
fn throughput_limits_throttle_only_when_enabled() {
    let server = Server::start(&["--enforce-limits"]);
    let a = server.addr;
    assert_eq!(
        call_json(
            a,
            "CreateStream",
            &json!({"StreamName": "t", "ShardCount": 1})
        )
        .status,
        200
    );
    // 3,000 records in under a second (at most two one-second windows, so one of them
    // sees 1,500 or more): past 1,000 records/s some are refused.
    let mut throttled = 0;
    let started = Instant::now();
    for _ in 0..6 {
        let records: Vec<_> = (0..500)
            .map(|i| json!({"PartitionKey": format!("k{i}"), "Data": "AA=="}))
            .collect();
        let r = call_json(
            a,
            "PutRecords",
            &json!({"StreamName": "t", "Records": records}),
        )
        .json();
        throttled += r["FailedRecordCount"].as_u64().unwrap_or(0);
        for rec in r["Records"].as_array().cloned().unwrap_or_default() {
            if let Some(code) = rec["ErrorCode"].as_str() {
                assert_eq!(code, "ProvisionedThroughputExceededException");
                assert!(rec["ErrorMessage"].as_str().unwrap_or_default().starts_with("Rate exceeded for shard shardId-000000000000 in stream t under account 000000000000"));
            }
        }
    }
    if started.elapsed() < Duration::from_millis(950) {
        assert!(throttled >= 500, "{throttled} throttled");
    }
    // More than five GetRecords calls a second on one shard.
    let it = call_json(
        a,
        "GetShardIterator",
        &json!({"StreamName": "t", "ShardId": "shardId-000000000000", "ShardIteratorType": "LATEST"}),
    );
    let it = it.json()["ShardIterator"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let started = Instant::now();
    let mut refused = 0;
    for _ in 0..20 {
        let r = call_json(a, "GetRecords", &json!({"ShardIterator": it, "Limit": 1}));
        if r.status == 400 {
            assert_eq!(r.error_type(), "ProvisionedThroughputExceededException");
            refused += 1;
        }
    }
    if started.elapsed() < Duration::from_millis(950) {
        assert!(refused >= 1, "GetRecords was throttled");
    }
    let m = get(a, "/metrics");
    assert!(String::from_utf8_lossy(&m.body).contains("freshet_write_throttled_total{stream=\"t\""));

    // Without the flag nothing is throttled.
    let free = Server::start(&[]);
    assert_eq!(
        call_json(
            free.addr,
            "CreateStream",
            &json!({"StreamName": "t", "ShardCount": 1})
        )
        .status,
        200
    );
    for _ in 0..3 {
        let records: Vec<_> = (0..400)
            .map(|i| json!({"PartitionKey": format!("k{i}"), "Data": "AA=="}))
            .collect();
        let r = call_json(
            free.addr,
            "PutRecords",
            &json!({"StreamName": "t", "Records": records}),
        )
        .json();
        assert_eq!(r["FailedRecordCount"], 0);
    }
}

#[test]
fn cleartext_http2_with_prior_knowledge_is_served() {
    let Ok(version) = std::process::Command::new("curl").arg("--version").output() else {
        eprintln!("curl not installed: h2c check skipped");
        return;
    };
    if !String::from_utf8_lossy(&version.stdout).contains("HTTP2") {
        eprintln!("curl without HTTP/2: h2c check skipped");
        return;
    }
    let server = Server::start(&[]);
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "20",
            "--http2-prior-knowledge",
            "-o",
            "-",
            "-w",
            "\n%{http_version}",
            "-X",
            "POST",
        ])
        .args([
            "-H",
            "Content-Type: application/x-amz-json-1.1",
            "-H",
            "X-Amz-Target: Kinesis_20131202.ListStreams",
            "-d",
            "{}",
        ])
        .arg(format!("{}/", server.endpoint()))
        .output()
        .unwrap_or_else(|e| panic!("curl: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"StreamNames\":[]"), "{text}");
    assert!(text.trim_end().ends_with('2'), "HTTP version: {text}");
}

#[test]
fn bench_drives_a_server_and_reports_percentiles() {
    let server = Server::start(&["--durability", "buffered"]);
    let run = |workload: &str| {
        let out = std::process::Command::new(freshet_tests::server::binary())
            .args([
                "bench",
                "--endpoint",
                &server.endpoint(),
                "--workload",
                workload,
            ])
            .args([
                "--duration",
                "1",
                "--concurrency",
                "2",
                "--shards",
                "2",
                "--batch-size",
                "50",
            ])
            .output()
            .unwrap_or_else(|e| panic!("bench: {e}"));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("records/s=") && text.contains("p999="),
            "{text}"
        );
        text
    };
    let put = run("put");
    assert!(put.contains("errors=0"), "{put}");
    let get = run("get");
    assert!(get.contains("errors=0"), "{get}");
    run("put-record");
}
