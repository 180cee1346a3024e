//! With `--auth`, SigV4 signatures are verified against the configured access keys:
//! the SDKs' signed requests pass, a wrong secret, an unknown key or no signature get
//! the AWS errors. Without it, any Authorization is accepted.

use std::process::Command;

use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::Client;
use freshet_tests::{call_json, python, Server};
use serde_json::json;

fn client(endpoint: &str, id: &str, secret: &str) -> Client {
    let conf = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(id, secret, None, None, "test"))
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(aws_sdk_kinesis::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(conf)
}

#[test]
fn signatures_are_checked_when_auth_is_on() {
    let server = Server::start(&["--auth", "--access-key", "AKIDGOOD:s3cret/key+x"]);
    let ep = server.endpoint();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(async {
        let good = client(&ep, "AKIDGOOD", "s3cret/key+x");
        good.create_stream()
            .stream_name("a")
            .shard_count(1)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let names = good
            .list_streams()
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(names.stream_names(), ["a"]);
        let wrong = client(&ep, "AKIDGOOD", "nope").list_streams().send().await;
        assert_eq!(
            wrong
                .err()
                .and_then(|e| e.code().map(str::to_string))
                .as_deref(),
            Some("InvalidSignatureException")
        );
        let unknown = client(&ep, "AKIDOTHER", "s3cret/key+x")
            .list_streams()
            .send()
            .await;
        assert_eq!(
            unknown
                .err()
                .and_then(|e| e.code().map(str::to_string))
                .as_deref(),
            Some("UnrecognizedClientException")
        );
    });
    // The raw test client sends a dummy signature: refused.
    let r = call_json(server.addr, "ListStreams", &json!({}));
    assert_eq!(r.status, 400);
    assert_eq!(r.error_type(), "UnrecognizedClientException");

    // boto3 signs the same way.
    let script = r#"
import sys, boto3
from botocore.exceptions import ClientError
ok = boto3.client("kinesis", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="AKIDGOOD", aws_secret_access_key="s3cret/key+x")
assert ok.list_streams()["StreamNames"] == ["a"]
bad = boto3.client("kinesis", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="AKIDGOOD", aws_secret_access_key="x")
try:
    bad.list_streams()
    raise SystemExit("accepted a bad signature")
except ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidSignatureException", e
print("ok")
"#;
    let out = Command::new(python::venv().join("bin").join("python"))
        .arg("-c")
        .arg(script)
        .arg(&ep)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
