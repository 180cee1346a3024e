//! One instance: a child process, its Runtime API, and its output lines.

use crate::lock;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use freshet_protocol::service::{LogEvent, LogSink};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot, watch};

use super::api_server::{self, Invocation};

/// How to start an instance.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    /// Program and arguments.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Working directory (`LAMBDA_TASK_ROOT`).
    pub task_root: PathBuf,
    /// Every environment variable the process gets.
    pub env: BTreeMap<String, String>,
    /// The function's log file.
    pub log_file: PathBuf,
    /// Where its lines also go (the logs service), when wired.
    pub log_target: Option<LogTarget>,
}

/// A log stream an instance's lines are shipped to.
#[derive(Clone)]
pub(crate) struct LogTarget {
    /// The logs service.
    pub sink: Arc<dyn LogSink>,
    /// `/aws/lambda/<function>`.
    pub group: String,
    /// `YYYY/MM/DD/[$LATEST]<32 hex digits>`, one per instance.
    pub stream: String,
}

impl std::fmt::Debug for LogTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogTarget")
            .field("group", &self.group)
            .field("stream", &self.stream)
            .finish()
    }
}

/// How long a line waits for others before its batch is shipped.
const SHIP_WINDOW: std::time::Duration = std::time::Duration::from_millis(50);

/// Most lines in one shipped batch.
const SHIP_BATCH: usize = 1_000;

/// A line on its way to the log stream; `flush` ships its batch at once (the end of
/// an invocation).
struct Shipped {
    event: LogEvent,
    flush: bool,
}

type Shipper = Option<mpsc::UnboundedSender<Shipped>>;

/// Ships an instance's lines to its log stream in batches: one put per
/// [`SHIP_WINDOW`], per [`SHIP_BATCH`] lines or per invocation end, whichever comes
/// first; the rest when the instance is gone.
fn start_shipper(target: LogTarget) -> mpsc::UnboundedSender<Shipped> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Shipped>();
    tokio::spawn(async move {
        let mut buf: Vec<LogEvent> = Vec::new();
        let mut deadline: Option<tokio::time::Instant> = None;
        let send = |buf: &mut Vec<LogEvent>| {
            if !buf.is_empty() {
                target
                    .sink
                    .put(&target.group, &target.stream, std::mem::take(buf));
            }
        };
        loop {
            let got = match deadline {
                None => rx.recv().await,
                Some(d) => match tokio::time::timeout_at(d, rx.recv()).await {
                    Ok(got) => got,
                    Err(_) => {
                        send(&mut buf);
                        deadline = None;
                        continue;
                    }
                },
            };
            let Some(line) = got else {
                send(&mut buf);
                break;
            };
            buf.push(line.event);
            if line.flush || buf.len() >= SHIP_BATCH {
                send(&mut buf);
                deadline = None;
            } else if deadline.is_none() {
                deadline = Some(tokio::time::Instant::now() + SHIP_WINDOW);
            }
        }
    });
    tx
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Lines an instance printed, kept for `LogType: Tail` while an invocation runs.
#[derive(Default)]
pub(crate) struct Capture {
    lines: Option<Vec<u8>>,
}

/// A running instance.
pub(crate) struct Instance {
    invocations: mpsc::Sender<Invocation>,
    exited: watch::Receiver<Option<String>>,
    kill: Mutex<Option<oneshot::Sender<()>>>,
    stop_api: tokio::task::AbortHandle,
    capture: Arc<Mutex<Capture>>,
    log: Arc<Mutex<Option<std::fs::File>>>,
    ship: Shipper,
    /// When it last finished an invocation.
    pub idle_since: Mutex<Instant>,
}

/// How starting an instance failed.
#[derive(Debug)]
pub(crate) enum StartError {
    /// The process could not be spawned or exited during init: the message.
    Exited(String),
    /// The runtime posted `/init/error`: its body.
    InitError(Bytes),
    /// Init took longer than allowed.
    Timeout,
    /// Our side failed (no listener).
    Internal(String),
}

/// Appends lines to the function's log, to its log stream (without the newline) and,
/// during an invocation, to its capture.
fn write_line(
    log: &Mutex<Option<std::fs::File>>,
    capture: &Mutex<Capture>,
    ship: &Shipper,
    line: &[u8],
    flush: bool,
) {
    use std::io::Write as _;
    if let Some(f) = lock(log).as_mut() {
        let _ = f.write_all(line);
    }
    if let Some(tx) = ship {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if !text.is_empty() {
            let _ = tx.send(Shipped {
                event: LogEvent {
                    timestamp: now_ms(),
                    message: String::from_utf8_lossy(text).into_owned(),
                },
                flush,
            });
        }
    }
    if let Some(buf) = lock(capture).lines.as_mut() {
        buf.extend_from_slice(line);
        // Only the tail is ever returned: keep it bounded.
        if buf.len() > 64 * 1024 {
            let cut = buf.len() - 32 * 1024;
            buf.drain(..cut);
        }
    }
}

fn pump<R: AsyncRead + Unpin + Send + 'static>(
    reader: R,
    log: Arc<Mutex<Option<std::fs::File>>>,
    capture: Arc<Mutex<Capture>>,
    ship: Shipper,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader);
        let mut line = Vec::new();
        loop {
            line.clear();
            match lines.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if !line.ends_with(b"\n") {
                        line.push(b'\n');
                    }
                    write_line(&log, &capture, &ship, &line, false);
                }
            }
        }
    });
}

fn open_log(path: &Path) -> Option<std::fs::File> {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok()
}

impl Instance {
    /// Starts the process and waits until its runtime asks for the first event.
    pub async fn start(
        launch: &Launch,
        init_timeout: std::time::Duration,
    ) -> Result<Arc<Instance>, StartError> {
        let api = api_server::start().await.map_err(|e| {
            StartError::Internal(format!("cannot bind a Runtime API listener: {e}"))
        })?;
        let mut cmd = Command::new(&launch.program);
        cmd.args(&launch.args)
            .current_dir(&launch.task_root)
            .env_clear()
            .envs(&launch.env)
            .env("AWS_LAMBDA_RUNTIME_API", &api.address)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                api.stop.abort();
                return Err(StartError::Exited(format!(
                    "cannot start {}: {e}",
                    launch.program.display()
                )));
            }
        };
        let log = Arc::new(Mutex::new(open_log(&launch.log_file)));
        let capture = Arc::new(Mutex::new(Capture::default()));
        let ship: Shipper = launch.log_target.clone().map(start_shipper);
        if let Some(out) = child.stdout.take() {
            pump(out, Arc::clone(&log), Arc::clone(&capture), ship.clone());
        }
        if let Some(err) = child.stderr.take() {
            pump(err, Arc::clone(&log), Arc::clone(&capture), ship.clone());
        }
        let (exit_tx, exit_rx) = watch::channel(None);
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let status = tokio::select! {
                s = child.wait() => s,
                _ = kill_rx => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            let text = match status {
                Ok(s) => match s.code() {
                    Some(code) => format!("exit status {code}"),
                    None => {
                        use std::os::unix::process::ExitStatusExt as _;
                        format!("signal: {}", s.signal().unwrap_or(0))
                    }
                },
                Err(e) => format!("wait failed: {e}"),
            };
            let _ = exit_tx.send(Some(text));
        });
        let instance = Arc::new(Instance {
            invocations: api.invocations,
            exited: exit_rx,
            kill: Mutex::new(Some(kill_tx)),
            stop_api: api.stop,
            capture,
            log,
            ship,
            idle_since: Mutex::new(Instant::now()),
        });
        let mut exited = instance.exited.clone();
        let outcome = tokio::select! {
            r = api.ready => match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(body)) => Err(StartError::InitError(body)),
                Err(_) => Err(StartError::Internal("the Runtime API stopped".into())),
            },
            why = exited.wait_for(Option::is_some) => {
                let why = why.map(|w| w.clone().unwrap_or_default()).unwrap_or_default();
                Err(StartError::Exited(why))
            }
            _ = tokio::time::sleep(init_timeout) => Err(StartError::Timeout),
        };
        match outcome {
            Ok(()) => Ok(instance),
            Err(e) => {
                instance.stop();
                Err(e)
            }
        }
    }

    /// Hands it one event; the reply arrives on `invocation.reply`.
    pub async fn send(&self, invocation: Invocation) -> bool {
        self.invocations.send(invocation).await.is_ok()
    }

    /// Resolves once the process has exited, with how.
    pub async fn exited(&self) -> String {
        let mut rx = self.exited.clone();
        let _ = rx.wait_for(Option::is_some).await;
        let why = rx.borrow().clone();
        why.unwrap_or_default()
    }

    /// Whether the process has exited.
    pub fn has_exited(&self) -> bool {
        self.exited.borrow().is_some()
    }

    /// Kills the process and stops its Runtime API.
    pub fn stop(&self) {
        if let Some(tx) = lock(&self.kill).take() {
            let _ = tx.send(());
        }
        self.stop_api.abort();
    }

    /// Writes a line of our own (START, END, REPORT) to its log; a REPORT line (the
    /// end of an invocation) ships the lines waiting for their batch.
    pub fn log_line(&self, line: &str) {
        let mut l = line.as_bytes().to_vec();
        l.push(b'\n');
        let flush = line.starts_with("REPORT ");
        write_line(&self.log, &self.capture, &self.ship, &l, flush);
    }

    /// Starts keeping printed lines (for `LogType: Tail`).
    pub fn begin_capture(&self) {
        lock(&self.capture).lines = Some(Vec::new());
    }

    /// Stops keeping lines and returns the last `max` bytes of them.
    pub fn end_capture(&self, max: usize) -> Vec<u8> {
        let lines = lock(&self.capture).lines.take().unwrap_or_default();
        let start = lines.len().saturating_sub(max);
        lines[start..].to_vec()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.stop();
    }
}
