//! The `freshet` binary.

use clap::Parser;
use freshet_server::cli::{Cli, Command};
use tracing_subscriber::EnvFilter;

/// mimalloc: request decoding allocates per record, and glibc's malloc and free were a
/// third of the server's CPU under PutRecords load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Most threads running blocking work (engine calls) at once.
const MAX_BLOCKING_THREADS: usize = 64;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // Engine calls block until durable and run on tokio's blocking pool; bound it so a
    // flood of requests queues (holding the in-flight budget) instead of spawning
    // hundreds of threads.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("freshet: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => freshet_server::cli::serve(args).await,
            Command::Bench(args) => freshet_server::bench::run(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("freshet: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
