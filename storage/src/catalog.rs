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
//! lease/{uid:016x}/{lease key}      -> reserved for the KCL lease table
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use rocksdb::{Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::hash_key::HashKeyRange;

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

/// The RocksDB catalog.
pub struct Catalog {
    db: DB,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").finish_non_exhaustive()
    }
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

/// A set of changes applied atomically.
#[derive(Default)]
pub struct Batch {
    inner: WriteBatch,
}

impl Batch {
    /// Stores a JSON value.
    pub fn put<T: Serialize>(&mut self, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|e| Error::Catalog(e.to_string()))?;
        self.inner.put(key.as_bytes(), bytes);
        Ok(())
    }
    /// Stores raw bytes.
    pub fn put_raw(&mut self, key: &str, value: &[u8]) {
        self.inner.put(key.as_bytes(), value);
    }
    /// Deletes a key.
    pub fn delete(&mut self, key: &str) {
        self.inner.delete(key.as_bytes());
    }
    /// Deletes every key with a prefix (`[prefix, prefix + 0xff)`).
    pub fn delete_prefix(&mut self, prefix: &str) {
        let mut end = prefix.as_bytes().to_vec();
        end.push(0xff);
        self.inner.delete_range(prefix.as_bytes(), &end[..]);
    }
}

impl Catalog {
    /// Opens or creates the catalog in `dir`.
    pub fn open(dir: &Path) -> Result<Catalog> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_keep_log_file_num(4);
        opts.set_max_total_wal_size(64 << 20);
        let db = DB::open(&opts, dir)?;
        let catalog = Catalog { db };
        if catalog.get_raw("meta/format")?.is_none() {
            let mut b = Batch::default();
            b.put_raw("meta/format", b"1");
            catalog.write(b)?;
        }
        Ok(catalog)
    }

    /// Applies a batch atomically and durably.
    pub fn write(&self, batch: Batch) -> Result<()> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch.inner, &wo)?;
        Ok(())
    }

    /// Reads raw bytes.
    pub fn get_raw(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get(key.as_bytes())?)
    }

    /// Reads a JSON value.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.get_raw(key)? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::Catalog(format!("unreadable catalog entry {key}: {e}"))),
        }
    }

    /// Every (key, raw value) whose key starts with `prefix`, in key order.
    pub fn scan_raw(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(prefix.as_bytes(), Direction::Forward))
        {
            let (k, v) = item?;
            if !k.starts_with(prefix.as_bytes()) {
                break;
            }
            out.push((String::from_utf8_lossy(&k).into_owned(), v.into_vec()));
        }
        Ok(out)
    }

    /// Every JSON value under `prefix`.
    pub fn scan<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<(String, T)>> {
        self.scan_raw(prefix)?
            .into_iter()
            .map(|(k, v)| {
                serde_json::from_slice(&v)
                    .map(|t| (k.clone(), t))
                    .map_err(|e| Error::Catalog(format!("unreadable catalog entry {k}: {e}")))
            })
            .collect()
    }

    /// Allocates the next stream incarnation id (within `batch`).
    pub fn next_stream_uid(&self, batch: &mut Batch) -> Result<u64> {
        let current = match self.get_raw("meta/next_stream_uid")? {
            Some(b) => String::from_utf8_lossy(&b)
                .parse::<u64>()
                .map_err(|e| Error::Catalog(format!("bad meta/next_stream_uid: {e}")))?,
            None => 1,
        };
        batch.put_raw("meta/next_stream_uid", (current + 1).to_string().as_bytes());
        Ok(current)
    }

    /// Flushes the memtable (a clean stop).
    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }
}
