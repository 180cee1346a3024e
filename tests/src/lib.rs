//! Shared helpers of the cross-crate tests: building and starting the real `freshet`
//! binary on a free loopback port with a temporary data directory, and a minimal
//! HTTP/1.1 client for byte-exact protocol tests.

pub mod http;
pub mod http_receiver;
pub mod lambda;
pub mod moto;
pub mod postgres;
pub mod python;
pub mod server;

pub use http::{call, call_json, RawResponse};
pub use server::Server;

/// This crate's directory (`tests/`) in the checkout being tested: cargo's
/// `CARGO_MANIFEST_DIR` of the test process, else the one this was compiled in. A test
/// binary is reused by any checkout sharing its target directory (cargo's fingerprints
/// are relative to the package), so the compile-time path may be another checkout's.
pub fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .filter(|d| d.join("Cargo.toml").is_file())
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
