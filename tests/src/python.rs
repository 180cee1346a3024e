//! The Python virtual environment with boto3, the AWS CLI, awslambdaric and moto's S3
//! server that the real-client, Lambda and Firehose-to-S3 tests use:
//! `<target dir>/py-venv`, created on first use with `python3 -m venv` and
//! `pip install boto3 awscli awslambdaric 'moto[server]'` (Debian needs the
//! `python3-venv` package).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The target directory (`target/` or `$CARGO_TARGET_DIR`), found from the test binary.
pub fn target_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(d);
    }
    std::env::current_exe()
        .ok()
        .and_then(|p| {
            p.parent()
                .and_then(Path::parent)
                .and_then(Path::parent)
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// What the venv gets from pip.
const PACKAGES: &[&str] = &[
    "boto3",
    "awscli",
    "awslambdaric",
    "moto[server]",
    "pyarrow",
    "duckdb",
    "psycopg[binary]",
];

/// The venv's directory, created and provisioned when missing.
pub fn venv() -> PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let dir = target_dir().join("py-venv");
        let python = dir.join("bin").join("python");
        // Renamed whenever the package list changes, so existing venvs get the new
        // packages (`scripts/python-venv.sh` keeps its own stamp: it installs more).
        let ready = dir.join(".freshet-ready-rs-4");
        if ready.exists() {
            return dir;
        }
        if !python.exists() {
            let ok = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&dir)
                .status();
            assert!(
                matches!(ok, Ok(s) if s.success()),
                "python3 -m venv failed ({ok:?}); install python3-venv"
            );
        }
        let ok = Command::new(&python)
            .args(["-m", "pip", "install", "-q"])
            .args(PACKAGES)
            .status();
        assert!(
            matches!(ok, Ok(s) if s.success()),
            "pip install {} failed: {ok:?}",
            PACKAGES.join(" ")
        );
        let _ = std::fs::write(&ready, format!("{}\n", PACKAGES.join(" ")));
        dir
    })
    .clone()
}

/// The directory of the Python test scripts.
pub fn scripts_dir() -> PathBuf {
    crate::manifest_dir().join("python")
}

/// Runs `tests/python/SCRIPT ARGS...` with the venv's Python, asserts it exited 0 with
/// `marker` in its output and that `server` logged no internal failure, and returns
/// the output.
pub fn run_script(server: &crate::Server, script: &str, args: &[String], marker: &str) -> String {
    let out = Command::new(venv().join("bin").join("python"))
        .arg(scripts_dir().join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("python: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && stdout.contains(marker),
        "{script} failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    assert!(
        !server.log().contains("internal failure"),
        "{}",
        server.log()
    );
    stdout
}

/// Runs `script` against a server on `data` (started with `server_args`), stops the
/// server (it must exit cleanly), starts it again on the same data and runs `script`
/// once more: the arguments of each run come from `args(endpoint, restarted)`. Prints
/// both outputs (see [`run_script`]).
pub fn run_script_across_restart(
    data: &std::path::Path,
    server_args: &[&str],
    script: &str,
    args: impl Fn(String, bool) -> Vec<String>,
) {
    let mut server = crate::Server::start_in(data, server_args);
    let out = run_script(
        &server,
        script,
        &args(server.endpoint(), false),
        "passed, 0 failed",
    );
    eprintln!("{out}");
    assert!(
        server.stop(),
        "the server did not stop cleanly:\n{}",
        server.log()
    );
    let server = crate::Server::start_in(data, server_args);
    let out = run_script(
        &server,
        script,
        &args(server.endpoint(), true),
        "passed, 0 failed",
    );
    eprintln!("{out}");
}

/// Runs `tests/python/boto3_resource_limits.py MODE ENDPOINT EXTRA...` against `server`
/// (see [`run_script`]).
pub fn run_resource_limits(server: &crate::Server, mode: &str, extra: &[&str]) -> String {
    let mut args = vec![mode.to_string(), server.endpoint()];
    args.extend(extra.iter().map(|s| s.to_string()));
    run_script(server, "boto3_resource_limits.py", &args, "checks passed")
}
