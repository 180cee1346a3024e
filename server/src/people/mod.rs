//! The `freshet` commands for people, talking to a server over HTTP as any Kinesis
//! client does: `streams`, `create`, `delete`, `describe` ([`streams`]), `put`
//! ([`put`]), `tail` ([`tail`]), `lag` ([`lag`]) and `completions`. Where they connect
//! and how they sign is [`endpoint`]; tables, trees and record formats are [`output`].
//!
//! Every command fails with a [`Failure`]: a sentence in plain words and an exit code
//! ([`EXIT_FAILED`], [`EXIT_NOT_FOUND`], [`EXIT_UNREACHABLE`]; clap exits with 2 on bad
//! usage).

/// Appends the exit codes to a command's `--help` text (`after_help`).
macro_rules! help_with_exit_codes {
    ($text:literal) => {
        concat!(
            $text,
            "\n\nExit codes: 0 ok, 1 the operation failed, 2 wrong usage, 3 not found (stream, \
             shard, application), 4 cannot reach the server.\n\
             Endpoint: --endpoint, else FRESHET_ENDPOINT, AWS_ENDPOINT_URL_KINESIS, \
             AWS_ENDPOINT_URL, else http://127.0.0.1:4567. Credentials and region: the AWS \
             environment variables and profiles (--profile, --region)."
        )
    };
}

pub mod endpoint;
pub mod lag;
pub mod output;
pub mod put;
pub mod sql;
pub mod streams;
pub mod tail;

use clap::{Args, CommandFactory};

use crate::cli::Command;

/// Exit code of an operation that failed (the server refused it, a record failed).
pub const EXIT_FAILED: u8 = 1;
/// Exit code of wrong usage (clap's own, and options that do not fit together).
pub const EXIT_USAGE: u8 = 2;
/// Exit code when the stream, shard or application does not exist.
pub const EXIT_NOT_FOUND: u8 = 3;
/// Exit code when the server cannot be reached.
pub const EXIT_UNREACHABLE: u8 = 4;

/// Why a command failed: what to tell the person and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// An operation that failed (exit code 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Self::with_code(EXIT_FAILED, message)
    }

    /// Options that do not fit together (exit code 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::with_code(EXIT_USAGE, message)
    }

    /// Something named does not exist (exit code 3).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::with_code(EXIT_NOT_FOUND, message)
    }

    /// The server cannot be reached (exit code 4).
    pub fn unreachable(message: impl Into<String>) -> Self {
        Self::with_code(EXIT_UNREACHABLE, message)
    }

    fn with_code(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// The process exit code.
    pub fn code(&self) -> u8 {
        self.code
    }

    /// The sentence for the person.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What a command returns.
pub type Outcome = Result<(), Failure>;

/// Options of `freshet completions`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `--help` text after the options of `freshet completions`.
pub const COMPLETIONS_HELP: &str = help_with_exit_codes!(
    "Examples:\n  \
     freshet completions bash > ~/.local/share/bash-completion/completions/freshet\n  \
     freshet completions zsh > \"${fpath[1]}/_freshet\"\n  \
     freshet completions fish > ~/.config/fish/completions/freshet.fish"
);

/// Writes the completion script of `freshet` for a shell to stdout.
pub fn completions(args: &CompletionsArgs) -> Outcome {
    let mut cmd = crate::cli::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "freshet", &mut script);
    output::write_stdout(&script)
}

impl Command {
    /// Whether this is one of the commands for people (not `serve` or `bench`).
    pub fn is_for_people(&self) -> bool {
        self.connection().is_some() || matches!(self, Command::Completions(_) | Command::Sql(_))
    }

    /// The connection options of a command for people.
    pub fn connection(&self) -> Option<&endpoint::Connection> {
        match self {
            Command::Streams(a) => Some(&a.conn),
            Command::Create(a) => Some(&a.conn),
            Command::Delete(a) => Some(&a.conn),
            Command::Describe(a) => Some(&a.conn),
            Command::Put(a) => Some(&a.conn),
            Command::Tail(a) => Some(&a.conn),
            Command::Lag(a) => Some(&a.conn),
            _ => None,
        }
    }

    /// Puts `--profile` and `--region` into the environment the AWS credential and
    /// region chains read. Call it before any thread starts (the runtime's included).
    pub fn apply_environment(&self) {
        if let Some(conn) = self.connection() {
            conn.apply_environment();
        }
    }
}

/// Runs a command for people; `serve` and `bench` are not.
pub async fn run(command: Command) -> Outcome {
    match command {
        Command::Streams(a) => streams::list(a).await,
        Command::Create(a) => streams::create(a).await,
        Command::Delete(a) => streams::delete(a).await,
        Command::Describe(a) => streams::describe(a).await,
        Command::Put(a) => put::run(a).await,
        Command::Tail(a) => tail::run(a).await,
        Command::Lag(a) => lag::run(a).await,
        Command::Sql(a) => sql::run(a).await,
        Command::Completions(a) => completions(&a),
        _ => Err(Failure::usage("not a command of this kind")),
    }
}
