//! Functions as local child processes speaking the Lambda Runtime API.
//!
//! Each instance gets a loopback listener of its own (`AWS_LAMBDA_RUNTIME_API` is
//! `host:port` only, so instances cannot share one), a child process started in the
//! function's task root, and pipes whose lines go to the function's log file. A
//! [`Runtimes`] keeps instances warm per function, bounds how many run at once, times
//! invocations out (killing the instance) and stops instances left idle.

mod api_server;
mod instance;
mod pool;

pub use pool::{FunctionSpec, InvokeError, InvokeOutcome, Runtimes};

/// The largest payload a synchronous invocation may return (AWS's 6 MB).
pub const MAX_RESPONSE_BYTES: usize = 6_291_556;
