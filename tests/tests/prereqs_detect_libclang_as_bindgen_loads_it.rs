//! `scripts/prereqs.sh` must find libclang exactly where bindgen (clang-sys) would load
//! it: `libclang.so`, `libclang-N.so`, `libclang.so.N` or `libclang-N.so.N`, and never
//! take `libclang-cpp.so.N` (the C++ interface a fresh machine may have alone) for it.
//! Run against directories of fake library files, so it proves the check on a machine
//! where libclang is absent as well as where it is installed.

use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    freshet_tests::manifest_dir().join("../scripts/prereqs.sh")
}

/// What the script finds in `dirs`: the path printed, or None when it exits 1.
fn find(dirs: &[&Path]) -> Option<String> {
    let out = Command::new("bash")
        .arg(script())
        .arg("--find-libclang")
        .args(dirs)
        .output()
        .unwrap_or_else(|e| panic!("running prereqs.sh: {e}"));
    match out.status.code() {
        Some(0) => Some(String::from_utf8_lossy(&out.stdout).trim().to_string()),
        Some(1) => None,
        other => panic!(
            "prereqs.sh --find-libclang exited {other:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn dir_with(files: &[&str]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    for f in files {
        std::fs::write(d.path().join(f), b"not really a library")
            .unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    d
}

#[test]
fn libclang_cpp_alone_is_not_libclang() {
    // A fresh machine of the project's kind: libclang-cpp14 only.
    let llvm = dir_with(&["libclang-cpp.so.14", "libclang-cpp.so", "libLLVM-14.so.1"]);
    let multiarch = dir_with(&["libclang-cpp.so.14"]);
    assert_eq!(find(&[llvm.path(), multiarch.path()]), None);
    let empty = dir_with(&[]);
    assert_eq!(find(&[empty.path(), Path::new("/nonexistent/lib")]), None);
}

#[test]
fn every_name_bindgen_loads_is_found() {
    for name in [
        "libclang.so",
        "libclang-14.so",
        "libclang.so.1",
        "libclang-14.so.1",
        "libclang-14.0.6.so",
        "libclang.so.14.0.6",
    ] {
        let d = dir_with(&["libclang-cpp.so.14", name]);
        let found = find(&[d.path()]);
        assert_eq!(
            found.as_deref(),
            Some(d.path().join(name).to_string_lossy().as_ref()),
            "{name}"
        );
    }
}

#[test]
fn names_bindgen_would_not_load_are_not_taken() {
    let d = dir_with(&[
        "libclang-cpp.so.14",
        "libclang-cpp14.so",
        "libclangBasic.a",
        "libclang.a",
        "libclang.so.txt",
        "libclangd.so",
    ]);
    assert_eq!(find(&[d.path()]), None);
}
