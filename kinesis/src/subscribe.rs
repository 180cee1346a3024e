//! SubscribeToShard: an enhanced fan-out subscription streams a shard's records to a
//! registered consumer as `application/vnd.amazon.eventstream` messages.
//!
//! The reply opens with an `initial-response` event, then carries
//! `SubscribeToShardEvent`s: one as soon as the subscription starts, one whenever
//! acknowledged records become readable (woken by [`freshet_storage::Engine::watch_shard`],
//! no polling interval), and a keep-alive with no records after [`KEEPALIVE`] of
//! silence. When the shard is closed and read to its end, an event carries its
//! ChildShards and the stream ends. After the subscription's lifetime (5 minutes,
//! `--subscription-ttl-ms`) the reply ends cleanly.
//!
//! One subscription per consumer and shard: a second one within [`TAKEOVER_AFTER`] of
//! the first is refused with ResourceInUseException; a later one takes over and the
//! first ends with a ResourceInUseException exception message (as Kinesis documents).
//!
//! ContinuationSequenceNumber is, as AWS sends it, not the last record's sequence number
//! but the position where the subscription stopped: a [`Continuation`] (38 digits, never
//! a record's number) that resumes at the next record with AFTER_SEQUENCE_NUMBER (or
//! AT_SEQUENCE_NUMBER, here and in GetShardIterator), before any record as well. The
//! earlier form, the shard's first sequence number minus one ([`before_first`]), is
//! still accepted as "from the shard's first record".

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use freshet_storage::{Continuation, ReadOutcome, SequenceNumber, StartingPosition};
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::{sleep_until, Instant};

use crate::actions::consumers::{by_arn, check_active};
use crate::actions::{child_shards_value, record_value, resolve_shard_id, retained_shard};
use crate::state::KinesisState;
use freshet_protocol::eventstream;
use freshet_protocol::kinesis::model;
use freshet_protocol::request::{missing, Req};
use freshet_protocol::validate::validate;
use freshet_protocol::value::{decode, map, Encoding, Value};
use freshet_protocol::{ApiError, ApiResult};

/// Longest silence before a keep-alive event.
pub const KEEPALIVE: Duration = Duration::from_secs(5);
/// How long a subscription is protected from being taken over.
pub const TAKEOVER_AFTER: Duration = Duration::from_secs(5);
/// Default lifetime of a subscription, ms (Kinesis: 5 minutes).
pub const SUBSCRIPTION_TTL_MS: i64 = 300_000;
/// Most records in one event.
pub const MAX_EVENT_RECORDS: usize = 10_000;
/// Most data bytes in one event.
pub const MAX_EVENT_BYTES: usize = 2 * 1024 * 1024;
/// Event frames buffered between the subscription task and the connection.
const CHANNEL_FRAMES: usize = 8;

/// The continuation this server sent before a shard's first record in earlier
/// versions: its offset-0 sequence number minus one. Still accepted.
pub fn before_first(shard_index: u64) -> u128 {
    SequenceNumber::new(shard_index, 0).to_u128() - 1
}

/// ContinuationSequenceNumber for a subscription positioned at `next_offset`.
pub fn continuation(shard_index: u64, next_offset: u64) -> String {
    Continuation {
        shard_index,
        next_offset,
    }
    .to_string()
}

/// A starting position given as a continuation (this version's or the earlier
/// before-the-first-record form): where the next record is, to read at. `None` for a
/// record's sequence number or anything else.
pub fn resume_at(s: &str, shard_index: u64) -> Option<SequenceNumber> {
    if let Some(c) = Continuation::parse(s) {
        return Some(c.next());
    }
    (s.parse::<u128>().ok() == Some(before_first(shard_index)))
        .then(|| SequenceNumber::new(shard_index, 0))
}

#[derive(Debug)]
struct Active {
    id: u64,
    started: Instant,
    takeover: Arc<Notify>,
}

/// The live subscriptions, by consumer ARN and shard.
#[derive(Debug)]
pub struct Subscriptions {
    active: Mutex<HashMap<(String, String), Active>>,
    next_id: AtomicU64,
    shutdown: watch::Sender<bool>,
}

impl Default for Subscriptions {
    fn default() -> Self {
        Subscriptions {
            active: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            shutdown: watch::channel(false).0,
        }
    }
}

impl Subscriptions {
    /// Ends every subscription (server shutdown): their replies end cleanly.
    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }

    /// Number of live subscriptions.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no subscription is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live subscriptions as (consumer ARN, shard id, ms since it started).
    pub fn active(&self) -> Vec<(String, String, u64)> {
        self.lock()
            .iter()
            .map(|((arn, shard), a)| {
                let age = u64::try_from(a.started.elapsed().as_millis()).unwrap_or(u64::MAX);
                (arn.clone(), shard.clone(), age)
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Active>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims consumer+shard, taking over an older subscription.
    fn claim(&self, arn: &str, shard: &str, account: &str) -> ApiResult<(u64, Arc<Notify>)> {
        let key = (arn.to_string(), shard.to_string());
        let mut map = self.lock();
        if let Some(old) = map.get(&key) {
            if old.started.elapsed() < TAKEOVER_AFTER {
                return Err(ApiError::in_use(format!(
                    "Another active subscription exists for consumer {arn} on shard {shard} under account {account}."
                )));
            }
            old.takeover.notify_one();
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let takeover = Arc::new(Notify::new());
        map.insert(
            key,
            Active {
                id,
                started: Instant::now(),
                takeover: Arc::clone(&takeover),
            },
        );
        Ok((id, takeover))
    }

    fn release(&self, arn: &str, shard: &str, id: u64) {
        let key = (arn.to_string(), shard.to_string());
        let mut map = self.lock();
        if map.get(&key).is_some_and(|a| a.id == id) {
            map.remove(&key);
        }
    }
}

/// Releases a claim when its subscription task ends.
struct Claim {
    state: Arc<KinesisState>,
    arn: String,
    shard: String,
    id: u64,
    takeover: Arc<Notify>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.state
            .subscriptions
            .release(&self.arn, &self.shard, self.id);
    }
}

/// What a valid request resolved to.
#[derive(Debug, Clone)]
struct Plan {
    arn: String,
    stream: String,
    shard: String,
    shard_index: u64,
    offset: u64,
}

fn sequence_arg(s: &str, shard_index: u64) -> ApiResult<SequenceNumber> {
    if let Some(at) = resume_at(s, shard_index) {
        return Ok(at);
    }
    s.parse()
        .map_err(|_| ApiError::invalid(format!("Invalid SequenceNumber {s}.")))
}

fn position(pos: Req<'_>, shard_index: u64, now_ms: i64) -> ApiResult<StartingPosition> {
    let ty = pos.str("Type")?;
    let seq = || {
        pos.opt_str("SequenceNumber")?
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "Must specify a SequenceNumber for a StartingPosition of type {ty}."
                ))
            })
            .and_then(|s| sequence_arg(s, shard_index))
    };
    Ok(match ty {
        "TRIM_HORIZON" => StartingPosition::TrimHorizon,
        "LATEST" => StartingPosition::Latest,
        "AT_SEQUENCE_NUMBER" => StartingPosition::AtSequenceNumber(seq()?),
        "AFTER_SEQUENCE_NUMBER" => {
            let s = pos.str("SequenceNumber")?;
            if let Some(at) = resume_at(s, shard_index) {
                // A continuation: at the record after where the last subscription stopped.
                StartingPosition::AtSequenceNumber(at)
            } else {
                StartingPosition::AfterSequenceNumber(seq()?)
            }
        }
        _ => {
            // AT_TIMESTAMP (validation allows no other type).
            let t = pos.opt_timestamp_ms("Timestamp")?.ok_or_else(|| {
                ApiError::invalid(
                    "Must specify a Timestamp for a StartingPosition of type AT_TIMESTAMP.",
                )
            })?;
            StartingPosition::AtTimestamp(t.min(now_ms))
        }
    })
}

/// Validates a request and resolves its starting offset (blocking: engine calls).
fn plan(state: &KinesisState, enc: Encoding, body: &[u8]) -> ApiResult<Plan> {
    let doc = decode(enc, body).map_err(|e| ApiError::serialization(e.0))?;
    let shape = model::input("SubscribeToShard")
        .ok_or_else(|| ApiError::internal("SubscribeToShard has no input shape"))?;
    let doc = validate(shape, &doc)?;
    let req = Req::new(&doc);
    let arn = req.str("ConsumerARN")?;
    let shard = req.str("ShardId")?;
    let pos = req
        .opt_struct("StartingPosition")?
        .ok_or_else(|| missing("StartingPosition"))?;
    let consumer = by_arn(state, arn)?;
    check_active(state, &consumer, arn)?;
    let (shard, _) = resolve_shard_id(state, &consumer.stream, shard)?;
    let shard = shard.as_str();
    let (_, index) = retained_shard(state, &consumer.stream, shard)?;
    let position = position(pos, index, state.now_ms())?;
    let offset = state
        .engine
        .start_offset(&consumer.stream, shard, position)
        .map_err(|e| state.err(e))?;
    Ok(Plan {
        arn: arn.to_string(),
        stream: consumer.stream,
        shard: shard.to_string(),
        shard_index: index,
        offset,
    })
}

/// Starts a subscription: validates the request and returns the receiving end of its
/// event stream (the first frame is the initial response). Errors found before the
/// stream starts are ordinary error replies.
pub async fn open(
    state: Arc<KinesisState>,
    enc: Encoding,
    body: Bytes,
) -> ApiResult<mpsc::Receiver<Bytes>> {
    let st = Arc::clone(&state);
    let (plan, watch) = tokio::task::spawn_blocking(move || {
        let plan = plan(&st, enc, &body)?;
        let watch = st
            .engine
            .watch_shard(&plan.stream, &plan.shard)
            .map_err(|e| st.err(e))?;
        Ok::<_, ApiError>((plan, watch))
    })
    .await
    .map_err(|e| ApiError::internal(format!("Internal service failure: {e}")))??;
    let (id, takeover) =
        state
            .subscriptions
            .claim(&plan.arn, &plan.shard, &state.cfg.account_id)?;
    let claim = Claim {
        state: Arc::clone(&state),
        arn: plan.arn.clone(),
        shard: plan.shard.clone(),
        id,
        takeover,
    };
    let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
    tokio::spawn(pump(state, enc, plan, watch, tx, claim));
    Ok(rx)
}

/// Reads the next event's worth of records (blocking), and checks every so often that
/// the consumer is still registered.
async fn read(
    state: &Arc<KinesisState>,
    plan: &Plan,
    offset: u64,
    check_consumer: bool,
) -> ApiResult<ReadOutcome> {
    let st = Arc::clone(state);
    let p = plan.clone();
    tokio::task::spawn_blocking(move || {
        if check_consumer {
            by_arn(&st, &p.arn)?;
        }
        st.engine
            .read(
                &p.stream,
                &p.shard,
                offset,
                MAX_EVENT_RECORDS,
                MAX_EVENT_BYTES,
            )
            .map_err(|e| st.err(e))
    })
    .await
    .map_err(|e| ApiError::internal(format!("Internal service failure: {e}")))?
}

fn event_doc(out: &ReadOutcome, shard_index: u64) -> Value {
    map([
        (
            "Records",
            Value::List(out.records.iter().map(record_value).collect()),
        ),
        (
            "ContinuationSequenceNumber",
            Value::str(continuation(shard_index, out.next_offset)),
        ),
        (
            "MillisBehindLatest",
            Value::Int(i128::from(out.millis_behind_latest)),
        ),
        (
            "ChildShards",
            out.child_shards
                .as_deref()
                .map(child_shards_value)
                .unwrap_or(Value::Null),
        ),
    ])
}

/// Why a subscription's wait ended.
enum Wake {
    Records,
    SourceGone,
    Keepalive,
    Stop,
    TakenOver,
}

/// The subscription task: sends the initial response, then events, until the shard
/// ends, the lifetime passes, the client goes away, the server stops or another
/// subscription takes over.
async fn pump(
    state: Arc<KinesisState>,
    enc: Encoding,
    plan: Plan,
    mut watch: watch::Receiver<u64>,
    tx: mpsc::Sender<Bytes>,
    claim: Claim,
) {
    if tx.send(eventstream::initial_response(enc)).await.is_err() {
        return;
    }
    let ttl = Duration::from_millis(u64::try_from(state.cfg.subscription_ttl_ms).unwrap_or(0));
    let deadline = Instant::now() + ttl;
    let mut shutdown = state.subscriptions.shutdown.subscribe();
    let mut offset = plan.offset;
    let mut last_event: Option<Instant> = None;
    let mut source_gone = false;
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        watch.borrow_and_update();
        let due = last_event.is_none_or(|t| t.elapsed() >= KEEPALIVE);
        let out = match read(&state, &plan, offset, due && last_event.is_some()).await {
            Ok(out) => out,
            Err(e) => {
                let _ = tx.send(eventstream::exception(enc, &e)).await;
                return;
            }
        };
        offset = out.next_offset;
        let ended = out.child_shards.is_some();
        if !out.records.is_empty() || ended || due {
            let bytes: usize = out.records.iter().map(|r| r.data.len()).sum();
            state.metrics.outgoing(
                &plan.stream,
                &plan.shard,
                out.records.len() as u64,
                bytes as u64,
                out.millis_behind_latest,
            );
            let doc = event_doc(&out, plan.shard_index);
            let frame = eventstream::event(enc, "SubscribeToShardEvent", &doc);
            if tx.send(frame).await.is_err() {
                return;
            }
            last_event = Some(Instant::now());
        }
        if ended || source_gone || Instant::now() >= deadline {
            return;
        }
        if !out.records.is_empty() && *watch.borrow() > offset {
            continue;
        }
        let keepalive_at = last_event.map_or_else(Instant::now, |t| t + KEEPALIVE);
        let wake = tokio::select! {
            _ = claim.takeover.notified() => Wake::TakenOver,
            _ = shutdown.changed() => Wake::Stop,
            _ = tx.closed() => Wake::Stop,
            _ = sleep_until(deadline) => Wake::Stop,
            r = watch.changed() => if r.is_ok() { Wake::Records } else { Wake::SourceGone },
            _ = sleep_until(keepalive_at) => Wake::Keepalive,
        };
        match wake {
            Wake::Records | Wake::Keepalive => {}
            Wake::SourceGone => source_gone = true,
            Wake::Stop => return,
            Wake::TakenOver => {
                let e = ApiError::in_use(format!(
                    "Another subscription for consumer {} on shard {} took over this one.",
                    plan.arn, plan.shard
                ));
                let _ = tx.send(eventstream::exception(enc, &e)).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_continuation_is_not_the_last_record_and_resumes_at_the_next() -> Result<(), String> {
        let c = continuation(3, 5);
        assert_eq!(c.len(), 38);
        assert_ne!(c, SequenceNumber::new(3, 4).to_string());
        let at = sequence_arg(&c, 3).map_err(|e| e.to_string())?;
        assert_eq!(at, SequenceNumber::new(3, 5));
        let before = sequence_arg(&continuation(3, 0), 3).map_err(|e| e.to_string())?;
        assert_eq!(before, SequenceNumber::new(3, 0));
        Ok(())
    }

    #[test]
    fn the_before_first_continuation_resumes_at_offset_zero() -> Result<(), String> {
        let seq = sequence_arg(&before_first(7).to_string(), 7).map_err(|e| e.to_string())?;
        assert_eq!(seq, SequenceNumber::new(7, 0));
        Ok(())
    }
}
