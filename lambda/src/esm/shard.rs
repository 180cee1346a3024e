//! One shard of one mapping: read as records arrive (the shard's watch, no polling),
//! filter, cut batches, invoke, apply the mapping's failure policy, checkpoint.
//!
//! With ParallelizationFactor N, a chunk of up to N batches is split into N lanes by
//! partition key (the key's MD5 hash key modulo N), the lanes run at once and each
//! keeps its keys' order; the checkpoint moves past the chunk when every lane is done.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use freshet_storage::{Engine, PutRecordInput, Record};
use serde_json::Value;
use tokio::sync::watch;

use super::checkpoint::{Checkpoint, WindowState};
use super::destinations::Destination;
use super::event::{write_event, EntrySizer, EventContext, WindowPart, EVENT_FRAME_BYTES};
use super::failure::{failure_record, Condition, LastAttempt};
use super::filter::{FilterCriteria, KinesisRecordView};
use super::params::MappingConfig;
use super::runner::{MappingStats, Shared};

/// The largest event a mapping sends (AWS's 6 MB synchronous payload).
const MAX_EVENT_BYTES: usize = 6_291_456;
/// Room for a batch's records in an event.
const MAX_ENTRIES_BYTES: usize = MAX_EVENT_BYTES - EVENT_FRAME_BYTES;
/// First retry delay; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long after a tumbling window's end it is closed by the clock.
const WINDOW_GRACE_MS: i64 = 250;

/// How a shard's processing ended.
#[derive(Debug)]
pub(crate) enum ShardEnd {
    /// A closed shard read to its end.
    Finished,
    /// The mapping stopped (disabled, updated, deleted, shut down).
    Stopped,
    /// The stream is gone.
    StreamGone,
}

/// What one shard worker needs.
pub(crate) struct ShardWorker {
    pub shared: Arc<Shared>,
    pub cfg: Arc<MappingConfig>,
    pub filters: Arc<FilterCriteria>,
    pub ctx: Arc<EventContext>,
    pub sizer: EntrySizer,
    pub stream: String,
    pub shard_id: Arc<str>,
    pub checkpoint: Checkpoint,
    pub stop: watch::Receiver<bool>,
    pub stats: Arc<MappingStats>,
}

/// The outcome of handing one batch to the function, after the failure policy.
enum BatchDone {
    /// Every record handled (delivered or given up).
    Done,
    /// The mapping is stopping: nothing past the last checkpoint counts.
    Stopped,
}

impl ShardWorker {
    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Runs until the shard is finished or the mapping stops.
    pub async fn run(mut self) -> ShardEnd {
        let engine = self.shared.engine.clone();
        let mut watch = match engine.watch_shard(&self.stream, &self.shard_id) {
            Ok(w) => w,
            Err(_) => return ShardEnd::StreamGone,
        };
        let factor = self.cfg.parallelization_factor.max(1) as usize;
        let batch_size = self.cfg.batch_size.max(1) as usize;
        let window = Duration::from_secs(u64::from(self.cfg.maximum_batching_window_in_seconds));
        loop {
            if self.stopped() {
                return ShardEnd::Stopped;
            }
            // Gather up to one batch per lane, waiting at most the batching window
            // for a full one.
            let want = batch_size * factor;
            let first_wait = Instant::now();
            let mut records: Vec<Record> = Vec::new();
            let mut next = self.checkpoint.next_offset;
            let mut bytes = 0usize;
            let mut closed_end;
            let budget = MAX_ENTRIES_BYTES * factor;
            'gather: loop {
                let state = match engine.shard_state(&self.stream, &self.shard_id) {
                    Ok(s) => s,
                    Err(_) => return ShardEnd::StreamGone,
                };
                closed_end = state.end_offset;
                let room = want - records.len();
                let read = match engine.read(
                    &self.stream,
                    &self.shard_id,
                    next,
                    room,
                    MAX_EVENT_BYTES * factor,
                ) {
                    Ok(r) => r,
                    Err(_) => return ShardEnd::StreamGone,
                };
                self.stats.set_behind(read.millis_behind_latest);
                for r in read.records {
                    let size = self.sizer.size(&r);
                    if bytes + size > budget && !records.is_empty() {
                        // The rest waits for the next batch: no short batch after a full one.
                        next = r.sequence_number.offset;
                        break 'gather;
                    }
                    bytes += size;
                    records.push(r);
                }
                next = read.next_offset;
                let full = records.len() >= want || bytes >= budget;
                let at_end = closed_end.is_some_and(|end| next >= end);
                if full || at_end || (!records.is_empty() && first_wait.elapsed() >= window) {
                    break;
                }
                // Nothing more yet: wait for the shard to grow (or the batching window to
                // pass, or an open tumbling window to end).
                let wait = if records.is_empty() {
                    match self.window_ends_in() {
                        Some(d) if d.is_zero() => break 'gather,
                        Some(d) => d,
                        None => Duration::from_secs(3600),
                    }
                } else {
                    window.saturating_sub(first_wait.elapsed())
                };
                let mut stop = self.stop.clone();
                tokio::select! {
                    changed = watch.changed() => {
                        if changed.is_err() {
                            // The shard's log is gone (stream deleted, engine closed).
                            return ShardEnd::StreamGone;
                        }
                    }
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => return ShardEnd::Stopped,
                }
            }
            if records.is_empty() && self.window_ends_in().is_some_and(|d| d.is_zero()) {
                // A tumbling window whose time is up closes without waiting for a record.
                if let Some(BatchDone::Stopped) = self.close_window_at_end().await {
                    return ShardEnd::Stopped;
                }
                if self.save().await.is_err() {
                    return ShardEnd::Stopped;
                }
                continue;
            }
            if records.is_empty() {
                if closed_end.is_some_and(|end| next >= end) {
                    if let Some(done) = self.close_window_at_end().await {
                        if matches!(done, BatchDone::Stopped) {
                            return ShardEnd::Stopped;
                        }
                    }
                    self.checkpoint.next_offset = next;
                    self.checkpoint.finished = true;
                    self.checkpoint.window = None;
                    if self.save().await.is_err() {
                        return ShardEnd::Stopped;
                    }
                    return ShardEnd::Finished;
                }
                continue;
            }
            // Records that fail the filters are skipped (and checkpointed past).
            if !self.filters.is_empty() {
                records.retain(|r| {
                    let seq = r.sequence_number.to_u128().to_string();
                    self.filters.matches(&KinesisRecordView {
                        partition_key: std::str::from_utf8(&r.partition_key).unwrap_or_default(),
                        sequence_number: &seq,
                        approximate_arrival_timestamp: r.arrival_ms as f64 / 1000.0,
                        data: &r.data,
                    })
                });
            }
            let outcome = if self.cfg.tumbling_window_in_seconds > 0 {
                self.process_windowed(records).await
            } else {
                self.process_lanes(records, factor, batch_size).await
            };
            if matches!(outcome, BatchDone::Stopped) {
                return ShardEnd::Stopped;
            }
            self.checkpoint.next_offset = next;
            if self.save().await.is_err() {
                return ShardEnd::Stopped;
            }
        }
    }

    /// How long until the open tumbling window ends (zero once it has), if one is open.
    fn window_ends_in(&self) -> Option<Duration> {
        let w = self.checkpoint.window.as_ref()?;
        // A little after the end, so records put in its last moments are read first.
        let end =
            w.start_ms + i64::from(self.cfg.tumbling_window_in_seconds) * 1000 + WINDOW_GRACE_MS;
        let left = end - crate::time_fmt::now_ms();
        Some(Duration::from_millis(u64::try_from(left).unwrap_or(0)))
    }

    async fn save(&self) -> Result<(), ()> {
        let catalog = self.shared.catalog.clone();
        let (uuid, shard, cp) = (
            self.cfg.uuid.clone(),
            self.shard_id.to_string(),
            self.checkpoint.clone(),
        );
        crate::catalog::blocking(move || catalog.put_checkpoint(&uuid, &shard, &cp))
            .await
            .map_err(|e| tracing::warn!(error = %e, "cannot save a mapping checkpoint"))
    }

    /// Splits records into lanes by partition key and runs the lanes at once, each
    /// batch after batch.
    async fn process_lanes(
        &self,
        records: Vec<Record>,
        factor: usize,
        batch_size: usize,
    ) -> BatchDone {
        if records.is_empty() {
            return BatchDone::Done;
        }
        let mut lanes: Vec<Vec<Record>> = (0..factor).map(|_| Vec::new()).collect();
        if factor == 1 {
            lanes[0] = records;
        } else {
            for r in records {
                let key = std::str::from_utf8(&r.partition_key).unwrap_or_default();
                let lane = (freshet_storage::hash_key_of(key) % factor as u128) as usize;
                lanes[lane].push(r);
            }
        }
        let runs = lanes
            .into_iter()
            .filter(|l| !l.is_empty())
            .map(|lane| async move {
                for batch in cut_batches(&self.sizer, lane, batch_size) {
                    if let BatchDone::Stopped = self.deliver(batch).await {
                        return BatchDone::Stopped;
                    }
                }
                BatchDone::Done
            });
        let results = futures_util::future::join_all(runs).await;
        if results.iter().any(|r| matches!(r, BatchDone::Stopped)) {
            BatchDone::Stopped
        } else {
            BatchDone::Done
        }
    }

    /// Delivers one batch under the mapping's failure policy: record age, retries,
    /// bisection, ReportBatchItemFailures, the on-failure destination.
    async fn deliver(&self, batch: Vec<Record>) -> BatchDone {
        // Work list of (records, attempts so far), processed in order.
        let mut work: Vec<(Vec<Record>, u32, LastAttempt)> =
            vec![(batch, 0, LastAttempt::default())];
        while let Some((mut records, attempts, mut last)) = work.pop() {
            if self.stopped() {
                return BatchDone::Stopped;
            }
            // Records past MaximumRecordAgeInSeconds are given up before invoking.
            if self.cfg.maximum_record_age_in_seconds > 0 {
                let oldest_ok = crate::time_fmt::now_ms()
                    - i64::from(self.cfg.maximum_record_age_in_seconds) * 1000;
                let expired = records
                    .iter()
                    .take_while(|r| r.arrival_ms < oldest_ok)
                    .count();
                if expired > 0 {
                    let old: Vec<Record> = records.drain(..expired).collect();
                    self.give_up(Condition::RecordAgeExceeded, &old, &last)
                        .await;
                }
                if records.is_empty() {
                    continue;
                }
            }
            let payload = Bytes::from(write_event(&self.ctx, &self.shard_id, &records, None));
            let Some(result) = self.invoke(payload).await else {
                return BatchDone::Stopped;
            };
            last.request_id = result.request_id.clone();
            last.invoke_count += 1;
            last.function_error = result.function_error.map(str::to_string);
            if result.function_error.is_none() {
                // ReportBatchItemFailures: retry from the lowest failed sequence number.
                let failed_from = if self.cfg.report_batch_item_failures {
                    match lowest_failure(&result.payload, &records) {
                        Ok(f) => f,
                        Err(()) => Some(0),
                    }
                } else {
                    None
                };
                match failed_from {
                    None => {
                        self.stats.delivered(records.len());
                        continue;
                    }
                    Some(i) => {
                        self.stats.delivered(i);
                        self.stats.failed();
                        let rest: Vec<Record> = records.split_off(i);
                        if i > 0 {
                            // Progress was made: as on AWS, the records from the first
                            // failure on are a new batch with its own retries.
                            work.push((rest, 0, LastAttempt::default()));
                        } else {
                            self.retry_or_give_up(&mut work, rest, attempts, last).await;
                        }
                        continue;
                    }
                }
            }
            self.stats.failed();
            if self.cfg.bisect_batch_on_function_error && records.len() > 1 {
                // Halves are tried in order; splitting is not a retry.
                let second = records.split_off(records.len() / 2);
                work.push((second, attempts, last.clone()));
                work.push((records, attempts, last));
                continue;
            }
            self.retry_or_give_up(&mut work, records, attempts, last)
                .await;
        }
        BatchDone::Done
    }

    async fn retry_or_give_up(
        &self,
        work: &mut Vec<(Vec<Record>, u32, LastAttempt)>,
        records: Vec<Record>,
        attempts: u32,
        last: LastAttempt,
    ) {
        let max = self.cfg.maximum_retry_attempts;
        if max >= 0 && attempts >= max as u32 {
            self.give_up(Condition::RetryAttemptsExhausted, &records, &last)
                .await;
            return;
        }
        let backoff = FIRST_BACKOFF
            .saturating_mul(1u32 << attempts.min(16))
            .min(MAX_BACKOFF);
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => {}
        }
        work.push((records, attempts + 1, last));
    }

    /// Sends the failure record to the on-failure destination (when there is one) and
    /// moves on.
    async fn give_up(&self, condition: Condition, records: &[Record], last: &LastAttempt) {
        self.stats.discarded(records.len());
        let Some(dest) = &self.cfg.on_failure_destination else {
            return;
        };
        let Some(target) = Destination::parse(dest) else {
            tracing::warn!(mapping = %self.cfg.uuid, destination = %dest, "on-failure destination not understood");
            return;
        };
        let now = crate::time_fmt::now_ms();
        let mut doc = failure_record(
            condition,
            &self.cfg.function_arn,
            &self.ctx.event_source_arn,
            &self.shard_id,
            records,
            last,
            now,
        );
        let sent = match &target {
            Destination::Kinesis { stream } => {
                let engine: Engine = self.shared.engine.clone();
                let key = self.shard_id.to_string();
                let stream = stream.clone();
                let put = tokio::task::spawn_blocking(move || {
                    engine.put_record(
                        &stream,
                        PutRecordInput::new(key, doc.to_string().into_bytes()),
                    )
                })
                .await;
                match put {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
            outside => {
                if matches!(outside, Destination::S3 { .. }) {
                    // S3 destinations also get the invocation's payload, as on AWS.
                    let event = write_event(&self.ctx, &self.shard_id, records, None);
                    doc["payload"] = serde_json::from_slice(&event).unwrap_or_default();
                }
                let key = s3_failure_key(&self.cfg.uuid, &self.shard_id, now);
                let body = doc.to_string();
                let mut attempt = 0u32;
                loop {
                    match self.shared.destinations.send(outside, &body, &key).await {
                        Ok(()) => break Ok(()),
                        Err(e) if attempt >= DESTINATION_RETRIES || self.stopped() => break Err(e),
                        Err(e) => {
                            tracing::debug!(mapping = %self.cfg.uuid, error = %e, attempt, "on-failure destination refused; retrying");
                            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                            attempt += 1;
                        }
                    }
                }
            }
        };
        if let Err(e) = sent {
            tracing::warn!(mapping = %self.cfg.uuid, destination = %dest, error = %e, "cannot write to the on-failure destination");
        }
    }

    /// Invokes the function, waiting for a free instance; `None` when stopping.
    async fn invoke(&self, payload: Bytes) -> Option<crate::runtime::InvokeOutcome> {
        loop {
            if self.stopped() {
                return None;
            }
            match self
                .shared
                .invoke(&self.cfg.function_arn, payload.clone())
                .await
            {
                Ok(o) => {
                    self.stats.invoked(o.function_error.is_none());
                    return Some(o);
                }
                Err(problem) => {
                    // No function (deleted) or shutting down: wait and try again.
                    self.stats.problem(problem);
                    let mut stop = self.stop.clone();
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.changed() => return None,
                    }
                }
            }
        }
    }

    /// Tumbling windows: records grouped by the window their arrival falls in; state
    /// passed from one invocation to the next; a final invocation when a window ends.
    async fn process_windowed(&mut self, records: Vec<Record>) -> BatchDone {
        let len_ms = i64::from(self.cfg.tumbling_window_in_seconds) * 1000;
        let window_of =
            |r: &Record, closed: i64| (r.arrival_ms.div_euclid(len_ms) * len_ms).max(closed);
        let mut i = 0;
        while i < records.len() {
            let closed = self.checkpoint.windows_closed_until_ms;
            let start = window_of(&records[i], closed);
            let mut j = i;
            while j < records.len() && window_of(&records[j], closed) == start {
                j += 1;
            }
            // A record of a later window ends the open one.
            if let Some(w) = self.checkpoint.window.clone() {
                if w.start_ms != start {
                    if let BatchDone::Stopped = self
                        .invoke_window(&[], w.start_ms, len_ms, w.state, true)
                        .await
                    {
                        return BatchDone::Stopped;
                    }
                    self.checkpoint.window = None;
                }
            }
            let state = self
                .checkpoint
                .window
                .as_ref()
                .map_or(Value::Object(Default::default()), |w| w.state.clone());
            let batch = &records[i..j];
            if let BatchDone::Stopped = self.invoke_window(batch, start, len_ms, state, false).await
            {
                return BatchDone::Stopped;
            }
            i = j;
        }
        // A window whose end (and grace) has passed is closed at once.
        if let Some(w) = self.checkpoint.window.clone() {
            if crate::time_fmt::now_ms() >= w.start_ms + len_ms + WINDOW_GRACE_MS {
                if let BatchDone::Stopped = self
                    .invoke_window(&[], w.start_ms, len_ms, w.state, true)
                    .await
                {
                    return BatchDone::Stopped;
                }
                self.checkpoint.window = None;
            }
        }
        BatchDone::Done
    }

    async fn close_window_at_end(&mut self) -> Option<BatchDone> {
        let len_ms = i64::from(self.cfg.tumbling_window_in_seconds) * 1000;
        let w = self.checkpoint.window.clone()?;
        let done = self
            .invoke_window(&[], w.start_ms, len_ms, w.state, true)
            .await;
        self.checkpoint.window = None;
        Some(done)
    }

    /// One windowed invocation, retried as the mapping says; stores the returned state.
    async fn invoke_window(
        &mut self,
        records: &[Record],
        start_ms: i64,
        len_ms: i64,
        state: Value,
        is_final: bool,
    ) -> BatchDone {
        let mut attempts = 0u32;
        let mut last = LastAttempt::default();
        loop {
            let part = WindowPart {
                start_ms,
                end_ms: start_ms + len_ms,
                state: &state,
                shard_id: &self.shard_id,
                is_final,
            };
            let payload = Bytes::from(write_event(&self.ctx, &self.shard_id, records, Some(&part)));
            let Some(result) = self.invoke(payload).await else {
                return BatchDone::Stopped;
            };
            last.request_id = result.request_id.clone();
            last.invoke_count += 1;
            last.function_error = result.function_error.map(str::to_string);
            if result.function_error.is_none() {
                self.stats.delivered(records.len());
                if is_final {
                    self.checkpoint.windows_closed_until_ms = start_ms + len_ms;
                } else {
                    let new_state = serde_json::from_slice::<Value>(&result.payload)
                        .ok()
                        .and_then(|v| v.get("state").cloned())
                        .unwrap_or(Value::Object(Default::default()));
                    self.checkpoint.window = Some(WindowState {
                        start_ms,
                        state: new_state,
                    });
                }
                return BatchDone::Done;
            }
            self.stats.failed();
            let max = self.cfg.maximum_retry_attempts;
            if max >= 0 && attempts >= max as u32 {
                self.give_up(Condition::RetryAttemptsExhausted, records, &last)
                    .await;
                if is_final {
                    self.checkpoint.windows_closed_until_ms = start_ms + len_ms;
                }
                return BatchDone::Done;
            }
            attempts += 1;
            tokio::time::sleep(
                FIRST_BACKOFF
                    .saturating_mul(1u32 << attempts.min(16))
                    .min(MAX_BACKOFF),
            )
            .await;
        }
    }
}

/// Batches of at most `batch_size` records whose event stays under the payload limit.
fn cut_batches(sizer: &EntrySizer, records: Vec<Record>, batch_size: usize) -> Vec<Vec<Record>> {
    let mut out = Vec::new();
    let mut cur: Vec<Record> = Vec::new();
    let mut bytes = 0usize;
    for r in records {
        let size = sizer.size(&r);
        if !cur.is_empty() && (cur.len() >= batch_size || bytes + size > MAX_ENTRIES_BYTES) {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += size;
        cur.push(r);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The index of the lowest failed record a ReportBatchItemFailures response names
/// (`None`: all succeeded). An unreadable response or an identifier that names no
/// record fails the whole batch (`Err`), as in AWS.
fn lowest_failure(payload: &[u8], records: &[Record]) -> Result<Option<usize>, ()> {
    let v: Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        // A response that is not JSON (or empty, `null`) reports no failures.
        Err(_) => return Ok(None),
    };
    let Some(failures) = v.get("batchItemFailures") else {
        return Ok(None);
    };
    let Some(list) = failures.as_array() else {
        return if failures.is_null() {
            Ok(None)
        } else {
            Err(())
        };
    };
    let mut lowest: Option<usize> = None;
    for item in list {
        let Some(id) = item
            .get("itemIdentifier")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            return Err(());
        };
        let Some(i) = records
            .iter()
            .position(|r| r.sequence_number.to_u128().to_string() == id)
        else {
            return Err(());
        };
        lowest = Some(lowest.map_or(i, |l: usize| l.min(i)));
    }
    Ok(lowest)
}

/// Retries of a send to an outside on-failure destination (200 ms, doubling: about 12 s
/// in all) before the record is given up and logged.
const DESTINATION_RETRIES: u32 = 5;

/// The key of an on-failure record in an S3 destination, as AWS names it:
/// `aws/lambda/<mapping>/<shard>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<uuid>`.
fn s3_failure_key(mapping: &str, shard: &str, now_ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(now_ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let day = time::macros::format_description!("[year]/[month]/[day]");
    let stamp = time::macros::format_description!("[year]-[month]-[day]T[hour].[minute].[second]");
    format!(
        "aws/lambda/{mapping}/{shard}/{}/{}-{}",
        t.format(&day).unwrap_or_default(),
        t.format(&stamp).unwrap_or_default(),
        uuid::Uuid::new_v4()
    )
}
