//! The engine: streams of shards over shard logs, with the catalog beside them.

pub(crate) mod cursor;
pub(crate) mod leases;
pub(crate) mod records;
pub(crate) mod reshard;
mod retention;
pub(crate) mod service_state;
mod shard_table;
mod streams;
mod summary;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::catalog::{clean_key, Batch, Catalog, ShardRecord, StreamRecord};
use crate::config::EngineConfig;
use crate::error::{Error, Result};
use crate::hash_key::HashKeyRange;
use crate::jobs::Jobs;
use crate::log::recovery::{diagnose, LogDiagnosis};
use crate::log::{Flusher, LogConfig, ShardLog};
use crate::types::shard_id;
pub(crate) use shard_table::ShardTable;

/// A shard in memory: its catalog record and its log.
#[derive(Debug)]
pub(crate) struct Shard {
    pub(crate) id: String,
    /// The id once more, shared by the outcomes of the records put into the shard.
    pub(crate) shared_id: Arc<str>,
    pub(crate) index: u64,
    pub(crate) rec: RwLock<ShardRecord>,
    pub(crate) log: Arc<ShardLog>,
    /// Indexes of the shards a reshard made of this one (set once, when it closed):
    /// the lineage lookup of a read at the end of a closed shard, without a scan.
    pub(crate) children: OnceLock<Vec<u64>>,
}

impl Shard {
    pub(crate) fn new(rec: ShardRecord, log: Arc<ShardLog>) -> Shard {
        let id = shard_id(rec.index);
        Shard {
            shared_id: Arc::from(id.as_str()),
            id,
            index: rec.index,
            rec: RwLock::new(rec),
            log,
            children: OnceLock::new(),
        }
    }

    /// The shard's children (none while it is open).
    pub(crate) fn children(&self) -> &[u64] {
        self.children.get().map_or(&[], Vec::as_slice)
    }

    pub(crate) fn record(&self) -> ShardRecord {
        read(&self.rec).clone()
    }
}

/// The open shards of a stream by hash-key range: what puts route through.
#[derive(Debug, Default)]
pub(crate) struct Routing {
    /// Sorted by range start, contiguous over the whole key space.
    pub(crate) open: Vec<(HashKeyRange, Arc<Shard>)>,
}

impl Routing {
    pub(crate) fn route(&self, hash_key: u128) -> Option<&Arc<Shard>> {
        let i = self
            .open
            .partition_point(|(r, _)| r.start <= hash_key)
            .checked_sub(1)?;
        self.open
            .get(i)
            .filter(|(r, _)| r.contains(hash_key))
            .map(|(_, s)| s)
    }
}

/// A stream in memory.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) meta: RwLock<StreamRecord>,
    /// Retained shards by index.
    pub(crate) shards: RwLock<ShardTable>,
    pub(crate) routing: RwLock<Arc<Routing>>,
    pub(crate) dir: PathBuf,
}

impl Stream {
    /// A stream of `shards`, with its routing built.
    pub(crate) fn new(meta: StreamRecord, dir: PathBuf, shards: ShardTable) -> Stream {
        let stream = Stream {
            meta: RwLock::new(meta),
            shards: RwLock::new(shards),
            routing: RwLock::new(Arc::default()),
            dir,
        };
        stream.rebuild_routing();
        // The children index, from the lineage the shard records hold.
        let mut children: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for s in read(&stream.shards).values() {
            let rec = read(&s.rec);
            for p in rec.parent.into_iter().chain(rec.adjacent_parent) {
                children.entry(p).or_default().push(rec.index);
            }
        }
        for (parent, kids) in children {
            if let Some(p) = stream.shard(parent) {
                let _ = p.children.set(kids);
            }
        }
        stream
    }

    /// Routes through the open shards; a scan of every retained shard (open and
    /// reshard use it; a reshard updates the routing with [`Stream::reroute`]).
    pub(crate) fn rebuild_routing(&self) {
        let shards = read(&self.shards);
        let mut open: Vec<_> = shards
            .values()
            .filter(|s| read(&s.rec).end_offset.is_none())
            .map(|s| (read(&s.rec).range, Arc::clone(s)))
            .collect();
        open.sort_by_key(|(r, _)| r.start);
        *write(&self.routing) = Arc::new(Routing { open });
    }

    /// Routing after a reshard closed `parents` and opened `children`: work in the
    /// number of open shards, not retained ones.
    pub(crate) fn reroute(&self, parents: &[Arc<Shard>], children: &[Arc<Shard>]) {
        let mut routing = write(&self.routing);
        let mut open: Vec<_> = routing
            .open
            .iter()
            .filter(|(_, s)| !parents.iter().any(|p| Arc::ptr_eq(p, s)))
            .cloned()
            .chain(children.iter().map(|c| (read(&c.rec).range, Arc::clone(c))))
            .collect();
        open.sort_by_key(|(r, _)| r.start);
        *routing = Arc::new(Routing { open });
    }

    pub(crate) fn shard(&self, index: u64) -> Option<Arc<Shard>> {
        read(&self.shards).get(index).cloned()
    }
}

pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) struct Inner {
    pub(crate) cfg: EngineConfig,
    pub(crate) catalog: Catalog,
    pub(crate) flusher: Arc<Flusher>,
    pub(crate) streams: RwLock<BTreeMap<String, Arc<Stream>>>,
    /// Serializes metadata changes (create, delete, reshard, retention).
    pub(crate) admin: Mutex<()>,
    shut_down: AtomicBool,
    /// When free space was last measured, and the figure.
    disk: Mutex<Option<(std::time::Instant, u64)>>,
    jobs: Jobs,
    _lock_file: File,
}

/// An open data directory: thread-safe, cheap to clone, usable from any thread. Calls
/// block until their data is durable (per [`Durability`](crate::Durability)); async
/// code runs them on a blocking pool (`tokio::task::spawn_blocking`).
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("data_dir", &self.inner.cfg.data_dir)
            .finish_non_exhaustive()
    }
}

fn streams_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("streams")
}

pub(crate) fn stream_dir(data_dir: &Path, uid: u64) -> PathBuf {
    streams_dir(data_dir).join(format!("{uid:016x}"))
}

pub(crate) fn shard_dir(stream_dir: &Path, index: u64) -> PathBuf {
    stream_dir.join(format!("{index:012}"))
}

pub(crate) fn log_config(c: &EngineConfig) -> LogConfig {
    LogConfig {
        durability: c.durability,
        recovery: c.recovery,
        segment_bytes: c.segment_bytes,
        index_interval: c.index_interval_bytes,
    }
}

impl Engine {
    /// Opens the data directory (creating it when absent), recovers every shard log and
    /// starts the group-commit flushers and the engine's background jobs.
    pub fn open(cfg: EngineConfig) -> Result<Engine> {
        if cfg.segment_bytes < crate::config::MIN_SEGMENT_BYTES {
            return Err(Error::SegmentTooSmall {
                bytes: cfg.segment_bytes,
                min: crate::config::MIN_SEGMENT_BYTES,
            });
        }
        let dir = cfg.data_dir.clone();
        fs::create_dir_all(streams_dir(&dir)).map_err(|e| Error::io(&dir, e))?;
        let lock_path = dir.join("LOCK");
        let lock_file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(Error::Locked { path: lock_path }),
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
        }
        let catalog = Catalog::open(&dir.join("catalog"))?;

        // Clean-shutdown marks are read now and consumed once every log is open: a
        // crash from then on is unclean (nothing is appended before that).
        let mut clean = BTreeMap::new();
        let mut consume = Batch::default();
        for (key, value) in catalog.scan_raw("clean/")? {
            if let Ok(len) = String::from_utf8_lossy(&value).parse::<u64>() {
                clean.insert(key.clone(), len);
            }
            consume.delete(&key);
        }

        // 1. Diagnose every shard log. Nothing is changed until every one checks out,
        //    so damage is reported with the files as they were.
        let log_cfg = log_config(&cfg);
        let mut found = Vec::new();
        for (_, meta) in catalog.scan::<StreamRecord>("stream/")? {
            let sdir = stream_dir(&dir, meta.uid);
            let mut shards = Vec::new();
            for (_, rec) in catalog.scan::<ShardRecord>(&format!("shard/{:016x}/", meta.uid))? {
                let diagnosis = diagnose(
                    &cfg.fs,
                    &shard_dir(&sdir, rec.index),
                    log_cfg,
                    rec.start_offset,
                    clean.get(&clean_key(meta.uid, rec.index)).copied(),
                )?
                .closed(rec.end_offset.is_some());
                shards.push((rec, diagnosis));
            }
            found.push((meta, sdir, shards));
        }

        // 2. Repair and open.
        let flusher = Flusher::start(4).map_err(|e| Error::io(&dir, e))?;
        let opened = Self::open_streams(&cfg, found, &flusher);
        let streams = match opened.and_then(|s| {
            if !clean.is_empty() {
                catalog.write(consume)?;
            }
            Ok(s)
        }) {
            Ok(streams) => streams,
            Err(e) => {
                flusher.stop();
                return Err(e);
            }
        };
        // Directories of streams that a crash left behind mid-delete.
        let live_dirs: Vec<_> = streams.values().map(|s| s.dir.clone()).collect();
        for entry in fs::read_dir(streams_dir(&dir))
            .map_err(|e| Error::io(&dir, e))?
            .flatten()
        {
            if !live_dirs.contains(&entry.path()) {
                tracing::info!(path = %entry.path().display(), "removing the files of a deleted stream");
                let _ = cfg.fs.remove_dir_all(&entry.path());
            }
        }

        let inner = Arc::new(Inner {
            cfg,
            catalog,
            flusher,
            streams: RwLock::new(streams),
            admin: Mutex::new(()),
            shut_down: AtomicBool::new(false),
            disk: Mutex::new(None),
            jobs: Jobs::new(),
            _lock_file: lock_file,
        });
        let engine = Engine { inner };
        engine.start_sweeps()?;
        Ok(engine)
    }

    /// Repairs and opens the diagnosed shard logs of every stream, and removes shard
    /// directories the catalog does not know (a reshard that crashed before its
    /// catalog write).
    #[allow(clippy::type_complexity)]
    fn open_streams(
        cfg: &EngineConfig,
        found: Vec<(StreamRecord, PathBuf, Vec<(ShardRecord, LogDiagnosis)>)>,
        flusher: &Arc<Flusher>,
    ) -> Result<BTreeMap<String, Arc<Stream>>> {
        let mut streams = BTreeMap::new();
        for (meta, sdir, diagnosed) in found {
            let mut shards = ShardTable::default();
            for (rec, diagnosis) in diagnosed {
                let id = shard_id(rec.index);
                let log = ShardLog::recover(
                    &cfg.fs,
                    diagnosis,
                    format!("{}/{}", meta.name, id),
                    Arc::clone(flusher),
                )?;
                if rec.end_offset.is_some() {
                    log.close()?;
                }
                shards.insert(rec.index, Arc::new(Shard::new(rec, log)));
            }
            if let Ok(entries) = fs::read_dir(&sdir) {
                for entry in entries.flatten() {
                    let known = entry
                        .file_name()
                        .to_str()
                        .and_then(|n| n.parse::<u64>().ok())
                        .is_some_and(|i| shards.contains(i));
                    if !known {
                        tracing::info!(path = %entry.path().display(), "removing an orphaned shard directory");
                        let _ = cfg.fs.remove_dir_all(&entry.path());
                    }
                }
            }
            let stream = Arc::new(Stream::new(meta.clone(), sdir, shards));
            streams.insert(meta.name, stream);
        }
        Ok(streams)
    }

    /// Starts the engine's own sweeps as jobs: retention, and releasing the maps of
    /// idle sealed segments, each at the retention interval. They hold the engine
    /// weakly, so they never keep it open.
    fn start_sweeps(&self) -> Result<()> {
        let Some(interval) = self.inner.cfg.retention_interval else {
            return Ok(());
        };
        let weak = Arc::downgrade(&self.inner);
        self.inner
            .jobs
            .spawn_periodic("retention", interval, move || match weak.upgrade() {
                Some(inner) => Engine { inner }.enforce_retention().map(|_| ()),
                None => Ok(()),
            })?;
        let weak = Arc::downgrade(&self.inner);
        self.inner
            .jobs
            .spawn_periodic("map-release", interval, move || match weak.upgrade() {
                Some(inner) => Engine { inner }.release_idle_maps().map(|_| ()),
                None => Ok(()),
            })?;
        Ok(())
    }

    /// The registry of background jobs that stop with the engine: the engine's sweeps
    /// are there, and services start their deliveries and pollers there.
    pub fn jobs(&self) -> &Jobs {
        &self.inner.jobs
    }

    /// Group-commit sync counts and latencies (for metrics).
    pub fn sync_stats(&self) -> crate::log::SyncSnapshot {
        self.inner.flusher.stats().snapshot()
    }

    /// The configuration the engine was opened with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.cfg
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.cfg.clock.now_ms()
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.inner.shut_down.load(Ordering::Acquire) {
            Err(Error::ShutDown)
        } else {
            Ok(())
        }
    }

    /// Refuses writes while the disk is below the free-space watermark. The figure is
    /// measured at most every 100 ms, so a put costs no system call.
    pub(crate) fn check_disk(&self) -> Result<()> {
        let watermark = self.inner.cfg.min_free_bytes;
        if watermark == 0 {
            return Ok(());
        }
        let mut last = lock(&self.inner.disk);
        let now = std::time::Instant::now();
        let available = match *last {
            Some((at, bytes)) if now.duration_since(at) < std::time::Duration::from_millis(100) => {
                bytes
            }
            _ => {
                let dir = &self.inner.cfg.data_dir;
                let bytes = self
                    .inner
                    .cfg
                    .fs
                    .available_bytes(dir)
                    .map_err(|e| Error::io(dir, e))?;
                *last = Some((now, bytes));
                bytes
            }
        };
        if available < watermark {
            return Err(Error::DiskFull {
                path: self.inner.cfg.data_dir.clone(),
                available,
                watermark,
            });
        }
        Ok(())
    }

    pub(crate) fn stream(&self, name: &str) -> Result<Arc<Stream>> {
        self.check_open()?;
        read(&self.inner.streams)
            .get(name)
            .cloned()
            .ok_or_else(|| Error::StreamNotFound {
                stream: name.to_string(),
            })
    }

    /// Syncs every shard, records a clean shutdown and stops the background threads.
    /// Later calls fail with [`Error::ShutDown`]. Dropping the last handle does the same.
    pub fn shutdown(&self) -> Result<()> {
        if self.inner.shut_down.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.inner.shutdown_now()
    }
}

impl Engine {
    /// Stops the engine the way `kill -9` would as far as its files can tell: no final
    /// sync, no index files for active segments, no clean-shutdown marks. What was
    /// written stays in the page cache, as after a process crash. For recovery tests.
    #[doc(hidden)]
    pub fn simulate_crash(self) {
        if self.inner.shut_down.swap(true, Ordering::AcqRel) {
            return;
        }
        self.inner.jobs.stop_all(self.inner.cfg.jobs_stop_timeout);
        self.inner.flusher.stop();
    }
}

impl Inner {
    fn shutdown_now(&self) -> Result<()> {
        // Background jobs first (they may be writing), each within the bound; the
        // report is logged and kept (`Jobs::shutdown_report`).
        self.jobs.stop_all(self.cfg.jobs_stop_timeout);
        let _admin = lock(&self.admin);
        let mut marks = Batch::default();
        let mut first_error = None;
        for stream in read(&self.streams).values() {
            let uid = read(&stream.meta).uid;
            for shard in read(&stream.shards).values() {
                match shard.log.shutdown() {
                    Ok(len) => {
                        marks.put_raw(&clean_key(uid, shard.index), len.to_string().as_bytes())
                    }
                    Err(e) => {
                        tracing::error!(shard = %shard.id, error = %e, "shard not stopped cleanly");
                        first_error.get_or_insert(e);
                    }
                }
                // Tailing cursors waiting on the shard wake and find the engine shut down.
                shard.log.notify_subscribers();
            }
        }
        self.flusher.stop();
        self.catalog.write(marks)?;
        self.catalog.flush()?;
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.shut_down.swap(true, Ordering::AcqRel) {
            if let Err(e) = self.shutdown_now() {
                tracing::error!(error = %e, "engine shutdown failed");
            }
        }
    }
}
