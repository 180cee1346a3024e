//! Registered stream consumers (enhanced fan-out), persisted in the catalog under the
//! Kinesis service's namespace (`svc/kinesis/consumer/{stream}/{name}`, one JSON value
//! each); every change is one atomic, synced catalog write.
//!
//! Data directories written before the catalog held them kept one JSON file,
//! `<data dir>/consumers.json`: [`Consumers::open`] moves its consumers into the
//! catalog once and renames the file to `consumers.json.migrated`.
//!
//! A consumer belongs to one incarnation of a stream (its uid): when the stream is
//! deleted, or deleted and created again, its consumers disappear with it (they are
//! dropped lazily, the next time the stream's consumers are looked at).
//!
//! Status: `CREATING` until the configured creation delay has passed since
//! registration, then `ACTIVE`; a deregistered consumer is `DELETING` for the same
//! delay and then gone (at once when the delay is zero).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use freshet_storage::{Engine, ServiceState, StateChange};

use serde_json::{json, Value as J};

use freshet_protocol::{ApiError, ApiResult};

/// Most consumers registered with one stream.
pub const MAX_CONSUMERS_PER_STREAM: usize = 20;
/// The file older versions kept consumers in, inside the data directory.
pub const LEGACY_FILE_NAME: &str = "consumers.json";
/// What a migrated legacy file is renamed to.
pub const MIGRATED_FILE_NAME: &str = "consumers.json.migrated";
/// Key prefix of consumers in the service's catalog namespace.
const KEY_PREFIX: &str = "consumer/";

/// One registered consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    /// Stream name.
    pub stream: String,
    /// Incarnation of the stream it was registered with.
    pub stream_uid: u64,
    /// Consumer name.
    pub name: String,
    /// Registration time, epoch ms.
    pub created_ms: i64,
    /// When it was deregistered, epoch ms.
    pub deleting_since_ms: Option<i64>,
}

/// A consumer's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerStatus {
    /// Registered, not yet usable.
    Creating,
    /// Usable by SubscribeToShard.
    Active,
    /// Deregistered, not yet gone.
    Deleting,
}

impl ConsumerStatus {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerStatus::Creating => "CREATING",
            ConsumerStatus::Active => "ACTIVE",
            ConsumerStatus::Deleting => "DELETING",
        }
    }
}

impl Consumer {
    /// The status at `now_ms` given the transition delay.
    pub fn status(&self, now_ms: i64, delay_ms: i64) -> ConsumerStatus {
        if self.deleting_since_ms.is_some() {
            ConsumerStatus::Deleting
        } else if now_ms < self.created_ms.saturating_add(delay_ms) {
            ConsumerStatus::Creating
        } else {
            ConsumerStatus::Active
        }
    }

    /// `arn:aws:kinesis:REGION:ACCOUNT:stream/NAME/consumer/CONSUMER:CREATION_SECONDS`.
    pub fn arn(&self, region: &str, account: &str) -> String {
        format!(
            "arn:aws:kinesis:{region}:{account}:stream/{}/consumer/{}:{}",
            self.stream,
            self.name,
            self.created_ms.div_euclid(1000)
        )
    }

    fn gone(&self, now_ms: i64, delay_ms: i64) -> bool {
        self.deleting_since_ms
            .is_some_and(|t| now_ms >= t.saturating_add(delay_ms))
    }

    fn to_json(&self) -> J {
        json!({
            "stream": self.stream,
            "stream_uid": self.stream_uid,
            "name": self.name,
            "created_ms": self.created_ms,
            "deleting_since_ms": self.deleting_since_ms,
        })
    }

    fn from_json(v: &J) -> Option<Consumer> {
        Some(Consumer {
            stream: v.get("stream")?.as_str()?.to_string(),
            stream_uid: v.get("stream_uid")?.as_u64()?,
            name: v.get("name")?.as_str()?.to_string(),
            created_ms: v.get("created_ms")?.as_i64()?,
            deleting_since_ms: v.get("deleting_since_ms").and_then(J::as_i64),
        })
    }
}

fn key(c: &Consumer) -> String {
    format!("{KEY_PREFIX}{}/{}", c.stream, c.name)
}

/// The registry: every consumer of every stream, persisted.
#[derive(Debug)]
pub struct Consumers {
    store: Option<ServiceState>,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    list: Vec<Consumer>,
    /// Keys written to the catalog.
    persisted: BTreeSet<String>,
}

fn catalog_error(e: freshet_storage::Error) -> ApiError {
    ApiError::internal(format!(
        "Internal service failure: cannot persist consumers: {e}"
    ))
}

/// Reads the consumers list of a legacy `consumers.json`.
fn read_legacy(path: &Path) -> Result<Option<Vec<Consumer>>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let doc: J = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?;
    doc.get("consumers")
        .and_then(J::as_array)
        .ok_or_else(|| format!("{} holds no consumers list", path.display()))?
        .iter()
        .map(|v| {
            Consumer::from_json(v)
                .ok_or_else(|| format!("{} holds a malformed consumer", path.display()))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

impl Consumers {
    /// A registry that is never written to disk (tests, embedding).
    pub fn in_memory() -> Self {
        Consumers {
            store: None,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Loads the registry from the engine's catalog, first moving the consumers of a
    /// legacy `consumers.json` in the data directory into it.
    pub fn open(engine: &Engine) -> Result<Self, String> {
        let store = engine
            .service_state(crate::state::SERVICE_NAMESPACE)
            .map_err(|e| e.to_string())?;
        let data_dir = &engine.config().data_dir;
        let legacy = data_dir.join(LEGACY_FILE_NAME);
        if let Some(list) = read_legacy(&legacy)? {
            let changes = list
                .iter()
                .map(|c| StateChange::Put(key(c), c.to_json().to_string().into_bytes()))
                .collect();
            store
                .write(changes)
                .map_err(|e| format!("cannot move {} into the catalog: {e}", legacy.display()))?;
            let migrated = data_dir.join(MIGRATED_FILE_NAME);
            std::fs::rename(&legacy, &migrated)
                .and_then(|()| std::fs::File::open(data_dir)?.sync_all())
                .map_err(|e| format!("cannot rename {}: {e}", legacy.display()))?;
            tracing::info!(
                consumers = list.len(),
                "moved consumers.json into the catalog"
            );
        }
        let mut inner = Inner::default();
        for (k, v) in store.scan(KEY_PREFIX).map_err(|e| e.to_string())? {
            let c = serde_json::from_slice::<J>(&v)
                .ok()
                .as_ref()
                .and_then(Consumer::from_json)
                .ok_or_else(|| format!("the catalog holds a malformed consumer at {k}"))?;
            inner.persisted.insert(k);
            inner.list.push(c);
        }
        Ok(Consumers {
            store: Some(store),
            inner: Mutex::new(inner),
        })
    }

    /// Locks the list for a read-modify-write; [`Locked::save`] persists it.
    pub fn lock(&self) -> Locked<'_> {
        Locked {
            store: self.store.as_ref(),
            inner: self.inner.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }
}

/// The locked list.
#[derive(Debug)]
pub struct Locked<'a> {
    store: Option<&'a ServiceState>,
    inner: MutexGuard<'a, Inner>,
}

impl Locked<'_> {
    /// Drops the consumers of `stream` that belong to another incarnation than
    /// `current_uid` (None: the stream no longer exists) and those whose deletion has
    /// completed. Returns whether anything was dropped (then call [`Locked::save`]).
    pub fn prune(
        &mut self,
        stream: &str,
        current_uid: Option<u64>,
        now_ms: i64,
        delay_ms: i64,
    ) -> bool {
        let list = &mut self.inner.list;
        let before = list.len();
        list.retain(|c| {
            !(c.stream == stream && (Some(c.stream_uid) != current_uid || c.gone(now_ms, delay_ms)))
        });
        list.len() != before
    }

    /// The consumers of a stream, by name.
    pub fn of_stream(&self, stream: &str) -> Vec<Consumer> {
        let mut v: Vec<Consumer> = self
            .inner
            .list
            .iter()
            .filter(|c| c.stream == stream)
            .cloned()
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// The mutable list.
    pub fn list_mut(&mut self) -> &mut Vec<Consumer> {
        &mut self.inner.list
    }

    /// Writes the list to the catalog in one atomic change (no-op in memory).
    pub fn save(&mut self) -> ApiResult<()> {
        let Some(store) = self.store else {
            return Ok(());
        };
        let now: BTreeSet<String> = self.inner.list.iter().map(key).collect();
        let mut changes: Vec<StateChange> = self
            .inner
            .persisted
            .difference(&now)
            .map(|k| StateChange::Delete(k.clone()))
            .collect();
        changes.extend(
            self.inner
                .list
                .iter()
                .map(|c| StateChange::Put(key(c), c.to_json().to_string().into_bytes())),
        );
        store.write(changes).map_err(catalog_error)?;
        self.inner.persisted = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consumer(name: &str, uid: u64) -> Consumer {
        Consumer {
            stream: "s".into(),
            stream_uid: uid,
            name: name.into(),
            created_ms: 1_700_000_000_123,
            deleting_since_ms: None,
        }
    }

    fn open_engine(dir: &Path) -> Result<Engine, String> {
        Engine::open(freshet_storage::EngineConfig::new(dir)).map_err(|e| e.to_string())
    }

    #[test]
    fn survives_reopen_and_deregistration() -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        {
            let engine = open_engine(dir.path())?;
            let reg = Consumers::open(&engine)?;
            let mut l = reg.lock();
            l.list_mut().push(consumer("a", 1));
            l.list_mut().push(consumer("b", 1));
            l.save().map_err(|e| e.to_string())?;
            l.list_mut().retain(|c| c.name != "b");
            l.save().map_err(|e| e.to_string())?;
            drop(l);
            engine.shutdown().map_err(|e| e.to_string())?;
        }
        let engine = open_engine(dir.path())?;
        let again = Consumers::open(&engine)?;
        assert_eq!(again.lock().of_stream("s"), vec![consumer("a", 1)]);
        engine.shutdown().map_err(|e| e.to_string())
    }

    #[test]
    fn a_legacy_file_moves_into_the_catalog_once() -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let legacy = serde_json::json!({
            "version": 1,
            "consumers": [consumer("old", 7).to_json()],
        });
        std::fs::create_dir_all(dir.path()).map_err(|e| e.to_string())?;
        std::fs::write(dir.path().join(LEGACY_FILE_NAME), legacy.to_string())
            .map_err(|e| e.to_string())?;
        {
            let engine = open_engine(dir.path())?;
            let reg = Consumers::open(&engine)?;
            assert_eq!(reg.lock().of_stream("s"), vec![consumer("old", 7)]);
            engine.shutdown().map_err(|e| e.to_string())?;
        }
        assert!(!dir.path().join(LEGACY_FILE_NAME).exists());
        assert!(dir.path().join(MIGRATED_FILE_NAME).exists());
        let engine = open_engine(dir.path())?;
        let reg = Consumers::open(&engine)?;
        assert_eq!(reg.lock().of_stream("s"), vec![consumer("old", 7)]);
        engine.shutdown().map_err(|e| e.to_string())
    }

    #[test]
    fn status_and_prune() {
        let reg = Consumers::in_memory();
        let mut l = reg.lock();
        l.list_mut().push(consumer("a", 1));
        l.list_mut().push(consumer("b", 2));
        let c = consumer("a", 1);
        assert_eq!(c.status(c.created_ms, 10), ConsumerStatus::Creating);
        assert_eq!(c.status(c.created_ms + 10, 10), ConsumerStatus::Active);
        assert_eq!(
            c.arn("us-east-1", "000000000000"),
            "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/a:1700000000"
        );
        assert!(l.prune("s", Some(1), 0, 0));
        assert_eq!(l.of_stream("s").len(), 1);
        if let Some(c) = l.list_mut().first_mut() {
            c.deleting_since_ms = Some(100);
        }
        assert!(!l.prune("s", Some(1), 105, 10));
        assert!(l.prune("s", Some(1), 110, 10));
        assert!(l.of_stream("s").is_empty());
    }
}
