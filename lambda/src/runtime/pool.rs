//! Warm instances per function: reuse, a bound on how many run at once, timeouts,
//! crashes, and stopping instances left idle.

use crate::lock;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use super::api_server::{Invocation, RuntimeReply};
use super::instance::{Instance, Launch, LogTarget, StartError};
use crate::model::RuntimeKind;
use crate::time_fmt::now_ms;
use freshet_protocol::service::LogSink;

/// How long an instance may take to initialise (AWS's 10 s init phase).
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of the log `LogType: Tail` returns.
const LOG_TAIL_BYTES: usize = 4096;

/// Everything needed to start and invoke one function's instances.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// Name.
    pub name: String,
    /// ARN (`Lambda-Runtime-Invoked-Function-Arn`).
    pub arn: String,
    /// Runtime identifier.
    pub runtime: String,
    /// How the runtime starts.
    pub kind: RuntimeKind,
    /// Handler.
    pub handler: String,
    /// Unpacked code.
    pub task_root: PathBuf,
    /// How long one invocation may run.
    pub timeout: Duration,
    /// MB.
    pub memory_size: u32,
    /// The user's variables.
    pub environment: BTreeMap<String, String>,
    /// Instances started from another revision are not reused.
    pub revision: String,
    /// Instances that may run at once.
    pub concurrency: u32,
}

/// What an invocation returned.
#[derive(Debug, Clone)]
pub struct InvokeOutcome {
    /// The request id.
    pub request_id: String,
    /// The response, or the error document.
    pub payload: Bytes,
    /// `Unhandled` when the function failed (`X-Amz-Function-Error`).
    pub function_error: Option<&'static str>,
    /// The error's type when it failed (`Runtime.ExitError`, `Sandbox.Timedout`, the
    /// handler's own).
    pub error_type: Option<String>,
    /// The last 4 KB of the log, when asked for.
    pub log_tail: Option<Vec<u8>>,
    /// How long it ran.
    pub duration: Duration,
}

/// Why an invocation did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeError {
    /// Every instance the function may run is busy.
    TooManyRequests,
    /// Freshet is shutting down.
    ShuttingDown,
}

struct Pool {
    revision: String,
    slots: Arc<Semaphore>,
    idle: Mutex<Vec<Arc<Instance>>>,
}

struct Inner {
    python: PathBuf,
    region: String,
    /// The server's address, once it listens (`AWS_ENDPOINT_URL` of functions).
    endpoint: Arc<std::sync::OnceLock<String>>,
    logs: PathBuf,
    idle_timeout: Duration,
    sink: Option<Arc<dyn LogSink>>,
    pools: Mutex<HashMap<String, Arc<Pool>>>,
    python_ok: tokio::sync::OnceCell<Result<(), String>>,
}

/// Every function's instances.
#[derive(Clone)]
pub struct Runtimes {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Runtimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtimes").finish_non_exhaustive()
    }
}

fn error_doc(error_type: &str, message: &str) -> Bytes {
    Bytes::from(serde_json::json!({"errorType": error_type, "errorMessage": message}).to_string())
}

impl Runtimes {
    /// Instances run `python` for Python functions, log under `logs` (and into `sink`,
    /// log group `/aws/lambda/<function>`, when given), and are stopped after
    /// `idle_timeout` unused. Starts the reaper on the current tokio runtime.
    pub fn new(
        python: PathBuf,
        region: String,
        logs: PathBuf,
        idle_timeout: Duration,
        sink: Option<Arc<dyn LogSink>>,
        endpoint: Arc<std::sync::OnceLock<String>>,
    ) -> Runtimes {
        let inner = Arc::new(Inner {
            python,
            region,
            logs,
            idle_timeout,
            sink,
            endpoint,
            pools: Mutex::new(HashMap::new()),
            python_ok: tokio::sync::OnceCell::new(),
        });
        let weak = Arc::downgrade(&inner);
        let tick = (idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
        tokio::spawn(reap(weak, tick));
        Runtimes { inner }
    }

    /// Instances running or idle, per function (for metrics and tests).
    pub fn idle_instances(&self) -> usize {
        lock(&self.inner.pools)
            .values()
            .map(|p| lock(&p.idle).len())
            .sum()
    }

    /// Stops a function's idle instances (after an update or a delete); busy ones stop
    /// when their invocation ends.
    pub fn retire(&self, name: &str) {
        if let Some(pool) = lock(&self.inner.pools).remove(name) {
            for i in lock(&pool.idle).drain(..) {
                i.stop();
            }
        }
    }

    /// Stops every instance.
    pub fn shut_down(&self) {
        let pools: Vec<_> = lock(&self.inner.pools).drain().map(|(_, p)| p).collect();
        for pool in pools {
            pool.slots.close();
            for i in lock(&pool.idle).drain(..) {
                i.stop();
            }
        }
    }

    fn pool(&self, spec: &FunctionSpec) -> Arc<Pool> {
        let mut pools = lock(&self.inner.pools);
        if let Some(p) = pools.get(&spec.name) {
            if p.revision == spec.revision {
                return Arc::clone(p);
            }
            for i in lock(&p.idle).drain(..) {
                i.stop();
            }
        }
        let pool = Arc::new(Pool {
            revision: spec.revision.clone(),
            slots: Arc::new(Semaphore::new(spec.concurrency as usize)),
            idle: Mutex::new(Vec::new()),
        });
        pools.insert(spec.name.clone(), Arc::clone(&pool));
        pool
    }

    /// Runs one invocation. With `wait`, waits for a free instance slot (event source
    /// mappings, asynchronous invocations); without, answers
    /// [`InvokeError::TooManyRequests`] when all are busy (synchronous `Invoke`).
    pub async fn invoke(
        &self,
        spec: &FunctionSpec,
        payload: Bytes,
        wait: bool,
        tail: bool,
        client_context: Option<String>,
    ) -> Result<InvokeOutcome, InvokeError> {
        let pool = self.pool(spec);
        let permit: OwnedSemaphorePermit = if wait {
            Arc::clone(&pool.slots)
                .acquire_owned()
                .await
                .map_err(|_| InvokeError::ShuttingDown)?
        } else {
            Arc::clone(&pool.slots)
                .try_acquire_owned()
                .map_err(|e| match e {
                    tokio::sync::TryAcquireError::Closed => InvokeError::ShuttingDown,
                    tokio::sync::TryAcquireError::NoPermits => InvokeError::TooManyRequests,
                })?
        };
        let request_id = uuid::Uuid::new_v4().to_string();
        let started = Instant::now();
        let instance = loop {
            let reused = lock(&pool.idle).pop();
            match reused {
                Some(i) if !i.has_exited() => break i,
                Some(_) => continue,
                None => match self.start(spec).await {
                    Ok(i) => break i,
                    Err(doc) => {
                        return Ok(InvokeOutcome {
                            request_id,
                            error_type: error_type_of(&doc),
                            payload: doc,
                            function_error: Some("Unhandled"),
                            log_tail: None,
                            duration: started.elapsed(),
                        })
                    }
                },
            }
        };
        let outcome = self
            .run(
                spec,
                &instance,
                request_id,
                payload,
                tail,
                client_context,
                started,
            )
            .await;
        let healthy =
            !instance.has_exited() && outcome.error_type.as_deref() != Some("Sandbox.Timedout");
        let current = lock(&self.inner.pools)
            .get(&spec.name)
            .is_some_and(|p| Arc::ptr_eq(p, &pool));
        if healthy && current {
            *lock(&instance.idle_since) = Instant::now();
            lock(&pool.idle).push(instance);
        } else {
            instance.stop();
        }
        drop(permit);
        Ok(outcome)
    }

    #[allow(clippy::too_many_arguments)]
    async fn run(
        &self,
        spec: &FunctionSpec,
        instance: &Arc<Instance>,
        request_id: String,
        payload: Bytes,
        tail: bool,
        client_context: Option<String>,
        started: Instant,
    ) -> InvokeOutcome {
        if tail {
            instance.begin_capture();
        }
        instance.log_line(&format!("START RequestId: {request_id} Version: $LATEST"));
        let (tx, rx) = oneshot::channel();
        let deadline_ms = now_ms() + i64::try_from(spec.timeout.as_millis()).unwrap_or(i64::MAX);
        let trace = uuid::Uuid::new_v4().simple().to_string();
        let invocation = Invocation {
            request_id: request_id.clone(),
            payload,
            deadline_ms,
            function_arn: spec.arn.clone(),
            trace_id: format!(
                "Root=1-{:08x}-{};Sampled=0",
                deadline_ms / 1000,
                &trace[..24]
            ),
            client_context,
            reply: tx,
        };
        let sent = instance.send(invocation).await;
        let secs = spec.timeout.as_secs_f64();
        let (payload, error_type) = if !sent {
            let why = instance.exited().await;
            exit_error(&request_id, &why)
        } else {
            tokio::select! {
                r = rx => match r {
                    Ok(RuntimeReply::Response(b)) => (b, None),
                    Ok(RuntimeReply::Error(b)) => {
                        let t = error_type_of(&b).unwrap_or_else(|| "Unhandled".into());
                        (b, Some(t))
                    }
                    Ok(RuntimeReply::TooLarge(n)) => (
                        error_doc("Function.ResponseSizeTooLarge", &format!(
                            "Response payload size ({n} bytes) exceeded maximum allowed payload size (6291556 bytes)."
                        )),
                        Some("Function.ResponseSizeTooLarge".into()),
                    ),
                    Err(_) => {
                        let why = instance.exited().await;
                        exit_error(&request_id, &why)
                    }
                },
                why = instance.exited() => exit_error(&request_id, &why),
                _ = tokio::time::sleep(spec.timeout) => {
                    instance.stop();
                    let msg = format!("RequestId: {request_id} Error: Task timed out after {secs:.2} seconds");
                    instance.log_line(&format!("{} {msg}", crate::time_fmt::lambda_timestamp(now_ms())));
                    (error_doc("Sandbox.Timedout", &msg), Some("Sandbox.Timedout".into()))
                }
            }
        };
        let duration = started.elapsed();
        let ms = duration.as_secs_f64() * 1000.0;
        instance.log_line(&format!("END RequestId: {request_id}"));
        instance.log_line(&format!(
            "REPORT RequestId: {request_id}\tDuration: {ms:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB",
            ms.ceil() as u64,
            spec.memory_size
        ));
        let log_tail = if tail {
            // Lines printed just before the response may still be in the pipe.
            tokio::time::sleep(Duration::from_millis(5)).await;
            Some(instance.end_capture(LOG_TAIL_BYTES))
        } else {
            None
        };
        InvokeOutcome {
            request_id,
            function_error: error_type.is_some().then_some("Unhandled"),
            error_type,
            payload,
            log_tail,
            duration,
        }
    }

    /// Starts an instance; on failure, the error document an invocation returns.
    async fn start(&self, spec: &FunctionSpec) -> Result<Arc<Instance>, Bytes> {
        let (program, args) = match spec.kind {
            RuntimeKind::Provided => provided_launch(&spec.task_root.join("bootstrap")),
            RuntimeKind::Python => {
                self.check_python()
                    .await
                    .map_err(|m| error_doc("Runtime.Unavailable", &m))?;
                (
                    self.inner.python.clone(),
                    vec!["-m".into(), "awslambdaric".into(), spec.handler.clone()],
                )
            }
        };
        let env = self.environment(spec);
        // The log stream the instance's lines go to: the one its environment names.
        let log_target = match (&self.inner.sink, env.get("AWS_LAMBDA_LOG_STREAM_NAME")) {
            (Some(sink), Some(stream)) => Some(LogTarget {
                sink: Arc::clone(sink),
                group: format!("/aws/lambda/{}", spec.name),
                stream: stream.clone(),
            }),
            _ => None,
        };
        let launch = Launch {
            program,
            args,
            task_root: spec.task_root.clone(),
            env,
            log_file: self.inner.logs.join(format!("{}.log", spec.name)),
            log_target,
        };
        Instance::start(&launch, INIT_TIMEOUT)
            .await
            .map_err(|e| match e {
                StartError::Exited(why) => error_doc(
                    "Runtime.ExitError",
                    &format!("RequestId: init Error: Runtime exited with error: {why}"),
                ),
                StartError::InitError(body) if !body.is_empty() => body,
                StartError::InitError(_) => {
                    error_doc("Runtime.Unknown", "The runtime failed to initialise.")
                }
                StartError::Timeout => error_doc(
                    "Runtime.InitTimeout",
                    &format!(
                        "Init phase did not complete within {} seconds",
                        INIT_TIMEOUT.as_secs()
                    ),
                ),
                StartError::Internal(m) => error_doc("Runtime.Unknown", &m),
            })
    }

    /// Whether the interpreter can import awslambdaric (checked once).
    async fn check_python(&self) -> Result<(), String> {
        let python = self.inner.python.clone();
        self.inner
            .python_ok
            .get_or_init(|| async move {
                let out = tokio::process::Command::new(&python)
                    .args(["-c", "import awslambdaric"])
                    .output()
                    .await;
                match out {
                    Ok(o) if o.status.success() => Ok(()),
                    Ok(_) => Err(format!(
                        "awslambdaric is not importable by {p}: install it with `{p} -m pip install awslambdaric`, or start freshet with --lambda-python naming an interpreter that has it",
                        p = python.display()
                    )),
                    Err(e) => Err(format!(
                        "cannot run the Python interpreter {}: {e} (start freshet with --lambda-python)",
                        python.display()
                    )),
                }
            })
            .await
            .clone()
    }

    fn environment(&self, spec: &FunctionSpec) -> BTreeMap<String, String> {
        let mut env = spec.environment.clone();
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
        // `2026/11/30/[$LATEST]<id>`, as Lambda names log streams.
        let date = crate::time_fmt::lambda_timestamp(now_ms());
        let day = date.get(..10).unwrap_or("1970-01-01").replace('-', "/");
        let stream = format!("{day}/[$LATEST]{}", uuid::Uuid::new_v4().simple());
        let task_root = spec.task_root.display().to_string();
        for (k, v) in [
            ("PATH", path),
            ("LANG", "en_US.UTF-8".into()),
            ("TZ", ":UTC".into()),
            ("AWS_LAMBDA_FUNCTION_NAME", spec.name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                spec.memory_size.to_string(),
            ),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", spec.name),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", stream),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
            ("AWS_REGION", self.inner.region.clone()),
            ("AWS_DEFAULT_REGION", self.inner.region.clone()),
            ("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", spec.runtime)),
            ("_HANDLER", spec.handler.clone()),
            ("LAMBDA_TASK_ROOT", task_root.clone()),
            ("LAMBDA_RUNTIME_DIR", task_root),
        ] {
            env.insert(k.to_string(), v);
        }
        // The AWS SDKs in a function reach this server (and, for services it does not
        // run, the endpoints its own environment names) with its credentials or
        // placeholders; the function's own variables win.
        let mut local: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("AWS_ENDPOINT_URL_"))
            .collect();
        if let Some(endpoint) = self.inner.endpoint.get() {
            local.push(("AWS_ENDPOINT_URL".into(), endpoint.clone()));
        }
        for k in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            // Trust for a server on HTTPS (`--tls-cert`) with a private CA.
            "AWS_CA_BUNDLE",
        ] {
            if let Ok(v) = std::env::var(k) {
                local.push((k.into(), v));
            }
        }
        if !local.iter().any(|(k, _)| k == "AWS_ACCESS_KEY_ID") {
            local.push(("AWS_ACCESS_KEY_ID".into(), "freshet".into()));
            local.push(("AWS_SECRET_ACCESS_KEY".into(), "freshet".into()));
        }
        for (k, v) in local {
            env.entry(k).or_insert(v);
        }
        if spec.kind == RuntimeKind::Python {
            // Lines reach the log as they are printed, not when a buffer fills.
            env.insert("PYTHONUNBUFFERED".into(), "1".into());
        }
        env
    }
}

fn exit_error(request_id: &str, why: &str) -> (Bytes, Option<String>) {
    (
        error_doc(
            "Runtime.ExitError",
            &format!("RequestId: {request_id} Error: Runtime exited with error: {why}"),
        ),
        Some("Runtime.ExitError".into()),
    )
}

fn error_type_of(doc: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(doc)
        .ok()?
        .get("errorType")?
        .as_str()
        .map(str::to_string)
}

async fn reap(inner: Weak<Inner>, tick: Duration) {
    loop {
        tokio::time::sleep(tick).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let pools: Vec<Arc<Pool>> = lock(&inner.pools).values().cloned().collect();
        for pool in pools {
            let mut idle = lock(&pool.idle);
            idle.retain(|i| {
                let keep = !i.has_exited() && lock(&i.idle_since).elapsed() < inner.idle_timeout;
                if !keep {
                    i.stop();
                }
                keep
            });
        }
    }
}

/// How a `provided*` function's `bootstrap` is started: directly, except a `#!/bin/sh`
/// script, which runs under bash where there is one, since `/bin/sh` is bash on Amazon
/// Linux (scripts written for it use `set -o pipefail` and other bashisms that Debian's
/// dash refuses).
fn provided_launch(bootstrap: &std::path::Path) -> (std::path::PathBuf, Vec<String>) {
    const BASH: &str = "/bin/bash";
    let sh_script = std::fs::File::open(bootstrap)
        .and_then(|mut f| {
            let mut head = [0u8; 16];
            let n = std::io::Read::read(&mut f, &mut head)?;
            Ok(head[..n].starts_with(b"#!/bin/sh")
                && head[..n].get(9).is_none_or(|c| c.is_ascii_whitespace()))
        })
        .unwrap_or(false);
    if sh_script && std::path::Path::new(BASH).exists() {
        return (BASH.into(), vec![bootstrap.to_string_lossy().into_owned()]);
    }
    (bootstrap.to_path_buf(), Vec::new())
}
