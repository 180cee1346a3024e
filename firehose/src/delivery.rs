//! One delivery stream at work: read its source (the owned stream a DirectPut writes,
//! or a Kinesis stream) through the engine's tailing cursor, buffer by size and time,
//! and write each buffer as one object, exactly once.
//!
//! Exactly once, keeping Firehose's key format: before an object is uploaded, its
//! intent (the key with its random part, the record range of every shard, the cursor
//! positions after it) is written to the catalog; the upload goes; then one atomic
//! catalog write moves the checkpoint to those positions and removes the intent. After
//! a crash at any point, an intent left over is redone: the same records are read
//! again by range, the same bytes built (compression is deterministic), and put to the
//! same key, which replaces any copy a first attempt left. A record is therefore in
//! exactly one object: never two keys, never none.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use freshet_storage::{CursorPositions, Engine, Record, ServiceState, StateChange, TailFrom};
use object_store::path::Path as ObjectPath;
use object_store::PutPayload;
use serde::{Deserialize, Serialize};

use crate::compress::{try_compress, Compression, DEFAULT_ZIP_ENTRY_NAME};
use crate::naming;
use crate::params::DeliveryStreamConfig;
use crate::store::{bucket_of, Buckets};

/// Most records one read of the source takes.
const READ_RECORDS: usize = 10_000;

/// First retry delay of a failing upload; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One shard's records in an object: offsets `from..to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRange {
    /// The shard.
    pub shard: String,
    /// First offset.
    pub from: u64,
    /// Offset after the last.
    pub to: u64,
}

/// An object about to be written (`svc/firehose/intent/{name}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// The bucket.
    pub bucket: String,
    /// The object key.
    pub key: String,
    /// Its records, shard by shard in shard order.
    pub ranges: Vec<ShardRange>,
    /// Where the cursor stands after them: the checkpoint once the object is written.
    pub positions_after: CursorPositions,
    /// Records in the object.
    pub records: u64,
}

/// Counters of one delivery stream (for /metrics).
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// Records delivered.
    pub records: AtomicU64,
    /// Bytes of records delivered (before compression).
    pub bytes: AtomicU64,
    /// Objects written.
    pub objects: AtomicU64,
    /// Failed upload attempts.
    pub failures: AtomicU64,
    /// Arrival (ms) of the oldest record not yet delivered; 0 when none is waiting.
    pub oldest_undelivered_ms: AtomicU64,
    /// Times retention removed records before they were delivered (a destination that
    /// failed longer than the buffer keeps records): counted and logged, never silent.
    pub trimmed: AtomicU64,
}

/// The catalog keys of a delivery stream's state.
pub fn checkpoint_key(name: &str) -> String {
    format!("checkpoint/{name}")
}

/// The key of a delivery stream's pending object.
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
    /// Counters.
    pub stats: Arc<DeliveryStats>,
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

    /// Runs until `stop` fires: redoes a pending object, then delivers as records come.
    pub async fn run(self, stop: freshet_storage::StopSignal) -> Result<(), String> {
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
            let records = self.read_ranges(&intent.ranges)?;
            if !self.write_object(&intent, &records, &stop).await {
                return Ok(());
            }
        }
        let start = match self
            .blocking({
                let k = checkpoint_key(&name);
                move |s| s.get(&k)
            })
            .await?
        {
            Some(bytes) => {
                TailFrom::Positions(serde_json::from_slice(&bytes).map_err(|e| e.to_string())?)
            }
            None => self.first_start.clone(),
        };
        let mut cursor = match self.engine.tail_stream(&self.source, start) {
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
        let size_limit = self.config.destination.size_in_mbs as usize * 1024 * 1024;
        let interval = Duration::from_secs(u64::from(self.config.destination.interval_in_seconds));
        let mut buffer: Vec<(Arc<str>, Record)> = Vec::new();
        let mut buffered_bytes = 0usize;
        let mut buffer_started: Option<Instant> = None;
        loop {
            if stop.is_stopped() {
                return Ok(());
            }
            let wait = match buffer_started {
                Some(t) => interval.saturating_sub(t.elapsed()),
                None => Duration::from_secs(3600),
            };
            let room = size_limit.saturating_sub(buffered_bytes).max(1);
            let batch = tokio::select! {
                b = cursor.next_within(READ_RECORDS, room, wait) => b,
                _ = stop.stopped() => return Ok(()),
            };
            let batch = match batch {
                Ok(b) => b,
                Err(
                    freshet_storage::Error::StreamDeleted { .. }
                    | freshet_storage::Error::StreamNotFound { .. },
                ) => return Ok(()),
                Err(e) => return Err(e.to_string()),
            };
            for t in &batch.trimmed {
                self.stats.trimmed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    delivery_stream = %self.config.name, shard = %t.shard_id, from = t.from,
                    resumed_at = ?t.resumed_at,
                    "records expired from the buffer before they could be delivered"
                );
            }
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
                for r in sb.records {
                    buffered_bytes += r.data.len();
                    if buffer.is_empty() {
                        buffer_started = Some(Instant::now());
                        self.stats
                            .oldest_undelivered_ms
                            .store(u64::try_from(r.arrival_ms).unwrap_or(0), Ordering::Relaxed);
                    }
                    buffer.push((Arc::clone(&sb.shard_id), r));
                }
            }
            let due = buffer_started.is_some_and(|t| t.elapsed() >= interval);
            // A read that came back full means more is waiting right now (a backlog):
            // take it into this object, up to the size, before the interval's flush.
            let read_full =
                read_records >= READ_RECORDS || buffered_bytes - read_bytes_before >= room;
            if buffer.is_empty() || !(buffered_bytes >= size_limit || (due && !read_full)) {
                continue;
            }
            let records = std::mem::take(&mut buffer);
            buffered_bytes = 0;
            buffer_started = None;
            let intent = self.intent_for(&records, cursor.positions())?;
            let sorted = sort_by_shard(records);
            let bytes = self
                .blocking({
                    let k = intent_key.clone();
                    let v = serde_json::to_vec(&intent).map_err(|e| e.to_string())?;
                    move |s| s.put(&k, &v)
                })
                .await;
            bytes?;
            if !self.write_object(&intent, &sorted, &stop).await {
                return Ok(());
            }
            self.stats.oldest_undelivered_ms.store(0, Ordering::Relaxed);
        }
    }

    /// The intent of an object holding `records` (any order).
    fn intent_for(
        &self,
        records: &[(Arc<str>, Record)],
        positions_after: CursorPositions,
    ) -> Result<Intent, String> {
        let dest = &self.config.destination;
        let bucket = bucket_of(&dest.bucket_arn)
            .ok_or_else(|| format!("{} is not an S3 bucket ARN", dest.bucket_arn))?
            .to_string();
        let mut ranges: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        let mut oldest = i64::MAX;
        for (shard, r) in records {
            let o = r.sequence_number.offset;
            let e = ranges.entry(shard).or_insert((o, o + 1));
            e.0 = e.0.min(o);
            e.1 = e.1.max(o + 1);
            oldest = oldest.min(r.arrival_ms);
        }
        let compression =
            Compression::parse(&dest.compression).unwrap_or(Compression::Uncompressed);
        let key = naming::object_key(
            dest.prefix.as_deref(),
            &self.config.name,
            self.config.version_id,
            oldest,
            &naming::random_string(),
            compression.extension(),
        );
        Ok(Intent {
            bucket,
            key,
            ranges: ranges
                .into_iter()
                .map(|(shard, (from, to))| ShardRange {
                    shard: shard.to_string(),
                    from,
                    to,
                })
                .collect(),
            positions_after,
            records: records.len() as u64,
        })
    }

    /// Reads an intent's records again, shard by shard.
    fn read_ranges(&self, ranges: &[ShardRange]) -> Result<Vec<Record>, String> {
        let mut out = Vec::new();
        for range in ranges {
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
                for r in got.records {
                    if r.sequence_number.offset < range.to {
                        out.push(r);
                    }
                }
                at = got.next_offset;
            }
        }
        Ok(out)
    }

    /// Uploads the object (retrying with backoff while the destination fails) and
    /// commits the checkpoint; `false` when stopped first.
    async fn write_object(
        &self,
        intent: &Intent,
        records: &[Record],
        stop: &freshet_storage::StopSignal,
    ) -> bool {
        let compression = Compression::parse(&self.config.destination.compression)
            .unwrap_or(Compression::Uncompressed);
        let datas: Vec<Bytes> = if self.deaggregate {
            records.iter().flat_map(user_records).collect()
        } else {
            records.iter().map(|r| r.data.clone()).collect()
        };
        let raw: usize = datas.iter().map(Bytes::len).sum();
        // One buffer: a payload of one chunk per record would cost the local store a
        // write call per record (measured: 4x slower for 100 B records).
        let body = match try_compress(compression, &datas, DEFAULT_ZIP_ENTRY_NAME) {
            Ok(b) => PutPayload::from(Bytes::from(b)),
            Err(e) => {
                // In memory this does not happen; if it did, the records stay in the
                // buffer and the intent is redone at the next start.
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(delivery_stream = %self.config.name, key = %intent.key, error = %e, "compression failed");
                return false;
            }
        };
        let mut backoff = FIRST_BACKOFF;
        loop {
            let uploaded = match self.buckets.store(&intent.bucket) {
                Ok(store) => store
                    .put(&ObjectPath::from(intent.key.as_str()), body.clone())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            match uploaded {
                Ok(()) => break,
                Err(e) => {
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(delivery_stream = %self.config.name, key = %intent.key, error = %e, "upload failed; retrying");
                    if stop.sleep(backoff).await {
                        return false;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        let name = self.config.name.clone();
        let positions = match serde_json::to_vec(&intent.positions_after) {
            Ok(p) => p,
            Err(_) => return false,
        };
        let committed = self
            .blocking(move |s| {
                s.write(vec![
                    StateChange::Put(checkpoint_key(&name), positions),
                    StateChange::Delete(intent_key(&name)),
                ])
            })
            .await;
        if committed.is_err() {
            return false;
        }
        self.stats
            .records
            .fetch_add(intent.records, Ordering::Relaxed);
        self.stats.bytes.fetch_add(raw as u64, Ordering::Relaxed);
        self.stats.objects.fetch_add(1, Ordering::Relaxed);
        true
    }
}

/// The data of a Kinesis record's user records: the records of a KPL aggregate, or the
/// record itself.
fn user_records(r: &Record) -> Vec<Bytes> {
    if !freshet_protocol::kpl::is_aggregated(&r.data) {
        return vec![r.data.clone()];
    }
    let wire = freshet_protocol::kinesis::Record {
        sequence_number: r.sequence_number.to_u128().to_string(),
        approximate_arrival_ms: Some(r.arrival_ms),
        partition_key: r.partition_key_str().to_string(),
        data: r.data.clone(),
    };
    freshet_protocol::kpl::deaggregate(&wire)
        .into_iter()
        .map(|u| u.data)
        .collect()
}

/// Records in shard order, each shard's in offset order: the order an intent's records
/// are read again in, so both builds of an object are the same bytes.
fn sort_by_shard(mut records: Vec<(Arc<str>, Record)>) -> Vec<Record> {
    records.sort_by(|(a, ra), (b, rb)| {
        a.cmp(b)
            .then(ra.sequence_number.offset.cmp(&rb.sequence_number.offset))
    });
    records.into_iter().map(|(_, r)| r).collect()
}
