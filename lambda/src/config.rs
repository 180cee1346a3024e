//! The Lambda service's settings.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use freshet_protocol::service::LogSink;

/// How `freshet serve` runs functions.
#[derive(Clone)]
pub struct LambdaConfig {
    /// Region in ARNs and `AWS_REGION`.
    pub region: String,
    /// Account id in ARNs.
    pub account_id: String,
    /// Where code, unpacked tasks and logs live (`<data dir>/lambda`).
    pub root: PathBuf,
    /// The interpreter that runs `python3.x` functions (`python3` on the PATH).
    pub python: PathBuf,
    /// Instances of one function that may run at once, unless the function reserves
    /// another number.
    pub default_concurrency: u32,
    /// How long an idle instance is kept warm before it is stopped.
    pub idle_timeout: Duration,
    /// Where every line a function instance writes (its output, and the START, END and
    /// REPORT lines) also goes: log group `/aws/lambda/<function>`, one log stream per
    /// instance, as on AWS (`None`: the log file only).
    pub logs: Option<Arc<dyn LogSink>>,
    /// The server's own address (`http://127.0.0.1:PORT`), set once it listens: functions
    /// get it as `AWS_ENDPOINT_URL`, so the AWS SDKs in them reach this server.
    pub endpoint: Arc<std::sync::OnceLock<String>>,
}

impl std::fmt::Debug for LambdaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaConfig")
            .field("region", &self.region)
            .field("account_id", &self.account_id)
            .field("root", &self.root)
            .field("python", &self.python)
            .field("default_concurrency", &self.default_concurrency)
            .field("idle_timeout", &self.idle_timeout)
            .field("logs", &self.logs.is_some())
            .field("endpoint", &self.endpoint.get())
            .finish()
    }
}

impl LambdaConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        LambdaConfig {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            root: data_dir.into().join("lambda"),
            python: PathBuf::from("python3"),
            default_concurrency: 10,
            idle_timeout: Duration::from_secs(300),
            logs: None,
            endpoint: Arc::new(std::sync::OnceLock::new()),
        }
    }
}
