//! SubscribeToShard over cleartext HTTP/2 with prior knowledge (what the Java SDK v2
//! speaks), driven by curl: the event stream arrives as HTTP/2 data with the
//! initial-response first and the records in a SubscribeToShardEvent, and ends when the
//! (shortened) subscription lifetime passes.

use base64::Engine as _;
use freshet_tests::{call_json, Server};
use serde_json::json;

#[test]
fn subscribe_to_shard_streams_over_h2c() {
    let Ok(version) = std::process::Command::new("curl").arg("--version").output() else {
        eprintln!("curl not installed: h2c check skipped");
        return;
    };
    if !String::from_utf8_lossy(&version.stdout).contains("HTTP2") {
        eprintln!("curl without HTTP/2: h2c check skipped");
        return;
    }
    let server = Server::start(&["--subscription-ttl-ms", "1000"]);
    let r = call_json(
        server.addr,
        "CreateStream",
        &json!({"StreamName": "h2", "ShardCount": 1}),
    );
    assert_eq!(r.status, 200, "{:?}", r.json());
    let r = call_json(
        server.addr,
        "RegisterStreamConsumer",
        &json!({"StreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/h2", "ConsumerName": "h2c"}),
    );
    let arn = r.json()["Consumer"]["ConsumerARN"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(arn.contains("/consumer/h2c:"), "{:?}", r.json());
    let data = b"over-h2c-record";
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let r = call_json(
        server.addr,
        "PutRecord",
        &json!({"StreamName": "h2", "PartitionKey": "k", "Data": b64}),
    );
    assert_eq!(r.status, 200, "{:?}", r.json());
    let body = json!({
        "ConsumerARN": arn,
        "ShardId": "shardId-000000000000",
        "StartingPosition": {"Type": "TRIM_HORIZON"},
    })
    .to_string();
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "20",
            "--http2-prior-knowledge",
            "-o",
            "-",
            "-w",
            "\n%{http_version} %{content_type}",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/x-amz-json-1.1",
            "-H",
            "X-Amz-Target: Kinesis_20131202.SubscribeToShard",
            "-d",
            &body,
        ])
        .arg(format!("{}/", server.endpoint()))
        .output()
        .unwrap_or_else(|e| panic!("curl: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "curl failed: {text}");
    let initial = text.find("initial-response");
    let event = text.find("SubscribeToShardEvent");
    assert!(
        initial.is_some() && event.is_some() && initial < event,
        "{text}"
    );
    assert!(text.contains(&b64), "record missing: {text}");
    assert!(text.contains("ContinuationSequenceNumber"), "{text}");
    assert!(
        text.trim_end()
            .ends_with("2 application/vnd.amazon.eventstream"),
        "{text}"
    );
}
