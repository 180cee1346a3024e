//! With `--auth`, the Lambda API checks SigV4 as Kinesis does (function ARNs in the
//! path included); a Python function whose interpreter lacks awslambdaric fails with a
//! message that says how to fix it.

use freshet_tests::{python, Server};

#[test]
fn lambda_requests_are_signed_and_a_missing_awslambdaric_is_explained() {
    // The system interpreter, not the tests' venv: it has no awslambdaric.
    let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .find(|p| {
            std::process::Command::new(p)
                .args(["-c", "import awslambdaric"])
                .output()
                .is_ok_and(|o| !o.status.success())
        });
    let Some(python) = python else {
        eprintln!("skipped: every system python3 here imports awslambdaric");
        return;
    };
    let server = Server::start(&[
        "--auth",
        "--access-key",
        "AKIDLAMBDA:lambda-secret",
        "--lambda-python",
        python,
    ]);
    python::run_script(
        &server,
        "lambda_auth.py",
        &[
            server.endpoint(),
            "AKIDLAMBDA".to_string(),
            "lambda-secret".to_string(),
        ],
        "passed, 0 failed",
    );
}
