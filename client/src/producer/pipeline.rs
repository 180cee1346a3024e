//! One stream's buffers: per-shard aggregation bins, the queue of Kinesis records
//! ready to send, the flusher task that collects them into `PutRecords` calls, and the
//! handling of each call's results (success, retry with re-aggregation, expiry).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Notify, Semaphore};

use super::limiter::TokenBucket;
use super::metrics::ProducerMetrics;
use super::shard_map::ShardMap;
use super::{ProducerConfig, PutReceipt};
use crate::aggregation::{Aggregator, Rejected};
use crate::api::KinesisApi;
use crate::error::{Error, Result};
use crate::http::RetryPolicy;
use crate::types::{PutRecordOutput, PutRecordsEntry, RecordError};

/// A user record accepted and not yet finished.
pub(crate) struct Pending {
    pub entry: PutRecordsEntry,
    pub hash_key: u128,
    pub arrival: Instant,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub tx: oneshot::Sender<Result<PutReceipt>>,
    /// Byte permits it holds of the back-pressure budget (plus one record permit).
    pub bytes: u32,
}

/// User records being aggregated for one predicted shard.
struct Bin {
    agg: Aggregator,
    users: Vec<Pending>,
    oldest: Instant,
}

/// The body of an outgoing Kinesis record: a plain record, or an aggregate encoded
/// only when sent (outside the state lock).
enum Body {
    Plain(PutRecordsEntry),
    Aggregate(Box<Aggregator>),
}

/// A Kinesis record ready to send, with the user records it carries.
struct Outgoing {
    predicted: Arc<str>,
    body: Body,
    /// Bytes it counts against the limits.
    billed: usize,
    users: Vec<Pending>,
    oldest: Instant,
}

impl Outgoing {
    fn plain(predicted: Arc<str>, p: Pending) -> Outgoing {
        Outgoing {
            predicted,
            billed: p.entry.billed_len(),
            body: Body::Plain(p.entry.clone()),
            oldest: p.arrival,
            users: vec![p],
        }
    }

    /// The Kinesis record to send (encodes an aggregate; the encoding is kept).
    fn entry(&mut self) -> Option<PutRecordsEntry> {
        match &mut self.body {
            Body::Plain(e) => Some(e.clone()),
            Body::Aggregate(agg) => {
                let e = agg.finish()?;
                self.body = Body::Plain(e.clone());
                Some(e)
            }
        }
    }
}

struct State {
    map: Arc<ShardMap>,
    bins: HashMap<Arc<str>, Bin>,
    ready: VecDeque<Outgoing>,
    ready_bytes: usize,
    ready_bytes_by_shard: HashMap<Arc<str>, usize>,
    limiters: HashMap<Arc<str>, TokenBucket>,
    flush_requested: bool,
    /// User records of the last finished bin: the capacity of new bins.
    bin_hint: usize,
}

/// One stream's producer machinery.
pub(crate) struct Pipeline {
    stream: String,
    api: Arc<dyn KinesisApi>,
    cfg: ProducerConfig,
    metrics: Arc<ProducerMetrics>,
    state: Mutex<State>,
    wake: Notify,
    refresh: tokio::sync::Mutex<()>,
    in_flight: Arc<Semaphore>,
    stopped: AtomicBool,
    me: Weak<Pipeline>,
    budget: Arc<Budget>,
}

/// The back-pressure budget of a producer: permits taken when a record is accepted
/// and given back, in bulk, when it finishes.
#[derive(Debug)]
pub(crate) struct Budget {
    /// One permit per outstanding user record.
    pub records: Semaphore,
    /// One permit per outstanding byte.
    pub bytes: Semaphore,
}

/// User records finished in one go: outcomes sent at once, permits and counters
/// returned together by [`Finished::apply`].
#[derive(Default)]
struct Finished {
    bytes: usize,
    put: u64,
    failed: u64,
    outcomes: Vec<(oneshot::Sender<Result<PutReceipt>>, Result<PutReceipt>)>,
}

impl Finished {
    fn one(&mut self, p: Pending, result: Result<PutReceipt>) {
        self.bytes += p.bytes as usize;
        if result.is_ok() {
            self.put += 1;
        } else {
            self.failed += 1;
        }
        self.outcomes.push((p.tx, result));
    }

    /// Returns the permits, counts the outcomes, then tells the callers (so a caller
    /// that sees its outcome also sees it counted).
    fn apply(self, budget: &Budget, metrics: &ProducerMetrics) {
        budget.records.add_permits(self.outcomes.len());
        budget.bytes.add_permits(self.bytes);
        ProducerMetrics::add(&metrics.user_records_put, self.put);
        ProducerMetrics::add(&metrics.user_records_failed, self.failed);
        for (tx, result) in self.outcomes {
            // The caller may have dropped its future; the outcome is then discarded.
            let _ = tx.send(result);
        }
    }
}

impl Pipeline {
    /// Loads the shard map and starts the flusher task.
    pub(crate) async fn start(
        api: Arc<dyn KinesisApi>,
        stream: String,
        cfg: ProducerConfig,
        metrics: Arc<ProducerMetrics>,
        budget: Arc<Budget>,
    ) -> Result<Arc<Pipeline>> {
        let shards = api.list_shards(&stream).await?;
        ProducerMetrics::add(&metrics.shard_map_refreshes, 1);
        let p = Arc::new_cyclic(|me| Pipeline {
            me: me.clone(),
            budget,
            stream,
            in_flight: Arc::new(Semaphore::new(cfg.max_in_flight_requests)),
            cfg,
            api,
            metrics,
            state: Mutex::new(State {
                map: Arc::new(ShardMap::new(&shards, 1)),
                bins: HashMap::new(),
                ready: VecDeque::new(),
                ready_bytes: 0,
                ready_bytes_by_shard: HashMap::new(),
                limiters: HashMap::new(),
                flush_requested: false,
                bin_hint: 16,
            }),
            wake: Notify::new(),
            refresh: tokio::sync::Mutex::new(()),
            stopped: AtomicBool::new(false),
        });
        tokio::spawn(Arc::clone(&p).run());
        Ok(p)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops the flusher (records still buffered fail as shut down when it drops them).
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// Asks the flusher to send everything buffered now.
    pub(crate) fn request_flush(&self) {
        self.lock().flush_requested = true;
        self.wake.notify_one();
    }

    /// Adds a user record to the bin of its predicted shard.
    pub(crate) fn add(&self, p: Pending) {
        let urgent = {
            let mut st = self.lock();
            self.add_locked(&mut st, p);
            self.urgent(&st)
        };
        if urgent {
            self.wake.notify_one();
        }
    }

    fn add_locked(&self, st: &mut State, p: Pending) {
        let predicted: Arc<str> = match st.map.predict(p.hash_key) {
            Some(id) => Arc::clone(id),
            None => Arc::from(""),
        };
        let hint = st.bin_hint;
        let bin = st
            .bins
            .entry(Arc::clone(&predicted))
            .or_insert_with(|| Bin {
                agg: Aggregator::new(
                    self.cfg.aggregation_max_bytes,
                    self.cfg.aggregation_max_count,
                ),
                users: Vec::with_capacity(hint),
                oldest: p.arrival,
            });
        match bin.agg.try_add(&p.entry) {
            Ok(()) => {
                bin.oldest = bin.oldest.min(p.arrival);
                bin.users.push(p);
                return;
            }
            Err(Rejected::TooLarge) => {
                // Sent alone, after the records of its shard already waiting in the
                // bin: a key's records keep their order.
                if let Some(out) = take_bin(st, &predicted) {
                    push_ready(st, out);
                }
                push_ready(st, Outgoing::plain(predicted, p));
                return;
            }
            Err(Rejected::Full) => {}
        }
        // Full: ship the bin and start a new one with this record.
        if let Some(out) = take_bin(st, &predicted) {
            push_ready(st, out);
        }
        let mut agg = Aggregator::new(
            self.cfg.aggregation_max_bytes,
            self.cfg.aggregation_max_count,
        );
        if agg.try_add(&p.entry).is_err() {
            push_ready(st, Outgoing::plain(predicted, p));
            return;
        }
        let oldest = p.arrival;
        let mut users = Vec::with_capacity(st.bin_hint);
        users.push(p);
        st.bins.insert(predicted, Bin { agg, oldest, users });
    }

    /// Whether the ready queue should be sent now regardless of time.
    fn urgent(&self, st: &State) -> bool {
        st.flush_requested
            || st.ready.len() >= self.cfg.collection_max_count
            || st.ready_bytes >= self.cfg.collection_max_bytes
            || st
                .ready_bytes_by_shard
                .values()
                .any(|&b| b >= self.cfg.shard_flush_bytes)
    }

    /// The flusher: wakes on triggers and on deadlines, sends batches.
    async fn run(self: Arc<Self>) {
        let tick = (self.cfg.max_buffered_time / 2).max(Duration::from_millis(1));
        loop {
            if self.stopped.load(Ordering::Acquire) {
                return;
            }
            let (batches, next) = self.collect(Instant::now());
            for batch in batches {
                let permit = match Arc::clone(&self.in_flight).acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                };
                let me = Arc::clone(&self);
                tokio::spawn(async move {
                    me.send(batch).await;
                    drop(permit);
                });
            }
            let sleep = next.unwrap_or(tick).min(tick);
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    }

    /// Moves due bins to the ready queue and cuts the batches to send now; returns
    /// them and how soon to look again.
    fn collect(&self, now: Instant) -> (Vec<Vec<Outgoing>>, Option<Duration>) {
        let mut st = self.lock();
        let st = &mut *st;
        let flush = st.flush_requested;
        let due_keys: Vec<Arc<str>> = st
            .bins
            .iter()
            .filter(|(_, b)| flush || b.oldest + self.cfg.max_buffered_time <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in due_keys {
            if let Some(out) = take_bin(st, &k) {
                push_ready(st, out);
            }
        }
        let mut next: Option<Duration> = st
            .bins
            .values()
            .map(|b| (b.oldest + self.cfg.max_buffered_time).saturating_duration_since(now))
            .min();
        let mut batches = Vec::new();
        let mut deferred: Vec<Outgoing> = Vec::new();
        loop {
            let urgent = self.urgent(st)
                || st
                    .ready
                    .front()
                    .is_some_and(|o| o.oldest + self.cfg.max_buffered_time <= now);
            if !urgent || st.ready.is_empty() {
                break;
            }
            let mut batch = Vec::new();
            let mut bytes = 0usize;
            while let Some(out) = st.ready.pop_front() {
                let len = out.billed;
                st.ready_bytes = st.ready_bytes.saturating_sub(len);
                if let Some(b) = st.ready_bytes_by_shard.get_mut(&out.predicted) {
                    *b = b.saturating_sub(len);
                }
                let Some(out) = self.drop_expired(out, now) else {
                    continue;
                };
                if let Some(pct) = self.cfg.rate_limit_percent {
                    let bucket = st
                        .limiters
                        .entry(out.predicted.clone())
                        .or_insert_with(|| TokenBucket::new(pct, now));
                    if !bucket.try_take(len, now) {
                        let wait = bucket.wait_for(len);
                        next = Some(next.map_or(wait, |n| n.min(wait)));
                        deferred.push(out);
                        continue;
                    }
                }
                if batch.len() + 1 > self.cfg.collection_max_count
                    || bytes + len > self.cfg.collection_max_bytes
                {
                    // Does not fit: it heads the next batch.
                    st.ready_bytes += len;
                    *st.ready_bytes_by_shard
                        .entry(out.predicted.clone())
                        .or_default() += len;
                    st.ready.push_front(out);
                    break;
                }
                bytes += len;
                batch.push(out);
            }
            if batch.is_empty() {
                break;
            }
            batches.push(batch);
        }
        for out in deferred.into_iter().rev() {
            let len = out.billed;
            st.ready_bytes += len;
            *st.ready_bytes_by_shard
                .entry(out.predicted.clone())
                .or_default() += len;
            st.ready.push_front(out);
        }
        st.ready_bytes_by_shard.retain(|_, b| *b > 0);
        if st.bins.is_empty() && st.ready.is_empty() {
            st.flush_requested = false;
        }
        (batches, next)
    }

    /// Fails the expired user records of `out`; re-aggregates the rest when some
    /// expired. Returns the record still to send, if intact.
    fn drop_expired(&self, out: Outgoing, now: Instant) -> Option<Outgoing> {
        let ttl = self.cfg.record_ttl;
        if out.oldest + ttl > now {
            return Some(out);
        }
        let mut keep = Vec::new();
        let mut done = Finished::default();
        for u in out.users {
            if u.arrival + ttl <= now {
                let err = Error::RecordExpired {
                    attempts: u.attempts,
                    last_error: u.last_error.clone().unwrap_or_else(|| "none".into()),
                };
                done.one(u, Err(err));
            } else {
                keep.push(u);
            }
        }
        done.apply(&self.budget, &self.metrics);
        // Called with the state locked: re-add through a task to avoid re-entry.
        if !keep.is_empty() {
            self.requeue_later(keep, Duration::ZERO);
        }
        None
    }

    fn requeue_later(&self, users: Vec<Pending>, delay: Duration) {
        let me = self.me.clone();
        tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            match me.upgrade() {
                Some(me) => me.add_many(users),
                None => {
                    // The producer is gone: the records' futures resolve as shut down
                    // when their senders drop here.
                    drop(users);
                }
            }
        });
    }

    fn add_many(&self, users: Vec<Pending>) {
        {
            let mut st = self.lock();
            for u in users {
                self.add_locked(&mut st, u);
            }
        }
        self.wake.notify_one();
    }

    /// Sends one `PutRecords` call and handles its results.
    async fn send(&self, mut batch: Vec<Outgoing>) {
        let now = Instant::now();
        let mut buffering_us = 0u64;
        for out in &mut batch {
            for u in &mut out.users {
                u.attempts += 1;
                buffering_us += now.saturating_duration_since(u.arrival).as_micros() as u64;
            }
        }
        ProducerMetrics::add(&self.metrics.buffering_time_us, buffering_us);
        ProducerMetrics::add(&self.metrics.put_records_calls, 1);
        let mut entries: Vec<PutRecordsEntry> = Vec::with_capacity(batch.len());
        for out in &mut batch {
            match out.entry() {
                Some(e) => entries.push(e),
                // An empty aggregate is never queued; should one be, skip the call.
                None => return,
            }
        }
        let result = self.api.put_records(&self.stream, entries).await;
        ProducerMetrics::add(
            &self.metrics.request_time_us,
            now.elapsed().as_micros() as u64,
        );
        match result {
            Ok(output) => {
                let mut results = output.records.into_iter();
                for out in batch {
                    match results.next() {
                        Some(Ok(put)) => self.on_success(out, put).await,
                        Some(Err(e)) => self.on_failure(out, &e),
                        None => self.on_failure(
                            out,
                            &RecordError {
                                error_code: "InternalFailure".into(),
                                error_message: "missing result".into(),
                            },
                        ),
                    }
                }
            }
            Err(e) if e.is_retryable() => {
                let code = if matches!(e, Error::Throttled(_)) {
                    "ProvisionedThroughputExceededException"
                } else {
                    "InternalFailure"
                };
                let err = RecordError {
                    error_code: code.into(),
                    error_message: e.to_string(),
                };
                for out in batch {
                    self.on_failure(out, &err);
                }
            }
            Err(e) => {
                tracing::warn!(stream = %self.stream, error = %e, "PutRecords refused");
                let mut done = Finished::default();
                for out in batch {
                    ProducerMetrics::add(&self.metrics.kinesis_records_failed, 1);
                    for u in out.users {
                        done.one(u, Err(e.clone()));
                    }
                }
                done.apply(&self.budget, &self.metrics);
            }
        }
    }

    /// A Kinesis record was stored. An aggregate that landed on a shard other than the
    /// predicted one counts only if every user record hashes into that shard (a
    /// consumer drops it otherwise); if not, its user records go again.
    async fn on_success(&self, out: Outgoing, put: PutRecordOutput) {
        if *put.shard_id != *out.predicted {
            let (generation, current) = {
                let st = self.lock();
                let m = &st.map;
                (
                    m.generation,
                    m.is_open(&put.shard_id) && !m.is_open(&out.predicted),
                )
            };
            if !current {
                self.refresh_map(generation).await;
            }
            if out.users.len() > 1 {
                let range = self.lock().map.range_of(&put.shard_id);
                let fits = range.is_some_and(|r| out.users.iter().all(|u| r.contains(u.hash_key)));
                if !fits {
                    tracing::debug!(stream = %self.stream, predicted = %out.predicted, actual = %put.shard_id, "aggregate landed on another shard; sending its records again");
                    let wrong = RecordError {
                        error_code: "WrongShard".into(),
                        error_message: format!(
                            "aggregate predicted for {} landed on {}",
                            out.predicted, put.shard_id
                        ),
                    };
                    self.on_failure(out, &wrong);
                    return;
                }
            }
        }
        ProducerMetrics::add(&self.metrics.kinesis_records_put, 1);
        let aggregated = out.users.len() > 1;
        let shard_id: Arc<str> = Arc::from(put.shard_id);
        let sequence_number: Arc<str> = Arc::from(put.sequence_number);
        let mut done = Finished::default();
        for (i, u) in out.users.into_iter().enumerate() {
            let receipt = PutReceipt {
                shard_id: Arc::clone(&shard_id),
                sequence_number: Arc::clone(&sequence_number),
                sub_sequence_number: if aggregated { i as u64 } else { 0 },
                attempts: u.attempts,
            };
            done.one(u, Ok(receipt));
        }
        done.apply(&self.budget, &self.metrics);
    }

    /// A Kinesis record failed: its user records fail (throttled with
    /// `fail_if_throttled`, or expired) or go again after a backoff.
    fn on_failure(&self, out: Outgoing, e: &RecordError) {
        ProducerMetrics::add(&self.metrics.kinesis_records_failed, 1);
        let now = Instant::now();
        let message = format!("{}: {}", e.error_code, e.error_message);
        let mut retry = Vec::new();
        let mut max_attempts = 0;
        let mut done = Finished::default();
        for mut u in out.users {
            u.last_error = Some(message.clone());
            if e.is_throttling() && self.cfg.fail_if_throttled {
                done.one(u, Err(Error::Throttled(e.error_message.clone())));
            } else if u.arrival + self.cfg.record_ttl <= now {
                let err = Error::RecordExpired {
                    attempts: u.attempts,
                    last_error: message.clone(),
                };
                done.one(u, Err(err));
            } else {
                max_attempts = max_attempts.max(u.attempts);
                retry.push(u);
            }
        }
        done.apply(&self.budget, &self.metrics);
        if retry.is_empty() {
            return;
        }
        ProducerMetrics::add(&self.metrics.retries, retry.len() as u64);
        let policy = RetryPolicy {
            max_attempts: u32::MAX,
            base_delay: self.cfg.retry_base_delay,
            max_delay: self.cfg.retry_max_delay,
        };
        // A wrong-shard landing is not the service's fault: go again at once.
        let delay = if e.error_code == "WrongShard" {
            Duration::ZERO
        } else {
            policy.delay(max_attempts.saturating_sub(1))
        };
        self.requeue_later(retry, delay);
    }

    /// Reloads the shard map unless someone did since `seen` was read; records binned
    /// for shards no longer open are binned again.
    pub(crate) async fn refresh_map(&self, seen: u64) {
        let _one_at_a_time = self.refresh.lock().await;
        if self.lock().map.generation != seen {
            return;
        }
        let shards = match self.api.list_shards(&self.stream).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(stream = %self.stream, error = %e, "cannot reload the shard map");
                return;
            }
        };
        ProducerMetrics::add(&self.metrics.shard_map_refreshes, 1);
        let mut st = self.lock();
        let map = Arc::new(ShardMap::new(&shards, seen + 1));
        st.map = Arc::clone(&map);
        let stale: Vec<Arc<str>> = st
            .bins
            .keys()
            .filter(|k| !map.is_open(k))
            .cloned()
            .collect();
        for k in stale {
            if let Some(bin) = st.bins.remove(&k) {
                for u in bin.users {
                    self.add_locked(&mut st, u);
                }
            }
        }
        drop(st);
        self.wake.notify_one();
    }
}

/// Finishes the bin of `shard` into a Kinesis record.
fn take_bin(st: &mut State, shard: &Arc<str>) -> Option<Outgoing> {
    let mut bin = st.bins.remove(shard)?;
    st.bin_hint = bin.users.len().clamp(1, 4096);
    let (body, billed) = match bin.agg.len() {
        0 => return None,
        // One record goes plain: cheap, so done now.
        1 => {
            let e = bin.agg.finish()?;
            let billed = e.billed_len();
            (Body::Plain(e), billed)
        }
        _ => {
            let billed = bin.agg.billed_len();
            (Body::Aggregate(Box::new(bin.agg)), billed)
        }
    };
    Some(Outgoing {
        predicted: Arc::clone(shard),
        body,
        billed,
        users: bin.users,
        oldest: bin.oldest,
    })
}

fn push_ready(st: &mut State, out: Outgoing) {
    let len = out.billed;
    st.ready_bytes += len;
    *st.ready_bytes_by_shard
        .entry(out.predicted.clone())
        .or_default() += len;
    st.ready.push_back(out);
}
