//! Freshet's Kinesis-compatible server: the AWS JSON 1.1 and CBOR 1.1 protocols over
//! HTTP/1.1 and h2c, mapped onto [`freshet_storage::Engine`].
//!
//! Modules by concern: [`value`] (the two encodings), [`request`] (typed member access),
//! [`actions`] (one function per Kinesis action), [`iterator`] (sealed shard
//! iterators), [`http`] (the server), [`metrics`] and [`limits`]; resource limits in [`admission`] and
//! [`request_body`]; enhanced fan-out in
//! [`consumers`] (the registry), [`subscribe`] (SubscribeToShard) and [`eventstream`]
//! (its framing).

pub mod actions;
pub mod admission;
pub mod auth;
pub mod bench;
pub mod body;
pub mod cli;
pub mod consumers;
pub mod error;
pub mod eventstream;
pub mod http;
pub mod iterator;
pub mod limits;
pub mod metrics;
pub mod request;
pub mod request_body;
pub mod state;
pub mod subscribe;
pub mod value;

pub use error::{ApiError, ApiResult};
pub use state::{ApiConfig, AppState};
