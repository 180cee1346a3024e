//! Shard logs: segment files of CRC-framed batches, a sparse index, group commit.

mod flusher;
pub mod frame;
pub mod index;
pub mod recovery;
pub mod segment;
mod shard_log;

#[cfg(feature = "internals")]
pub use flusher::SyncStats;
pub use flusher::{Flusher, SyncSnapshot, SYNC_BUCKETS};
#[cfg(feature = "internals")]
pub use shard_log::{Appended, LogRead, StoredRecord};
pub use shard_log::{LogConfig, LogView, ShardLog, ViewRecord};
