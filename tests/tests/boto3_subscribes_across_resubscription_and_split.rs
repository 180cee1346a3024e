//! boto3's `subscribe_to_shard`, unchanged, against a real `freshet` process with a
//! 1.5 s subscription lifetime: every record in order across re-subscriptions with
//! ContinuationSequenceNumber and across a split; a second subscription is refused.

use freshet_tests::{python, Server};

#[test]
fn boto3_subscribe_to_shard_receives_every_record_in_order() {
    let server = Server::start(&["--subscription-ttl-ms", "1500"]);
    python::run_script(
        &server,
        "boto3_subscribe_to_shard.py",
        &[server.endpoint()],
        "passed, 0 failed",
    );
}
