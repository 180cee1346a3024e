//! Kinesis behaviours that LocalStack's AWS-validated snapshots recorded from real AWS
//! and Freshet once answered differently (issue 19), checked with boto3 against a real
//! `freshet` process: CreateStream without a shard count, resource policies, a quoted
//! shard iterator, and ContinuationSequenceNumber resumption.

use freshet_tests::{python, Server};

#[test]
fn boto3_sees_the_behaviours_aws_was_recorded_with() {
    let server = Server::start(&[]);
    python::run_script(
        &server,
        "aws_recorded_kinesis.py",
        &[server.endpoint()],
        "passed, 0 failed",
    );
}
