//! An event source mapping survives `kill -9` of the server: restarted on the same
//! data directory, it resumes from its checkpoints, and every record put before or
//! after the kill reaches the function at least once (nothing skipped).

use std::time::{Duration, Instant};

use freshet_tests::lambda::{read_sink, venv_python};
use freshet_tests::{python, Server};

#[test]
fn mapping_delivers_everything_across_kill_9() {
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let data_dir = work.path().join("data");
    let python_bin = venv_python();
    let python_bin = python_bin.to_string_lossy();
    let args = ["--lambda-python", &python_bin, "--lambda-idle-secs", "30"];
    let work_arg = work.path().to_string_lossy().into_owned();
    let sink = work.path().join("sink");

    let mut first = Server::start_in(&data_dir, &args);
    python::run_script(
        &first,
        "lambda_mapping_survives_kill_9.py",
        &["setup".into(), first.endpoint(), work_arg.clone()],
        "passed, 0 failed",
    );
    // Kill while the mapping is delivering: as soon as anything reached the sink
    // (bounded: 60 s), most of the 3,000 records are still on their way.
    let deadline = Instant::now() + Duration::from_secs(60);
    while read_sink(&sink).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let at_kill = read_sink(&sink).len();
    first.kill();
    eprintln!("killed with {at_kill} of 3000 records in the sink");
    let log = first.log();
    drop(first);

    let second = Server::start_in(&data_dir, &args);
    let out = python::run_script(
        &second,
        "lambda_mapping_survives_kill_9.py",
        &["after".into(), second.endpoint(), work_arg],
        "passed, 0 failed",
    );
    eprintln!("{out}");
    assert!(
        !log.contains("internal failure"),
        "the first server logged an internal failure:\n{log}"
    );
    eprintln!(
        "lambda_mapping_survives_kill_9 took {:.1?}",
        started.elapsed()
    );
}
