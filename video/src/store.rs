//! Where video streams live.
//!
//! - A stream's settings are a catalog entry, `stream/{name}` (JSON), in the service's
//!   namespace (`Engine::service_state("kinesisvideo")`).
//! - Its fragments are records of an owned stream, `kinesisvideo:v{uid}`, with one
//!   shard ([`crate::fragment`] has the record layout). A record's arrival time is the
//!   fragment's server timestamp, so the engine's time index finds server timestamps.
//! - An index of the fragments (offset, parts, timestamps, length, size) is kept in
//!   memory: built at open by reading each stream once, appended to by each put. It
//!   answers ListFragments and resolves start selectors; the bytes are always read from
//!   the engine.
//! - Retention: fragments older than `DataRetentionInHours` are not served; the owned
//!   stream's engine retention is the same hours (at most 8,760), so the engine's
//!   retention sweep deletes their segments (whole segments; it rolls the active one
//!   once all of it has expired).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use bytes::Bytes;
use freshet_protocol::error::ApiError;
use freshet_storage::{CreateStream, Engine, PutRecordInput, ServiceState, StateChange};
use serde::{Deserialize, Serialize};

use crate::error;
use crate::fragment::{self, Meta, Stored};

/// The owner of the streams this service keeps.
pub const OWNER: &str = "kinesisvideo";

/// The one shard of a video stream's log.
pub const SHARD: &str = "shardId-000000000000";

const NEXT_ID_KEY: &str = "next-id";

const SESSION_KEY: &str = "hls-session-key";

/// Locks a mutex, through poisoning.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The engine retention of `hours` of data retention: the same, at most 8,760.
fn engine_hours(hours: u64) -> u32 {
    hours.min(u64::from(freshet_storage::MAX_RETENTION_HOURS)) as u32
}

fn storage(e: freshet_storage::Error) -> ApiError {
    error::internal(format!("storage: {e}"))
}

/// A stream's settings, as the catalog keeps them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamMeta {
    /// StreamName.
    pub name: String,
    /// Names its owned stream; also the ARN's suffix.
    pub uid: u64,
    /// StreamARN.
    pub arn: String,
    /// DeviceName.
    #[serde(default)]
    pub device_name: Option<String>,
    /// MediaType.
    #[serde(default)]
    pub media_type: Option<String>,
    /// KmsKeyId.
    pub kms_key_id: String,
    /// Version (changes with every update).
    pub version: String,
    /// CreationTime, ms.
    pub created_ms: i64,
    /// DataRetentionInHours.
    pub retention_hours: u64,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// One fragment in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The first record's offset (the fragment number).
    pub offset: u64,
    /// Records it takes.
    pub parts: u16,
    /// Producer timestamp, ms.
    pub producer_ms: i64,
    /// Server timestamp, ms.
    pub server_ms: i64,
    /// Length, ms.
    pub duration_ms: u64,
    /// Bytes.
    pub size: u64,
}

/// A video stream.
pub struct VStream {
    /// Settings.
    pub meta: Mutex<StreamMeta>,
    /// Its owned stream's full name.
    pub log: String,
    /// Its fragments, in order.
    pub index: RwLock<Vec<Entry>>,
    /// Held while a fragment is written (its number is known before the put).
    pub write: tokio::sync::Mutex<()>,
    /// Set once deleted.
    pub deleted: AtomicBool,
}

impl VStream {
    /// A copy of the settings.
    pub fn meta(&self) -> StreamMeta {
        lock(&self.meta).clone()
    }

    /// The oldest server timestamp still served (`None`: nothing is kept).
    pub fn retained_from(&self, now: i64) -> Option<i64> {
        let hours = lock(&self.meta).retention_hours;
        (hours > 0).then(|| now.saturating_sub((hours as i64).saturating_mul(3_600_000)))
    }

    /// The retained fragments of the index.
    pub fn retained(&self, now: i64) -> Vec<Entry> {
        let Some(from) = self.retained_from(now) else {
            return Vec::new();
        };
        let idx = self.index.read().unwrap_or_else(PoisonError::into_inner);
        let first = idx.partition_point(|e| e.server_ms < from);
        idx.get(first..).unwrap_or_default().to_vec()
    }

    /// The index entry of the fragment at `offset`.
    pub fn entry(&self, offset: u64) -> Option<Entry> {
        let idx = self.index.read().unwrap_or_else(PoisonError::into_inner);
        idx.binary_search_by_key(&offset, |e| e.offset)
            .ok()
            .and_then(|i| idx.get(i).copied())
    }
}

/// Every video stream.
pub struct Store {
    /// The engine.
    pub engine: Engine,
    state: ServiceState,
    streams: RwLock<BTreeMap<String, Arc<VStream>>>,
    next_uid: Mutex<u64>,
    session_key: std::sync::OnceLock<Vec<u8>>,
}

fn stream_key(name: &str) -> String {
    format!("stream/{name}")
}

/// The owned stream of uid `uid`.
pub fn log_name(uid: u64) -> Result<String, ApiError> {
    Engine::owned_stream(OWNER, &format!("v{uid}")).map_err(storage)
}

impl Store {
    /// Loads every stream and indexes its fragments; removes owned streams whose video
    /// stream is gone.
    pub fn open(engine: Engine) -> Result<Store, ApiError> {
        let state = engine.service_state(OWNER).map_err(storage)?;
        let next_uid = match state.get(NEXT_ID_KEY).map_err(storage)? {
            Some(v) => serde_json::from_slice::<u64>(&v).unwrap_or(0),
            None => 0,
        };
        let store = Store {
            engine,
            state,
            streams: RwLock::default(),
            next_uid: Mutex::new(next_uid),
            session_key: std::sync::OnceLock::new(),
        };
        let mut loaded = BTreeMap::new();
        for (k, v) in store.state.scan("stream/").map_err(storage)? {
            let meta = match serde_json::from_slice::<StreamMeta>(&v) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(key = %k, error = %e, "skipping a bad video stream entry");
                    continue;
                }
            };
            let log = log_name(meta.uid)?;
            if store.engine.describe_stream(&log).is_err() {
                store.create_log(&log, meta.retention_hours)?;
            } else {
                // Logs made when the engine kept at least 24 hours take the stream's.
                store.set_engine_retention(&log, meta.retention_hours)?;
            }
            let s = Arc::new(VStream {
                meta: Mutex::new(meta.clone()),
                log,
                index: RwLock::default(),
                write: tokio::sync::Mutex::new(()),
                deleted: AtomicBool::new(false),
            });
            let idx = store.scan_index(&s.log)?;
            *s.index.write().unwrap_or_else(PoisonError::into_inner) = idx;
            loaded.insert(meta.name.clone(), s);
        }
        let live: Vec<String> = loaded.values().map(|s| s.log.clone()).collect();
        for owned in store.engine.list_owned_streams(OWNER).map_err(storage)? {
            let full = Engine::owned_stream(OWNER, &owned).map_err(storage)?;
            if !live.contains(&full) {
                if let Err(e) = store.engine.delete_stream(&full) {
                    tracing::warn!(stream = %full, error = %e, "could not remove an orphan video log");
                }
            }
        }
        *store
            .streams
            .write()
            .unwrap_or_else(PoisonError::into_inner) = loaded;
        Ok(store)
    }

    fn create_log(&self, log: &str, retention_hours: u64) -> Result<(), ApiError> {
        let name = log.strip_prefix(&format!("{OWNER}:")).unwrap_or(log);
        self.engine
            .create_owned_stream(OWNER, CreateStream::new(name, 1))
            .map_err(storage)?;
        self.set_engine_retention(log, retention_hours)
    }

    /// Sets the owned stream's engine retention for `hours` of data retention.
    pub fn set_engine_retention(&self, log: &str, hours: u64) -> Result<(), ApiError> {
        let target = engine_hours(hours);
        let current = self
            .engine
            .describe_stream(log)
            .map_err(storage)?
            .retention_hours;
        if current != target {
            self.engine
                .set_owned_retention(log, target)
                .map_err(storage)?;
        }
        Ok(())
    }

    /// Reads a log once and indexes its whole fragments.
    fn scan_index(&self, log: &str) -> Result<Vec<Entry>, ApiError> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let got = self
                .engine
                .read(log, SHARD, offset, 1, usize::MAX)
                .map_err(storage)?;
            let Some(first) = got.records.first() else {
                return Ok(out);
            };
            let at = first.sequence_number.offset;
            match self.read_fragment(log, at)? {
                Some(f) => {
                    out.push(entry_of(&f));
                    offset = at + u64::from(f.parts);
                }
                None => offset = at + 1,
            }
        }
    }

    /// Reads the whole fragment whose first record is at `offset`; `None` when there is
    /// none there (not a first part, a part missing, or not written yet).
    pub fn read_fragment(&self, log: &str, offset: u64) -> Result<Option<Stored>, ApiError> {
        let got = self
            .engine
            .read(log, SHARD, offset, 1, usize::MAX)
            .map_err(storage)?;
        let Some(first) = got.records.into_iter().next() else {
            return Ok(None);
        };
        if first.sequence_number.offset != offset {
            return Ok(None);
        }
        let Some((0, count, _)) = fragment::part(&first.data) else {
            return Ok(None);
        };
        let mut records = vec![(offset, first.arrival_ms, first.data)];
        let end = offset + u64::from(count);
        let mut at = offset + 1;
        while at < end {
            let got = self
                .engine
                .read(log, SHARD, at, (end - at) as usize, usize::MAX)
                .map_err(storage)?;
            if got.records.is_empty() {
                return Ok(None);
            }
            for r in got.records {
                at = r.sequence_number.offset + 1;
                records.push((r.sequence_number.offset, r.arrival_ms, r.data));
            }
        }
        let (mut frags, _) = fragment::assemble(&records, offset);
        Ok(frags.pop().filter(|f| f.offset == offset))
    }

    /// The offset after the newest readable record.
    pub fn log_end(&self, log: &str) -> Result<u64, ApiError> {
        self.engine
            .start_offset(log, SHARD, freshet_storage::StartingPosition::Latest)
            .map_err(storage)
    }

    /// Splits a fragment into its records ([`fragment::encode`] at the engine's record
    /// size).
    pub fn encode_fragment(meta: &Meta, blocks: &[u8]) -> Result<Vec<Bytes>, ApiError> {
        fragment::encode(meta, blocks, freshet_storage::MAX_DATA_BYTES)
            .ok_or_else(|| error::internal("the fragment cannot be split into records"))
    }

    /// Writes a fragment's records (from [`Store::encode_fragment`]; `size`: its blocks'
    /// bytes), blocking until they are durable; returns its index entry. The caller
    /// holds the stream's `write` lock.
    pub fn put_fragment(
        &self,
        s: &VStream,
        meta: &Meta,
        parts: Vec<Bytes>,
        size: u64,
    ) -> Result<Entry, ApiError> {
        let n = parts.len();
        let records: Vec<PutRecordInput> = parts
            .into_iter()
            .map(|d| PutRecordInput::new("f", d))
            .collect();
        let out = self.engine.put_records(&s.log, records).map_err(storage)?;
        let mut first = None;
        for r in out {
            let o = r.map_err(|f| error::internal(f.message))?;
            first.get_or_insert(o.sequence_number.offset);
        }
        let offset = first.ok_or_else(|| error::internal("a put returned no record"))?;
        // The server timestamp is the records' arrival: read it back from the log.
        let server_ms = self
            .engine
            .read(&s.log, SHARD, offset, 1, usize::MAX)
            .ok()
            .and_then(|r| r.records.first().map(|r| r.arrival_ms))
            .unwrap_or_else(now_ms);
        let e = Entry {
            offset,
            parts: n as u16,
            producer_ms: meta.producer_ms,
            server_ms,
            duration_ms: meta.duration_ms,
            size,
        };
        let mut idx = s.index.write().unwrap_or_else(PoisonError::into_inner);
        idx.push(e);
        // Entries past the engine's retention name deleted segments: drop them.
        let hours = i64::from(engine_hours(lock(&s.meta).retention_hours));
        let cutoff = server_ms - hours * 3_600_000;
        if idx.first().is_some_and(|f| f.server_ms < cutoff) {
            let keep = idx.partition_point(|f| f.server_ms < cutoff);
            idx.drain(..keep);
        }
        Ok(e)
    }

    /// The key HLS session tokens are signed with: made once, kept in the catalog so
    /// session URLs outlive a restart.
    pub fn session_key(&self) -> Result<Vec<u8>, ApiError> {
        if let Some(k) = self.session_key.get() {
            return Ok(k.clone());
        }
        let key = match self.state.get(SESSION_KEY).map_err(storage)? {
            Some(k) if k.len() == 32 => k,
            _ => {
                use rand::RngCore;
                let mut k = vec![0u8; 32];
                rand::thread_rng().fill_bytes(&mut k);
                self.state.put(SESSION_KEY, &k).map_err(storage)?;
                k
            }
        };
        Ok(self.session_key.get_or_init(|| key).clone())
    }

    /// The stream named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<VStream>> {
        self.streams
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// The stream with ARN `arn`.
    pub fn by_arn(&self, arn: &str) -> Option<Arc<VStream>> {
        self.streams
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .find(|s| lock(&s.meta).arn == arn)
            .cloned()
    }

    /// Every stream, by name.
    pub fn all(&self) -> Vec<Arc<VStream>> {
        self.streams
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// Creates a stream from `meta` (its uid and ARN are set here).
    pub fn create(
        &self,
        mut meta: StreamMeta,
        arn_of: impl Fn(&str, u64) -> String,
    ) -> Result<StreamMeta, ApiError> {
        let mut streams = self.streams.write().unwrap_or_else(PoisonError::into_inner);
        if streams.contains_key(&meta.name) {
            return Err(error::in_use(format!(
                "The stream {} already exists.",
                meta.name
            )));
        }
        let uid = {
            let mut next = lock(&self.next_uid);
            *next += 1;
            *next
        };
        meta.uid = uid;
        meta.arn = arn_of(&meta.name, meta.created_ms.max(0) as u64);
        let log = log_name(uid)?;
        self.create_log(&log, meta.retention_hours)?;
        self.state
            .write(vec![
                StateChange::Put(NEXT_ID_KEY.into(), uid.to_string().into_bytes()),
                StateChange::Put(stream_key(&meta.name), encode(&meta)?),
            ])
            .map_err(storage)?;
        streams.insert(
            meta.name.clone(),
            Arc::new(VStream {
                meta: Mutex::new(meta.clone()),
                log,
                index: RwLock::default(),
                write: tokio::sync::Mutex::new(()),
                deleted: AtomicBool::new(false),
            }),
        );
        Ok(meta)
    }

    /// Saves a stream's settings after `change` (which may refuse).
    pub fn update(
        &self,
        s: &VStream,
        change: impl FnOnce(&mut StreamMeta) -> Result<(), ApiError>,
    ) -> Result<StreamMeta, ApiError> {
        let mut meta = lock(&s.meta);
        let mut next = meta.clone();
        change(&mut next)?;
        self.state
            .put(&stream_key(&next.name), &encode(&next)?)
            .map_err(storage)?;
        *meta = next.clone();
        Ok(next)
    }

    /// Deletes a stream and its fragments.
    pub fn delete(&self, s: &VStream) -> Result<(), ApiError> {
        let name = lock(&s.meta).name.clone();
        let mut streams = self.streams.write().unwrap_or_else(PoisonError::into_inner);
        self.state.delete(&stream_key(&name)).map_err(storage)?;
        s.deleted.store(true, Ordering::SeqCst);
        streams.remove(&name);
        if let Err(e) = self.engine.delete_stream(&s.log) {
            tracing::warn!(stream = %s.log, error = %e, "could not delete a video stream's log");
        }
        Ok(())
    }
}

fn encode(meta: &StreamMeta) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(meta).map_err(|e| error::internal(e.to_string()))
}

/// The index entry of a fragment read back.
pub fn entry_of(f: &Stored) -> Entry {
    Entry {
        offset: f.offset,
        parts: f.parts,
        producer_ms: f.meta.producer_ms,
        server_ms: f.server_ms,
        duration_ms: f.meta.duration_ms,
        size: f.blocks.len() as u64,
    }
}

/// A stored fragment's bytes, for replies.
pub fn blocks_of(f: &Stored) -> &Bytes {
    &f.blocks
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use freshet_storage::{EngineConfig, ManualClock};

    use super::*;

    fn meta(name: &str, hours: u64) -> StreamMeta {
        StreamMeta {
            name: name.into(),
            uid: 0,
            arn: String::new(),
            device_name: None,
            media_type: None,
            kms_key_id: String::new(),
            version: "1".into(),
            created_ms: 0,
            retention_hours: hours,
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn the_engine_deletes_fragments_past_a_retention_below_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let mut cfg = EngineConfig::new(dir.path());
        cfg.clock = clock.clone();
        cfg.retention_interval = None;
        cfg.segment_bytes = 1 << 20;
        let store = Store::open(Engine::open(cfg).unwrap()).unwrap();
        store.create(meta("cam", 1), |n, _| n.into()).unwrap();
        let s = store.get("cam").unwrap();
        assert_eq!(
            store
                .engine
                .describe_stream(&s.log)
                .unwrap()
                .retention_hours,
            1
        );
        let m = Meta {
            producer_ms: 0,
            fragment_timecode: 0,
            cluster_timecode: 0,
            duration_ms: 1000,
            scale: 1_000_000,
            tracks: Bytes::from_static(b"tracks"),
        };
        let blocks = vec![7u8; 3000];
        let parts = Store::encode_fragment(&m, &blocks).unwrap();
        let e = store.put_fragment(&s, &m, parts, 3000).unwrap();
        assert!(store.read_fragment(&s.log, e.offset).unwrap().is_some());
        clock.advance(Duration::from_secs(3_600 + 60));
        let report = store.engine.enforce_retention().unwrap();
        assert!(report.segments_deleted >= 1, "{report:?}");
        assert!(!matches!(
            store.read_fragment(&s.log, e.offset),
            Ok(Some(_))
        ));
        // Down to 0 hours and back up: the engine follows in both directions.
        store.set_engine_retention(&s.log, 0).unwrap();
        assert_eq!(
            store
                .engine
                .describe_stream(&s.log)
                .unwrap()
                .retention_hours,
            0
        );
        store.set_engine_retention(&s.log, 100_000).unwrap();
        assert_eq!(
            store
                .engine
                .describe_stream(&s.log)
                .unwrap()
                .retention_hours,
            8760
        );
    }
}
