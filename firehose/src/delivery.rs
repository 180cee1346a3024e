//! One delivery stream at work: read its source (the owned stream a DirectPut writes,
//! or a Kinesis stream) through the engine's tailing cursor, buffer by size and time,
//! run each buffer through the processors ([`crate::pipeline`]) and hand it to the
//! destination ([`crate::sink`]).
//!
//! Exactly once into S3, keeping Firehose's key format: before a buffer's objects are
//! uploaded, its intent (the record range of every shard, the cursor positions after
//! it, a seed the keys' random parts derive from, and the keys) is written to the
//! catalog; the uploads go; then one atomic catalog write moves the checkpoint and
//! removes the intent. After a crash, an intent left over is redone: the same records
//! are read again by range and processed again; each partition gets the key derived
//! from the seed and its partition keys (the same key as before when it had one), and
//! any key of the first attempt not written again is deleted. A record is therefore in
//! exactly one object. Into PostgreSQL, the position commits in the same transaction
//! as the rows; to an HTTP endpoint, delivery is at least once, as Firehose's.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use freshet_storage::{
    CursorPositions, Engine, Record, ServiceState, ShardPosition, StopSignal, TailFrom,
};
use serde::{Deserialize, Serialize};

use crate::params::{DeliveryStreamConfig, StreamKind};
use crate::pipeline::{Item, Pipeline};
use crate::sink::{Flush, Sink};
use crate::store::Buckets;
use crate::transform::KinesisMetadata;

/// Most records one read of the source takes.
const READ_RECORDS: usize = 10_000;

/// Records of one shard read together, in offset order: a buffer holds these as read
/// (no per-record bookkeeping on the way to an object).
type Chunk = (Arc<str>, Vec<Record>);

/// One shard's records in a buffer: offsets `from..to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRange {
    /// The shard.
    pub shard: String,
    /// First offset.
    pub from: u64,
    /// Offset after the last.
    pub to: u64,
}

/// An object of an intent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
}

/// A buffer about to be delivered (`svc/firehose/intent/{name}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// Its records, shard by shard in shard order.
    pub ranges: Vec<ShardRange>,
    /// Where the cursor stands after them: the checkpoint once delivered.
    pub positions_after: CursorPositions,
    /// Records in the buffer.
    pub records: u64,
    /// What the objects' random parts derive from.
    #[serde(default)]
    pub seed: String,
    /// The objects being written.
    #[serde(default)]
    pub objects: Vec<ObjectRef>,
    /// (Before error output existed) the one object's bucket.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bucket: String,
    /// (Before error output existed) the one object's key.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
}

impl Intent {
    /// Every object the intent names (the single one of an older intent included).
    pub fn all_objects(&self) -> Vec<ObjectRef> {
        let mut all = self.objects.clone();
        if !self.key.is_empty() {
            all.push(ObjectRef {
                bucket: self.bucket.clone(),
                key: self.key.clone(),
            });
        }
        all
    }
}

/// Counters of one delivery stream (for /metrics).
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// Records delivered.
    pub records: AtomicU64,
    /// Bytes of records delivered (before compression).
    pub bytes: AtomicU64,
    /// Objects written (or requests, or COPY transactions, by destination).
    pub objects: AtomicU64,
    /// Failed attempts to deliver.
    pub failures: AtomicU64,
    /// Records sent to the error output.
    pub errors: AtomicU64,
    /// Records a transform dropped.
    pub dropped: AtomicU64,
    /// Whether the delivery has opened its source and reached its destination.
    pub active: std::sync::atomic::AtomicBool,
    /// Arrival (ms) of the oldest record of the buffer filling; 0 when none.
    pub oldest_undelivered_ms: AtomicU64,
    /// Arrival (ms) of the oldest record of the buffer being delivered; 0 when none.
    pub oldest_in_flight_ms: AtomicU64,
    /// Times retention removed records before they were delivered (a destination that
    /// failed longer than the buffer keeps records): counted and logged, never silent.
    pub trimmed: AtomicU64,
}

/// The catalog key of a delivery stream's checkpoint.
pub fn checkpoint_key(name: &str) -> String {
    format!("checkpoint/{name}")
}

/// The key of a delivery stream's pending buffer.
pub fn intent_key(name: &str) -> String {
    format!("intent/{name}")
}

/// What a delivery worker needs.
pub struct Delivery {
    /// The engine.
    pub engine: Engine,
    /// The service's catalog namespace.
    pub state: ServiceState,
    /// Where objects go.
    pub buckets: Buckets,
    /// The delivery stream.
    pub config: DeliveryStreamConfig,
    /// The stream read: the owned buffer or the Kinesis source.
    pub source: String,
    /// Where a source read starts when there is no checkpoint yet.
    pub first_start: TailFrom,
    /// Take KPL aggregates apart (a Kinesis source, as Firehose does).
    pub deaggregate: bool,
    /// The processors.
    pub pipeline: Arc<Pipeline>,
    /// The destination (one buffer at a time delivers through it).
    pub sink: Arc<tokio::sync::Mutex<Sink>>,
    /// Counters.
    pub stats: Arc<DeliveryStats>,
}

/// Deletes the segments of an owned buffer that lie wholly before a committed
/// checkpoint (a failure only leaves them for the buffer's retention to take).
fn trim_delivered(engine: &Engine, stream: &str, positions: &CursorPositions) {
    for (shard, position) in positions {
        let ShardPosition::Next(next) = position else {
            continue;
        };
        if let Err(e) = engine.trim_below(stream, shard, *next) {
            tracing::warn!(stream, shard = %shard, error = %e, "cannot trim the delivered records of a buffer");
        }
    }
}

impl Delivery {
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(ServiceState) -> freshet_storage::Result<T> + Send + 'static,
    ) -> Result<T, String> {
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || f(state))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    /// Runs until `stop` fires: redoes a pending buffer, then delivers as records come.
    pub async fn run(self, stop: StopSignal) -> Result<(), String> {
        let name = self.config.name.clone();
        let intent_key = intent_key(&name);
        if let Some(bytes) = self
            .blocking({
                let k = intent_key.clone();
                move |s| s.get(&k)
            })
            .await?
        {
            let intent: Intent = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
            tracing::info!(delivery_stream = %name, records = intent.records, ranges = ?intent.ranges, "redoing a buffer left pending");
            let records = self.read_ranges(&intent.ranges)?;
            if !matches!(self.flush(records, intent, stop.clone()).await, Ok(true)) {
                return Ok(());
            }
        }
        let mut start = match self
            .blocking({
                let k = checkpoint_key(&name);
                move |s| s.get(&k)
            })
            .await?
        {
            Some(bytes) => {
                Some(serde_json::from_slice::<CursorPositions>(&bytes).map_err(|e| e.to_string())?)
            }
            None => None,
        };
        // A destination that keeps its own position (PostgreSQL) knows best.
        match self.sink.lock().await.position(&name, &stop).await {
            Ok(Some(theirs)) => start = Some(merge_positions(start, theirs)),
            Ok(None) => {}
            Err(()) => return Ok(()),
        }
        let start = match start {
            Some(p) => TailFrom::Positions(p),
            None => self.first_start.clone(),
        };
        let mut cursor = match self.engine.tail_stream(&self.source, start) {
            // Partition keys are read only for a Kinesis source's metadata.
            Ok(c) if !self.deaggregate => c.without_keys(),
            Ok(c) => c,
            Err(e) => return Err(format!("cannot read {}: {e}", self.source)),
        };
        // Fix the starting point durably (LATEST means the same after a restart).
        let positions = cursor.positions();
        self.blocking({
            let k = checkpoint_key(&name);
            let v = serde_json::to_vec(&positions).map_err(|e| e.to_string())?;
            move |s| s.put(&k, &v)
        })
        .await?;
        self.stats.active.store(true, Ordering::Relaxed);
        let (size_mbs, interval_s, max_records) = {
            let sink = self.sink.lock().await;
            let (s, i) = sink.buffering(&self.config);
            (s, i, sink.max_records())
        };
        let size_limit = size_mbs as usize * 1024 * 1024;
        // The buffer being delivered while the next one fills (delivered in order: the
        // next waits for it before its own intent).
        let mut pending: Option<tokio::task::JoinHandle<bool>> = None;
        let interval = Duration::from_secs(u64::from(interval_s));
        let mut buffer: Vec<Chunk> = Vec::new();
        let mut buffered_records = 0usize;
        let mut buffered_bytes = 0usize;
        let mut buffer_started: Option<Instant> = None;
        loop {
            if stop.is_stopped() {
                return finish(pending).await;
            }
            let wait = match buffer_started {
                Some(t) => interval.saturating_sub(t.elapsed()),
                None => Duration::from_secs(3600),
            };
            let room = size_limit.saturating_sub(buffered_bytes).max(1);
            let want = READ_RECORDS.min(max_records.saturating_sub(buffered_records).max(1));
            let batch = tokio::select! {
                b = cursor.next_within(want, room, wait) => b,
                _ = stop.stopped() => return finish(pending).await,
            };
            let batch = match batch {
                Ok(b) => b,
                Err(
                    freshet_storage::Error::StreamDeleted { .. }
                    | freshet_storage::Error::StreamNotFound { .. },
                ) => return finish(pending).await,
                Err(e) => {
                    let _ = finish(pending).await;
                    return Err(e.to_string());
                }
            };
            for t in &batch.trimmed {
                self.stats.trimmed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    delivery_stream = %self.config.name, shard = %t.shard_id, from = t.from,
                    resumed_at = ?t.resumed_at,
                    "records expired from the buffer before they could be delivered"
                );
            }
            let read_bytes_before = buffered_bytes;
            let read_records = batch.record_count();
            for sb in batch.shards {
                let Some(first) = sb.records.first() else {
                    continue;
                };
                if buffer.is_empty() {
                    buffer_started = Some(Instant::now());
                    self.stats.oldest_undelivered_ms.store(
                        u64::try_from(first.arrival_ms).unwrap_or(0),
                        Ordering::Relaxed,
                    );
                }
                buffered_bytes += sb.records.iter().map(|r| r.data.len()).sum::<usize>();
                buffered_records += sb.records.len();
                buffer.push((sb.shard_id, sb.records));
            }
            let due = buffer_started.is_some_and(|t| t.elapsed() >= interval);
            // A read that came back full means more is waiting right now (a backlog):
            // take it into this buffer, up to the size, before the interval's flush.
            let read_full = read_records >= want || buffered_bytes - read_bytes_before >= room;
            let full = buffered_bytes >= size_limit || buffered_records >= max_records;
            if buffer.is_empty() || !(full || (due && !read_full)) {
                continue;
            }
            let records = sort_by_shard(std::mem::take(&mut buffer));
            let count = std::mem::take(&mut buffered_records);
            buffered_bytes = 0;
            buffer_started = None;
            let intent = Intent {
                ranges: ranges_of(&records),
                positions_after: cursor.positions(),
                records: count as u64,
                seed: crate::naming::random_string(),
                objects: Vec::new(),
                bucket: String::new(),
                key: String::new(),
            };
            if let Some(previous) = pending.take() {
                if !matches!(previous.await, Ok(true)) {
                    return Ok(());
                }
            }
            let oldest = self.stats.oldest_undelivered_ms.swap(0, Ordering::Relaxed);
            self.stats
                .oldest_in_flight_ms
                .store(oldest, Ordering::Relaxed);
            pending = Some(self.flush(records, intent, stop.clone()));
        }
    }

    /// Processes and delivers one buffer, then commits the checkpoint, on a task of its
    /// own (the next buffer fills meanwhile); `false` when stopped first (the buffer is
    /// redone at the next start).
    fn flush(
        &self,
        mut records: Vec<Chunk>,
        intent: Intent,
        stop: StopSignal,
    ) -> tokio::task::JoinHandle<bool> {
        let (config, state, buckets) = (
            self.config.clone(),
            self.state.clone(),
            self.buckets.clone(),
        );
        let (stats, pipeline, sink) = (
            Arc::clone(&self.stats),
            Arc::clone(&self.pipeline),
            Arc::clone(&self.sink),
        );
        let deaggregate = self.deaggregate;
        // A DirectPut buffer is the delivery stream's own: what it delivered goes.
        let owned = (self.config.kind == StreamKind::DirectPut).then(|| {
            (
                self.engine.clone(),
                self.source.clone(),
                intent.positions_after.clone(),
            )
        });
        tokio::spawn(async move {
            let mut sink = sink.lock().await;
            let backs_up = sink.backs_up_source(&config);
            // (source records kept for a backup, what the processors made of them)
            let (raw_records, raw_bytes, items, processed) =
                if pipeline.is_identity() && !deaggregate && !backs_up {
                    // Records as they are: no per-record processing state.
                    let raw_bytes = records
                        .iter()
                        .flat_map(|(_, rs)| rs)
                        .map(|r| r.data.len() as u64)
                        .sum();
                    let count: usize = records.iter().map(|(_, rs)| rs.len()).sum();
                    // Moved out, not cloned: the records are not needed after this.
                    let datas = std::mem::take(&mut records)
                        .into_iter()
                        .flat_map(|(_, rs)| rs.into_iter().map(|r| (r.data, r.arrival_ms)));
                    let processed = crate::pipeline::Processed::whole(datas, count);
                    (count as u64, raw_bytes, Vec::new(), processed)
                } else {
                    let items = items_of(&records, deaggregate);
                    let raw_bytes = items.iter().map(|i| i.data.len() as u64).sum();
                    let raw_records = items.len() as u64;
                    // The source records are kept only for a backup of them.
                    let (items, processed) = if backs_up {
                        let processed = pipeline.run(items.clone()).await;
                        (items, processed)
                    } else {
                        (Vec::new(), pipeline.run(items).await)
                    };
                    (raw_records, raw_bytes, items, processed)
                };
            drop(records);
            stats
                .dropped
                .fetch_add(processed.dropped, Ordering::Relaxed);
            let f = Flush {
                config: &config,
                state: &state,
                buckets: &buckets,
                stats: &stats,
                stop: &stop,
            };
            tracing::debug!(delivery_stream = %config.name, records = intent.records, ranges = ?intent.ranges, "delivering a buffer");
            let done = sink.deliver(&f, intent, &items, processed).await;
            if done {
                stats.records.fetch_add(raw_records, Ordering::Relaxed);
                stats.bytes.fetch_add(raw_bytes, Ordering::Relaxed);
                stats.oldest_in_flight_ms.store(0, Ordering::Relaxed);
                if let Some((engine, stream, positions)) = owned {
                    // The checkpoint is committed: the buffer's segments wholly before
                    // it are no longer needed, not even to redo an object.
                    drop(sink);
                    let trim = tokio::task::spawn_blocking(move || {
                        trim_delivered(&engine, &stream, &positions)
                    });
                    if let Err(e) = trim.await {
                        tracing::warn!(delivery_stream = %config.name, error = %e, "the trim of a delivered buffer failed");
                    }
                }
            }
            done
        })
    }

    /// Reads an intent's records again, shard by shard.
    fn read_ranges(&self, ranges: &[ShardRange]) -> Result<Vec<Chunk>, String> {
        let mut out = Vec::new();
        for range in ranges {
            let shard: Arc<str> = Arc::from(range.shard.as_str());
            let mut at = range.from;
            while at < range.to {
                let want = usize::try_from(range.to - at)
                    .unwrap_or(usize::MAX)
                    .min(10_000);
                let got = self
                    .engine
                    .read(&self.source, &range.shard, at, want, 8 << 20)
                    .map_err(|e| format!("cannot read {} again: {e}", range.shard))?;
                if got.records.is_empty() {
                    break;
                }
                let mut records = got.records;
                records.retain(|r| r.sequence_number.offset < range.to);
                if !records.is_empty() {
                    out.push((Arc::clone(&shard), records));
                }
                at = got.next_offset;
            }
        }
        Ok(out)
    }
}

/// The user records of source records (KPL aggregates taken apart for a Kinesis
/// source, with their Kinesis metadata).
fn items_of(records: &[Chunk], deaggregate: bool) -> Vec<Item> {
    let mut out = Vec::with_capacity(records.iter().map(|(_, rs)| rs.len()).sum());
    for (shard, r) in records
        .iter()
        .flat_map(|(s, rs)| rs.iter().map(move |r| (s, r)))
    {
        if !deaggregate {
            out.push(Item {
                data: r.data.clone(),
                arrival_ms: r.arrival_ms,
                kinesis: None,
            });
            continue;
        }
        let sequence = r.sequence_number.to_u128().to_string();
        let pk = r.partition_key_str().to_string();
        for (sub, (data, key)) in user_records(r).into_iter().enumerate() {
            out.push(Item {
                data,
                arrival_ms: r.arrival_ms,
                kinesis: Some(KinesisMetadata {
                    shard_id: shard.to_string(),
                    partition_key: key.unwrap_or_else(|| pk.clone()),
                    approximate_arrival_ms: r.arrival_ms,
                    sequence_number: sequence.clone(),
                    subsequence_number: sub as u64,
                }),
            });
        }
    }
    out
}

/// Waits for the buffer in flight (the job is ending).
async fn finish(pending: Option<tokio::task::JoinHandle<bool>>) -> Result<(), String> {
    if let Some(p) = pending {
        let _ = p.await;
    }
    Ok(())
}

/// Per shard, the further of two positions (a destination's own and the catalog's).
fn merge_positions(ours: Option<CursorPositions>, theirs: CursorPositions) -> CursorPositions {
    let mut merged = ours.unwrap_or_default();
    for (shard, p) in theirs {
        let further = match (merged.get(&shard), &p) {
            (Some(ShardPosition::Finished), _) => ShardPosition::Finished,
            (_, ShardPosition::Finished) => ShardPosition::Finished,
            (Some(ShardPosition::Next(a)), ShardPosition::Next(b)) => {
                ShardPosition::Next((*a).max(*b))
            }
            (None, p) => *p,
        };
        merged.insert(shard, further);
    }
    merged
}

/// The offset ranges of a buffer's records (sorted by shard, then offset).
fn ranges_of(records: &[Chunk]) -> Vec<ShardRange> {
    let mut ranges: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (shard, rs) in records {
        let (Some(first), Some(last)) = (rs.first(), rs.last()) else {
            continue;
        };
        let (from, to) = (
            first.sequence_number.offset,
            last.sequence_number.offset + 1,
        );
        let e = ranges.entry(shard).or_insert((from, to));
        e.0 = e.0.min(from);
        e.1 = e.1.max(to);
    }
    ranges
        .into_iter()
        .map(|(shard, (from, to))| ShardRange {
            shard: shard.to_string(),
            from,
            to,
        })
        .collect()
}

/// The data (and partition key, when its own) of a Kinesis record's user records: the
/// records of a KPL aggregate, or the record itself.
fn user_records(r: &Record) -> Vec<(Bytes, Option<String>)> {
    if !freshet_protocol::kpl::is_aggregated(&r.data) {
        return vec![(r.data.clone(), None)];
    }
    let wire = freshet_protocol::kinesis::Record {
        sequence_number: r.sequence_number.to_u128().to_string(),
        approximate_arrival_ms: Some(r.arrival_ms),
        partition_key: r.partition_key_str().to_string(),
        data: r.data.clone(),
    };
    freshet_protocol::kpl::deaggregate(&wire)
        .into_iter()
        .map(|u| (u.data, Some(u.partition_key)))
        .collect()
}

/// Chunks in shard order, each shard's in offset order: the order an intent's records
/// are read again in, so both builds of an object are the same bytes. (A chunk's
/// records are in offset order, and a shard's chunks never overlap: a cursor reads
/// each shard forward.)
fn sort_by_shard(mut records: Vec<Chunk>) -> Vec<Chunk> {
    let first = |rs: &[Record]| rs.first().map(|r| r.sequence_number.offset);
    records.sort_unstable_by(|(a, ra), (b, rb)| a.cmp(b).then(first(ra).cmp(&first(rb))));
    records
}
