//! Shard logs: segment files of CRC-framed batches, a sparse index, group commit.

pub mod frame;
pub mod index;
pub mod segment;
mod shard_log;
mod flusher;

pub use flusher::Flusher;
pub use shard_log::{Appended, LogConfig, LogRead, ShardLog, StoredRecord};
