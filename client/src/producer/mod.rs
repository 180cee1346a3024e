//! A KPL-style producer: user records are aggregated per predicted shard, collected
//! into `PutRecords` calls, rate-limited per shard, retried with re-aggregation, and
//! acknowledged one by one with their shard, sequence and sub-sequence numbers.
//!
//! Unlike the KPL, the producer applies back-pressure: [`Producer::put_record`] and
//! [`Producer::submit`] wait while too many records or bytes are outstanding;
//! [`Producer::try_submit`] returns [`Error::Full`] instead.

mod config;
mod limiter;
mod metrics;
mod pipeline;
mod shard_map;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{oneshot, OnceCell, Semaphore};

pub use config::ProducerConfig;
pub use limiter::TokenBucket;
pub use metrics::{MetricsSnapshot, ProducerMetrics};
pub use shard_map::ShardMap;

use crate::api::KinesisApi;
use crate::error::{Error, Result};
use crate::types::{PutRecordsEntry, MAX_RECORD_BYTES};
use pipeline::{Budget, Pending, Pipeline};

/// Where a user record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutReceipt {
    /// The shard (shared by the user records of one Kinesis record).
    pub shard_id: Arc<str>,
    /// Sequence number of the Kinesis record holding it (shared likewise).
    pub sequence_number: Arc<str>,
    /// Its position in that Kinesis record (0 when sent plain).
    pub sub_sequence_number: u64,
    /// How many times it was sent.
    pub attempts: u32,
}

/// A record accepted by the producer; resolves once it is put or has failed for good.
#[derive(Debug)]
pub struct PendingRecord {
    rx: oneshot::Receiver<Result<PutReceipt>>,
}

impl Future for PendingRecord {
    type Output = Result<PutReceipt>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(Error::ShutDown)))
    }
}

type PipelineCell = Arc<OnceCell<Arc<Pipeline>>>;

struct Inner {
    api: Arc<dyn KinesisApi>,
    cfg: ProducerConfig,
    metrics: Arc<ProducerMetrics>,
    budget: Arc<Budget>,
    streams: Mutex<HashMap<String, PipelineCell>>,
    closed: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let streams = self.streams.get_mut().unwrap_or_else(|p| p.into_inner());
        for cell in streams.values() {
            if let Some(p) = cell.get() {
                p.stop();
            }
        }
    }
}

/// A KPL-style producer for any [`KinesisApi`]. Cheap to clone; every clone feeds the
/// same buffers. Must be used inside a tokio runtime.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("cfg", &self.inner.cfg)
            .finish_non_exhaustive()
    }
}

/// Bytes a user record counts against the limits.
fn billed(partition_key: &str, data: &Bytes) -> usize {
    partition_key.len() + data.len()
}

impl Producer {
    /// A producer over `api`.
    pub fn new<A: KinesisApi + 'static>(api: Arc<A>, cfg: ProducerConfig) -> Self {
        let cfg = cfg.normalized();
        Producer {
            inner: Arc::new(Inner {
                api,
                budget: Arc::new(Budget {
                    records: Semaphore::new(cfg.max_outstanding_records),
                    bytes: Semaphore::new(cfg.max_outstanding_bytes),
                }),
                cfg,
                metrics: Arc::new(ProducerMetrics::default()),
                streams: Mutex::new(HashMap::new()),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &ProducerConfig {
        &self.inner.cfg
    }

    /// The counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics.snapshot()
    }

    /// User records accepted and not yet finished.
    pub fn outstanding_records(&self) -> usize {
        self.inner
            .cfg
            .max_outstanding_records
            .saturating_sub(self.inner.budget.records.available_permits())
    }

    /// Puts a user record and waits until it is acknowledged (or has failed for good).
    /// Waits first while the producer is full.
    pub async fn put_record(
        &self,
        stream: &str,
        partition_key: impl Into<String>,
        data: impl Into<Bytes>,
        explicit_hash_key: Option<u128>,
    ) -> Result<PutReceipt> {
        self.submit(stream, partition_key, data, explicit_hash_key)
            .await?
            .await
    }

    /// Accepts a user record, waiting while the producer is full, and returns a future
    /// of its outcome (so a caller can keep many in flight).
    pub async fn submit(
        &self,
        stream: &str,
        partition_key: impl Into<String>,
        data: impl Into<Bytes>,
        explicit_hash_key: Option<u128>,
    ) -> Result<PendingRecord> {
        let entry = self.validate(partition_key.into(), data.into(), explicit_hash_key)?;
        self.admit(stream, entry, true).await
    }

    /// Like [`submit`](Self::submit), but returns [`Error::Full`] at once instead of
    /// waiting for room.
    pub async fn try_submit(
        &self,
        stream: &str,
        partition_key: impl Into<String>,
        data: impl Into<Bytes>,
        explicit_hash_key: Option<u128>,
    ) -> Result<PendingRecord> {
        let entry = self.validate(partition_key.into(), data.into(), explicit_hash_key)?;
        self.admit(stream, entry, false).await
    }

    /// Takes room for a validated record in the outstanding-records and bytes budget
    /// (waiting for it, or failing with [`Error::Full`] at once), then enqueues it.
    async fn admit(
        &self,
        stream: &str,
        entry: PutRecordsEntry,
        wait: bool,
    ) -> Result<PendingRecord> {
        let nb = self.byte_permits(billed(&entry.partition_key, &entry.data));
        let budget = &self.inner.budget;
        let (records, bytes) = if wait {
            let records = budget
                .records
                .acquire()
                .await
                .map_err(|_| Error::ShutDown)?;
            let bytes = budget
                .bytes
                .acquire_many(nb)
                .await
                .map_err(|_| Error::ShutDown)?;
            (records, bytes)
        } else {
            let records = budget.records.try_acquire().map_err(|_| Error::Full)?;
            let bytes = budget.bytes.try_acquire_many(nb).map_err(|_| Error::Full)?;
            (records, bytes)
        };
        // Given back in bulk when the record finishes.
        records.forget();
        bytes.forget();
        self.enqueue(stream, entry, nb).await
    }

    /// [`try_submit`](Self::try_submit), then waits for the outcome.
    pub async fn try_put_record(
        &self,
        stream: &str,
        partition_key: impl Into<String>,
        data: impl Into<Bytes>,
        explicit_hash_key: Option<u128>,
    ) -> Result<PutReceipt> {
        self.try_submit(stream, partition_key, data, explicit_hash_key)
            .await?
            .await
    }

    fn byte_permits(&self, n: usize) -> u32 {
        u32::try_from(n.clamp(1, self.inner.cfg.max_outstanding_bytes)).unwrap_or(u32::MAX)
    }

    fn validate(
        &self,
        partition_key: String,
        data: Bytes,
        explicit_hash_key: Option<u128>,
    ) -> Result<PutRecordsEntry> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::ShutDown);
        }
        let chars = partition_key.chars().count();
        if chars == 0 || chars > 256 {
            return Err(Error::InvalidArgument(format!(
                "partition key must have 1 to 256 characters, not {chars}"
            )));
        }
        if billed(&partition_key, &data) > MAX_RECORD_BYTES {
            return Err(Error::InvalidArgument(format!(
                "record of {} bytes with its partition key exceeds 1 MiB",
                billed(&partition_key, &data)
            )));
        }
        Ok(PutRecordsEntry {
            partition_key,
            explicit_hash_key,
            data,
        })
    }

    async fn pipeline(&self, stream: &str) -> Result<Arc<Pipeline>> {
        let cell = {
            let mut streams = self.inner.streams.lock().unwrap_or_else(|p| p.into_inner());
            match streams.get(stream) {
                Some(cell) => Arc::clone(cell),
                None => Arc::clone(streams.entry(stream.to_string()).or_default()),
            }
        };
        let p = cell
            .get_or_try_init(|| {
                Pipeline::start(
                    Arc::clone(&self.inner.api),
                    stream.to_string(),
                    self.inner.cfg.clone(),
                    Arc::clone(&self.inner.metrics),
                    Arc::clone(&self.inner.budget),
                )
            })
            .await?;
        Ok(Arc::clone(p))
    }

    async fn enqueue(
        &self,
        stream: &str,
        entry: PutRecordsEntry,
        byte_permits: u32,
    ) -> Result<PendingRecord> {
        let pipeline = match self.pipeline(stream).await {
            Ok(p) => p,
            Err(e) => {
                self.inner.budget.records.add_permits(1);
                self.inner.budget.bytes.add_permits(byte_permits as usize);
                return Err(e);
            }
        };
        let (tx, rx) = oneshot::channel();
        let hash_key = entry
            .explicit_hash_key
            .unwrap_or_else(|| freshet_protocol::hash_key::hash_key_of(&entry.partition_key));
        ProducerMetrics::add(&self.inner.metrics.user_records_received, 1);
        pipeline.add(Pending {
            entry,
            hash_key,
            arrival: Instant::now(),
            attempts: 0,
            last_error: None,
            tx,
            bytes: byte_permits,
        });
        Ok(PendingRecord { rx })
    }

    fn pipelines(&self) -> Vec<Arc<Pipeline>> {
        let streams = self.inner.streams.lock().unwrap_or_else(|p| p.into_inner());
        streams.values().filter_map(|c| c.get().cloned()).collect()
    }

    /// Sends everything buffered now, without waiting for the max buffered time.
    pub fn flush(&self) {
        for p in self.pipelines() {
            p.request_flush();
        }
    }

    /// Flushes and waits until no accepted record is outstanding (each finishes within
    /// its time to live), or `timeout` passes; returns whether everything finished.
    pub async fn flush_all(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            self.flush();
            if self.outstanding_records() == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Stops taking records, sends everything buffered and waits for every outcome
    /// (bounded by the record time to live plus a margin), then stops the background
    /// tasks.
    pub async fn shutdown(&self) -> Result<()> {
        self.inner.closed.store(true, Ordering::Release);
        let limit = self.inner.cfg.record_ttl + Duration::from_secs(30);
        let drained = self.flush_all(limit).await;
        for p in self.pipelines() {
            p.stop();
        }
        if drained {
            Ok(())
        } else {
            Err(Error::Internal(format!(
                "{} records still outstanding at shutdown",
                self.outstanding_records()
            )))
        }
    }
}
