//! Lease stores: a table of [`Lease`]s keyed by shard id, every write a
//! compare-and-set on a counter.
//!
//! An implementation provides three primitives ([`LeaseStore::list`],
//! [`LeaseStore::put`], [`LeaseStore::remove`]); the lease operations the scheduler
//! uses (create if absent, renew, take, request handoff, release, update checkpoint,
//! delete) are provided methods built on them, so every implementation has the same
//! semantics.

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "engine")]
mod engine;
mod http;
mod memory;

use std::future::Future;
use std::pin::Pin;

#[cfg(feature = "dynamodb")]
pub use self::dynamodb::DynamoDbLeaseStore;
#[cfg(feature = "engine")]
pub use self::engine::EngineLeaseStore;
pub use self::http::HttpLeaseStore;
pub use self::memory::InMemoryLeaseStore;

use crate::error::{Error, Result};
use crate::lease::{Checkpoint, ExtendedSequence, Lease, StoredLease};

/// The future every [`LeaseStore`] method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// What a write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No lease with this key.
    Absent,
    /// A lease with this counter.
    Counter(u64),
}

/// Encodes a lease value (JSON).
pub fn encode_lease(lease: &Lease) -> Vec<u8> {
    serde_json::to_vec(lease).unwrap_or_default()
}

/// Decodes a lease value (JSON).
pub fn decode_lease(key: &str, bytes: &[u8]) -> Result<Lease> {
    serde_json::from_slice(bytes).map_err(|e| Error::Decode {
        key: key.to_string(),
        message: e.to_string(),
    })
}

/// A lease table shared by the workers of one application.
pub trait LeaseStore: Send + Sync {
    /// Every lease, by key.
    fn list(&self) -> StoreFuture<'_, Vec<StoredLease>>;

    /// Writes `lease` under `key` if the stored counter matches `expect`; returns the
    /// new counter. A mismatch is [`Error::LeaseConflict`].
    fn put<'a>(&'a self, key: &'a str, expect: Expect, lease: &'a Lease) -> StoreFuture<'a, u64>;

    /// Deletes the lease under `key` if its counter is `counter`.
    fn remove<'a>(&'a self, key: &'a str, counter: u64) -> StoreFuture<'a, ()>;

    /// Creates a lease unless one exists; `None` when one did.
    fn create_if_absent<'a>(
        &'a self,
        key: &'a str,
        lease: Lease,
    ) -> StoreFuture<'a, Option<StoredLease>> {
        Box::pin(async move {
            match self.put(key, Expect::Absent, &lease).await {
                Ok(counter) => Ok(Some(StoredLease {
                    key: key.to_string(),
                    counter,
                    lease,
                })),
                Err(Error::LeaseConflict { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    /// Renews a held lease: the same value, a new counter.
    fn renew<'a>(&'a self, current: &'a StoredLease) -> StoreFuture<'a, StoredLease> {
        let mut next = current.lease.clone();
        next.heartbeat = next.heartbeat.wrapping_add(1);
        Box::pin(write(self, current, next))
    }

    /// Takes a lease for `owner` (clears any handoff request).
    fn take<'a>(
        &'a self,
        current: &'a StoredLease,
        owner: &'a str,
    ) -> StoreFuture<'a, StoredLease> {
        let mut next = current.lease.clone();
        // As the AWS KCL counts: a take from another owner, not from nobody.
        if next.owner.as_deref().is_some_and(|o| o != owner) {
            next.owner_switches += 1;
        }
        next.owner = Some(owner.to_string());
        next.handoff_to = None;
        next.heartbeat = next.heartbeat.wrapping_add(1);
        Box::pin(write(self, current, next))
    }

    /// Asks the owner to hand the lease over to `requester`.
    fn request_handoff<'a>(
        &'a self,
        current: &'a StoredLease,
        requester: &'a str,
    ) -> StoreFuture<'a, StoredLease> {
        let mut next = current.lease.clone();
        next.handoff_to = Some(requester.to_string());
        Box::pin(write(self, current, next))
    }

    /// Releases a held lease. A pending handoff request stays, so the lease stays
    /// reserved for the requester for a while.
    fn release<'a>(&'a self, current: &'a StoredLease) -> StoreFuture<'a, StoredLease> {
        let mut next = current.lease.clone();
        next.owner = None;
        next.heartbeat = next.heartbeat.wrapping_add(1);
        Box::pin(write(self, current, next))
    }

    /// Writes a checkpoint and the prepared checkpoint.
    fn update_checkpoint<'a>(
        &'a self,
        current: &'a StoredLease,
        checkpoint: Checkpoint,
        pending: Option<ExtendedSequence>,
    ) -> StoreFuture<'a, StoredLease> {
        let mut next = current.lease.clone();
        next.checkpoint = checkpoint;
        next.pending_checkpoint = pending;
        next.owner_switches = 0;
        next.heartbeat = next.heartbeat.wrapping_add(1);
        Box::pin(write(self, current, next))
    }

    /// Deletes a lease.
    fn delete<'a>(&'a self, current: &'a StoredLease) -> StoreFuture<'a, ()> {
        self.remove(&current.key, current.counter)
    }
}

async fn write<S: LeaseStore + ?Sized>(
    store: &S,
    current: &StoredLease,
    next: Lease,
) -> Result<StoredLease> {
    let counter = store
        .put(&current.key, Expect::Counter(current.counter), &next)
        .await?;
    Ok(StoredLease {
        key: current.key.clone(),
        counter,
        lease: next,
    })
}
