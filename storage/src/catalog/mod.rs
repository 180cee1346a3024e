//! The catalog: stream and shard metadata, lineage, trim horizons, clean-shutdown marks
//! and (for the KCL) leases, in RocksDB. Every multi-key change is one atomic
//! [`rocksdb::WriteBatch`], written with `sync` so a change is durable before it is
//! acknowledged.
//!
//! Keys (all UTF-8; numbers zero-padded hex so keys sort numerically):
//!
//! ```text
//! meta/format                       -> "1"
//! meta/next_stream_uid              -> u64 decimal
//! stream/{name}                     -> StreamRecord (JSON)
//! shard/{uid:016x}/{index:016x}     -> ShardRecord  (JSON)
//! clean/{uid:016x}/{index:016x}     -> valid length of the active segment at a clean stop
//! lease/{uid:016x}/{table}/{key}    -> a KCL lease (counter + value)
//! svc/{service}/{key}               -> a service's own state (ServiceState)
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::hash_key::HashKeyRange;

#[cfg(feature = "engine")]
mod db;
#[cfg(feature = "engine")]
pub use db::{Batch, Catalog};

/// How a stream's capacity is managed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum StreamMode {
    /// A fixed number of shards set by the user.
    #[default]
    Provisioned,
    /// Capacity managed by the service.
    OnDemand,
}

/// Server-side encryption settings (recorded; data is not encrypted locally).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    /// "KMS".
    pub encryption_type: String,
    /// The key id given.
    pub key_id: String,
}

/// A stream as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamRecord {
    /// Stream name.
    pub name: String,
    /// Incarnation id: a stream deleted and created again gets a new one.
    pub uid: u64,
    /// Creation time, ms.
    pub created_ms: i64,
    /// The stream reports CREATING until this time.
    pub active_at_ms: i64,
    /// Retention in hours.
    pub retention_hours: u32,
    /// Capacity mode.
    pub mode: StreamMode,
    /// Encryption settings, when started.
    pub encryption: Option<Encryption>,
    /// Enhanced monitoring metrics enabled.
    pub shard_level_metrics: Vec<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Index the next created shard gets.
    pub next_shard_index: u64,
    /// Times of the scaling operations of the last 24 hours (UpdateShardCount limits).
    #[serde(default)]
    pub scaling_ops_ms: Vec<i64>,
}

/// A shard as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecord {
    /// Index within the stream (`shardId-{index:012}`).
    pub index: u64,
    /// Hash keys it owns.
    pub range: HashKeyRange,
    /// The parent shard, after a split or merge.
    pub parent: Option<u64>,
    /// The other parent, after a merge.
    pub adjacent_parent: Option<u64>,
    /// Creation time, ms.
    pub created_ms: i64,
    /// For a closed shard, the offset after its last record.
    pub end_offset: Option<u64>,
    /// When it was closed.
    pub closed_ms: Option<i64>,
    /// Trim horizon: offset of the oldest retained record.
    pub start_offset: u64,
}

/// Key of a stream.
pub fn stream_key(name: &str) -> String {
    format!("stream/{name}")
}

/// Key of a shard.
pub fn shard_key(uid: u64, index: u64) -> String {
    format!("shard/{uid:016x}/{index:016x}")
}

/// Key of a clean-shutdown mark.
pub fn clean_key(uid: u64, index: u64) -> String {
    format!("clean/{uid:016x}/{index:016x}")
}
