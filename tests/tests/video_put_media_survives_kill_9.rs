//! Kinesis Video across kill -9: a camera-paced PutMedia (SigV4-signed with `--auth`)
//! is cut by killing the server at a random moment after some fragments were
//! acknowledged, three times over one data directory; after the restart every
//! PERSISTED fragment is listed and plays back whole, and no partial fragment is served.

use std::process::Command;
use std::time::{Duration, Instant};

use freshet_tests::{python, Server};
use rand::Rng;

const AUTH: [&str; 3] = ["--auth", "--access-key", "AKIDVIDEO:video-secret"];

fn acked_lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn every_persisted_fragment_survives_kill_9() {
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let data = work.path().join("data");
    let acked = work.path().join("acked");
    let py = python::venv().join("bin").join("python");
    let script = python::scripts_dir().join("video_kill9.py");
    let mut rng = rand::thread_rng();
    for round in 0..3 {
        let mut server = Server::start_in(&data, &AUTH);
        let before = acked_lines(&acked);
        let mut putter = Command::new(&py)
            .arg(&script)
            .args(["put", &server.endpoint()])
            .arg(&acked)
            .spawn()
            .unwrap_or_else(|e| panic!("python: {e}"));
        // Some fragments acknowledged first (bounded), then a random moment.
        let started = Instant::now();
        while acked_lines(&acked) < before + 2 && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..700)));
        server.kill();
        let status = putter.wait().unwrap_or_else(|e| panic!("python: {e}"));
        assert!(status.success(), "round {round}: the putter failed");
    }
    let server = Server::start_in(&data, &AUTH);
    let out = python::run_script(
        &server,
        "video_kill9.py",
        &[
            "verify".to_string(),
            server.endpoint(),
            acked.to_string_lossy().into_owned(),
        ],
        "passed, 0 failed",
    );
    eprintln!("{out}");
}
