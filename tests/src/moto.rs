//! moto's server (`moto_server`, from the venv's `moto[server]`) on a free 127.0.0.1
//! port: every AWS service moto mocks, at one endpoint: S3 for the Firehose tests,
//! DynamoDB for the KCL's DynamoDB lease store. It can be stopped and started again on
//! the same port (with its in-memory state gone, as after a crash).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long moto may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// moto's `moto_server` with its server running one request at a time
/// (`threaded=False`): moto's DynamoDB checks a write's condition and then writes,
/// with nothing holding other request threads off in between, so two conditional
/// writes racing on one item could both succeed; DynamoDB's are atomic.
const SERIAL_MOTO: &str = "import sys\n\
from moto import server\n\
run_simple = server.run_simple\n\
server.run_simple = lambda *a, **k: run_simple(*a, **{**k, 'threaded': False})\n\
server.main(sys.argv[1:])\n";

/// A running `moto_server -H 127.0.0.1 -p PORT`. Killed on drop.
#[derive(Debug)]
pub struct Moto {
    child: Option<Child>,
    serial: bool,
    /// Its port on 127.0.0.1 (kept across [`Moto::stop`] and [`Moto::restart`]).
    pub port: u16,
    log: PathBuf,
    _temp: tempfile::TempDir,
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    l.local_addr()
        .unwrap_or_else(|e| panic!("local_addr: {e}"))
        .port()
}

impl Moto {
    /// Starts moto on a free port and waits until it answers.
    pub fn start() -> Moto {
        Self::start_with(false)
    }

    /// Starts moto on a free port, serving one request at a time, and waits until it
    /// answers: conditional writes are then atomic, as DynamoDB's are (moto's threaded
    /// server can let two racing conditional writes on one item both succeed).
    pub fn start_serial() -> Moto {
        Self::start_with(true)
    }

    fn start_with(serial: bool) -> Moto {
        let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let mut moto = Moto {
            child: None,
            serial,
            port: free_port(),
            log: temp.path().join("moto.log"),
            _temp: temp,
        };
        moto.restart();
        moto
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The DynamoDB endpoint (moto serves every service at [`Moto::url`]).
    pub fn dynamodb_endpoint(&self) -> String {
        self.url()
    }

    /// moto's log so far (a line per request).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills moto (SIGKILL): the endpoint refuses connections, and everything it held
    /// is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts moto (again) on its port, empty, and waits until it answers; a stale
    /// socket of the previous run is waited out.
    pub fn restart(&mut self) {
        self.stop();
        let bin = crate::python::venv().join("bin");
        let (exe, script): (PathBuf, &[&str]) = if self.serial {
            (bin.join("python"), &["-c", SERIAL_MOTO])
        } else {
            (bin.join("moto_server"), &[])
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .unwrap_or_else(|e| panic!("moto log: {e}"));
            let mut child = Command::new(&exe)
                .args(script)
                .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::from(
                    log.try_clone().unwrap_or_else(|e| panic!("moto log: {e}")),
                ))
                .stderr(Stdio::from(log))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
            let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    // Exited (the port still taken?): try again, within the deadline.
                    break;
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    self.child = Some(child);
                    return;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("moto did not start on {addr}:\n{}", self.log());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            assert!(
                Instant::now() < deadline,
                "moto kept exiting on {addr}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
