//! A shard's log: its segments, the single writer, group commit and readers.
//!
//! Writers append under one mutex with positional writes; readers never take it: they
//! see the segment list under a read lock and read only below the published commit
//! point of each segment, which advances after the data is durable (`SyncData`) or
//! written (`Buffered`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, RwLock, Weak};

use bytes::Bytes;

use super::flusher::Flusher;
use super::frame::{self, FrameHeader, RecordRef, RecordSpan};
use super::index::{index_path, IndexEntry};
use super::recovery::LogDiagnosis;
use super::segment::{SeekKey, Segment, SEGMENT_HEADER};
use crate::config::{Durability, RecoveryMode};
use crate::error::{Error, Result};
use crate::fs::{sync_dir, Fs};

/// The most record slots a read reserves up front (GetRecords' own maximum).
const READ_PREALLOCATE_MAX: usize = 10_000;

/// Settings of a shard log.
#[derive(Debug, Clone, Copy)]
pub struct LogConfig {
    /// When appends are acknowledged.
    pub durability: Durability,
    /// What recovery may repair on open.
    pub recovery: RecoveryMode,
    /// Preallocated size of a segment.
    pub segment_bytes: u64,
    /// Bytes between sparse index entries.
    pub index_interval: u64,
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset of the batch's first record.
    pub base_offset: u64,
    /// Arrival time stamped on the batch.
    pub arrival_ms: i64,
}

/// A record read from the log; key and data are zero-copy slices of the segment map.
#[cfg_attr(not(feature = "internals"), allow(dead_code))] // integration tests' and fuzzing's reads
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Offset in the shard log.
    pub offset: u64,
    /// Approximate arrival time, ms since the epoch.
    pub arrival_ms: i64,
    /// Partition key bytes (UTF-8, checked when the frame was validated).
    pub partition_key: Bytes,
    /// The data blob.
    pub data: Bytes,
}

/// A read whose records share their frames' bytes ([`ShardLog::read_view`]).
#[derive(Debug, Clone, Default)]
pub struct LogView {
    /// The frames the records lie in.
    pub frames: Vec<Bytes>,
    /// Records in offset order.
    pub records: Vec<ViewRecord>,
    /// Offset to continue from.
    pub next_offset: u64,
}

/// A record of a [`LogView`]: which frame holds it, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewRecord {
    /// Index into [`LogView::frames`].
    pub frame: usize,
    /// Offset in the shard log.
    pub offset: u64,
    /// Approximate arrival time, ms since the epoch.
    pub arrival_ms: i64,
    /// Key and data within the frame.
    pub span: RecordSpan,
}

impl LogView {
    /// A record's partition key (UTF-8, checked when its frame was validated).
    pub fn key(&self, r: &ViewRecord) -> &[u8] {
        &self.frames[r.frame][r.span.key_start..r.span.key_start + r.span.key_len]
    }

    /// A record's data.
    pub fn data(&self, r: &ViewRecord) -> &[u8] {
        &self.frames[r.frame][r.span.data_start..r.span.data_start + r.span.data_len]
    }
}

/// The result of a read.
#[cfg_attr(not(feature = "internals"), allow(dead_code))] // integration tests' and fuzzing's reads
#[derive(Debug, Clone, Default)]
pub struct LogRead {
    /// Records in offset order.
    pub records: Vec<StoredRecord>,
    /// Offset to continue from.
    pub next_offset: u64,
}

struct Writer {
    active: Arc<Segment>,
    /// Set once the active segment was sealed by a roll whose new segment could not be
    /// created yet (for example ENOSPC): the next append retries only the creation.
    active_sealed: bool,
    position: u64,
    next_offset: u64,
    last_arrival: i64,
    last_indexed: Option<u64>,
    closed: bool,
    buf: Vec<u8>,
}

#[derive(Default)]
struct CommitState {
    durable_next: u64,
    queued: bool,
    syncing: bool,
}

/// One shard's log.
pub struct ShardLog {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    label: String,
    cfg: LogConfig,
    me: Weak<ShardLog>,
    flusher: Arc<Flusher>,
    segments: RwLock<Vec<Arc<Segment>>>,
    writer: Mutex<Writer>,
    commit: Mutex<CommitState>,
    committed: Condvar,
    poison: OnceLock<String>,
    visible_next: AtomicU64,
    visible_arrival: AtomicI64,
    start_offset: AtomicU64,
    /// Bytes the active segment takes before an append must roll to a new one (kept
    /// by the writer, read without its lock).
    segment_room: AtomicU64,
    /// Tells subscribers (push consumers) the visible end each time it advances, and
    /// once more when the log closes.
    changes: tokio::sync::watch::Sender<u64>,
    /// Wakes writers waiting without a thread ([`ShardLog::durable`]) each time a sync
    /// ends (its flags already cleared) and when the log is poisoned.
    synced: tokio::sync::watch::Sender<()>,
}

impl std::fmt::Debug for ShardLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardLog")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Locks the commit state: plain counters and flags, left consistent by every
/// critical section (no code that can panic runs under it).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The text of a panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

impl ShardLog {
    /// Opens (or creates) the log in `dir`: [`diagnose`](super::recovery::diagnose),
    /// then [`ShardLog::recover`]. `start_offset` is the trim horizon from the catalog;
    /// segments wholly below it are leftovers of an interrupted retention pass and are
    /// deleted. `clean_len` is the active segment's valid length recorded by a clean
    /// shutdown, which spares the scan.
    pub fn open(
        fs: &Arc<dyn Fs>,
        dir: &Path,
        label: String,
        cfg: LogConfig,
        start_offset: u64,
        clean_len: Option<u64>,
        flusher: Arc<Flusher>,
    ) -> Result<Arc<ShardLog>> {
        let diagnosis = super::recovery::diagnose(fs, dir, cfg, start_offset, clean_len)?;
        ShardLog::recover(fs, diagnosis, label, flusher)
    }

    /// Repairs what a diagnosis found (the only step of recovery that changes files)
    /// and opens the log.
    pub fn recover(
        fs: &Arc<dyn Fs>,
        diagnosis: LogDiagnosis,
        label: String,
        flusher: Arc<Flusher>,
    ) -> Result<Arc<ShardLog>> {
        let dir = diagnosis.dir().to_path_buf();
        let start_offset = diagnosis.start_offset();
        let cfg = diagnosis.config();
        let segments = diagnosis.repair(fs)?;
        let Some(active) = segments.last().cloned() else {
            return Err(Error::Internal("a shard log without a segment".into()));
        };
        let next = active.committed_next();
        let arrival = segments
            .iter()
            .map(|s| s.max_arrival_ms())
            .max()
            .unwrap_or(i64::MIN);
        let first = segments.first().map_or(start_offset, |s| s.base_offset);
        let room = active.capacity().saturating_sub(active.committed_len());
        let writer = Writer {
            position: active.committed_len(),
            next_offset: next,
            last_arrival: arrival,
            last_indexed: None,
            active,
            active_sealed: false,
            closed: false,
            buf: Vec::new(),
        };
        Ok(Arc::new_cyclic(|me| ShardLog {
            fs: Arc::clone(fs),
            dir,
            label,
            cfg,
            me: me.clone(),
            flusher,
            segments: RwLock::new(segments),
            writer: Mutex::new(writer),
            commit: Mutex::new(CommitState {
                durable_next: next,
                ..CommitState::default()
            }),
            committed: Condvar::new(),
            poison: OnceLock::new(),
            visible_next: AtomicU64::new(next),
            visible_arrival: AtomicI64::new(arrival),
            start_offset: AtomicU64::new(start_offset.max(first).min(next)),
            segment_room: AtomicU64::new(room),
            changes: tokio::sync::watch::Sender::new(next),
            synced: tokio::sync::watch::Sender::new(()),
        }))
    }

    /// About how many bytes of frames the active segment takes before an append rolls
    /// to a new segment (a roll syncs files and the directory: callers on an async
    /// runtime move such an append off the worker).
    pub fn segment_room(&self) -> u64 {
        self.segment_room.load(Ordering::Relaxed)
    }

    /// Offset after the newest record visible to readers (acknowledged).
    pub fn visible_next(&self) -> u64 {
        self.visible_next.load(Ordering::Acquire)
    }

    /// Arrival time of the newest visible record (`i64::MIN` when empty).
    pub fn newest_arrival_ms(&self) -> i64 {
        self.visible_arrival.load(Ordering::Acquire)
    }

    /// The trim horizon: offset of the oldest retained record.
    pub fn start_offset(&self) -> u64 {
        self.start_offset.load(Ordering::Acquire)
    }

    /// Marks the log closed to writes and returns its end offset once every record
    /// before it is durable.
    pub fn close(&self) -> Result<u64> {
        self.with_writer("closing the shard", |w| {
            w.closed = true;
            if self.cfg.durability == Durability::SyncData && !w.active_sealed {
                self.check_poison()?;
                if let Err(e) = w.active.sync_data() {
                    self.poison_with(&e);
                    return Err(e);
                }
                w.active.publish(w.position, w.next_offset, w.last_arrival);
                self.publish(w.next_offset, w.last_arrival);
                self.mark_durable(w.next_offset);
            }
            Ok(w.next_offset)
        })
    }

    /// Opens a closed log to writes again (a reshard that failed after closing it).
    pub fn reopen(&self) {
        let _ = self.with_writer("reopening the shard", |w| {
            w.closed = false;
            Ok(())
        });
    }

    /// Runs `f` with the writer lock held. A panic inside `f` poisons the shard, as an
    /// fsync failure does: the call and every later write fail with
    /// [`Error::Poisoned`] naming the panic, while durable records stay readable. A
    /// writer lock that some other path left poisoned does the same.
    fn with_writer<T>(&self, doing: &str, f: impl FnOnce(&mut Writer) -> Result<T>) -> Result<T> {
        let mut w = match self.writer.lock() {
            Ok(w) => w,
            Err(_) => {
                self.poison_cause(format!(
                    "a thread panicked while holding the shard's writer lock (seen while {doing})"
                ));
                return Err(self.poisoned());
            }
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut w))) {
            Ok(result) => result,
            Err(payload) => {
                drop(w);
                self.poison_cause(format!(
                    "panic while {doing}: {}",
                    panic_message(payload.as_ref())
                ));
                Err(self.poisoned())
            }
        }
    }

    fn check_poison(&self) -> Result<()> {
        match self.poison.get() {
            Some(_) => Err(self.poisoned()),
            None => Ok(()),
        }
    }

    /// The [`Error::Poisoned`] of this log (its first cause).
    fn poisoned(&self) -> Error {
        Error::Poisoned {
            shard: self.label.clone(),
            cause: self
                .poison
                .get()
                .cloned()
                .unwrap_or_else(|| "unknown cause".into()),
        }
    }

    fn poison_with(&self, e: &Error) {
        self.poison_cause(e.to_string());
    }

    /// Refuses writes from now on (the first cause is kept) and wakes every writer
    /// waiting for a sync so it sees the poison.
    fn poison_cause(&self, cause: String) {
        if self.poison.set(cause).is_ok() {
            tracing::error!(shard = %self.label, cause = %self.poison.get().map_or("", |c| c.as_str()), "shard log poisoned: writes refused until restart");
        }
        {
            let _c = lock(&self.commit);
            self.committed.notify_all();
        }
        self.synced.send_replace(());
    }

    fn publish(&self, next: u64, arrival: i64) {
        self.visible_arrival.fetch_max(arrival, Ordering::AcqRel);
        let before = self.visible_next.fetch_max(next, Ordering::AcqRel);
        if next > before {
            self.changes.send_if_modified(|v| {
                let advanced = next > *v;
                *v = (*v).max(next);
                advanced
            });
        }
    }

    /// A receiver of the visible end offset: it wakes each time acknowledged records
    /// become readable and when the log is closed by a reshard; it ends (`changed()`
    /// errs) when the log is dropped with its stream.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Wakes subscribers without new records (the shard was closed by a reshard).
    pub fn notify_subscribers(&self) {
        self.changes.send_modify(|_| {});
    }

    fn mark_durable(&self, next: u64) {
        {
            let mut c = lock(&self.commit);
            c.durable_next = c.durable_next.max(next);
            self.committed.notify_all();
        }
        self.synced.send_replace(());
    }

    /// Writes one batch without waiting for its sync; returns where it landed and the
    /// offset to pass to [`ShardLog::wait_durable`] before acknowledging it.
    pub fn append_unsynced(
        &self,
        records: &[RecordRef<'_>],
        now_ms: i64,
    ) -> Result<(Appended, u64)> {
        if records.is_empty() {
            return Err(Error::Internal("an append of no records".into()));
        }
        self.with_writer("appending", |w| {
            self.check_poison()?;
            if w.closed {
                let (stream, shard) = self.label.split_once('/').unwrap_or(("", &self.label));
                return Err(Error::ShardClosed {
                    stream: stream.to_string(),
                    shard: shard.to_string(),
                });
            }
            let arrival = now_ms.max(w.last_arrival);
            let base = w.next_offset;
            let mut buf = std::mem::take(&mut w.buf);
            frame::encode(&mut buf, base, arrival, records);
            let result = self.write_frame(w, &buf, base, records.len() as u64, arrival);
            w.buf = buf;
            result?;
            Ok((
                Appended {
                    base_offset: base,
                    arrival_ms: arrival,
                },
                w.next_offset,
            ))
        })
    }

    fn write_frame(
        &self,
        w: &mut Writer,
        bytes: &[u8],
        base: u64,
        count: u64,
        arrival: i64,
    ) -> Result<()> {
        let len = bytes.len() as u64;
        if w.active_sealed || w.position + len > w.active.capacity() {
            self.roll(w, len)?;
        }
        w.active.write_at(bytes, w.position)?;
        let position = w.position;
        if w.last_indexed
            .is_none_or(|p| position >= p + self.cfg.index_interval)
        {
            w.active.add_index_entry(IndexEntry {
                offset: base,
                position,
                arrival_ms: arrival,
            });
            w.last_indexed = Some(position);
        }
        w.position += len;
        self.segment_room.store(
            w.active.capacity().saturating_sub(w.position),
            Ordering::Relaxed,
        );
        w.next_offset = base + count;
        w.last_arrival = arrival;
        if self.cfg.durability == Durability::Buffered {
            w.active.publish(w.position, w.next_offset, arrival);
            self.publish(w.next_offset, arrival);
        }
        Ok(())
    }

    /// Seals the active segment and starts a new one big enough for `need` bytes. The
    /// new file and its directory entry are synced before anything is written to it.
    fn roll(&self, w: &mut Writer, need: u64) -> Result<()> {
        let capacity = self.cfg.segment_bytes.max(SEGMENT_HEADER + need);
        if w.position == SEGMENT_HEADER && !w.active_sealed {
            // An empty active segment too small for this batch: replace it.
            let path = w.active.path.clone();
            self.fs
                .remove_file(&path)
                .map_err(|e| Error::io(&path, e))?;
            let seg = Arc::new(Segment::create(
                &self.fs,
                &self.dir,
                w.next_offset,
                capacity,
            )?);
            sync_dir(self.fs.as_ref(), &self.dir)?;
            self.replace_last_segment(&seg);
            w.active = seg;
            return Ok(());
        }
        if !w.active_sealed {
            if let Err(e) = w.active.seal(w.position, w.next_offset, w.last_arrival) {
                self.poison_with(&e);
                return Err(e);
            }
            w.active_sealed = true;
            self.publish(w.next_offset, w.last_arrival);
            self.mark_durable(w.next_offset);
        }
        let seg = Arc::new(Segment::create(
            &self.fs,
            &self.dir,
            w.next_offset,
            capacity,
        )?);
        sync_dir(self.fs.as_ref(), &self.dir)?;
        if let Ok(mut s) = self.segments.write() {
            s.push(Arc::clone(&seg));
        }
        w.active = seg;
        w.active_sealed = false;
        w.position = SEGMENT_HEADER;
        w.last_indexed = None;
        Ok(())
    }

    fn replace_last_segment(&self, seg: &Arc<Segment>) {
        if let Ok(mut s) = self.segments.write() {
            if let Some(last) = s.last_mut() {
                *last = Arc::clone(seg);
            }
        }
    }

    /// Blocks until every record before `target` is acknowledged (a no-op when
    /// `Buffered`), sharing syncs with every other writer waiting meanwhile.
    pub fn wait_durable(&self, target: u64) -> Result<()> {
        if self.cfg.durability == Durability::Buffered {
            return self.check_poison();
        }
        let mut c = lock(&self.commit);
        loop {
            if c.durable_next >= target {
                return Ok(());
            }
            self.check_poison()?;
            if !c.syncing {
                // No sync under way: lead one here rather than hand over to a flusher
                // thread and back (two context switches on every acknowledgment).
                c.syncing = true;
                drop(c);
                self.run_claimed_sync();
                c = lock(&self.commit);
                continue;
            }
            c = self.committed.wait(c).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// [`ShardLog::wait_durable`] without blocking a thread: a flusher thread runs the
    /// syncs (one is queued now unless one is queued or under way already), and the
    /// end of each wakes this task to look again.
    pub async fn durable(&self, target: u64) -> Result<()> {
        if self.cfg.durability == Durability::Buffered {
            return self.check_poison();
        }
        let mut synced = self.synced.subscribe();
        loop {
            if lock(&self.commit).durable_next >= target {
                return Ok(());
            }
            self.check_poison()?;
            self.request_sync(target);
            // Subscribed before the look above: a sync that ends after it wakes us.
            if synced.changed().await.is_err() {
                return Err(Error::Internal(format!(
                    "shard log {} closed while a write waited for its sync",
                    self.label
                )));
            }
        }
    }

    /// Asks a flusher thread to sync up to `target` unless a sync is already queued or
    /// under way: a writer with batches in several shards kicks off all their syncs
    /// before it waits on any, so they overlap.
    pub fn request_sync(&self, target: u64) {
        if self.cfg.durability == Durability::Buffered {
            return;
        }
        let mut c = lock(&self.commit);
        if c.durable_next >= target || c.queued || c.syncing {
            return;
        }
        if let Some(me) = self.me.upgrade() {
            c.queued = true;
            self.flusher.enqueue(me);
        }
    }

    /// One group-commit sync on behalf of a queued request: called by a flusher thread.
    pub(crate) fn sync_once(&self) {
        {
            let mut c = lock(&self.commit);
            c.queued = false;
            if c.syncing {
                // A writer is leading a sync; those it does not cover lead the next.
                return;
            }
            c.syncing = true;
        }
        self.run_claimed_sync();
    }

    /// Syncs everything written so far; the caller has set `syncing`.
    fn run_claimed_sync(&self) {
        let snapshot = self.with_writer("starting a sync", |w| {
            Ok((
                Arc::clone(&w.active),
                w.position,
                w.next_offset,
                w.last_arrival,
                w.active_sealed,
            ))
        });
        let (seg, len, next, arrival, sealed) = match snapshot {
            Ok(s) => s,
            Err(_) => {
                // Poisoned: wake the waiters, who see it.
                {
                    let mut c = lock(&self.commit);
                    c.syncing = false;
                    self.committed.notify_all();
                }
                self.synced.send_replace(());
                return;
            }
        };
        let started = std::time::Instant::now();
        let result = if sealed {
            Ok(())
        } else {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| seg.sync_data()))
                .unwrap_or_else(|payload| {
                    Err(Error::io(
                        &seg.path,
                        std::io::Error::other(format!(
                            "panic while syncing: {}",
                            panic_message(payload.as_ref())
                        )),
                    ))
                })
        };
        if !sealed {
            self.flusher.stats().record(started.elapsed());
        }
        match result {
            Ok(()) => {
                seg.publish(len, next, arrival);
                self.publish(next, arrival);
                {
                    let mut c = lock(&self.commit);
                    c.syncing = false;
                    c.durable_next = c.durable_next.max(next);
                    self.committed.notify_all();
                }
                self.synced.send_replace(());
            }
            Err(e) => {
                {
                    let mut c = lock(&self.commit);
                    c.syncing = false;
                }
                self.poison_with(&e);
            }
        }
    }

    /// Syncs everything written and writes the active segment's index: a clean stop.
    /// Returns the active segment's valid length for the catalog.
    pub fn shutdown(&self) -> Result<u64> {
        self.with_writer("shutting down", |w| {
            self.check_poison()?;
            w.active.sync_data()?;
            w.active.publish(w.position, w.next_offset, w.last_arrival);
            self.publish(w.next_offset, w.last_arrival);
            // Writers still waiting for a sync are covered by this one.
            self.mark_durable(w.next_offset);
            w.active.store_index()?;
            Ok(w.position)
        })
    }

    fn segments(&self) -> Vec<Arc<Segment>> {
        self.segments.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// The segment that holds `offset`: the last one whose base is at or below it (or
    /// the first). A binary search under the read lock: no copy of the list.
    fn segment_for(&self, offset: u64) -> Option<Arc<Segment>> {
        let segs = self.segments.read().ok()?;
        let i = segs
            .partition_point(|s| s.base_offset <= offset)
            .saturating_sub(1);
        segs.get(i).cloned()
    }

    /// The segment after the one based at `base`.
    fn segment_after(&self, base: u64) -> Option<Arc<Segment>> {
        let segs = self.segments.read().ok()?;
        let i = segs.partition_point(|s| s.base_offset <= base);
        segs.get(i).cloned()
    }

    /// Reads up to `max_records` records and about `max_bytes` bytes (key plus data;
    /// at least one record when any is available) starting at `from`. A start below the
    /// trim horizon starts at the horizon.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // integration tests' and fuzzing's reads
    pub fn read(&self, from: u64, max_records: usize, max_bytes: usize) -> Result<LogRead> {
        let (records, next_offset) = self.read_with(
            from,
            max_records,
            max_bytes,
            true,
            |offset, arrival_ms, partition_key, data| StoredRecord {
                offset,
                arrival_ms,
                partition_key,
                data,
            },
        )?;
        Ok(LogRead {
            records,
            next_offset,
        })
    }

    /// [`ShardLog::read`] into the caller's record type: `make` gets each record's
    /// offset, arrival, key and data as found (no list in between). Without `keys`, the
    /// keys come empty (one reference count less per record, for readers that never
    /// look at them). Returns the records and the offset to continue from.
    pub fn read_with<T>(
        &self,
        from: u64,
        max_records: usize,
        max_bytes: usize,
        keys: bool,
        mut make: impl FnMut(u64, i64, Bytes, Bytes) -> T,
    ) -> Result<(Vec<T>, u64)> {
        let mut records = Vec::with_capacity(self.expected_records(from, max_records));
        let next_offset = self.walk(from, max_records, max_bytes, |frame, h, offset, span| {
            let key = match keys {
                true => frame.slice(span.key_start..span.key_start + span.key_len),
                false => Bytes::new(),
            };
            let data = frame.slice(span.data_start..span.data_start + span.data_len);
            records.push(make(offset, h.arrival_ms, key, data));
        })?;
        Ok((records, next_offset))
    }

    /// [`ShardLog::read`] without a reference count per record: each frame's bytes
    /// once, its records as spans of them (for scans that decode and drop at once).
    pub fn read_view(&self, from: u64, max_records: usize, max_bytes: usize) -> Result<LogView> {
        let mut view = LogView {
            records: Vec::with_capacity(self.expected_records(from, max_records)),
            ..LogView::default()
        };
        view.next_offset = self.walk(from, max_records, max_bytes, |frame, h, offset, span| {
            if view.frames.last().map(|f| f.as_ptr()) != Some(frame.as_ptr()) {
                view.frames.push(frame.clone());
            }
            view.records.push(ViewRecord {
                frame: view.frames.len() - 1,
                offset,
                arrival_ms: h.arrival_ms,
                span,
            });
        })?;
        Ok(view)
    }

    /// Room for every record a read from `from` may return, so its list never regrows.
    fn expected_records(&self, from: u64, max_records: usize) -> usize {
        let cur = from.max(self.start_offset());
        let expected =
            usize::try_from(self.visible_next().saturating_sub(cur)).unwrap_or(usize::MAX);
        expected.min(max_records).min(READ_PREALLOCATE_MAX)
    }

    /// Visits, in order, the durable records from offset `from` on (up to `max_records`
    /// and about `max_bytes` of keys and data, at least one record), each with its
    /// frame's bytes, the frame's header and its span there; returns the offset to
    /// continue from.
    fn walk(
        &self,
        from: u64,
        max_records: usize,
        max_bytes: usize,
        mut visit: impl FnMut(&Bytes, &FrameHeader, u64, RecordSpan),
    ) -> Result<u64> {
        let visible = self.visible_next();
        let mut cur = from.max(self.start_offset());
        if cur >= visible || max_records == 0 {
            return Ok(cur);
        }
        // Segment by segment, each found by a search (the cost of a read does not grow
        // with the number of segments the shard retains).
        let mut next_segment = self.segment_for(cur);
        let mut bytes = 0usize;
        let mut count = 0usize;
        'segments: while let Some(seg) = next_segment.take() {
            next_segment = self.segment_after(seg.base_offset);
            if cur < seg.base_offset {
                cur = seg.base_offset;
            }
            let mut position = seg.seek_position(SeekKey::Offset(cur));
            while let Some((h, frame_bytes)) = seg.frame_at(position)? {
                position += h.total_len as u64;
                if h.next_offset() <= cur {
                    continue;
                }
                for (i, span) in frame::records(&frame_bytes).enumerate() {
                    let offset = h.base_offset + i as u64;
                    if offset < cur {
                        continue;
                    }
                    if offset >= visible {
                        break 'segments;
                    }
                    let size = span.key_len + span.data_len;
                    if count >= max_records || (bytes + size > max_bytes && count > 0) {
                        break 'segments;
                    }
                    bytes += size;
                    count += 1;
                    visit(&frame_bytes, &h, offset, span);
                    cur = offset + 1;
                }
            }
        }
        Ok(cur)
    }

    /// Offset of the first retained record whose arrival is at or after `ts`, or the
    /// offset after the newest record when there is none.
    pub fn offset_at_time(&self, ts: i64) -> Result<u64> {
        let start = self.start_offset();
        let visible = self.visible_next();
        for seg in self.segments() {
            if seg.committed_next() <= start || seg.max_arrival_ms() < ts {
                continue;
            }
            let mut position = seg.seek_position(SeekKey::Time(ts));
            while let Some((h, _)) = seg.frame_at(position)? {
                position += h.total_len as u64;
                if h.arrival_ms >= ts && h.next_offset() > start {
                    return Ok(h.base_offset.max(start).min(visible));
                }
            }
        }
        Ok(visible)
    }

    /// When the newest retained record is older than `cutoff_ms`, starts a new empty
    /// segment (for an open log) so the whole old tail can expire.
    pub fn roll_if_expired(&self, cutoff_ms: i64) -> Result<()> {
        self.with_writer("rolling an expired segment", |w| {
            if w.closed || w.position == SEGMENT_HEADER || w.last_arrival >= cutoff_ms {
                return Ok(());
            }
            self.check_poison()?;
            // Anything still waiting for a sync gets it from the seal.
            self.roll(w, 0)
        })
    }

    /// Segments whose records are all older than `cutoff_ms`, from the oldest, never the
    /// active segment of an open log; and the trim horizon after removing them.
    pub fn expired_prefix(&self, cutoff_ms: i64, closed: bool) -> (Vec<Arc<Segment>>, u64) {
        self.prefix_while(closed, |s| s.max_arrival_ms() < cutoff_ms)
    }

    /// Segments whose records all lie below offset `next` (a consumer that owns the
    /// stream has taken them), from the oldest, never the active segment of an open log;
    /// and the trim horizon after removing them.
    pub fn prefix_below(&self, next: u64, closed: bool) -> (Vec<Arc<Segment>>, u64) {
        self.prefix_while(closed, |s| s.committed_next() <= next)
    }

    /// The oldest segments while `take` holds (the active one of an open log never), and
    /// the trim horizon after them.
    fn prefix_while(
        &self,
        closed: bool,
        take: impl Fn(&Segment) -> bool,
    ) -> (Vec<Arc<Segment>>, u64) {
        let segs = self.segments();
        let keep_last = usize::from(!closed);
        let prefix: Vec<_> = segs
            .iter()
            .take(segs.len().saturating_sub(keep_last))
            .take_while(|s| take(s))
            .cloned()
            .collect();
        let horizon = prefix
            .last()
            .map_or(self.start_offset(), |s| s.committed_next());
        (prefix, horizon)
    }

    /// Moves the trim horizon forward (after the catalog recorded it), unlinks the given
    /// segments and syncs the directory. Readers holding slices of them stay valid.
    pub fn drop_segments(&self, expired: &[Arc<Segment>], horizon: u64) -> Result<()> {
        self.start_offset.fetch_max(horizon, Ordering::AcqRel);
        if let Ok(mut s) = self.segments.write() {
            s.retain(|seg| !expired.iter().any(|e| Arc::ptr_eq(e, seg)));
        }
        for seg in expired {
            self.fs
                .remove_file(&seg.path)
                .map_err(|e| Error::io(&seg.path, e))?;
            let _ = self.fs.remove_file(&index_path(&seg.path));
        }
        sync_dir(self.fs.as_ref(), &self.dir)
    }

    /// Releases the maps of sealed segments that nobody read since the previous call:
    /// an idle shard holds no mapped pages. Returns how many it released.
    pub fn release_idle_maps(&self) -> usize {
        let segments = self.segments();
        let sealed = segments.len().saturating_sub(1);
        segments[..sealed]
            .iter()
            .filter(|s| s.release_map_if_idle())
            .count()
    }
}
