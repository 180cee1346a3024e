//! boto3, unchanged, creates HTTP endpoint delivery streams on a real `freshet serve`
//! (tests/python/firehose_http_endpoint.py), and real HTTP receivers
//! ([`freshet_tests::http_receiver`]) check what arrives: every record (exactly once
//! when nothing fails, at least once when requests fail on purpose), in order within a
//! request, with Firehose's headers, access key and common attributes, GZIP bodies,
//! failed requests retried under the same request id, an endpoint that keeps failing
//! past a short `RetryOptions` leaving the records as AWS's JSON error records under
//! `http-endpoint-failed/` in the backup bucket, a 413 not retried (its records in the
//! error output),
//! and `S3BackupMode: AllData` backing every record up.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use freshet_tests::http_receiver::{
    Failure, FailureKind, ReceivedRecord, Receiver, ReceiverConfig,
};
use freshet_tests::{python, Server};
use serde_json::{json, Value};

const ROLE: &str = "arn:aws:iam::000000000000:role/firehose";
const WAIT: Duration = Duration::from_secs(60);

/// The records the script puts into stream `name`.
fn sent(name: &str, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| format!("{name}-{i:05}\n").into_bytes())
        .collect()
}

/// An HttpEndpointDestinationConfiguration.
fn http_config(
    url: &str,
    bucket: &str,
    encoding: &str,
    retry_seconds: u32,
    backup_mode: &str,
) -> Value {
    json!({
        "EndpointConfiguration": {"Url": url, "Name": format!("{bucket}-endpoint"), "AccessKey": "secret-key"},
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 1},
        "RequestConfiguration": {
            "ContentEncoding": encoding,
            "CommonAttributes": [
                {"AttributeName": "env", "AttributeValue": "test"},
                {"AttributeName": "team", "AttributeValue": "streaming"}
            ]
        },
        "RetryOptions": {"DurationInSeconds": retry_seconds},
        "S3BackupMode": backup_mode,
        "RoleARN": ROLE,
        "S3Configuration": {
            "RoleARN": ROLE,
            "BucketARN": format!("arn:aws:s3:::{bucket}"),
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 1},
            "CompressionFormat": "UNCOMPRESSED"
        }
    })
}

fn receiver(failure: Failure, seed: u64) -> Receiver {
    Receiver::start(ReceiverConfig {
        access_key: Some("secret-key".into()),
        failure,
        seed,
        ..Default::default()
    })
}

/// `{relative key: bytes}` of a local bucket's objects (temporary upload files left out).
fn objects(buckets: &Path, bucket: &str) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(root, &path, out);
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains('#') || name.starts_with('.') {
                continue;
            }
            if let (Ok(rel), Ok(bytes)) = (path.strip_prefix(root), std::fs::read(&path)) {
                out.insert(rel.to_string_lossy().into_owned(), bytes);
            }
        }
    }
    let root = buckets.join(bucket);
    let mut out = BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

fn wait_for<T>(what: &str, server: &Server, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\nserver log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn data(records: &[ReceivedRecord]) -> Vec<Vec<u8>> {
    records.iter().map(|r| r.data.clone()).collect()
}

/// Every request `r` accepted carries Firehose's headers and common attributes, and
/// its records in the order they were put.
fn check_requests(name: &str, r: &Receiver, gzip: bool) {
    assert!(r.rejections().is_empty(), "{name}: {:?}", r.rejections());
    let want_attributes: BTreeMap<String, String> = [("env", "test"), ("team", "streaming")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for req in r.accepted() {
        assert_eq!(req.target, "/firehose", "{name}");
        assert_eq!(req.header("x-amz-firehose-protocol-version"), Some("1.0"));
        assert_eq!(
            req.header("user-agent"),
            Some("Amazon Kinesis Data Firehose Agent/1.0"),
            "{name}"
        );
        assert_eq!(req.header("x-amz-firehose-access-key"), Some("secret-key"));
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert_eq!(req.gzip, gzip, "{name}: Content-Encoding");
        assert_eq!(req.common_attributes, want_attributes, "{name}");
        if let Some(arn) = req.header("x-amz-firehose-source-arn") {
            assert_eq!(
                arn,
                format!("arn:aws:firehose:us-east-1:000000000000:deliverystream/{name}")
            );
        }
        assert!(
            req.records.windows(2).all(|w| w[0] < w[1]),
            "{name}: request {} holds its records out of order",
            req.request_id
        );
    }
}

/// The JSON error records under `http-endpoint-failed/` in `bucket`.
fn failed_records(buckets: &Path, bucket: &str) -> Vec<Value> {
    objects(buckets, bucket)
        .into_iter()
        .filter(|(k, _)| k.starts_with("http-endpoint-failed/"))
        .flat_map(|(k, v)| {
            String::from_utf8_lossy(&v)
                .lines()
                .filter(|l| !l.is_empty())
                .map(|l| {
                    serde_json::from_str(l)
                        .unwrap_or_else(|e| panic!("{k}: not a JSON line ({e}): {l}"))
                })
                .collect::<Vec<Value>>()
        })
        .collect()
}

#[test]
fn boto3_http_endpoint_streams_deliver_to_real_endpoints() {
    let server = Server::start(&[]);
    let buckets = server.data_dir.join("buckets");

    let plain = receiver(Failure::None, 1);
    let gz = receiver(Failure::None, 2);
    let flaky = receiver(Failure::rate(0.4), 3);
    let healing = receiver(Failure::All(vec![FailureKind::ServerError]), 4);
    let dead = receiver(Failure::Status(500), 5);
    let too_large = receiver(Failure::Status(413), 6);
    let all_data = receiver(Failure::None, 7);

    let spec = json!({"streams": [
        {"name": "plain", "count": 300, "config": http_config(&plain.url, "b-plain", "NONE", 60, "FailedDataOnly")},
        {"name": "gz", "count": 300, "config": http_config(&gz.url, "b-gz", "GZIP", 60, "FailedDataOnly")},
        {"name": "flaky", "count": 300, "config": http_config(&flaky.url, "b-flaky", "NONE", 600, "FailedDataOnly")},
        {"name": "healing", "count": 100, "config": http_config(&healing.url, "b-healing", "NONE", 600, "FailedDataOnly")},
        {"name": "dead", "count": 50, "config": http_config(&dead.url, "b-dead", "NONE", 1, "FailedDataOnly")},
        {"name": "toolarge", "count": 20, "config": http_config(&too_large.url, "b-toolarge", "NONE", 60, "FailedDataOnly")},
        {"name": "alldata", "count": 100, "config": http_config(&all_data.url, "b-alldata", "GZIP", 60, "AllData")},
    ]});
    python::run_script(
        &server,
        "firehose_http_endpoint.py",
        &[server.endpoint(), spec.to_string()],
        "passed, 0 failed",
    );

    // Nothing fails: every record exactly once, in order, each request attempted once.
    for (name, r, gzip) in [("plain", &plain, false), ("gz", &gz, true)] {
        let want = sent(name, 300);
        wait_for(&format!("{name}'s records"), &server, || {
            (r.records().len() >= want.len()).then_some(())
        });
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            data(&r.records()),
            want,
            "{name}: every record once, in order"
        );
        check_requests(name, r, gzip);
        assert!(
            r.attempts_by_request_id().values().all(|&n| n == 1),
            "{name}: {:?}",
            r.attempts_by_request_id()
        );
    }

    // Requests fail at random (500, a wrong requestId, a closed connection): every
    // record arrives at least once.
    let want: BTreeSet<Vec<u8>> = sent("flaky", 300).into_iter().collect();
    wait_for("flaky's records", &server, || {
        let got: BTreeSet<Vec<u8>> = data(&flaky.records()).into_iter().collect();
        (got == want).then_some(())
    });
    check_requests("flaky", &flaky, false);
    assert!(flaky.requests() >= flaky.accepted().len() as u64);

    // Failing until told otherwise: the same request, under the same request id, is
    // retried until it goes through; then every record is there exactly once.
    wait_for("healing's failed attempts", &server, || {
        (healing.requests() >= 3).then_some(())
    });
    healing.set_failure(Failure::None);
    wait_for("healing's records", &server, || {
        (healing.records().len() >= 100).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(data(&healing.records()), sent("healing", 100));
    check_requests("healing", &healing, false);
    let first_id = healing.accepted()[0].request_id.clone();
    assert!(
        healing.attempts(&first_id) >= 3,
        "the first request was retried under its id: {:?}",
        healing.attempts_by_request_id()
    );

    // An endpoint that keeps failing past a 1 s RetryOptions: AWS's error records, one
    // line a record, under http-endpoint-failed/ in the backup bucket.
    let lines = wait_for("dead's error records", &server, || {
        let lines = failed_records(&buckets, "b-dead");
        (lines.len() >= 50).then_some(lines)
    });
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut raw: Vec<Vec<u8>> = Vec::new();
    for line in &lines {
        assert_eq!(
            line["errorCode"],
            json!("HttpEndpoint.DestinationException"),
            "{line}"
        );
        assert!(
            line["errorMessage"]
                .as_str()
                .is_some_and(|m| m.contains("500")),
            "{line}"
        );
        let attempts = line["attemptsMade"].as_u64().unwrap_or(0);
        assert!(attempts >= 2, "a 1 s retry duration allows a retry: {line}");
        let arrival = line["arrivalTimestamp"].as_i64().unwrap_or(i64::MAX);
        let ended = line["attemptEndingTimestamp"].as_i64().unwrap_or(0);
        assert!(arrival <= ended, "{line}");
        raw.push(
            b64.decode(line["rawData"].as_str().unwrap_or_default())
                .unwrap_or_else(|e| panic!("rawData is not base64 ({e}): {line}")),
        );
    }
    raw.sort();
    assert_eq!(raw, sent("dead", 50), "every record backed up once");
    assert!(dead.records().is_empty());
    assert!(dead.requests() >= 2);

    // A 413 is permanent: one attempt per request, and the records go to the error
    // output rather than nowhere (Freshet never drops records silently; AWS documents
    // that it does not back such a batch up).
    let refused = wait_for("toolarge's records in the error output", &server, || {
        let lines = failed_records(&buckets, "b-toolarge");
        (lines.len() >= 20).then_some(lines)
    });
    assert_eq!(refused.len(), 20);
    assert!(
        too_large.attempts_by_request_id().values().all(|&n| n == 1),
        "{:?}",
        too_large.attempts_by_request_id()
    );

    // AllData: every record reaches the endpoint and the backup bucket.
    wait_for("alldata's records", &server, || {
        (all_data.records().len() >= 100).then_some(())
    });
    assert_eq!(data(&all_data.records()), sent("alldata", 100));
    check_requests("alldata", &all_data, true);
    let backed_up = wait_for("alldata's backup objects", &server, || {
        let objects = objects(&buckets, "b-alldata");
        let mut lines: Vec<Vec<u8>> = objects
            .iter()
            .filter(|(k, _)| !k.starts_with("http-endpoint-failed/"))
            .flat_map(|(_, v)| v.split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec))
            .collect();
        lines.sort();
        (lines.len() >= 100).then_some(lines)
    });
    assert_eq!(
        backed_up,
        sent("alldata", 100),
        "every record backed up once"
    );
    assert!(failed_records(&buckets, "b-alldata").is_empty());
}
