//! A `CREATE STREAM` tumbling-window job over a live producer, the server killed
//! (kill -9) at random moments and restarted on the same data directory: in the end
//! every (window, key) result is in the output stream exactly once, with the count a
//! bounded query over the input gives.

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use freshet_tests::{python, Server};
use rand::Rng;

fn start(data: &std::path::Path, port: u16) -> Server {
    let addr = format!("127.0.0.1:{port}");
    let server = Server::start_in(data, &["--sql-addr", addr.as_str()]);
    server.wait_for_listener(port);
    server
}

#[test]
fn every_window_is_emitted_once_across_kill_9() {
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let data = work.path().join("data");
    let progress = work.path().join("progress");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("port: {e}"));
    let py = python::venv().join("bin").join("python");
    let script = python::scripts_dir().join("sql_continuous.py");
    let mut rng = rand::thread_rng();
    let server = start(&data, port);
    let out = python::run_script(
        &server,
        "sql_continuous.py",
        &["setup".to_string(), server.endpoint(), port.to_string()],
        "passed, 0 failed",
    );
    eprintln!("{out}");
    let mut server = Some(server);
    for round in 0..3 {
        let s = match server.take() {
            Some(s) => s,
            None => start(&data, port),
        };
        let mut s = s;
        let mut producer = Command::new(&py)
            .arg(&script)
            .args(["produce", &s.endpoint()])
            .arg(&progress)
            .arg("30000")
            .spawn()
            .unwrap_or_else(|e| panic!("python: {e}"));
        std::thread::sleep(Duration::from_millis(rng.gen_range(1500..3500)));
        s.kill();
        let status = producer.wait().unwrap_or_else(|e| panic!("python: {e}"));
        assert!(status.success(), "round {round}: the producer failed");
    }
    // The rest of the events, then the check.
    let server = start(&data, port);
    let status = Command::new(&py)
        .arg(&script)
        .args(["produce", &server.endpoint()])
        .arg(&progress)
        .arg("30000")
        .status()
        .unwrap_or_else(|e| panic!("python: {e}"));
    assert!(status.success());
    let out = python::run_script(
        &server,
        "sql_continuous.py",
        &["verify".to_string(), server.endpoint(), port.to_string()],
        "passed, 0 failed",
    );
    eprintln!("{out}");
}
