//! Exactly once: a DirectPut delivery stream under PutRecordBatch load, the server
//! killed (kill -9) at random moments and restarted on the same data directory; then
//! every acknowledged record is in exactly one delivered object, none in two.

use std::process::Command;
use std::time::Duration;

use freshet_tests::{python, Server};
use rand::Rng;

#[test]
fn every_acknowledged_record_lands_in_exactly_one_object_across_kill_9() {
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let data = work.path().join("data");
    let acked = work.path().join("acked");
    let py = python::venv().join("bin").join("python");
    let script = python::scripts_dir().join("firehose_exactly_once.py");
    let mut rng = rand::thread_rng();
    let acked_len = || std::fs::metadata(&acked).map_or(0, |m| m.len());
    for round in 0..3 {
        let mut server = Server::start_in(&data, &[]);
        let before = acked_len();
        let mut putter = Command::new(&py)
            .arg(&script)
            .args(["put", &server.endpoint()])
            .arg(&acked)
            .arg("10")
            .spawn()
            .unwrap_or_else(|e| panic!("python: {e}"));
        // The kill comes while records flow: after the putter's first acknowledgement of
        // this round (its start can take seconds on a loaded machine), at most a minute.
        let started = std::time::Instant::now();
        while acked_len() == before && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(800..2500)));
        server.kill();
        let status = putter.wait().unwrap_or_else(|e| panic!("python: {e}"));
        assert!(status.success(), "round {round}: the putter failed");
    }
    let server = Server::start_in(&data, &[]);
    let buckets = server.data_dir.join("buckets");
    let out = python::run_script(
        &server,
        "firehose_exactly_once.py",
        &[
            "verify".to_string(),
            server.endpoint(),
            acked.to_string_lossy().into_owned(),
            buckets.to_string_lossy().into_owned(),
        ],
        "passed, 0 failed",
    );
    eprintln!("{out}");
}
