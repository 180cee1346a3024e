//! boto3 and the AWS CLI, unchanged, drive every action of a real `freshet` process.

use std::process::Command;

use freshet_tests::{python, Server};

#[test]
fn boto3_drives_every_action() {
    let server = Server::start(&[]);
    python::run_script(
        &server,
        "boto3_every_action.py",
        &[server.endpoint()],
        "passed, 0 failed",
    );
}

#[test]
fn aws_cli_drives_the_basic_actions() {
    let venv = python::venv();
    let server = Server::start(&[]);
    let out = Command::new("bash")
        .arg(python::scripts_dir().join("awscli_smoke.sh"))
        .arg(server.endpoint())
        .arg(venv.join("bin").join("aws"))
        .output()
        .unwrap_or_else(|e| panic!("bash: {e}"));
    assert!(
        out.status.success(),
        "aws cli script failed:\n{}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
}
