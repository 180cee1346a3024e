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
