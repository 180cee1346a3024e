//! PutMedia's writer: one task per connection puts the fragments the reader has parsed,
//! in order, each on the blocking pool (the engine's put returns once the fragment is
//! durable), and sends their PERSISTED events in order. The reader goes on receiving
//! and parsing meanwhile, through a queue bounded in fragments and in bytes; nothing is
//! acknowledged as PERSISTED before it is durable.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::fragment::{fragment_number, Meta};
use crate::ingest::{ack, AckError};
use crate::service::Ctx;
use crate::store::{lock, VStream};

/// Fragments waiting for the writer, at most.
const QUEUE_FRAGMENTS: usize = 8;

/// Bytes of fragments waiting for the writer, at most (a larger fragment waits until
/// the queue is empty).
const QUEUE_BYTES: usize = 32 * 1024 * 1024;

/// A parsed fragment, ready to put.
pub struct Pending {
    /// The cluster's timecode as received (acknowledgements echo it).
    pub timecode: u64,
    /// Its metadata.
    pub meta: Meta,
    /// Its records ([`crate::store::Store::encode_fragment`]).
    pub parts: Vec<Bytes>,
    /// Its blocks' bytes.
    pub size: u64,
    /// Its share of the queue's bytes, released once written.
    pub budget: OwnedSemaphorePermit,
}

/// What the writer is given, in order.
pub enum Job {
    /// A fragment to put.
    Put(Pending),
    /// An error the reader found: sent once the fragments before it are written; the
    /// connection then ends.
    Fail(Option<u64>, AckError),
}

/// The reader's end of the queue.
pub struct Queue {
    jobs: mpsc::Sender<Job>,
    bytes: Arc<Semaphore>,
}

/// Starts the writer of one connection; its events go to `acks`.
pub fn start(ctx: Ctx, stream: Arc<VStream>, acks: mpsc::Sender<Bytes>) -> (Queue, JoinHandle<()>) {
    let (jobs, rx) = mpsc::channel(QUEUE_FRAGMENTS);
    let writer = tokio::spawn(write_all(ctx, stream, rx, acks));
    let bytes = Arc::new(Semaphore::new(QUEUE_BYTES));
    (Queue { jobs, bytes }, writer)
}

impl Queue {
    /// Room for a fragment of `size` bytes (waits while the queue is full).
    pub async fn room(&self, size: usize) -> Option<OwnedSemaphorePermit> {
        let n = size.clamp(1, QUEUE_BYTES) as u32;
        Arc::clone(&self.bytes).acquire_many_owned(n).await.ok()
    }

    /// Queues a job; `Err` once the writer has ended.
    pub async fn send(&self, job: Job) -> Result<(), ()> {
        self.jobs.send(job).await.map_err(|_| ())
    }

    /// Whether the writer has ended (after an error).
    pub fn is_closed(&self) -> bool {
        self.jobs.is_closed()
    }

    /// Completes once the writer has ended.
    pub async fn closed(&self) {
        self.jobs.closed().await;
    }
}

async fn write_all(
    ctx: Ctx,
    stream: Arc<VStream>,
    mut rx: mpsc::Receiver<Job>,
    acks: mpsc::Sender<Bytes>,
) {
    while let Some(job) = rx.recv().await {
        let line = match job {
            Job::Fail(tc, e) => {
                let _ = acks.send(ack("ERROR", tc, None, Some(e))).await;
                return;
            }
            Job::Put(p) => {
                let tc = p.timecode;
                match write_one(&ctx, &stream, p).await {
                    Ok(None) => continue,
                    Ok(Some(n)) => ack("PERSISTED", Some(tc), Some(&n), None),
                    Err(e) => {
                        let _ = acks.send(ack("ERROR", Some(tc), None, Some(e))).await;
                        return;
                    }
                }
            }
        };
        if acks.send(line).await.is_err() {
            return;
        }
    }
}

/// Puts one fragment; its fragment number when a PERSISTED event is due (the stream
/// keeps data).
async fn write_one(
    ctx: &Ctx,
    stream: &Arc<VStream>,
    p: Pending,
) -> Result<Option<String>, AckError> {
    let _write = stream.write.lock().await;
    if stream.deleted.load(Ordering::SeqCst) {
        return Err(AckError::StreamNotActive);
    }
    let store = Arc::clone(&ctx.store);
    let s = Arc::clone(stream);
    let put = tokio::task::spawn_blocking(move || {
        let Pending {
            meta,
            parts,
            size,
            budget,
            ..
        } = p;
        let out = store.put_fragment(&s, &meta, parts, size);
        drop(budget);
        out
    })
    .await;
    match put {
        Ok(Ok(e)) => {
            Ok((lock(&stream.meta).retention_hours > 0).then(|| fragment_number(e.offset)))
        }
        Ok(Err(e)) => {
            tracing::warn!(stream = %stream.log, error = %e.message, "PutMedia: a fragment was not stored");
            Err(if stream.deleted.load(Ordering::SeqCst) {
                AckError::StreamNotActive
            } else {
                AckError::Archival
            })
        }
        Err(_) => Err(AckError::Archival),
    }
}
