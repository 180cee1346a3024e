//! Freshet's client crate: a typed Kinesis API ([`KinesisApi`]) over HTTP
//! ([`KinesisClient`]) or in-process over the storage engine (`EngineClient`, with the
//! `engine` feature, which brings RocksDB), the
//! KPL aggregation format ([`aggregation`]) and a KPL-style [`Producer`]. Over HTTP,
//! enhanced fan-out too: stream consumers
//! ([`KinesisClient::register_stream_consumer`], [`KinesisClient::ensure_consumer`])
//! and `SubscribeToShard` as an async stream of events
//! ([`KinesisClient::subscribe_to_shard`], [`KinesisClient::follow_shard`]). Requests
//! are signed with credentials and region from the standard AWS chains, as the AWS SDKs
//! find them ([`credentials`]); with the `tls` feature `https://` endpoints are reached
//! through rustls, HTTP/2 where offered, trusting `AWS_CA_BUNDLE` too.
//!
//! ```
//! # #[cfg(feature = "engine")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use freshet_client::{EngineClient, KinesisApi, Producer, ProducerConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let engine = freshet_storage::Engine::open(freshet_storage::EngineConfig::new(dir.path()))?;
//! let api = Arc::new(EngineClient::new(engine));
//! api.create_stream("events", 2).await?;
//! let producer = Producer::new(api.clone(), ProducerConfig::default());
//! let receipt = producer.put_record("events", "user-1", "hello", None).await?;
//! println!("{} {} {}", receipt.shard_id, receipt.sequence_number, receipt.sub_sequence_number);
//! producer.shutdown().await?;
//! # Ok(()) }
//! # #[cfg(not(feature = "engine"))]
//! # fn main() {}
//! ```

pub mod api;
pub mod credentials;
#[cfg(feature = "engine")]
mod engine_client;
pub mod error;
pub mod http;
pub mod producer;

/// Request and response types of the Kinesis API (defined in `freshet-protocol`).
pub use freshet_protocol::kinesis as types;
/// The KPL aggregation format (defined in `freshet-protocol`).
pub use freshet_protocol::kpl as aggregation;

pub use api::{wait_for_active, ApiFuture, KinesisApi};
#[cfg(feature = "engine")]
pub use engine_client::EngineClient;
pub use error::{Error, Result};
pub use http::{
    follow, ClientConfig, Credentials, EventStream, FollowStream, KinesisClient, RetryPolicy,
};
pub use producer::{Producer, ProducerConfig, ProducerMetrics, PutReceipt};
pub use types::*;
