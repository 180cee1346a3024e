//! Enhanced fan-out retrieval: one background task per held shard follows the shard
//! with SubscribeToShard ([`freshet_client::follow`]: re-subscribing from the
//! ContinuationSequenceNumber at every subscription's end) and hands the events to the
//! worker through a small bounded channel; the worker delivers them to the processor
//! from its own task, like polled records, and wakes when one arrives. Dropping the
//! [`Subscription`] (lease lost, handed back, shard ended) aborts the task, which closes
//! the connection and so ends the subscription on the service.

use std::sync::Arc;

use freshet_client::{follow, RetryPolicy, StartingPosition, SubscribeToShardEvent};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, Notify, OnceCell};
use tokio::task::JoinHandle;

use super::{ShardState, Worker};
use crate::lease::{Checkpoint, ExtendedSequence};
use crate::processor::{ProcessRecordsInput, ShardRecordProcessor, ShardRecordProcessorFactory};
use crate::source::SubscribeSource;

/// Events buffered between a subscription task and the worker.
const EVENTS_BUFFERED: usize = 4;
/// Most events one tick delivers for one shard (the others wait for the next tick, so
/// renewals are never starved).
const EVENTS_PER_TICK: usize = 16;

/// What the worker needs to open subscriptions.
pub(super) struct FanOut {
    source: Arc<dyn SubscribeSource>,
    consumer_name: Arc<str>,
    /// The consumer's ARN, resolved (registered or reused) by the first subscription.
    arn: Arc<OnceCell<String>>,
    /// Woken when an event arrives (the scheduler waits on it).
    wake: Arc<Notify>,
}

impl FanOut {
    pub(super) fn new(
        source: Arc<dyn SubscribeSource>,
        consumer_name: &str,
        wake: Arc<Notify>,
    ) -> Self {
        FanOut {
            source,
            consumer_name: Arc::from(consumer_name),
            arn: Arc::new(OnceCell::new()),
            wake,
        }
    }
}

/// What a subscription task hands the worker.
enum Delivery {
    Event(SubscribeToShardEvent),
    Failed(freshet_client::Error),
}

/// A held shard's subscription task; dropping it ends the subscription.
pub(super) struct Subscription {
    rx: mpsc::Receiver<Delivery>,
    task: JoinHandle<()>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Subscription {
    /// Whether something is waiting for the worker (an event, or the task's end).
    pub(super) fn ready(&self) -> bool {
        !self.rx.is_empty() || self.rx.is_closed()
    }

    fn start(fan: &FanOut, shard_id: &str, position: StartingPosition) -> Subscription {
        let (tx, rx) = mpsc::channel(EVENTS_BUFFERED);
        let source = Arc::clone(&fan.source);
        let name = Arc::clone(&fan.consumer_name);
        let arn_cell = Arc::clone(&fan.arn);
        let wake = Arc::clone(&fan.wake);
        let shard: Arc<str> = Arc::from(shard_id);
        let task = tokio::spawn(async move {
            let arn = match arn_cell
                .get_or_try_init(|| source.consumer_arn(&name))
                .await
            {
                Ok(a) => Arc::<str>::from(a.as_str()),
                Err(e) => {
                    let _ = tx.send(Delivery::Failed(e)).await;
                    wake.notify_one();
                    return;
                }
            };
            let mut events = follow(
                move |position| {
                    let source = Arc::clone(&source);
                    let arn = Arc::clone(&arn);
                    let shard = Arc::clone(&shard);
                    async move { source.subscribe(&arn, &shard, position).await }
                },
                position,
                RetryPolicy::default(),
            );
            // Bounded by the shard: follow ends at its end or on an error.
            while let Some(item) = events.recv().await {
                let last = !matches!(&item, Ok(ev) if ev.child_shards.is_none());
                let d = match item {
                    Ok(ev) => Delivery::Event(ev),
                    Err(e) => Delivery::Failed(e),
                };
                if tx.send(d).await.is_err() {
                    return;
                }
                wake.notify_one();
                if last {
                    return;
                }
            }
        });
        Subscription { rx, task }
    }
}

/// Where a subscription starts: after what was delivered, else at the checkpoint.
fn start_position(
    checkpoint: &Checkpoint,
    delivered: Option<&ExtendedSequence>,
) -> StartingPosition {
    if let Some(d) = delivered {
        // AT: the rest of an aggregated record may still be due; the delivered part is
        // skipped.
        return StartingPosition::AtSequenceNumber(d.sequence.clone());
    }
    match checkpoint {
        Checkpoint::Latest => StartingPosition::Latest,
        Checkpoint::AtTimestamp { ms } => StartingPosition::AtTimestamp(*ms),
        Checkpoint::Sequence(s) => StartingPosition::AtSequenceNumber(s.sequence.clone()),
        _ => StartingPosition::TrimHorizon,
    }
}

impl<F: ShardRecordProcessorFactory> Worker<F> {
    /// One fan-out step of a processing shard: opens its subscription when it has
    /// none, then delivers the events that arrived.
    pub(super) async fn poll_fan_out(&mut self, key: &str, now: u64) {
        let idle_wait = self.cfg.max_idle_ms.max(self.cfg.renew_interval_ms());
        let Some(fan) = self.fan_out.as_ref() else {
            return;
        };
        let Some(h) = self.held.get_mut(key) else {
            return;
        };
        if !matches!(h.state, ShardState::Processing { .. }) {
            return;
        }
        if h.subscription.is_none() {
            let position = start_position(&h.cp.lease().lease.checkpoint, h.cp.largest_delivered());
            tracing::debug!(shard = key, ?position, "subscribing");
            h.subscription = Some(Subscription::start(fan, key, position));
        }
        for _ in 0..EVENTS_PER_TICK {
            let Some(h) = self.held.get_mut(key) else {
                return;
            };
            let Some(sub) = h.subscription.as_mut() else {
                return;
            };
            let delivery = match sub.rx.try_recv() {
                Ok(d) => d,
                Err(TryRecvError::Empty) => {
                    h.next_poll = now + idle_wait;
                    return;
                }
                Err(TryRecvError::Disconnected) => Delivery::Failed(
                    freshet_client::Error::Transport("the subscription task ended".into()),
                ),
            };
            match delivery {
                Delivery::Event(ev) => {
                    if self.deliver(key, ev, now).await {
                        return;
                    }
                }
                Delivery::Failed(e) => {
                    self.metrics.errors += 1;
                    tracing::warn!(shard = key, error = %e, "subscription failed; subscribing again");
                    if let Some(h) = self.held.get_mut(key) {
                        h.subscription = None;
                    }
                    self.backoff(key, now);
                    return;
                }
            }
        }
        if let Some(h) = self.held.get_mut(key) {
            h.next_poll = now;
        }
    }

    /// Delivers one event's records; at the shard's end, moves on to SHARD_END.
    /// Returns whether the shard is no longer processing.
    async fn deliver(&mut self, key: &str, ev: SubscribeToShardEvent, now: u64) -> bool {
        let range = self.shards.get(key).map(|s| s.hash_key_range);
        let Some(h) = self.held.get_mut(key) else {
            return true;
        };
        let ShardState::Processing { skip_through, .. } = &h.state else {
            return true;
        };
        // Skip what the checkpoint covers and what was delivered already (a
        // subscription opened again starts at the last delivered record).
        let floor = match (skip_through.as_ref(), h.cp.largest_delivered()) {
            (Some(a), Some(b)) => Some(a.max(b).clone()),
            (a, b) => a.or(b).cloned(),
        };
        let records = super::shard::user_records_after(&ev.records, range.as_ref(), floor.as_ref());
        self.metrics
            .millis_behind_latest
            .insert(key.to_string(), ev.millis_behind_latest);
        h.idle = 0;
        if !records.is_empty() {
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
                millis_behind_latest: Some(ev.millis_behind_latest),
            };
            h.processor.process_records(input, &mut h.cp).await;
        }
        if ev.child_shards.is_none() {
            return false;
        }
        h.subscription = None;
        h.state = ShardState::ShardEnded;
        h.cp.set_shard_end();
        self.end_shard(key, now).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_start_after_the_delivered_records_else_at_the_checkpoint() {
        let seq = ExtendedSequence::new("42", 3);
        assert_eq!(
            start_position(&Checkpoint::TrimHorizon, Some(&seq)),
            StartingPosition::AtSequenceNumber("42".into())
        );
        assert_eq!(
            start_position(&Checkpoint::Sequence(ExtendedSequence::new("7", 0)), None),
            StartingPosition::AtSequenceNumber("7".into())
        );
        assert_eq!(
            start_position(&Checkpoint::Latest, None),
            StartingPosition::Latest
        );
        assert_eq!(
            start_position(&Checkpoint::TrimHorizon, None),
            StartingPosition::TrimHorizon
        );
    }
}
