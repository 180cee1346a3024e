//! The [`LogSink`] other services write through (Lambda's function output): a bounded
//! queue drained by one writer job that groups what is queued by log stream and writes
//! each stream's events in one put.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use freshet_protocol::service::{LogEvent, LogSink};
use freshet_storage::JobContext;

use crate::store::Store;

/// Batches the queue holds before a put is dropped (and counted).
const QUEUE_BATCHES: usize = 8_192;

/// Events one engine put of the writer carries at most.
const WRITE_EVENTS: usize = 5_000;

/// One queued put.
pub(crate) struct Queued {
    group: String,
    stream: String,
    events: Vec<LogEvent>,
}

/// What the writer receives.
pub(crate) enum Msg {
    /// Events to write.
    Events(Queued),
    /// Write everything queued before it, flush the statistics, then answer.
    Drain(SyncSender<()>),
}

/// The sink handed to other services.
pub(crate) struct Sink {
    pub tx: SyncSender<Msg>,
    /// Events dropped because the queue was full.
    pub dropped: Arc<AtomicU64>,
}

impl LogSink for Sink {
    fn put(&self, group: &str, stream: &str, events: Vec<LogEvent>) {
        if events.is_empty() {
            return;
        }
        let n = events.len() as u64;
        let q = Queued {
            group: group.to_string(),
            stream: stream.to_string(),
            events,
        };
        match self.tx.try_send(Msg::Events(q)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
    }
}

/// A sink and the receiving end its writer drains.
pub(crate) fn channel() -> (Sink, Receiver<Msg>) {
    let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_BATCHES);
    (
        Sink {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        },
        rx,
    )
}

/// The writer job: writes what is queued, in batches, until stopped; then what is
/// left (while the engine still takes writes: the server drains the sink with
/// [`drain`] before it shuts the engine down).
pub(crate) fn run(store: Arc<Store>, rx: Receiver<Msg>, ctx: JobContext) -> Result<(), String> {
    loop {
        let first = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(m) => Some(m),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut batch: Vec<Msg> = first.into_iter().collect();
        while let Ok(m) = rx.try_recv() {
            batch.push(m);
        }
        handle(&store, batch);
        if ctx.is_stopped() {
            break;
        }
    }
    handle(&store, rx.try_iter().collect());
    store.flush().map_err(|e| e.message)
}

/// Writes the events of `batch`, answering each drain request once what came before
/// it is written and the statistics are flushed.
fn handle(store: &Store, batch: Vec<Msg>) {
    let mut events = Vec::new();
    for m in batch {
        match m {
            Msg::Events(q) => events.push(q),
            Msg::Drain(ack) => {
                write(store, std::mem::take(&mut events));
                if let Err(e) = store.flush() {
                    tracing::warn!(error = %e.message, "cannot save the log streams' statistics");
                }
                let _ = ack.try_send(());
            }
        }
    }
    write(store, events);
}

/// Asks the writer to write everything queued so far and waits up to `bound` for it;
/// returns whether it finished.
pub(crate) fn drain(tx: &SyncSender<Msg>, bound: Duration) -> bool {
    let deadline = std::time::Instant::now() + bound;
    let (ack_tx, ack_rx) = std::sync::mpsc::sync_channel(1);
    let mut msg = Msg::Drain(ack_tx);
    loop {
        match tx.try_send(msg) {
            Ok(()) => break,
            Err(TrySendError::Full(m)) if std::time::Instant::now() < deadline => {
                msg = m;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => return false,
        }
    }
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    ack_rx.recv_timeout(left).is_ok()
}

fn write(store: &Store, batch: Vec<Queued>) {
    // Grouped by (group, stream), each stream's events in the order they were queued.
    let mut by_stream: BTreeMap<(String, String), Vec<LogEvent>> = BTreeMap::new();
    for q in batch {
        by_stream
            .entry((q.group, q.stream))
            .or_default()
            .extend(q.events);
    }
    for ((group, stream), events) in by_stream {
        for chunk in events.chunks(WRITE_EVENTS) {
            let refs: Vec<(i64, &str)> = chunk
                .iter()
                .filter(|e| !e.message.is_empty())
                .map(|e| (e.timestamp, e.message.as_str()))
                .collect();
            // A group deleted while the events waited is created again, as Lambda's is.
            let mut outcome = put(store, &group, &stream, &refs);
            if outcome
                .as_ref()
                .is_err_and(|e| e.kind == "ResourceNotFoundException")
            {
                outcome = put(store, &group, &stream, &refs);
            }
            if let Err(e) = outcome {
                tracing::warn!(group = %group, stream = %stream, error = %e.message, "cannot write log events");
            }
        }
    }
}

fn put(
    store: &Store,
    group: &str,
    stream: &str,
    events: &[(i64, &str)],
) -> Result<(), freshet_protocol::error::ApiError> {
    let g = store.group_or_create(group)?;
    store.put(&g, stream, events, true)
}
