//! Freshet's storage engine: Kinesis-style streams of shards, each shard an
//! append-only log of CRC-framed batches in preallocated segment files, written with
//! positional writes, read through read-only memory maps, committed in groups with
//! `fdatasync`, and described by a RocksDB catalog.
//!
//! ```
//! use freshet_storage::{CreateStream, Engine, EngineConfig, PutRecordInput, StartingPosition};
//!
//! # fn main() -> Result<(), freshet_storage::Error> {
//! let dir = tempfile::tempdir().map_err(|e| freshet_storage::Error::io("tmp", e))?;
//! let engine = Engine::open(EngineConfig::new(dir.path()))?;
//! engine.create_stream(CreateStream::new("orders", 2))?;
//! let put = engine.put_record("orders", PutRecordInput::new("customer-7", "hello"))?;
//! let from = engine.start_offset("orders", &put.shard_id, StartingPosition::TrimHorizon)?;
//! let read = engine.read("orders", &put.shard_id, from, 100, 1 << 20)?;
//! assert_eq!(&read.records[0].data[..], b"hello");
//! assert_eq!(read.records[0].sequence_number, put.sequence_number);
//! engine.shutdown()?;
//! # Ok(())
//! # }
//! ```
//!
//! In-process readers follow a whole stream with [`Engine::tail_stream`] (a
//! [`StreamCursor`] that follows resharding and waits on the shards' watch channels),
//! and background work runs as jobs of [`Engine::jobs`], stopped with the engine.
//!
//! The on-disk format is specified in `storage/FORMAT.md`. Features: `engine` (on by
//! default) brings the engine and its RocksDB catalog; `internals` makes the log format
//! (frames, segments, indexes, recovery) public for the fuzz targets, which build it
//! without the engine; `fault-injection` brings [`fs`]'s fault-injecting file system for
//! crash and I/O-error tests.

// Without the engine the crate is the log format alone, reachable through the
// `internals` feature (the fuzz targets' build); what only the engine uses is unused.
#![cfg_attr(not(feature = "engine"), allow(dead_code, unused_imports))]

mod catalog;
mod config;
#[cfg(feature = "engine")]
mod engine;
mod error;
pub mod fs;
pub mod hash_key;
mod jobs;
/// The log format: frames, segments, sparse indexes, recovery and shard logs. Public
/// only with the `internals` feature (for the fuzz targets); the engine's API is the
/// crate root.
#[cfg(feature = "internals")]
pub mod log;
#[cfg(not(feature = "internals"))]
mod log;
mod md5_lanes;
mod sequence;
mod sys;
mod types;
mod validate;

pub use catalog::{Encryption, StreamMode};
pub use config::{
    Clock, Durability, EngineConfig, ManualClock, RecoveryMode, SystemClock, MIN_SEGMENT_BYTES,
};
#[cfg(feature = "engine")]
pub use engine::cursor::{
    CursorPositions, ShardBatch, ShardPosition, StreamBatch, StreamCursor, TailFrom, Trimmed,
};
#[cfg(feature = "engine")]
pub use engine::leases::{LeaseEntry, LeaseExpectation};
#[cfg(feature = "engine")]
pub use engine::records::RecordView;
#[cfg(feature = "engine")]
pub use engine::reshard::ShardCountUpdate;
#[cfg(feature = "engine")]
pub use engine::service_state::{ServiceState, StateChange};
#[cfg(feature = "engine")]
pub use engine::Engine;
pub use error::{Error, ErrorCategory, Result, StreamNameRule};
pub use hash_key::{hash_key_of, hash_keys_of, HashKeyRange};
pub use jobs::{JobContext, JobId, JobInfo, JobKind, JobState, Jobs, StopSignal};
pub use log::{LogView, SyncSnapshot, ViewRecord, SYNC_BUCKETS};
pub use sequence::{Continuation, SequenceNumber};
pub use types::*;
