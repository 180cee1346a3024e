//! CloudWatch Logs on Freshet: log groups and log streams whose events live in the
//! engine's owned streams (one per log group, synced before a put is acknowledged),
//! the Logs JSON API (`Logs_20140328.*`) that boto3's `logs` client and
//! `aws logs tail`/`filter-log-events` speak, and a [`LogSink`] through which Lambda
//! writes its functions' output into `/aws/lambda/<function>`.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use freshet_logs::{LogsConfig, LogsService};
//! use freshet_protocol::service::LogEvent;
//!
//! let rt = tokio::runtime::Runtime::new()?;
//! let _guard = rt.enter();
//! let engine = freshet_storage::Engine::open(freshet_storage::EngineConfig::new("/tmp/freshet"))?;
//! let logs = LogsService::open(engine.clone(), LogsConfig::default())?;
//! logs.sink().put(
//!     "/aws/lambda/f",
//!     "2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef",
//!     vec![LogEvent { timestamp: 1_767_225_600_000, message: "hello".into() }],
//! );
//! logs.drain(std::time::Duration::from_secs(10)); // writes what the sink holds
//! engine.shutdown()?;
//! # Ok(())
//! # }
//! ```
//!
//! [`LogSink`]: freshet_protocol::service::LogSink

#![deny(unsafe_code)]

pub mod api;
pub mod events;
pub mod filter;
pub mod params;
pub mod service;
mod sink;
pub mod store;
pub mod token;

pub use service::{LogsConfig, LogsService};
