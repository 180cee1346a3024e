//! A `freshet serve` child process on a free 127.0.0.1 port with a temporary data
//! directory, for the end-to-end tests.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The `freshet` binary, found or built as every real-server test finds it.
pub fn binary() -> PathBuf {
    freshet_tests::server::binary()
}

/// A running server, killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `freshet serve` with extra arguments.
    pub fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(binary())
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("freshet listening on ") {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let Ok(endpoint) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            panic!("freshet did not start listening");
        };
        Server {
            child,
            endpoint,
            _dir: dir,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
