//! boto3 and the AWS CLI, unchanged, drive the CloudWatch Logs API of a real
//! `freshet serve`: log groups and streams, PutLogEvents' rules, GetLogEvents' tokens,
//! FilterLogEvents' patterns and paging, retention, tags, `aws logs tail --follow`;
//! a Python function's printed lines land in `/aws/lambda/<function>`; and all of it is
//! still there after a restart.

use std::time::Instant;

use freshet_tests::lambda::venv_python;
use freshet_tests::python;

#[test]
fn boto3_and_awscli_drive_the_logs_api_and_lambda_output_lands_in_it() {
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let data = work.path().join("data");
    let python_bin = venv_python();
    let args = [
        "--lambda-python",
        &*python_bin.to_string_lossy(),
        "--lambda-idle-secs",
        "30",
    ];
    let aws = python::venv().join("bin").join("aws");
    let aws = aws.to_string_lossy().into_owned();
    python::run_script_across_restart(&data, &args, "logs_api.py", |endpoint, restarted| {
        let mode = if restarted { "restarted" } else { "main" };
        vec![mode.into(), endpoint, aws.clone()]
    });
    eprintln!("logs_api took {:.1?}", started.elapsed());
}
