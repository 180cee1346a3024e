//! boto3 and the AWS CLI, unchanged, drive the Lambda functions API of a real
//! `freshet serve`: functions' lifecycle, AWS's errors, and Invoke in every form
//! against the Python test function (awslambdaric) and the Rust one (lambda_runtime).

use std::time::Instant;

use freshet_tests::lambda::{rust_function_zip, venv_python};
use freshet_tests::{python, Server};

#[test]
fn boto3_and_awscli_drive_the_functions_api() {
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let rust_zip = work.path().join("rust-function.zip");
    std::fs::write(&rust_zip, rust_function_zip())
        .unwrap_or_else(|e| panic!("{}: {e}", rust_zip.display()));
    let python_bin = venv_python();
    let server = Server::start(&[
        "--lambda-python",
        &python_bin.to_string_lossy(),
        "--lambda-idle-secs",
        "30",
    ]);
    let aws = python::venv().join("bin").join("aws");
    let out = python::run_script(
        &server,
        "lambda_functions_api.py",
        &[
            server.endpoint(),
            aws.to_string_lossy().into_owned(),
            rust_zip.to_string_lossy().into_owned(),
            work.path().to_string_lossy().into_owned(),
        ],
        "passed, 0 failed",
    );
    eprintln!("{out}");
    eprintln!("lambda_functions_api took {:.1?}", started.elapsed());
}
