//! Helpers of the Lambda tests: the code packages of the two test functions (the
//! Python `tests/functions/python/handler.py` on awslambdaric, and the Rust
//! `freshet-test-function` on `lambda_runtime`, which behave the same), the Python
//! interpreter to start `freshet serve --lambda-python` with, and reading the file the
//! functions append their records to (`FRESHET_SINK`).
//!
//! A test typically makes a temporary directory, and creates a function whose
//! `Environment.Variables` set `FRESHET_SINK` to a file in it (and `FRESHET_STATE_DIR`,
//! `FRESHET_REPORT_FAILURES=1` when it checks partial batch failures), with
//! `ZipFile` = [`python_function_zip`] (runtime [`PYTHON_RUNTIME`], handler
//! [`PYTHON_HANDLER`]) or [`rust_function_zip`] (runtime [`RUST_RUNTIME`], handler
//! [`RUST_HANDLER`]); then polls [`read_sink`] for the lines it expects.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// The runtime of [`python_function_zip`].
pub const PYTHON_RUNTIME: &str = "python3.12";
/// The handler of [`python_function_zip`].
pub const PYTHON_HANDLER: &str = "handler.handler";
/// The runtime of [`rust_function_zip`].
pub const RUST_RUNTIME: &str = "provided.al2023";
/// The handler of [`rust_function_zip`] (a `provided` runtime ignores it).
pub const RUST_HANDLER: &str = "bootstrap";

/// The name of the Rust test function's binary (and its package).
const RUST_FUNCTION: &str = "freshet-test-function";

/// The directory of the test functions' sources (`tests/functions`).
pub fn functions_dir() -> PathBuf {
    crate::manifest_dir().join("functions")
}

/// A zip of `files`: (name, contents, Unix mode such as `0o644` or `0o755`), deflated.
pub fn zip_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, contents, mode) in files {
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .unix_permissions(*mode);
        zip.start_file(*name, options)
            .unwrap_or_else(|e| panic!("zip entry {name}: {e}"));
        zip.write_all(contents)
            .unwrap_or_else(|e| panic!("zip entry {name}: {e}"));
    }
    zip.finish()
        .unwrap_or_else(|e| panic!("finishing the zip: {e}"))
        .into_inner()
}

/// The Python test function's code: `handler.py` (mode 0644) at the zip's root, for
/// runtime [`PYTHON_RUNTIME`] and handler [`PYTHON_HANDLER`].
pub fn python_function_zip() -> Vec<u8> {
    let path = functions_dir().join("python").join("handler.py");
    let source = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    zip_of(&[("handler.py", &source, 0o644)])
}

/// The built `freshet-test-function` binary: beside the `freshet` binary
/// ([`crate::server::binary`], which `cargo build --workspace --bins --tests` builds
/// together with it); when missing there (say `FRESHET_BIN` names a binary built
/// with `-p`), built with `cargo build -p freshet-test-function` into that same
/// target directory and profile.
pub fn rust_function_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let freshet = crate::server::binary();
        let profile_dir = freshet
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let bin = profile_dir.join(RUST_FUNCTION);
        if bin.is_file() {
            return bin;
        }
        eprintln!(
            "{} is missing: building it with `cargo build -p {RUST_FUNCTION}`",
            bin.display()
        );
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", RUST_FUNCTION]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        if let Some(target) = profile_dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        let status = cmd.status();
        assert!(
            matches!(status, Ok(s) if s.success()) && bin.is_file(),
            "building the Rust test function ({}) failed: {status:?}; \
             build it with `cargo build -p {RUST_FUNCTION}`",
            bin.display()
        );
        bin
    })
    .clone()
}

/// The Rust test function's code: the `freshet-test-function` binary (see
/// [`rust_function_binary`]) as `bootstrap`, mode 0755, for runtime [`RUST_RUNTIME`].
/// Built once per test process.
pub fn rust_function_zip() -> Vec<u8> {
    static ZIP: OnceLock<Vec<u8>> = OnceLock::new();
    ZIP.get_or_init(|| {
        let bin = rust_function_binary();
        let code = std::fs::read(&bin).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        zip_of(&[("bootstrap", &code, 0o755)])
    })
    .clone()
}

/// The venv's Python, which has awslambdaric: for
/// `Server::start(&["--lambda-python", ...])`.
pub fn venv_python() -> PathBuf {
    crate::python::venv().join("bin").join("python")
}

/// The JSON lines of a sink file (`FRESHET_SINK`) so far: none when it does not exist
/// yet. A line being appended right now (no newline yet) is left out.
pub fn read_sink(path: impl AsRef<Path>) -> Vec<serde_json::Value> {
    let path = path.as_ref();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => panic!("{}: {e}", path.display()),
    };
    text.split_inclusive('\n')
        .filter(|line| line.ends_with('\n') && !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: bad line {line:?}: {e}", path.display()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn entries(zip: &[u8]) -> Vec<(String, Vec<u8>, Option<u32>)> {
        let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
        (0..archive.len())
            .map(|i| {
                let mut f = archive.by_index(i).unwrap();
                let mut data = Vec::new();
                f.read_to_end(&mut data).unwrap();
                (f.name().to_string(), data, f.unix_mode())
            })
            .collect()
    }

    #[test]
    fn zip_of_keeps_names_contents_and_modes() {
        let zip = zip_of(&[
            ("a.txt", b"hello", 0o644),
            ("bin/run", b"#!/bin/sh\n", 0o755),
        ]);
        let e = entries(&zip);
        assert_eq!(e.len(), 2);
        assert_eq!(
            (e[0].0.as_str(), e[0].1.as_slice()),
            ("a.txt", &b"hello"[..])
        );
        assert_eq!(e[0].2.map(|m| m & 0o777), Some(0o644));
        assert_eq!(e[1].0, "bin/run");
        assert_eq!(e[1].2.map(|m| m & 0o777), Some(0o755));
    }

    #[test]
    fn python_zip_holds_the_handler() {
        let e = entries(&python_function_zip());
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "handler.py");
        assert!(String::from_utf8_lossy(&e[0].1).contains("def handler(event, context)"));
    }

    #[test]
    fn rust_zip_holds_an_executable_bootstrap() {
        let e = entries(&rust_function_zip());
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "bootstrap");
        assert_eq!(e[0].2.map(|m| m & 0o777), Some(0o755));
        assert!(e[0].1.starts_with(b"\x7fELF"));
    }

    #[test]
    fn read_sink_skips_a_partial_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sink");
        assert!(read_sink(&path).is_empty());
        std::fs::write(&path, "{\"a\":1}\n{\"b\":2}\n{\"c\":").unwrap();
        assert_eq!(
            read_sink(&path),
            vec![serde_json::json!({"a": 1}), serde_json::json!({"b": 2})]
        );
    }
}
