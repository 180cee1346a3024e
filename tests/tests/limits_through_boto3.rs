//! Each account and request limit reached through boto3: the exact AWS error, and
//! nothing half-created (tests/python/boto3_resource_limits.py does the checking).

use freshet_tests::python::run_resource_limits as run_mode;
use freshet_tests::Server;

#[test]
fn shard_limit_and_scaling_rules_refuse_with_aws_errors() {
    let server = Server::start(&[
        "--shard-limit",
        "10",
        "--max-scaling-ops-per-day",
        "3",
        "--segment-bytes",
        "65536",
    ]);
    run_mode(&server, "shards", &[]);
}

#[test]
fn oversize_body_is_refused_without_being_held() {
    let server = Server::start(&[]);
    run_mode(&server, "oversize", &[]);
}

#[test]
fn connection_cap_answers_service_unavailable() {
    let server = Server::start(&["--max-connections", "4", "--admission-wait-ms", "100"]);
    run_mode(&server, "connections", &[]);
}
