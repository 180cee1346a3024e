//! The per-shard state machine: waiting on parents, initializing, processing
//! (GetRecords polling with idle back-off, or enhanced fan-out in [`super::fanout`];
//! deaggregation with the hash-range filter), shard end.

use freshet_client::aggregation::{deaggregate, deaggregate_in_range, UserRecord};
use freshet_client::ShardIteratorType;

use super::{ShardState, Worker};
use crate::lease::{Checkpoint, ExtendedSequence};
use crate::processor::{
    InitializationInput, ProcessRecordsInput, ShardRecordProcessor, ShardRecordProcessorFactory,
};

impl<F: ShardRecordProcessorFactory> Worker<F> {
    /// Whether every parent of a lease reached SHARD_END (or has no lease).
    fn parents_done(&self, parents: &[String]) -> bool {
        parents.iter().all(|p| {
            self.snapshot
                .get(p)
                .is_none_or(|l| l.lease.checkpoint.is_shard_end())
        })
    }

    /// One step of every held shard that is due.
    pub(super) async fn process(&mut self, now: u64) {
        let keys: Vec<String> = self.held.keys().cloned().collect();
        for key in keys {
            let Some(h) = self.held.get(&key) else {
                continue;
            };
            if h.cp.is_lost() {
                self.lose(&key).await;
                continue;
            }
            let due = now >= h.next_poll || h.subscription.as_ref().is_some_and(|s| s.ready());
            if now < h.not_before || !due || !self.fresh(h, now) {
                continue;
            }
            if h.state == ShardState::WaitingOnParents {
                let parents = h.cp.lease().lease.parents.clone();
                if !self.parents_done(&parents) {
                    continue;
                }
                if let Some(h) = self.held.get_mut(&key) {
                    h.state = ShardState::Initializing;
                }
            }
            let state = self.held.get(&key).map(|h| h.state.clone());
            match state {
                Some(ShardState::Initializing) => self.initialize(&key, now).await,
                Some(ShardState::Processing { .. }) => self.read(&key, now).await,
                Some(ShardState::ShardEnded) => self.end_shard(&key, now).await,
                _ => {}
            }
        }
    }

    async fn initialize(&mut self, key: &str, now: u64) {
        let Some(h) = self.held.get_mut(key) else {
            return;
        };
        let lease = h.cp.lease().lease.clone();
        if lease.checkpoint.is_shard_end() {
            // Finished by a previous owner: nothing to do but let go.
            self.hand_back(key, now, false).await;
            return;
        }
        h.processor
            .initialize(InitializationInput {
                shard_id: key.to_string(),
                checkpoint: lease.checkpoint.clone(),
                pending_checkpoint: lease.pending_checkpoint.clone(),
            })
            .await;
        h.state = ShardState::Processing {
            iterator: None,
            skip_through: lease.checkpoint.sequence().cloned(),
        };
        h.next_poll = now;
        // Read at once: a fresh lease should not wait a tick.
        self.read(key, now).await;
    }

    /// One read step of a processing shard: a subscription's events with enhanced
    /// fan-out, else one GetRecords.
    async fn read(&mut self, key: &str, now: u64) {
        if self.fan_out.is_some() {
            self.poll_fan_out(key, now).await;
        } else {
            self.poll(key, now).await;
        }
    }

    pub(super) fn backoff(&mut self, key: &str, now: u64) {
        let (idle_ms, max_idle) = (self.cfg.idle_ms, self.cfg.max_idle_ms);
        if let Some(h) = self.held.get_mut(key) {
            h.idle = if h.idle == 0 {
                idle_ms
            } else {
                (h.idle * 2).min(max_idle)
            };
            h.next_poll = now + h.idle;
        }
    }

    async fn poll(&mut self, key: &str, now: u64) {
        let Some(h) = self.held.get(key) else {
            return;
        };
        let ShardState::Processing {
            iterator,
            skip_through,
        } = h.state.clone()
        else {
            return;
        };
        let iterator = match iterator {
            Some(it) => it,
            None => {
                let position = match &h.cp.lease().lease.checkpoint {
                    Checkpoint::Latest => ShardIteratorType::Latest,
                    Checkpoint::AtTimestamp { ms } => ShardIteratorType::AtTimestamp(*ms),
                    Checkpoint::Sequence(s) => {
                        ShardIteratorType::AtSequenceNumber(s.sequence.clone())
                    }
                    _ => ShardIteratorType::TrimHorizon,
                };
                match self.source.get_shard_iterator(key, position).await {
                    Ok(it) => it,
                    Err(e) => {
                        self.metrics.errors += 1;
                        tracing::warn!(shard = key, error = %e, "GetShardIterator failed");
                        self.backoff(key, now);
                        return;
                    }
                }
            }
        };
        let out = match self
            .source
            .get_records(&iterator, self.cfg.max_records)
            .await
        {
            Ok(out) => out,
            Err(freshet_client::Error::ExpiredIterator(_)) => {
                if let Some(h) = self.held.get_mut(key) {
                    h.state = ShardState::Processing {
                        iterator: None,
                        skip_through,
                    };
                }
                return;
            }
            Err(e) => {
                self.metrics.errors += 1;
                tracing::warn!(shard = key, error = %e, "GetRecords failed");
                if let Some(h) = self.held.get_mut(key) {
                    h.state = ShardState::Processing {
                        iterator: Some(iterator),
                        skip_through,
                    };
                }
                self.backoff(key, now);
                return;
            }
        };
        let range = self.shards.get(key).map(|s| s.hash_key_range);
        let records = user_records_after(&out.records, range.as_ref(), skip_through.as_ref());
        if let Some(ms) = out.millis_behind_latest {
            self.metrics
                .millis_behind_latest
                .insert(key.to_string(), ms);
        }
        let ended = out.next_shard_iterator.is_none();
        let Some(h) = self.held.get_mut(key) else {
            return;
        };
        h.state = match out.next_shard_iterator {
            Some(next) => ShardState::Processing {
                iterator: Some(next),
                skip_through,
            },
            None => ShardState::ShardEnded,
        };
        if records.is_empty() {
            if !ended {
                self.backoff(key, now);
            }
        } else {
            h.idle = 0;
            h.next_poll = now;
            for r in &records {
                h.cp.delivered(ExtendedSequence::new(
                    r.sequence_number.clone(),
                    r.sub_sequence_number,
                ));
            }
            self.metrics.records_processed += records.len() as u64;
            let input = ProcessRecordsInput {
                shard_id: key.to_string(),
                records,
                millis_behind_latest: out.millis_behind_latest,
            };
            h.processor.process_records(input, &mut h.cp).await;
        }
        if ended {
            if let Some(h) = self.held.get_mut(key) {
                h.cp.set_shard_end();
            }
            self.end_shard(key, now).await;
        }
    }

    pub(super) async fn end_shard(&mut self, key: &str, now: u64) {
        let Some(h) = self.held.get_mut(key) else {
            return;
        };
        h.processor.shard_ended(&mut h.cp).await;
        if h.cp.lease().lease.checkpoint.is_shard_end() {
            self.metrics.shards_completed += 1;
            self.hand_back(key, now, false).await;
            // Children may now be created or started.
            self.next_sync = now;
            self.next_take = now;
        } else if h.cp.is_lost() {
            self.lose(key).await;
        } else {
            tracing::warn!(
                shard = key,
                "the processor did not checkpoint at SHARD_END; asking again later"
            );
            h.next_poll = now + self.cfg.max_idle_ms;
        }
    }
}

/// The user records of `records`, deaggregated (and filtered to the shard's hash range
/// when it is known, as the KCL does after a reshard), strictly after `floor`.
pub(super) fn user_records_after(
    records: &[freshet_client::Record],
    range: Option<&freshet_client::HashKeyRange>,
    floor: Option<&ExtendedSequence>,
) -> Vec<UserRecord> {
    records
        .iter()
        .flat_map(|r| match range {
            Some(range) => deaggregate_in_range(r, range),
            None => deaggregate(r),
        })
        .filter(|u| {
            floor.is_none_or(|s| {
                ExtendedSequence::new(u.sequence_number.clone(), u.sub_sequence_number) > *s
            })
        })
        .collect()
}
