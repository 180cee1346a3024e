//! The `freshet` binary.

use clap::Parser;
use freshet_server::cli::{Cli, Command};
use tracing_subscriber::EnvFilter;

/// mimalloc: request decoding allocates per record, and glibc's malloc and free were a
/// third of the server's CPU under PutRecords load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
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
