//! boto3's `subscribe_to_shard`, unchanged, against a real `freshet` process with a
//! 1.5 s subscription lifetime: every record in order across re-subscriptions with
//! ContinuationSequenceNumber and across a split; a second subscription is refused.

use std::process::Command;

use freshet_tests::{python, Server};

#[test]
fn boto3_subscribe_to_shard_receives_every_record_in_order() {
    let venv = python::venv();
    let server = Server::start(&["--subscription-ttl-ms", "1500"]);
    let out = Command::new(venv.join("bin").join("python"))
        .arg(python::scripts_dir().join("boto3_subscribe_to_shard.py"))
        .arg(server.endpoint())
        .output()
        .unwrap_or_else(|e| panic!("python: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "boto3 script failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    assert!(stdout.contains("passed, 0 failed"), "{stdout}");
    assert!(
        !server.log().contains("internal failure"),
        "{}",
        server.log()
    );
}
