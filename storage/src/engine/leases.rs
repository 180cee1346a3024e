//! Lease tables for the KCL: per stream and application, entries of opaque bytes whose
//! every change is a compare-and-set on a counter, stored in the catalog beside the
//! stream (and deleted with it). Expiry is the KCL's business: it watches counters on
//! its own monotonic clock, so no clocks need to agree.

use super::{lock, read, Engine};
use crate::catalog::Batch;
use crate::error::{Error, Result};

/// One lease entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseEntry {
    /// The lease key (for the KCL, a shard id).
    pub key: String,
    /// Incremented by every change; the compare-and-set token.
    pub counter: u64,
    /// The KCL's encoding of the lease (owner, checkpoint, parents, ...).
    pub value: Vec<u8>,
}

/// What a lease write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseExpectation {
    /// The key must not exist (create).
    Absent,
    /// The key must exist with this counter.
    Counter(u64),
}

fn check_name(what: &'static str, s: &str) -> Result<()> {
    if s.is_empty() || s.len() > 256 || s.contains('/') {
        return Err(Error::InvalidLeaseName {
            what,
            name: s.to_string(),
        });
    }
    Ok(())
}

impl Engine {
    fn lease_prefix(&self, stream: &str, table: &str) -> Result<String> {
        check_name("lease table name", table)?;
        let uid = read(&self.stream(stream)?.meta).uid;
        Ok(format!("lease/{uid:016x}/{table}/"))
    }

    /// Every lease of a table, by key.
    pub fn list_leases(&self, stream: &str, table: &str) -> Result<Vec<LeaseEntry>> {
        let prefix = self.lease_prefix(stream, table)?;
        self.inner
            .catalog
            .scan_raw(&prefix)?
            .into_iter()
            .map(|(k, v)| decode(&k[prefix.len()..], &v))
            .collect()
    }

    /// Writes a lease if it matches `expect`; returns its new counter. A mismatch is
    /// [`Error::LeaseConflict`] with the counter found (`None`: absent).
    pub fn put_lease(
        &self,
        stream: &str,
        table: &str,
        key: &str,
        expect: LeaseExpectation,
        value: Vec<u8>,
    ) -> Result<u64> {
        check_name("lease key", key)?;
        let full = format!("{}{key}", self.lease_prefix(stream, table)?);
        let _admin = lock(&self.inner.admin);
        let current = self.stored_lease(&full, key)?;
        let next = match (expect, &current) {
            (LeaseExpectation::Absent, None) => 1,
            (LeaseExpectation::Counter(c), Some(found)) if found.counter == c => c + 1,
            _ => {
                return Err(Error::LeaseConflict {
                    key: key.to_string(),
                    found: current.map(|c| c.counter),
                })
            }
        };
        let mut encoded = next.to_le_bytes().to_vec();
        encoded.extend_from_slice(&value);
        let mut batch = Batch::default();
        batch.put_raw(&full, &encoded);
        self.inner.catalog.write(batch)?;
        Ok(next)
    }

    fn stored_lease(&self, full_key: &str, key: &str) -> Result<Option<LeaseEntry>> {
        self.inner
            .catalog
            .get_raw(full_key)?
            .map(|v| decode(key, &v))
            .transpose()
    }

    /// Deletes a lease whose counter is `counter`.
    pub fn delete_lease(&self, stream: &str, table: &str, key: &str, counter: u64) -> Result<()> {
        check_name("lease key", key)?;
        let full = format!("{}{key}", self.lease_prefix(stream, table)?);
        let _admin = lock(&self.inner.admin);
        let current = self.stored_lease(&full, key)?;
        match current {
            Some(found) if found.counter == counter => {
                let mut batch = Batch::default();
                batch.delete(&full);
                self.inner.catalog.write(batch)
            }
            other => Err(Error::LeaseConflict {
                key: key.to_string(),
                found: other.map(|c| c.counter),
            }),
        }
    }
}

fn decode(key: &str, v: &[u8]) -> Result<LeaseEntry> {
    let (counter, value) = v
        .split_at_checked(8)
        .ok_or_else(|| Error::Catalog(format!("lease {key} is shorter than its counter")))?;
    let mut c = [0u8; 8];
    c.copy_from_slice(counter);
    Ok(LeaseEntry {
        key: key.to_string(),
        counter: u64::from_le_bytes(c),
        value: value.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use crate::*;

    #[test]
    fn compare_and_set_on_the_counter() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = EngineConfig::new(dir.path());
        cfg.retention_interval = None;
        let engine = Engine::open(cfg).expect("open");
        engine
            .create_stream(CreateStream::new("s", 1))
            .expect("create");
        let c1 = engine
            .put_lease(
                "s",
                "app",
                "shardId-000000000000",
                LeaseExpectation::Absent,
                b"a".to_vec(),
            )
            .expect("create");
        assert_eq!(c1, 1);
        assert!(matches!(
            engine.put_lease(
                "s",
                "app",
                "shardId-000000000000",
                LeaseExpectation::Absent,
                b"b".to_vec()
            ),
            Err(Error::LeaseConflict { found: Some(1), .. })
        ));
        let c2 = engine
            .put_lease(
                "s",
                "app",
                "shardId-000000000000",
                LeaseExpectation::Counter(1),
                b"b".to_vec(),
            )
            .expect("update");
        assert!(matches!(
            engine.put_lease(
                "s",
                "app",
                "shardId-000000000000",
                LeaseExpectation::Counter(1),
                b"c".to_vec()
            ),
            Err(Error::LeaseConflict { found: Some(2), .. })
        ));
        let all = engine.list_leases("s", "app").expect("list");
        assert_eq!(
            all,
            vec![LeaseEntry {
                key: "shardId-000000000000".into(),
                counter: c2,
                value: b"b".to_vec()
            }]
        );
        assert!(engine.list_leases("s", "other").expect("list").is_empty());
        engine
            .delete_lease("s", "app", "shardId-000000000000", c2)
            .expect("delete");
        assert!(engine.list_leases("s", "app").expect("list").is_empty());
        assert!(engine
            .put_lease("s", "a/b", "k", LeaseExpectation::Absent, vec![])
            .is_err());
    }
}
