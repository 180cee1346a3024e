//! Freshet's client crate: a typed Kinesis API ([`KinesisApi`]) over HTTP
//! ([`KinesisClient`]) or in-process over the storage engine ([`EngineClient`]), the
//! KPL aggregation format ([`aggregation`]) and a KPL-style [`Producer`]. Over HTTP,
//! enhanced fan-out too: stream consumers
//! ([`KinesisClient::register_stream_consumer`], [`KinesisClient::ensure_consumer`])
//! and `SubscribeToShard` as an async stream of events
//! ([`KinesisClient::subscribe_to_shard`], [`KinesisClient::follow_shard`]).
//!
//! ```
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
//! ```

pub mod aggregation;
pub mod api;
mod engine_client;
pub mod error;
pub mod http;
pub mod producer;
pub mod types;

pub use api::{wait_for_active, ApiFuture, KinesisApi};
pub use engine_client::EngineClient;
pub use error::{Error, Result};
pub use http::{
    follow, ClientConfig, Credentials, EventStream, FollowStream, KinesisClient, RetryPolicy,
};
pub use producer::{Producer, ProducerConfig, ProducerMetrics, PutReceipt};
pub use types::*;
