//! Where log groups, log streams and events live.
//!
//! - A log group's settings are a catalog entry, `group/{name}` (JSON), and each of its
//!   log streams one more, `stream/{group uid}/{stream name}`: synced writes, only on
//!   lifecycle changes and on the periodic flush of the streams' statistics.
//! - A log group's events are the records of an owned stream, `logs:g{uid}` with one
//!   shard, created with the group's first event (a group never written takes no
//!   disk). A record's partition key is the log stream's id within the group (decimal),
//!   its data the event: the timestamp (8 bytes, big-endian, ms) then the message. An
//!   event's position in the group is the record's offset in the shard; the record's
//!   arrival time is its ingestion time. Puts are acknowledged once the engine has
//!   synced them.
//! - Each log stream's statistics (first and last event timestamps, last ingestion,
//!   stored bytes, and the window of offsets that holds its events) are kept in memory,
//!   flushed every second with the offset they cover (`scanned_to`); at open, the
//!   records after it are folded in again, so a crash loses no event to the readers.
//!
//! Writes to one group are serialized (its `write` lock), so the statistics in memory
//! always cover exactly the records below `applied_end`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use freshet_protocol::error::ApiError;
use freshet_storage::{CreateStream, Engine, PutRecordInput, ServiceState, StateChange};
use serde::{Deserialize, Serialize};

use crate::params::{exists, no_group, no_stream, unavailable};

/// The owner name of the streams this service keeps (`logs:g{uid}`).
pub const OWNER: &str = "logs";

/// The one shard of a group's stream.
const SHARD: &str = "shardId-000000000000";

/// Records put per engine call.
const PUT_CHUNK: usize = 500;

/// Records read per engine call.
const READ_CHUNK: usize = 2_000;

/// Bytes of the timestamp before an event's message.
const TS_BYTES: usize = 8;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn storage(e: freshet_storage::Error) -> ApiError {
    unavailable(format!("storage: {e}"))
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(v).map_err(|e| unavailable(e.to_string()))
}

/// A log group's settings, as the catalog keeps them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupMeta {
    /// Name.
    pub name: String,
    /// Unique for the life of the data directory: names its owned stream.
    pub uid: u64,
    /// When it was created, ms.
    pub created: i64,
    /// Retention, days (`None`: never expire).
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The KMS key named at creation.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// `STANDARD`, `INFREQUENT_ACCESS` or `DELIVERY`.
    #[serde(default = "standard")]
    pub class: String,
    /// The id the next log stream gets.
    #[serde(default)]
    pub next_stream_id: u64,
    /// The offset below which every record is folded into the flushed statistics.
    #[serde(default)]
    pub scanned_to: u64,
}

fn standard() -> String {
    "STANDARD".into()
}

/// A log stream, as the catalog keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamMeta {
    /// Name.
    pub name: String,
    /// Its id within the group: the partition key of its records.
    pub id: u64,
    /// When it was created, ms.
    pub created: i64,
    /// The oldest event timestamp.
    #[serde(default)]
    pub first_ts: Option<i64>,
    /// The newest event timestamp.
    #[serde(default)]
    pub last_ts: Option<i64>,
    /// When an event was last ingested.
    #[serde(default)]
    pub last_ingestion: Option<i64>,
    /// Bytes of its events' messages.
    #[serde(default)]
    pub stored_bytes: u64,
    /// The offset of its first record in the group's log.
    #[serde(default)]
    pub first_offset: Option<u64>,
    /// One past the offset of its last record.
    #[serde(default)]
    pub end_offset: u64,
}

impl StreamMeta {
    fn fold(&mut self, offset: u64, ts: i64, ingestion: i64, bytes: usize) {
        self.first_ts = Some(self.first_ts.map_or(ts, |t| t.min(ts)));
        self.last_ts = Some(self.last_ts.map_or(ts, |t| t.max(ts)));
        self.last_ingestion = Some(self.last_ingestion.map_or(ingestion, |t| t.max(ingestion)));
        self.stored_bytes += bytes as u64;
        self.first_offset = Some(self.first_offset.map_or(offset, |o| o.min(offset)));
        self.end_offset = self.end_offset.max(offset + 1);
    }
}

/// A log group's state in memory.
pub struct GroupInner {
    /// Settings.
    pub meta: GroupMeta,
    /// Its log streams by name.
    pub streams: BTreeMap<String, StreamMeta>,
    /// Stream names by id.
    by_id: BTreeMap<u64, String>,
    /// Streams whose statistics changed since the last flush.
    dirty: BTreeSet<String>,
    /// Whether its owned stream exists.
    pub has_log: bool,
    /// Set once deleted: writers holding it stop.
    pub deleted: bool,
    /// The offset below which every record is folded into `streams`.
    pub applied_end: u64,
}

impl GroupInner {
    /// The name of a stream by id.
    pub fn stream_name(&self, id: u64) -> Option<&str> {
        self.by_id.get(&id).map(String::as_str)
    }
}

/// A log group.
pub struct Group {
    write: Mutex<()>,
    /// Its state.
    pub inner: Mutex<GroupInner>,
}

impl Group {
    fn new(meta: GroupMeta, streams: BTreeMap<String, StreamMeta>, has_log: bool) -> Group {
        let by_id = streams.values().map(|s| (s.id, s.name.clone())).collect();
        let applied_end = meta.scanned_to;
        Group {
            write: Mutex::new(()),
            inner: Mutex::new(GroupInner {
                meta,
                streams,
                by_id,
                dirty: BTreeSet::new(),
                has_log,
                deleted: false,
                applied_end,
            }),
        }
    }
}

/// One event read back.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Its position in the group's log.
    pub offset: u64,
    /// The log stream's id.
    pub stream_id: u64,
    /// Its timestamp, ms.
    pub timestamp: i64,
    /// When it was ingested, ms.
    pub ingestion: i64,
    /// The message.
    pub message: String,
}

/// How a scan ended.
#[derive(Debug, Clone, Copy)]
pub struct ScanEnd {
    /// Where to continue.
    pub next: u64,
    /// Whether it reached the end of the range.
    pub finished: bool,
}

/// The owned stream of a group.
pub fn log_name(uid: u64) -> Result<String, ApiError> {
    Engine::owned_stream(OWNER, &format!("g{uid}")).map_err(storage)
}

fn group_key(name: &str) -> String {
    format!("group/{name}")
}

fn stream_key(uid: u64, name: &str) -> String {
    format!("stream/{uid}/{name}")
}

const NEXT_ID_KEY: &str = "next-id";

/// Engine retention hours for a group's retention: days within the engine's range,
/// the engine's longest for "never expire".
pub fn retention_hours(days: Option<u32>) -> u32 {
    let max = freshet_storage::MAX_RETENTION_HOURS;
    let min = freshet_storage::MIN_RETENTION_HOURS;
    match days {
        None => max,
        Some(d) => d.saturating_mul(24).clamp(min, max),
    }
}

/// Every log group, and the engine and catalog they live in.
pub struct Store {
    /// The engine.
    pub engine: Engine,
    state: ServiceState,
    groups: RwLock<BTreeMap<String, Arc<Group>>>,
    next_uid: Mutex<u64>,
}

impl Store {
    /// Loads every group and stream, folds the records written after the last flush
    /// into the statistics, and removes owned streams whose group is gone.
    pub fn open(engine: Engine) -> Result<Store, ApiError> {
        let state = engine.service_state(OWNER).map_err(storage)?;
        let mut next_uid = match state.get(NEXT_ID_KEY).map_err(storage)? {
            Some(v) => serde_json::from_slice::<u64>(&v).unwrap_or(0),
            None => 0,
        };
        let mut metas: Vec<GroupMeta> = Vec::new();
        for (k, v) in state.scan("group/").map_err(storage)? {
            match serde_json::from_slice::<GroupMeta>(&v) {
                Ok(m) => metas.push(m),
                Err(e) => tracing::warn!(key = %k, error = %e, "skipping a bad log group entry"),
            }
        }
        let mut streams: BTreeMap<u64, BTreeMap<String, StreamMeta>> = BTreeMap::new();
        for (k, v) in state.scan("stream/").map_err(storage)? {
            let uid = k
                .strip_prefix("stream/")
                .and_then(|r| r.split_once('/'))
                .and_then(|(u, _)| u.parse::<u64>().ok());
            match (uid, serde_json::from_slice::<StreamMeta>(&v)) {
                (Some(uid), Ok(s)) => {
                    streams.entry(uid).or_default().insert(s.name.clone(), s);
                }
                _ => tracing::warn!(key = %k, "skipping a bad log stream entry"),
            }
        }
        let owned: BTreeSet<String> = engine
            .list_owned_streams(OWNER)
            .map_err(storage)?
            .into_iter()
            .collect();
        let mut groups = BTreeMap::new();
        let mut live = BTreeSet::new();
        for meta in metas {
            next_uid = next_uid.max(meta.uid + 1);
            let has_log = owned.contains(&format!("g{}", meta.uid));
            live.insert(format!("g{}", meta.uid));
            let s = streams.remove(&meta.uid).unwrap_or_default();
            groups.insert(meta.name.clone(), Arc::new(Group::new(meta, s, has_log)));
        }
        // Streams of groups deleted before their log was.
        for orphan in owned.difference(&live) {
            let name = Engine::owned_stream(OWNER, orphan).map_err(storage)?;
            if let Err(e) = engine.delete_stream(&name) {
                tracing::warn!(stream = %name, error = %e, "cannot delete a deleted log group's events");
            }
        }
        let store = Store {
            engine,
            state,
            groups: RwLock::new(groups),
            next_uid: Mutex::new(next_uid),
        };
        for g in store.all_groups() {
            store.catch_up(&g)?;
        }
        store.flush()?;
        Ok(store)
    }

    /// Folds the records after the flushed statistics into them.
    fn catch_up(&self, g: &Group) -> Result<(), ApiError> {
        let (uid, from, has_log) = {
            let inner = lock(&g.inner);
            (inner.meta.uid, inner.applied_end, inner.has_log)
        };
        if !has_log {
            return Ok(());
        }
        let mut found = Vec::new();
        let end = self.scan(uid, from, u64::MAX, usize::MAX, |e| {
            found.push(e);
            true
        })?;
        let mut inner = lock(&g.inner);
        for e in found {
            let Some(name) = inner.by_id.get(&e.stream_id).cloned() else {
                continue;
            };
            if let Some(s) = inner.streams.get_mut(&name) {
                s.fold(e.offset, e.timestamp, e.ingestion, e.message.len());
                inner.dirty.insert(name);
            }
        }
        inner.applied_end = inner.applied_end.max(end.next);
        Ok(())
    }

    fn read_groups(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Group>>> {
        self.groups.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every group, in name order.
    pub fn all_groups(&self) -> Vec<Arc<Group>> {
        self.read_groups().values().cloned().collect()
    }

    /// A group by name.
    pub fn group(&self, name: &str) -> Result<Arc<Group>, ApiError> {
        self.read_groups().get(name).cloned().ok_or_else(no_group)
    }

    /// Creates a group; `ResourceAlreadyExistsException` when it exists.
    pub fn create_group(
        &self,
        name: &str,
        tags: BTreeMap<String, String>,
        kms_key_id: Option<String>,
        class: Option<String>,
    ) -> Result<Arc<Group>, ApiError> {
        let mut groups = self.groups.write().unwrap_or_else(PoisonError::into_inner);
        if groups.contains_key(name) {
            return Err(exists("The specified log group already exists"));
        }
        let mut next = lock(&self.next_uid);
        let meta = GroupMeta {
            name: name.to_string(),
            uid: *next,
            created: now_ms(),
            retention_days: None,
            tags,
            kms_key_id,
            class: class.unwrap_or_else(standard),
            next_stream_id: 0,
            scanned_to: 0,
        };
        self.state
            .write(vec![
                StateChange::Put(group_key(name), encode(&meta)?),
                StateChange::Put(NEXT_ID_KEY.into(), encode(&(meta.uid + 1))?),
            ])
            .map_err(storage)?;
        *next = meta.uid + 1;
        let g = Arc::new(Group::new(meta, BTreeMap::new(), false));
        groups.insert(name.to_string(), Arc::clone(&g));
        Ok(g)
    }

    /// Deletes a group, its streams and its events.
    pub fn delete_group(&self, name: &str) -> Result<(), ApiError> {
        let g = {
            let mut groups = self.groups.write().unwrap_or_else(PoisonError::into_inner);
            groups.remove(name).ok_or_else(no_group)?
        };
        let _w = lock(&g.write);
        let (uid, has_log, streams) = {
            let mut inner = lock(&g.inner);
            inner.deleted = true;
            (
                inner.meta.uid,
                inner.has_log,
                inner.streams.keys().cloned().collect::<Vec<_>>(),
            )
        };
        let mut changes = vec![StateChange::Delete(group_key(name))];
        changes.extend(
            streams
                .iter()
                .map(|s| StateChange::Delete(stream_key(uid, s))),
        );
        self.state.write(changes).map_err(storage)?;
        if has_log {
            match self.engine.delete_stream(&log_name(uid)?) {
                Ok(()) | Err(freshet_storage::Error::StreamNotFound { .. }) => {}
                // The next open removes it.
                Err(e) => {
                    tracing::warn!(group = %name, error = %e, "cannot delete a log group's events")
                }
            }
        }
        Ok(())
    }

    /// Changes a group's settings (retention, tags) and saves them.
    pub fn update_group(
        &self,
        g: &Group,
        change: impl FnOnce(&mut GroupMeta) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        let _w = lock(&g.write);
        let (meta, has_log) = {
            let inner = lock(&g.inner);
            if inner.deleted {
                return Err(no_group());
            }
            let mut meta = inner.meta.clone();
            change(&mut meta)?;
            (meta, inner.has_log)
        };
        self.state
            .put(&group_key(&meta.name), &encode(&meta)?)
            .map_err(storage)?;
        if has_log {
            self.apply_retention(meta.uid, meta.retention_days)?;
        }
        lock(&g.inner).meta = meta;
        Ok(())
    }

    fn apply_retention(&self, uid: u64, days: Option<u32>) -> Result<(), ApiError> {
        let name = log_name(uid)?;
        let hours = retention_hours(days);
        match self.engine.set_retention(&name, hours, true) {
            Err(freshet_storage::Error::RetentionShorterThanCurrent { .. }) => self
                .engine
                .set_retention(&name, hours, false)
                .map_err(storage),
            other => other.map_err(storage),
        }
    }

    /// Creates a log stream; `ResourceAlreadyExistsException` when it exists.
    pub fn create_stream(&self, g: &Group, name: &str) -> Result<(), ApiError> {
        let _w = lock(&g.write);
        self.create_stream_locked(g, name)
    }

    fn create_stream_locked(&self, g: &Group, name: &str) -> Result<(), ApiError> {
        let mut inner = lock(&g.inner);
        if inner.deleted {
            return Err(no_group());
        }
        if inner.streams.contains_key(name) {
            return Err(exists("The specified log stream already exists"));
        }
        let mut meta = inner.meta.clone();
        let s = StreamMeta {
            name: name.to_string(),
            id: meta.next_stream_id,
            created: now_ms(),
            first_ts: None,
            last_ts: None,
            last_ingestion: None,
            stored_bytes: 0,
            first_offset: None,
            end_offset: 0,
        };
        meta.next_stream_id += 1;
        self.state
            .write(vec![
                StateChange::Put(stream_key(meta.uid, name), encode(&s)?),
                StateChange::Put(group_key(&meta.name), encode(&meta)?),
            ])
            .map_err(storage)?;
        inner.meta = meta;
        inner.by_id.insert(s.id, name.to_string());
        inner.streams.insert(name.to_string(), s);
        Ok(())
    }

    /// Deletes a log stream (its events stay in the group's log, unreachable, until
    /// retention removes them).
    pub fn delete_stream(&self, g: &Group, name: &str) -> Result<(), ApiError> {
        let _w = lock(&g.write);
        let mut inner = lock(&g.inner);
        if inner.deleted {
            return Err(no_group());
        }
        let s = inner.streams.get(name).ok_or_else(no_stream)?;
        let id = s.id;
        self.state
            .delete(&stream_key(inner.meta.uid, name))
            .map_err(storage)?;
        inner.streams.remove(name);
        inner.by_id.remove(&id);
        inner.dirty.remove(name);
        Ok(())
    }

    /// Appends events (timestamp, message) to a stream, in order; returns once they
    /// are durable. With `create`, a missing stream is created first.
    pub fn put(
        &self,
        g: &Group,
        stream: &str,
        events: &[(i64, &str)],
        create: bool,
    ) -> Result<(), ApiError> {
        let _w = lock(&g.write);
        let (uid, id, has_log, retention) = {
            let inner = lock(&g.inner);
            if inner.deleted {
                return Err(no_group());
            }
            let id = inner.streams.get(stream).map(|s| s.id);
            (inner.meta.uid, id, inner.has_log, inner.meta.retention_days)
        };
        let id = match id {
            Some(id) => id,
            None if create => {
                self.create_stream_locked(g, stream)?;
                lock(&g.inner)
                    .streams
                    .get(stream)
                    .map(|s| s.id)
                    .ok_or_else(no_stream)?
            }
            None => return Err(no_stream()),
        };
        if events.is_empty() {
            return Ok(());
        }
        let log = log_name(uid)?;
        if !has_log {
            match self
                .engine
                .create_owned_stream(OWNER, CreateStream::new(format!("g{uid}"), 1))
            {
                Ok(_) | Err(freshet_storage::Error::StreamExists { .. }) => {}
                Err(e) => return Err(storage(e)),
            }
            self.apply_retention(uid, retention)?;
            lock(&g.inner).has_log = true;
        }
        let key = id.to_string();
        for chunk in events.chunks(PUT_CHUNK) {
            let ingestion = now_ms();
            let inputs = chunk
                .iter()
                .map(|(ts, msg)| {
                    let mut data = Vec::with_capacity(TS_BYTES + msg.len());
                    data.extend_from_slice(&ts.to_be_bytes());
                    data.extend_from_slice(msg.as_bytes());
                    PutRecordInput::new(key.clone(), data)
                })
                .collect();
            let results = self.engine.put_records(&log, inputs).map_err(storage)?;
            let mut inner = lock(&g.inner);
            let mut failure = None;
            for (r, (ts, msg)) in results.iter().zip(chunk) {
                match r {
                    Ok(o) => {
                        let offset = o.sequence_number.offset;
                        if let Some(s) = inner.streams.get_mut(stream) {
                            s.fold(offset, *ts, ingestion, msg.len());
                        }
                        inner.applied_end = inner.applied_end.max(offset + 1);
                    }
                    Err(e) => failure = Some(e.message.clone()),
                }
            }
            inner.dirty.insert(stream.to_string());
            if let Some(m) = failure {
                return Err(unavailable(m));
            }
        }
        Ok(())
    }

    /// The group for a write that creates what is missing (Lambda's).
    pub fn group_or_create(&self, name: &str) -> Result<Arc<Group>, ApiError> {
        match self.group(name) {
            Ok(g) => Ok(g),
            Err(_) => match self.create_group(name, BTreeMap::new(), None, None) {
                Ok(g) => Ok(g),
                Err(e) if e.kind == "ResourceAlreadyExistsException" => self.group(name),
                Err(e) => Err(e),
            },
        }
    }

    /// Saves the statistics of streams written since the last flush.
    pub fn flush(&self) -> Result<(), ApiError> {
        for g in self.all_groups() {
            let _w = lock(&g.write);
            let mut inner = lock(&g.inner);
            if inner.deleted
                || (inner.dirty.is_empty() && inner.meta.scanned_to == inner.applied_end)
            {
                continue;
            }
            let mut meta = inner.meta.clone();
            meta.scanned_to = inner.applied_end;
            let mut changes = vec![StateChange::Put(group_key(&meta.name), encode(&meta)?)];
            for name in &inner.dirty {
                if let Some(s) = inner.streams.get(name) {
                    changes.push(StateChange::Put(stream_key(meta.uid, name), encode(s)?));
                }
            }
            self.state.write(changes).map_err(storage)?;
            inner.meta = meta;
            inner.dirty.clear();
        }
        Ok(())
    }

    /// Reads the group `uid`'s records in `[from, to)`, handing each to `visit` until
    /// it returns `false` or `budget` records were read. Returns where to continue.
    pub fn scan(
        &self,
        uid: u64,
        from: u64,
        to: u64,
        budget: usize,
        mut visit: impl FnMut(StoredEvent) -> bool,
    ) -> Result<ScanEnd, ApiError> {
        let log = log_name(uid)?;
        let mut at = from;
        let mut read = 0usize;
        while at < to && read < budget {
            let want = READ_CHUNK
                .min(budget - read)
                .min((to - at).min(u64::MAX >> 1) as usize);
            let out = match self.engine.read(&log, SHARD, at, want, 8 * 1024 * 1024) {
                Ok(o) => o,
                Err(freshet_storage::Error::StreamNotFound { .. }) => {
                    return Ok(ScanEnd {
                        next: at,
                        finished: true,
                    })
                }
                Err(e) => return Err(storage(e)),
            };
            if out.records.is_empty() {
                return Ok(ScanEnd {
                    next: out.next_offset.max(at),
                    finished: true,
                });
            }
            for r in out.records {
                let offset = r.sequence_number.offset;
                if offset >= to {
                    return Ok(ScanEnd {
                        next: offset,
                        finished: true,
                    });
                }
                read += 1;
                at = offset + 1;
                let Some(event) = decode(offset, &r) else {
                    continue;
                };
                if !visit(event) {
                    return Ok(ScanEnd {
                        next: at,
                        finished: at >= to,
                    });
                }
            }
            at = at.max(out.next_offset.min(to));
        }
        Ok(ScanEnd {
            next: at,
            finished: at >= to,
        })
    }

    /// The first offset of the group's log whose record arrived at or after `ms`.
    pub fn offset_at(&self, uid: u64, ms: i64) -> Result<u64, ApiError> {
        match self.engine.start_offset(
            &log_name(uid)?,
            SHARD,
            freshet_storage::StartingPosition::AtTimestamp(ms),
        ) {
            Ok(o) => Ok(o),
            Err(freshet_storage::Error::StreamNotFound { .. }) => Ok(0),
            Err(e) => Err(storage(e)),
        }
    }
}

fn decode(offset: u64, r: &freshet_storage::Record) -> Option<StoredEvent> {
    let stream_id = r.partition_key_str().parse().ok()?;
    let ts_bytes: [u8; TS_BYTES] = r.data.get(..TS_BYTES)?.try_into().ok()?;
    let message = String::from_utf8_lossy(r.data.get(TS_BYTES..)?).into_owned();
    Some(StoredEvent {
        offset,
        stream_id,
        timestamp: i64::from_be_bytes(ts_bytes),
        ingestion: r.arrival_ms,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_and_statistics_survive_a_reopen() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let engine = Engine::open(freshet_storage::EngineConfig::new(dir.path()))?;
        let store = Store::open(engine.clone()).map_err(|e| e.message)?;
        let g = store
            .create_group("/aws/lambda/f", BTreeMap::new(), None, None)
            .map_err(|e| e.message)?;
        store.create_stream(&g, "s1").map_err(|e| e.message)?;
        store
            .put(&g, "s1", &[(10, "a"), (11, "bb")], false)
            .map_err(|e| e.message)?;
        store
            .put(&g, "s2", &[(12, "c")], true)
            .map_err(|e| e.message)?;
        assert!(store.put(&g, "nope", &[(1, "x")], false).is_err());
        // No flush: the reopen folds the records in again.
        drop(store);
        engine.shutdown()?;
        drop(engine);
        let engine = Engine::open(freshet_storage::EngineConfig::new(dir.path()))?;
        let store = Store::open(engine.clone()).map_err(|e| e.message)?;
        let g = store.group("/aws/lambda/f").map_err(|e| e.message)?;
        let inner = lock(&g.inner);
        let s1 = inner.streams.get("s1").cloned();
        let s2 = inner.streams.get("s2").cloned();
        let uid = inner.meta.uid;
        drop(inner);
        let s1 = s1.ok_or("s1")?;
        assert_eq!(
            (s1.first_ts, s1.last_ts, s1.stored_bytes),
            (Some(10), Some(11), 3)
        );
        assert_eq!((s1.first_offset, s1.end_offset), (Some(0), 2));
        let s2 = s2.ok_or("s2")?;
        assert_eq!((s2.first_offset, s2.end_offset), (Some(2), 3));
        let mut seen = Vec::new();
        store
            .scan(uid, 0, u64::MAX, 100, |e| {
                seen.push((e.stream_id, e.timestamp, e.message));
                true
            })
            .map_err(|e| e.message)?;
        assert_eq!(
            seen,
            vec![
                (0, 10, "a".into()),
                (0, 11, "bb".into()),
                (1, 12, "c".into())
            ]
        );
        store.delete_group("/aws/lambda/f").map_err(|e| e.message)?;
        assert!(store.group("/aws/lambda/f").is_err());
        engine.shutdown()?;
        Ok(())
    }
}
