//! Event source mappings of a real `freshet serve`, driven by boto3: records pushed
//! from Freshet streams into the Python and Rust test functions, in order per
//! partition key (with ParallelizationFactor and across a shard split), bisection,
//! ReportBatchItemFailures, retries and the on-failure destination, filters, tumbling
//! windows, disabling and enabling, parameter validation and a deleted stream. The
//! scenarios run at once in one server, each on its own stream, function and sink.

use std::time::Instant;

use freshet_tests::lambda::{rust_function_zip, venv_python};
use freshet_tests::{python, Server};

#[test]
fn boto3_drives_event_source_mappings() {
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
    let mut args = vec![
        server.endpoint(),
        rust_zip.to_string_lossy().into_owned(),
        work.path().to_string_lossy().into_owned(),
    ];
    // FRESHET_ESM_SCENARIOS="a c" runs only those scenarios.
    if let Ok(only) = std::env::var("FRESHET_ESM_SCENARIOS") {
        args.extend(only.split_whitespace().map(str::to_string));
    }
    let out = python::run_script(
        &server,
        "lambda_event_source_mappings.py",
        &args,
        "passed, 0 failed",
    );
    eprintln!("{out}");
    eprintln!(
        "lambda_event_source_mappings took {:.1?}",
        started.elapsed()
    );
}
