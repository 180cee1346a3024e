//! Each account and request limit reached through boto3: the exact AWS error, and
//! nothing half-created (tests/python/boto3_resource_limits.py does the checking).

use std::process::Command;

use freshet_tests::{python, Server};

/// Runs one mode of the script against `server` and asserts it passed.
pub fn run_mode(server: &Server, mode: &str, extra: &[&str]) -> String {
    let venv = python::venv();
    let out = Command::new(venv.join("bin").join("python"))
        .arg(python::scripts_dir().join("boto3_resource_limits.py"))
        .arg(mode)
        .arg(server.endpoint())
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("python: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && stdout.contains("checks passed"),
        "boto3 {mode} failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    assert!(
        !server.log().contains("internal failure"),
        "{}",
        server.log()
    );
    stdout
}

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
