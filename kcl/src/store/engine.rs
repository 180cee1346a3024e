//! A lease store over an in-process [`freshet_storage::Engine`]: the same lease table
//! the server's lease actions use.

use freshet_storage::{Engine, LeaseExpectation};

use super::{decode_lease, encode_lease, Expect, LeaseStore, StoreFuture};
use crate::error::{Error, Result};
use crate::lease::{Lease, StoredLease};

/// The lease table `table` (the application name) of stream `stream` in an engine's
/// catalog.
#[derive(Clone)]
pub struct EngineLeaseStore {
    engine: Engine,
    stream: String,
    table: String,
}

impl std::fmt::Debug for EngineLeaseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineLeaseStore")
            .field("stream", &self.stream)
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl EngineLeaseStore {
    /// The table `table` of `stream`.
    pub fn new(engine: Engine, stream: impl Into<String>, table: impl Into<String>) -> Self {
        EngineLeaseStore {
            engine,
            stream: stream.into(),
            table: table.into(),
        }
    }
}

fn map_err(e: freshet_storage::Error) -> Error {
    match e {
        freshet_storage::Error::LeaseConflict { key, .. } => Error::LeaseConflict { key },
        other => Error::Store(other.to_string()),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Store(format!("lease task failed: {e}")))?
}

impl LeaseStore for EngineLeaseStore {
    fn list(&self) -> StoreFuture<'_, Vec<StoredLease>> {
        let this = self.clone();
        Box::pin(blocking(move || {
            this.engine
                .list_leases(&this.stream, &this.table)
                .map_err(map_err)?
                .into_iter()
                .map(|e| {
                    Ok(StoredLease {
                        lease: decode_lease(&e.key, &e.value)?,
                        key: e.key,
                        counter: e.counter,
                    })
                })
                .collect()
        }))
    }

    fn put<'a>(&'a self, key: &'a str, expect: Expect, lease: &'a Lease) -> StoreFuture<'a, u64> {
        let this = self.clone();
        let key = key.to_string();
        let value = encode_lease(lease);
        let expect = match expect {
            Expect::Absent => LeaseExpectation::Absent,
            Expect::Counter(c) => LeaseExpectation::Counter(c),
        };
        Box::pin(blocking(move || {
            this.engine
                .put_lease(&this.stream, &this.table, &key, expect, value)
                .map_err(map_err)
        }))
    }

    fn remove<'a>(&'a self, key: &'a str, counter: u64) -> StoreFuture<'a, ()> {
        let this = self.clone();
        let key = key.to_string();
        Box::pin(blocking(move || {
            this.engine
                .delete_lease(&this.stream, &this.table, &key, counter)
                .map_err(map_err)
        }))
    }
}
