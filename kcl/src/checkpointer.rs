//! Recording progress on a lease: validated, compare-and-set checkpoints.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::lease::{Checkpoint, ExtendedSequence, StoredLease};
use crate::store::LeaseStore;

/// Records how far a shard is processed. Every write is a compare-and-set on the
/// lease, so a worker that lost its lease cannot overwrite the new owner's progress.
/// A checkpoint must satisfy `last checkpoint <= new <= largest delivered`.
pub struct Checkpointer {
    store: Arc<dyn LeaseStore>,
    worker_id: String,
    lease: StoredLease,
    largest_delivered: Option<ExtendedSequence>,
    at_shard_end: bool,
    lost: bool,
    writes: u64,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer")
            .field("lease", &self.lease)
            .field("largest_delivered", &self.largest_delivered)
            .field("at_shard_end", &self.at_shard_end)
            .finish_non_exhaustive()
    }
}

impl Checkpointer {
    pub(crate) fn new(store: Arc<dyn LeaseStore>, worker_id: String, lease: StoredLease) -> Self {
        Checkpointer {
            store,
            worker_id,
            lease,
            largest_delivered: None,
            at_shard_end: false,
            lost: false,
            writes: 0,
        }
    }

    /// The shard.
    pub fn shard_id(&self) -> &str {
        &self.lease.key
    }

    /// The last checkpoint written (or the initial position).
    pub fn last_checkpoint(&self) -> &Checkpoint {
        &self.lease.lease.checkpoint
    }

    /// The prepared checkpoint, if any.
    pub fn pending_checkpoint(&self) -> Option<&ExtendedSequence> {
        self.lease.lease.pending_checkpoint.as_ref()
    }

    /// The largest position delivered to the processor so far.
    pub fn largest_delivered(&self) -> Option<&ExtendedSequence> {
        self.largest_delivered.as_ref()
    }

    /// Checkpoints everything delivered so far; at the end of a closed shard, writes
    /// SHARD_END.
    pub async fn checkpoint(&mut self) -> Result<()> {
        if self.at_shard_end {
            return self.write(Checkpoint::ShardEnd, None).await;
        }
        match self.largest_delivered.clone() {
            Some(s) => self.checkpoint_to(s).await,
            None => Ok(()),
        }
    }

    /// Checkpoints up to and including `(sequence, sub_sequence)`.
    pub async fn checkpoint_at(&mut self, sequence: &str, sub_sequence: u64) -> Result<()> {
        self.checkpoint_to(ExtendedSequence::new(sequence, sub_sequence))
            .await
    }

    /// First phase of a two-phase checkpoint: records `(sequence, sub_sequence)` as
    /// prepared without moving the checkpoint.
    pub async fn prepare_checkpoint(&mut self, sequence: &str, sub_sequence: u64) -> Result<()> {
        let at = ExtendedSequence::new(sequence, sub_sequence);
        self.validate(&at)?;
        let current = self.lease.lease.checkpoint.clone();
        self.write(current, Some(at)).await
    }

    /// Second phase: makes the prepared checkpoint the checkpoint.
    pub async fn commit_prepared(&mut self) -> Result<()> {
        let at = self
            .lease
            .lease
            .pending_checkpoint
            .clone()
            .ok_or_else(|| Error::InvalidCheckpoint("no prepared checkpoint".into()))?;
        self.checkpoint_to(at).await
    }

    async fn checkpoint_to(&mut self, at: ExtendedSequence) -> Result<()> {
        self.validate(&at)?;
        if self.lease.lease.checkpoint.sequence() == Some(&at)
            && self.lease.lease.pending_checkpoint.is_none()
        {
            return Ok(());
        }
        self.write(Checkpoint::Sequence(at), None).await
    }

    fn validate(&self, at: &ExtendedSequence) -> Result<()> {
        if self.lease.lease.checkpoint.is_shard_end() {
            return Err(Error::InvalidCheckpoint(
                "the shard is already checkpointed at SHARD_END".into(),
            ));
        }
        if let Some(last) = self.lease.lease.checkpoint.sequence() {
            if at < last {
                return Err(Error::InvalidCheckpoint(format!(
                    "{}/{} is before the last checkpoint {}/{}",
                    at.sequence, at.sub_sequence, last.sequence, last.sub_sequence
                )));
            }
        }
        match &self.largest_delivered {
            Some(max) if at.cmp(max) != Ordering::Greater => Ok(()),
            Some(max) => Err(Error::InvalidCheckpoint(format!(
                "{}/{} is after the largest delivered record {}/{}",
                at.sequence, at.sub_sequence, max.sequence, max.sub_sequence
            ))),
            None => Err(Error::InvalidCheckpoint(format!(
                "{}/{}: nothing was delivered yet",
                at.sequence, at.sub_sequence
            ))),
        }
    }

    async fn write(&mut self, cp: Checkpoint, pending: Option<ExtendedSequence>) -> Result<()> {
        if self.lost {
            return Err(Error::LeaseLost {
                key: self.lease.key.clone(),
            });
        }
        for _ in 0..2 {
            match self
                .store
                .update_checkpoint(&self.lease, cp.clone(), pending.clone())
                .await
            {
                Ok(next) => {
                    self.lease = next;
                    self.writes += 1;
                    return Ok(());
                }
                Err(Error::LeaseConflict { .. }) => {
                    if !self.reload().await? {
                        return Err(Error::LeaseLost {
                            key: self.lease.key.clone(),
                        });
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::LeaseConflict {
            key: self.lease.key.clone(),
        })
    }

    /// Re-reads the lease after a conflict; `false` (and marked lost) when this worker
    /// no longer owns it.
    pub(crate) async fn reload(&mut self) -> Result<bool> {
        let all = self.store.list().await?;
        match all.into_iter().find(|l| l.key == self.lease.key) {
            Some(l) if l.lease.owner.as_deref() == Some(self.worker_id.as_str()) => {
                self.lease = l;
                Ok(true)
            }
            _ => {
                self.lost = true;
                Ok(false)
            }
        }
    }

    pub(crate) fn lease(&self) -> &StoredLease {
        &self.lease
    }

    pub(crate) fn set_lease(&mut self, lease: StoredLease) {
        self.lease = lease;
    }

    pub(crate) fn is_lost(&self) -> bool {
        self.lost
    }

    pub(crate) fn mark_lost(&mut self) {
        self.lost = true;
    }

    pub(crate) fn delivered(&mut self, at: ExtendedSequence) {
        if self.largest_delivered.as_ref().is_none_or(|m| at > *m) {
            self.largest_delivered = Some(at);
        }
    }

    pub(crate) fn set_shard_end(&mut self) {
        self.at_shard_end = true;
    }

    /// How many checkpoint writes succeeded through this checkpointer.
    pub fn writes(&self) -> u64 {
        self.writes
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::lease::Lease;
    use crate::store::InMemoryLeaseStore;

    async fn held(store: &InMemoryLeaseStore) -> Checkpointer {
        let created = store
            .create_if_absent("s0", Lease::new(Checkpoint::TrimHorizon, vec![]))
            .await
            .unwrap()
            .unwrap();
        let taken = store.take(&created, "w1").await.unwrap();
        Checkpointer::new(Arc::new(store.clone()), "w1".into(), taken)
    }

    #[tokio::test]
    async fn checkpoint_must_lie_between_last_and_largest_delivered() {
        let store = InMemoryLeaseStore::new();
        let mut cp = held(&store).await;
        assert!(matches!(
            cp.checkpoint_at("5", 0).await,
            Err(Error::InvalidCheckpoint(_))
        ));
        cp.delivered(ExtendedSequence::new("10", 2));
        assert!(cp.checkpoint_at("10", 3).await.is_err());
        cp.checkpoint_at("10", 1).await.unwrap();
        assert!(cp.checkpoint_at("9", 0).await.is_err());
        cp.checkpoint().await.unwrap();
        assert_eq!(
            store.snapshot()[0].lease.checkpoint,
            Checkpoint::Sequence(ExtendedSequence::new("10", 2))
        );
    }

    #[tokio::test]
    async fn prepare_then_commit() {
        let store = InMemoryLeaseStore::new();
        let mut cp = held(&store).await;
        assert!(cp.commit_prepared().await.is_err());
        cp.delivered(ExtendedSequence::new("7", 0));
        cp.prepare_checkpoint("7", 0).await.unwrap();
        assert_eq!(
            store.snapshot()[0].lease.checkpoint,
            Checkpoint::TrimHorizon
        );
        assert!(store.snapshot()[0].lease.pending_checkpoint.is_some());
        cp.commit_prepared().await.unwrap();
        let l = &store.snapshot()[0].lease;
        assert_eq!(
            l.checkpoint.sequence(),
            Some(&ExtendedSequence::new("7", 0))
        );
        assert!(l.pending_checkpoint.is_none());
    }

    #[tokio::test]
    async fn a_worker_that_lost_its_lease_cannot_checkpoint() {
        let store = InMemoryLeaseStore::new();
        let mut cp = held(&store).await;
        let current = store.snapshot().remove(0);
        store.take(&current, "w2").await.unwrap();
        cp.delivered(ExtendedSequence::new("3", 0));
        assert!(matches!(
            cp.checkpoint().await,
            Err(Error::LeaseLost { .. })
        ));
        assert_eq!(
            store.snapshot()[0].lease.checkpoint,
            Checkpoint::TrimHorizon
        );
        assert_eq!(store.snapshot()[0].lease.owner.as_deref(), Some("w2"));
    }

    #[tokio::test]
    async fn a_handoff_request_does_not_fail_the_owner_checkpoint() {
        let store = InMemoryLeaseStore::new();
        let mut cp = held(&store).await;
        let current = store.snapshot().remove(0);
        store.request_handoff(&current, "w2").await.unwrap();
        cp.delivered(ExtendedSequence::new("3", 0));
        cp.checkpoint().await.unwrap();
        let l = &store.snapshot()[0].lease;
        assert_eq!(l.handoff_to.as_deref(), Some("w2"));
        assert!(l.checkpoint.sequence().is_some());
    }
}
