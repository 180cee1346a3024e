//! boto3 and the AWS CLI, unchanged, drive IAM's role and policy actions and STS on a
//! real `freshet serve` (AWS's Query protocol on the one port): roles' lifecycle, AWS's
//! errors, pagination, AssumeRole and GetCallerIdentity, a Lambda function and a
//! delivery stream created with a role made there; then, after a restart on the same
//! data directory, the roles and policies are still there.

use std::time::Instant;

use freshet_tests::lambda::venv_python;
use freshet_tests::python;

#[test]
fn boto3_and_awscli_drive_iam_roles_and_sts() {
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let data = work.path().join("data");
    let python_bin = venv_python();
    let python_arg = python_bin.to_string_lossy().into_owned();
    let extra = [
        "--lambda-python",
        python_arg.as_str(),
        "--lambda-idle-secs",
        "30",
    ];
    let aws = python::venv()
        .join("bin")
        .join("aws")
        .to_string_lossy()
        .into_owned();
    let work_arg = work.path().to_string_lossy().into_owned();

    python::run_script_across_restart(&data, &extra, "iam_roles.py", |endpoint, restarted| {
        let mode = if restarted { "after-restart" } else { "all" };
        vec![endpoint, aws.clone(), work_arg.clone(), mode.into()]
    });
    eprintln!("iam_roles took {:.1?}", started.elapsed());
}
