//! Exactly once: a DirectPut delivery stream under PutRecordBatch load, the server
//! killed (kill -9) at random moments and restarted on the same data directory; then
//! every acknowledged record is in exactly one delivered object, none in two. The
//! buffer's segments are small, so delivered ones are trimmed all along (and a kill
//! lands between a checkpoint and its trim too); at the end only the active one is left.

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
        let mut server = Server::start_in(&data, SMALL_SEGMENTS);
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
    let server = Server::start_in(&data, SMALL_SEGMENTS);
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
    // Everything is delivered: the buffer's sealed segments go once their checkpoint
    // is committed (the trim follows the commit, so allow it a moment).
    let started = std::time::Instant::now();
    let mut left = segment_files(&data.join("streams"));
    while left > 2 && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
        left = segment_files(&data.join("streams"));
    }
    assert!(
        left <= 2,
        "{left} segment files left after everything was delivered"
    );
}

/// 64 KiB segments: a round fills dozens.
const SMALL_SEGMENTS: &[&str] = &["--segment-bytes", "65536"];

/// The `.log` segment files under `dir`.
fn segment_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| e.path())
        .map(|p| match p.is_dir() {
            true => segment_files(&p),
            false => usize::from(p.extension().is_some_and(|e| e == "log")),
        })
        .sum()
}
