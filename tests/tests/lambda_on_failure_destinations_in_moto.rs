//! On-failure destinations outside Freshet: a real `freshet serve` pointed at moto's
//! SQS, SNS and S3 (`AWS_ENDPOINT_URL_SQS` / `_SNS` / `_S3`) sends AWS's failure record
//! of a batch its function gave up on to each, driven and checked with boto3.

use freshet_tests::lambda::venv_python;
use freshet_tests::moto::Moto;
use freshet_tests::{python, Server};

#[test]
fn failure_records_reach_sqs_sns_and_s3() {
    let moto = Moto::start();
    let url = moto.url();
    let python_bin = venv_python();
    let server = Server::start_with_env(
        &["--lambda-python", &python_bin.to_string_lossy()],
        &[
            ("AWS_ENDPOINT_URL_SQS", &url),
            ("AWS_ENDPOINT_URL_SNS", &url),
            ("AWS_ENDPOINT_URL_S3", &url),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ],
    );
    let out = python::run_script(
        &server,
        "lambda_destinations.py",
        &[server.endpoint(), url],
        "passed, 0 failed",
    );
    eprintln!("{out}");
}
