//! The RocksDB store behind the catalog.

use std::path::Path;

use rocksdb::{Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use serde::{de::DeserializeOwned, Serialize};

use crate::error::{Error, Result};

/// The RocksDB catalog.
pub struct Catalog {
    db: DB,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").finish_non_exhaustive()
    }
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
