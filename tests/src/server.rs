//! Starting and stopping the real `freshet` binary.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The `freshet` binary: `FRESHET_BIN` when set (as `scripts/test.sh` sets it), else
/// built once by the cargo that runs the tests, into the same profile and target
/// directory, with the same command `scripts/test.sh` builds it with
/// (`cargo build --workspace --bins --tests`). A narrower `-p freshet-server` build
/// would resolve features differently and compile RocksDB's C++ once more.
pub fn binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("FRESHET_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().unwrap_or_default();
        // target/<profile>/deps/<test> -> target/<profile>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "--workspace", "--bins", "--tests"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        if let Some(target) = profile_dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        let status = cmd.status();
        assert!(
            matches!(status, Ok(s) if s.success()),
            "building the freshet binary failed: {status:?}"
        );
        profile_dir.join("freshet")
    })
    .clone()
}

/// A running `freshet serve` child process on a free 127.0.0.1 port. Killed on drop.
/// Started with `--tls-cert`/`--tls-key` among its arguments, it serves HTTPS.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http` or `https`, as its start line said.
    scheme: &'static str,
    /// Its data directory.
    pub data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    stderr_log: PathBuf,
}

impl Server {
    /// Starts a server on a fresh temporary data directory.
    pub fn start(extra: &[&str]) -> Server {
        let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let dir = temp.path().join("data");
        let mut s = Server::start_in(&dir, extra);
        s._temp = Some(temp);
        s
    }

    /// Starts a server on a fresh temporary data directory with `env` set in its
    /// environment (for example `AWS_ENDPOINT_URL_SQS` of a moto server).
    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Server {
        let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let dir = temp.path().join("data");
        let mut s = Server::spawn(&dir, extra, env);
        s._temp = Some(temp);
        s
    }

    /// Starts a server on `data_dir` (kept when the server stops).
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Server {
        Server::spawn(data_dir, extra, &[])
    }

    fn spawn(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let stderr_log = data_dir.with_extension(format!("log-{}", rand_suffix()));
        let log = std::fs::File::create(&stderr_log).unwrap_or_else(|e| panic!("log file: {e}"));
        let mut child = Command::new(binary())
            .arg("serve")
            .arg("--addr")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            // A developer's shell may point the AWS tools somewhere (at a Freshet, say):
            // the server under test must not send its S3 deliveries there.
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_ENDPOINT_URL_S3")
            .env_remove("AWS_ENDPOINT_URL_SQS")
            .env_remove("AWS_ENDPOINT_URL_SNS")
            .envs(env.iter().copied())
            .env(
                "RUST_LOG",
                "info,freshet_server=debug,freshet_kinesis=debug",
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary().display()));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                let Some(url) = line.strip_prefix("freshet listening on ") else {
                    continue;
                };
                if let Some(addr) = url.strip_prefix("https://") {
                    let _ = tx.send(("https", addr.trim().to_string()));
                } else if let Some(addr) = url.strip_prefix("http://") {
                    let _ = tx.send(("http", addr.trim().to_string()));
                }
            }
        });
        let (scheme, addr) = match rx.recv_timeout(START_TIMEOUT) {
            Ok((scheme, a)) => (
                scheme,
                a.parse().unwrap_or_else(|e| panic!("bad address {a}: {e}")),
            ),
            Err(_) => {
                let _ = child.kill();
                let log = std::fs::read_to_string(&stderr_log).unwrap_or_default();
                panic!("freshet did not start listening:\n{log}");
            }
        };
        Server {
            child: Some(child),
            addr,
            scheme,
            data_dir: data_dir.to_path_buf(),
            _temp: None,
            stderr_log,
        }
    }

    /// `http://127.0.0.1:PORT` (`https://` when it serves TLS).
    pub fn endpoint(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Whether it serves HTTPS (`--tls-cert`).
    pub fn is_tls(&self) -> bool {
        self.scheme == "https"
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits (at most 30 s) until a second listener of the server (SQL's PostgreSQL
    /// port) accepts connections; panics with the server's log otherwise.
    pub fn wait_for_listener(&self, port: u16) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "nothing listens on port {port}:\n{}",
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits (bounded) for a clean exit; returns whether it exited 0.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        for _ in 0..300 {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.stderr_log);
    }
}

fn rand_suffix() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{t}", std::process::id())
}
