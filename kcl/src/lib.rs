//! Freshet's KCL: lease-based, balanced consumption of a Kinesis stream by a group of
//! workers, with checkpoints.
//!
//! Each worker ([`Worker`], driven in real time by [`Scheduler`]) keeps leases — one
//! per shard — in a [`LeaseStore`] shared by the application's workers (in memory,
//! in an in-process engine, hosted by a `freshet serve` server, or, with the
//! `dynamodb` feature, in a DynamoDB table laid out as the AWS KCL's lease table:
//! `DynamoDbLeaseStore`). Every lease write is a compare-and-set on a counter; a
//! lease is expired when its counter did not change for the failover time on the
//! observer's own monotonic clock. Workers take unowned and expired leases up to their
//! fair share and steal only by graceful handoff, so a shard is never processed by two
//! workers at once. Children of a resharded shard start only after their parents
//! reached SHARD_END.
//!
//! Records are read by polling GetRecords (the default) or with enhanced fan-out
//! ([`Config::with_fan_out`] and [`Scheduler::with_fan_out`]): the worker registers or
//! reuses a stream consumer and keeps one SubscribeToShard subscription per held shard,
//! re-subscribing from the ContinuationSequenceNumber, resuming from the checkpoint,
//! following ChildShards at a shard's end and ending the subscription when the lease
//! is lost.
//!
//! ```
//! # #[cfg(feature = "engine")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::{Arc, Mutex};
//! use freshet_client::{EngineClient, KinesisApi, PutRecordsEntry};
//! use freshet_kcl::*;
//!
//! struct Print(Arc<Mutex<Vec<String>>>);
//! impl ShardRecordProcessor for Print {
//!     async fn initialize(&mut self, _: InitializationInput) {}
//!     async fn process_records(&mut self, input: ProcessRecordsInput, cp: &mut Checkpointer) {
//!         for r in &input.records {
//!             self.0.lock().unwrap().push(String::from_utf8_lossy(&r.data).into_owned());
//!         }
//!         let _ = cp.checkpoint().await;
//!     }
//!     async fn shard_ended(&mut self, cp: &mut Checkpointer) {
//!         let _ = cp.checkpoint().await;
//!     }
//! }
//! struct Factory(Arc<Mutex<Vec<String>>>);
//! impl ShardRecordProcessorFactory for Factory {
//!     type Processor = Print;
//!     fn create(&self, _shard: &str) -> Print { Print(self.0.clone()) }
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let engine = freshet_storage::Engine::open(freshet_storage::EngineConfig::new(dir.path()))?;
//! let api = Arc::new(EngineClient::new(engine.clone()));
//! api.create_stream("events", 2).await?;
//! api.put_record("events", PutRecordsEntry::new("k", "hello")).await?;
//!
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let store = Arc::new(EngineLeaseStore::new(engine, "events", "my-app"));
//! let source = Arc::new(KinesisSource::new(api, "events"));
//! let cfg = Config::new("my-app", "worker-1").with_failover_ms(1_000);
//! let (scheduler, handle) = Scheduler::new(cfg, store, source, Factory(seen.clone()));
//! let task = tokio::spawn(scheduler.run());
//! for _ in 0..200 {
//!     if !seen.lock().unwrap().is_empty() { break; }
//!     tokio::time::sleep(std::time::Duration::from_millis(10)).await;
//! }
//! handle.shutdown();
//! task.await?;
//! assert_eq!(seen.lock().unwrap().as_slice(), ["hello"]);
//! # Ok(()) }
//! # #[cfg(not(feature = "engine"))]
//! # fn main() {}
//! ```

mod checkpointer;
mod config;
mod error;
mod lease;
mod metrics;
mod processor;
mod scheduler;
mod source;
pub mod store;
mod worker;

pub use checkpointer::Checkpointer;
pub use config::{Config, InitialPosition, Retrieval};
pub use error::{Error, Result};
pub use lease::{compare_sequence, Checkpoint, ExtendedSequence, Lease, StoredLease};
pub use metrics::WorkerMetrics;
pub use processor::{
    InitializationInput, ProcessRecordsInput, ShardRecordProcessor, ShardRecordProcessorFactory,
};
pub use scheduler::{Scheduler, SchedulerHandle};
pub use source::{KinesisSource, ShardSource, SourceFuture, SubscribeSource};
#[cfg(feature = "dynamodb")]
pub use store::DynamoDbLeaseStore;
#[cfg(feature = "engine")]
pub use store::EngineLeaseStore;
pub use store::{HttpLeaseStore, InMemoryLeaseStore, LeaseStore};
pub use worker::{ShardState, Worker};
