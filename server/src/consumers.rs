//! Registered stream consumers (enhanced fan-out), kept by the server and persisted in
//! one small JSON file, `<data dir>/consumers.json`, rewritten atomically (write a
//! temporary file, fsync it, rename it over the old one, fsync the directory) on every
//! change.
//!
//! A consumer belongs to one incarnation of a stream (its uid): when the stream is
//! deleted, or deleted and created again, its consumers disappear with it (they are
//! dropped lazily, the next time the stream's consumers are looked at).
//!
//! Status: `CREATING` until the configured creation delay has passed since
//! registration, then `ACTIVE`; a deregistered consumer is `DELETING` for the same
//! delay and then gone (at once when the delay is zero).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde_json::{json, Value as J};

use crate::error::{ApiError, ApiResult};

/// Most consumers registered with one stream.
pub const MAX_CONSUMERS_PER_STREAM: usize = 20;
/// The file, inside the data directory.
pub const FILE_NAME: &str = "consumers.json";

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

/// The registry: every consumer of every stream, persisted.
#[derive(Debug)]
pub struct Consumers {
    path: Option<PathBuf>,
    list: Mutex<Vec<Consumer>>,
}

fn io_error(path: &Path, e: std::io::Error) -> ApiError {
    ApiError::internal(format!(
        "Internal service failure: cannot persist consumers to {}: {e}",
        path.display()
    ))
}

impl Consumers {
    /// A registry that is never written to disk (tests, embedding).
    pub fn in_memory() -> Self {
        Consumers {
            path: None,
            list: Mutex::new(Vec::new()),
        }
    }

    /// Loads the registry of a data directory (empty when the file is absent).
    pub fn open(data_dir: &Path) -> Result<Self, String> {
        let path = data_dir.join(FILE_NAME);
        let list = match std::fs::read(&path) {
            Ok(bytes) => {
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
                    .collect::<Result<Vec<_>, _>>()?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        Ok(Consumers {
            path: Some(path),
            list: Mutex::new(list),
        })
    }

    /// Locks the list for a read-modify-write; [`Locked::save`] persists it.
    pub fn lock(&self) -> Locked<'_> {
        Locked {
            path: self.path.as_deref(),
            list: self.list.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }
}

/// The locked list.
#[derive(Debug)]
pub struct Locked<'a> {
    path: Option<&'a Path>,
    list: MutexGuard<'a, Vec<Consumer>>,
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
        let before = self.list.len();
        self.list.retain(|c| {
            !(c.stream == stream && (Some(c.stream_uid) != current_uid || c.gone(now_ms, delay_ms)))
        });
        self.list.len() != before
    }

    /// The consumers of a stream, by name.
    pub fn of_stream(&self, stream: &str) -> Vec<Consumer> {
        let mut v: Vec<Consumer> = self
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
        &mut self.list
    }

    /// Writes the list to its file (no-op in memory).
    pub fn save(&self) -> ApiResult<()> {
        let Some(path) = self.path else {
            return Ok(());
        };
        let doc = json!({
            "version": 1,
            "consumers": self.list.iter().map(Consumer::to_json).collect::<Vec<_>>(),
        });
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(&doc)
            .map_err(|e| ApiError::internal(format!("Internal service failure: {e}")))?;
        write_synced(&tmp, &bytes).map_err(|e| io_error(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| io_error(path, e))?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_error(dir, e))?;
        }
        Ok(())
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
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

    #[test]
    fn survives_reopen() -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let reg = Consumers::open(dir.path())?;
        {
            let mut l = reg.lock();
            l.list_mut().push(consumer("a", 1));
            l.save().map_err(|e| e.to_string())?;
        }
        let again = Consumers::open(dir.path())?;
        assert_eq!(again.lock().of_stream("s"), vec![consumer("a", 1)]);
        Ok(())
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
