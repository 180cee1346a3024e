//! An in-memory lease store, for tests and simulation (one process).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Expect, LeaseStore, StoreFuture};
use crate::error::{Error, Result};
use crate::lease::{Lease, StoredLease};

/// Leases in a map behind a mutex. Cheap to clone (shared). Its futures are ready at
/// once, so a simulation can poll them without a runtime.
#[derive(Debug, Clone, Default)]
pub struct InMemoryLeaseStore {
    inner: Arc<Mutex<BTreeMap<String, (u64, Lease)>>>,
}

impl InMemoryLeaseStore {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> MutexGuard<'_, BTreeMap<String, (u64, Lease)>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every lease now (synchronous).
    pub fn snapshot(&self) -> Vec<StoredLease> {
        self.map()
            .iter()
            .map(|(k, (c, l))| StoredLease {
                key: k.clone(),
                counter: *c,
                lease: l.clone(),
            })
            .collect()
    }

    fn put_now(&self, key: &str, expect: Expect, lease: &Lease) -> Result<u64> {
        let mut map = self.map();
        let found = map.get(key).map(|(c, _)| *c);
        let next = match (expect, found) {
            (Expect::Absent, None) => 1,
            (Expect::Counter(c), Some(f)) if c == f => c + 1,
            _ => {
                return Err(Error::LeaseConflict {
                    key: key.to_string(),
                })
            }
        };
        map.insert(key.to_string(), (next, lease.clone()));
        Ok(next)
    }

    fn remove_now(&self, key: &str, counter: u64) -> Result<()> {
        let mut map = self.map();
        match map.get(key) {
            Some((c, _)) if *c == counter => {
                map.remove(key);
                Ok(())
            }
            _ => Err(Error::LeaseConflict {
                key: key.to_string(),
            }),
        }
    }
}

impl LeaseStore for InMemoryLeaseStore {
    fn list(&self) -> StoreFuture<'_, Vec<StoredLease>> {
        let all = self.snapshot();
        Box::pin(async move { Ok(all) })
    }

    fn put<'a>(&'a self, key: &'a str, expect: Expect, lease: &'a Lease) -> StoreFuture<'a, u64> {
        let r = self.put_now(key, expect, lease);
        Box::pin(async move { r })
    }

    fn remove<'a>(&'a self, key: &'a str, counter: u64) -> StoreFuture<'a, ()> {
        let r = self.remove_now(key, counter);
        Box::pin(async move { r })
    }
}
