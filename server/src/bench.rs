//! `freshet bench`: a load generator for any Kinesis endpoint.

use clap::Args;

/// Options of `freshet bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Endpoint to drive.
    #[arg(long, default_value = "http://127.0.0.1:4567")]
    pub endpoint: String,
}

/// Runs the benchmark.
pub async fn run(_args: BenchArgs) -> Result<(), String> {
    Err("bench is not implemented yet".into())
}
