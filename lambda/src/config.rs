//! The Lambda service's settings.

use std::path::PathBuf;
use std::time::Duration;

/// How `freshet serve` runs functions.
#[derive(Debug, Clone)]
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
        }
    }
}
