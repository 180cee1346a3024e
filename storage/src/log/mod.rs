//! Shard logs: segment files of CRC-framed batches, a sparse index, group commit.

mod flusher;
pub mod frame;
pub mod index;
pub mod recovery;
pub mod segment;
mod shard_log;

pub use flusher::{Flusher, SyncSnapshot, SyncStats, SYNC_BUCKETS};
pub use shard_log::{Appended, LogConfig, LogRead, ShardLog, StoredRecord};
