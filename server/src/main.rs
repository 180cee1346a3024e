//! The `freshet` binary.

use std::io::Write;

use clap::Parser;
use freshet_server::cli::{Cli, Command};
use freshet_server::people::{self, Failure};
use tracing_subscriber::EnvFilter;

/// mimalloc: request decoding allocates per record, and glibc's malloc and free were a
/// third of the server's CPU under PutRecords load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Most threads running blocking work (engine calls) at once.
const MAX_BLOCKING_THREADS: usize = 64;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The commands for people log only warnings unless RUST_LOG asks for more.
    let for_people = cli.command.is_for_people();
    let level = if for_people { "warn" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .init();
    // `--profile` and `--region` reach the AWS chains through the environment, set
    // before the runtime's threads start.
    cli.command.apply_environment();
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
            report(&Failure::failed(format!("cannot start the runtime: {e}")));
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => freshet_server::cli::serve(args)
                .await
                .map_err(Failure::failed),
            Command::Bench(args) => freshet_server::bench::run(args)
                .await
                .map_err(Failure::failed),
            Command::BenchCeiling(args) => freshet_server::ceiling::run(args)
                .await
                .map_err(Failure::failed),
            command => people::run(command).await,
        }
    });
    // A person's command is done: readers still blocked in a call (a `tail --follow`
    // ended by `--limit`) must not hold the exit up.
    if for_people {
        runtime.shutdown_background();
    }
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(failure) => {
            report(&failure);
            std::process::ExitCode::from(failure.code())
        }
    }
}

/// `freshet: <what went wrong>` on stderr (a closed stderr is ignored).
fn report(failure: &Failure) {
    let _ = writeln!(std::io::stderr().lock(), "freshet: {failure}");
}
