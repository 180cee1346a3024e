//! Functions on streams, served by `freshet serve` on the same port as Kinesis.
//!
//! - [`api`]: Lambda's REST-JSON API (`/2015-03-31/...`): functions, Invoke, event
//!   source mappings.
//! - [`runtime`]: functions run as local child processes that speak the Lambda
//!   Runtime API (`/2018-06-01/runtime/...`) on a loopback listener of their own, so
//!   every real runtime client (awslambdaric, the `lambda_runtime` crate) works
//!   unchanged; instances are kept warm, bounded per function, timed out and reaped.
//! - [`esm`]: event source mappings that push a stream's records into a function,
//!   shard by shard, with AWS's batching, retries, bisection, filters and checkpoints.
//!
//! Functions, mappings and checkpoints live in the catalog (`svc/lambda/...`); code
//! lives under the data directory's `lambda/`.

pub mod api;
pub mod catalog;
pub mod code;
pub mod config;
pub mod error;
pub mod esm;
pub mod model;
pub mod runtime;
pub mod service;
mod time_fmt;

pub use config::LambdaConfig;
pub use service::LambdaService;

/// Locks a mutex, taking the data of one a panicking holder left.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
