//! Lease work of a worker: renewal, shard sync (lease creation along the lineage) and
//! taking, stealing by graceful handoff, forced takes.

use std::collections::{BTreeMap, BTreeSet};

use super::{Held, ShardState, Worker};
use crate::checkpointer::Checkpointer;
use crate::config::InitialPosition;
use crate::error::Error;
use crate::lease::{Checkpoint, Lease, StoredLease};
use crate::processor::ShardRecordProcessorFactory;

impl<F: ShardRecordProcessorFactory> Worker<F> {
    /// Records what the store holds; a lease whose owner wrote it since (its heartbeat
    /// changed) is seen anew now.
    pub(super) fn observe(&mut self, now: u64, leases: Vec<StoredLease>) {
        for l in &leases {
            match self.observed.get(&l.key) {
                Some((h, _)) if *h == l.lease.heartbeat => {}
                _ => {
                    self.observed
                        .insert(l.key.clone(), (l.lease.heartbeat, now));
                }
            }
        }
        self.snapshot = leases.into_iter().map(|l| (l.key.clone(), l)).collect();
        let snapshot = &self.snapshot;
        self.observed.retain(|k, _| snapshot.contains_key(k));
    }

    /// When the first lease owned by another worker expires, on this worker's clock, if
    /// its owner writes nothing more.
    pub(super) fn earliest_foreign_expiry(&self) -> Option<u64> {
        self.snapshot
            .values()
            .filter(|l| !l.lease.checkpoint.is_shard_end())
            .filter(|l| {
                l.lease
                    .owner
                    .as_deref()
                    .is_some_and(|o| o != self.cfg.worker_id)
            })
            .filter_map(|l| match self.observed.get(&l.key) {
                Some((h, seen)) if *h == l.lease.heartbeat => Some(seen + self.cfg.failover_ms),
                _ => None,
            })
            .min()
    }

    fn expired(&self, l: &StoredLease, now: u64) -> bool {
        self.observed
            .get(&l.key)
            .is_some_and(|(h, seen)| *h == l.lease.heartbeat && seen + self.cfg.failover_ms <= now)
    }

    /// Renews every held lease; honours handoff requests; drops lost leases.
    pub(super) async fn renew_all(&mut self, now: u64) {
        let keys: Vec<String> = self.held.keys().cloned().collect();
        for key in keys {
            let Some(h) = self.held.get_mut(&key) else {
                continue;
            };
            if h.cp.is_lost() {
                self.lose(&key).await;
                continue;
            }
            if h.cp.lease().lease.handoff_to.is_some() {
                self.hand_back(&key, now, true).await;
                continue;
            }
            let mut lost = false;
            let mut handoff = false;
            for _ in 0..2 {
                match self.store.renew(h.cp.lease()).await {
                    Ok(next) => {
                        h.cp.set_lease(next);
                        h.renewed_at = now;
                        break;
                    }
                    Err(Error::LeaseConflict { .. }) => match h.cp.reload().await {
                        Ok(true) if h.cp.lease().lease.handoff_to.is_some() => {
                            handoff = true;
                            break;
                        }
                        Ok(true) => continue,
                        Ok(false) => {
                            lost = true;
                            break;
                        }
                        Err(_) => {
                            self.metrics.errors += 1;
                            break;
                        }
                    },
                    Err(e) => {
                        self.metrics.errors += 1;
                        tracing::warn!(shard = %key, error = %e, "renewal failed");
                        break;
                    }
                }
            }
            if lost {
                self.lose(&key).await;
            } else if handoff {
                self.hand_back(&key, now, true).await;
            }
        }
    }

    /// Lists shards and creates leases for shards without one, parents first.
    pub(super) async fn sync_shards(&mut self, now: u64) {
        let shards = match self.source.list_shards().await {
            Ok(s) => s,
            Err(e) => {
                self.metrics.errors += 1;
                tracing::warn!(error = %e, "ListShards failed");
                return;
            }
        };
        let leases = match self.store.list().await {
            Ok(l) => l,
            Err(e) => {
                self.metrics.errors += 1;
                tracing::warn!(error = %e, "listing leases failed");
                return;
            }
        };
        self.observe(now, leases);
        self.shards = shards
            .iter()
            .map(|s| (s.shard_id.clone(), s.clone()))
            .collect();
        let mut exists: BTreeSet<String> = self.snapshot.keys().cloned().collect();
        for shard in parents_first(&shards) {
            if exists.contains(&shard.shard_id) {
                continue;
            }
            let leased_parents: Vec<String> =
                [&shard.parent_shard_id, &shard.adjacent_parent_shard_id]
                    .into_iter()
                    .flatten()
                    .filter(|p| exists.contains(*p))
                    .cloned()
                    .collect();
            let checkpoint = match (self.cfg.initial_position, leased_parents.is_empty()) {
                (InitialPosition::AtTimestamp(ms), _) => Checkpoint::AtTimestamp { ms },
                (_, false) | (InitialPosition::TrimHorizon, true) => Checkpoint::TrimHorizon,
                (InitialPosition::Latest, true) if shard.is_open() => Checkpoint::Latest,
                (InitialPosition::Latest, true) => continue,
            };
            let lease = Lease::new(checkpoint, leased_parents);
            match self.store.create_if_absent(&shard.shard_id, lease).await {
                Ok(Some(created)) => {
                    self.snapshot.insert(created.key.clone(), created);
                    exists.insert(shard.shard_id.clone());
                }
                Ok(None) => {
                    exists.insert(shard.shard_id.clone());
                }
                Err(e) => {
                    self.metrics.errors += 1;
                    tracing::warn!(shard = %shard.shard_id, error = %e, "creating a lease failed");
                    // Children must not be created without their parent's lease.
                    return;
                }
            }
        }
        // Leases of shards processed to the end and no longer retained.
        let gone: Vec<StoredLease> = self
            .snapshot
            .values()
            .filter(|l| l.lease.checkpoint.is_shard_end() && !self.shards.contains_key(&l.key))
            .cloned()
            .collect();
        for l in gone {
            if self.store.delete(&l).await.is_ok() {
                self.snapshot.remove(&l.key);
            }
        }
    }

    /// Lists leases, drops the ones lost, takes unowned and expired leases up to the
    /// fair share, and otherwise steals by graceful handoff.
    pub(super) async fn take_leases(&mut self, now: u64) {
        let leases = match self.store.list().await {
            Ok(l) => l,
            Err(e) => {
                self.metrics.errors += 1;
                tracing::warn!(error = %e, "listing leases failed");
                return;
            }
        };
        self.observe(now, leases);
        let me = self.cfg.worker_id.clone();
        let lost: Vec<String> = self
            .held
            .keys()
            .filter(|k| {
                self.snapshot
                    .get(*k)
                    .is_none_or(|l| l.lease.owner.as_deref() != Some(me.as_str()))
            })
            .cloned()
            .collect();
        for key in lost {
            self.lose(&key).await;
        }

        let unfinished: Vec<&StoredLease> = self
            .snapshot
            .values()
            .filter(|l| !l.lease.checkpoint.is_shard_end())
            .collect();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut workers: BTreeSet<String> = BTreeSet::new();
        workers.insert(me.clone());
        for l in &unfinished {
            if self.expired(l, now) {
                continue;
            }
            if let Some(o) = &l.lease.owner {
                if *o != me {
                    *counts.entry(o.clone()).or_default() += 1;
                    workers.insert(o.clone());
                }
            }
            if let Some(h) = &l.lease.handoff_to {
                workers.insert(h.clone());
            }
        }
        let mine = self.held.len();
        let target = unfinished.len().div_ceil(workers.len());
        let need = target.saturating_sub(mine);

        // Candidates. Ranks 0 to 2 are taken whatever the fair share (a lease released
        // for this worker's handoff request, expired leases of other workers, stale
        // leases of this worker's previous life): a dead worker's shards are owned again
        // within one taking period of their expiry; balance is restored by handoffs.
        // Rank 3 (unowned) is taken up to the fair share.
        let mut candidates: Vec<(u8, StoredLease)> = unfinished
            .iter()
            .filter(|l| !self.held.contains_key(&l.key))
            .filter_map(|l| {
                let rank = match (&l.lease.owner, &l.lease.handoff_to) {
                    (None, Some(h)) if *h == me => 0,
                    (Some(o), _) if *o == me => 2,
                    (Some(_), _) if self.expired(l, now) => 1,
                    (None, None) => 3,
                    (None, Some(_)) if self.expired(l, now) => 3,
                    _ => return None,
                };
                Some((rank, (*l).clone()))
            })
            .collect();
        // Spread contention: each worker starts at another point.
        let n = candidates.len().max(1);
        let offset = me
            .bytes()
            .fold(0usize, |a, b| a.wrapping_mul(31).wrapping_add(b as usize))
            % n;
        let mut indexed: Vec<(u8, usize, StoredLease)> = candidates
            .drain(..)
            .enumerate()
            .map(|(i, (r, l))| (r, (i + n - offset) % n, l))
            .collect();
        indexed.sort_by_key(|(r, i, _)| (*r, *i));

        let mut taken = 0usize;
        for (rank, _, l) in indexed {
            if taken >= need && rank == 3 {
                continue;
            }
            match self.store.take(&l, &me).await {
                Ok(next) => {
                    self.adopt(next, now, now);
                    taken += 1;
                }
                Err(Error::LeaseConflict { .. }) => {}
                Err(e) => {
                    self.metrics.errors += 1;
                    tracing::warn!(shard = %l.key, error = %e, "take failed");
                }
            }
        }
        if taken == 0 {
            self.steal(now, &counts, mine).await;
        }
    }

    async fn steal(&mut self, now: u64, counts: &BTreeMap<String, usize>, mine: usize) {
        let me = self.cfg.worker_id.clone();
        if let Some((key, at)) = self.handoff.clone() {
            let pending = self.snapshot.get(&key).filter(|l| {
                l.lease.owner.as_ref().is_some_and(|o| *o != me)
                    && l.lease.handoff_to.as_deref() == Some(me.as_str())
                    && !l.lease.checkpoint.is_shard_end()
            });
            match pending {
                Some(l) if now >= at + self.cfg.handoff_timeout_ms => {
                    let l = l.clone();
                    self.handoff = None;
                    if let Ok(next) = self.store.take(&l, &me).await {
                        // Fenced: the old owner may process until its renewal ages out.
                        self.adopt(next, now, now + self.cfg.failover_ms);
                        self.metrics.forced_takes += 1;
                    }
                }
                Some(_) => {}
                None => self.handoff = None,
            }
            return;
        }
        let Some((victim, most)) = counts
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(o, c)| (o.clone(), *c))
        else {
            return;
        };
        if most < mine + 2 {
            return;
        }
        let pick = self
            .snapshot
            .values()
            .rfind(|l| {
                l.lease.owner.as_deref() == Some(victim.as_str())
                    && l.lease.handoff_to.is_none()
                    && !l.lease.checkpoint.is_shard_end()
                    && !self.expired(l, now)
            })
            .cloned();
        if let Some(l) = pick {
            if let Ok(next) = self.store.request_handoff(&l, &me).await {
                tracing::info!(worker = %me, shard = %l.key, from = %victim, "handoff requested");
                self.snapshot.insert(next.key.clone(), next);
                self.handoff = Some((l.key.clone(), now));
                self.metrics.handoffs_requested += 1;
            }
        }
    }

    /// Starts holding a lease just taken.
    pub(super) fn adopt(&mut self, lease: StoredLease, now: u64, not_before: u64) {
        let key = lease.key.clone();
        let state = if lease.lease.parents.is_empty() {
            ShardState::Initializing
        } else {
            ShardState::WaitingOnParents
        };
        if self.handoff.as_ref().is_some_and(|(k, _)| *k == key) {
            self.handoff = None;
        }
        self.snapshot.insert(key.clone(), lease.clone());
        let processor = self.factory.create(&key);
        let cp = Checkpointer::new(self.store.clone(), self.cfg.worker_id.clone(), lease);
        self.held.insert(
            key.clone(),
            Held {
                processor,
                cp,
                state,
                renewed_at: now,
                not_before,
                next_poll: now,
                idle: 0,
                subscription: None,
            },
        );
        self.metrics.leases_taken += 1;
        tracing::info!(worker = %self.cfg.worker_id, shard = %key, "lease taken");
    }
}

/// Shards ordered so that every parent comes before its children.
fn parents_first(shards: &[freshet_client::Shard]) -> Vec<&freshet_client::Shard> {
    let ids: BTreeSet<&str> = shards.iter().map(|s| s.shard_id.as_str()).collect();
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::with_capacity(shards.len());
    for _ in 0..=shards.len() {
        let mut progressed = false;
        for s in shards {
            if placed.contains(s.shard_id.as_str()) {
                continue;
            }
            let ready = [&s.parent_shard_id, &s.adjacent_parent_shard_id]
                .into_iter()
                .flatten()
                .all(|p| !ids.contains(p.as_str()) || placed.contains(p.as_str()));
            if ready {
                placed.insert(s.shard_id.as_str());
                out.push(s);
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    out
}
