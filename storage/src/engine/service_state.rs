//! Each service's own namespace in the catalog: `svc/{service}/{key}`.
//!
//! Services (Kinesis' stream consumers, delivery streams, functions, queries, video
//! streams) keep their durable state here rather than in files of their own, so one
//! atomic, synced RocksDB write covers it and a backup of the data directory is whole.

use super::Engine;
use crate::catalog::Batch;
use crate::error::{Error, Result};

/// A service's namespace. Keys are UTF-8 without a leading `/`; values opaque bytes.
#[derive(Debug, Clone)]
pub struct ServiceState {
    engine: Engine,
    prefix: String,
}

/// One change of an atomic [`ServiceState::write`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateChange {
    /// Sets a key.
    Put(String, Vec<u8>),
    /// Removes a key.
    Delete(String),
}

fn check_service(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidServiceName {
            name: name.to_string(),
        })
    }
}

impl Engine {
    /// The catalog namespace of `service` (`[a-z0-9-]{1,64}`).
    pub fn service_state(&self, service: &str) -> Result<ServiceState> {
        check_service(service)?;
        Ok(ServiceState {
            engine: self.clone(),
            prefix: format!("svc/{service}/"),
        })
    }
}

impl ServiceState {
    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.engine.inner.catalog.get_raw(&self.key(key))
    }

    /// Every (key, value) whose key starts with `prefix`, in key order (keys without
    /// the namespace).
    pub fn scan(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let full = self.key(prefix);
        Ok(self
            .engine
            .inner
            .catalog
            .scan_raw(&full)?
            .into_iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(&self.prefix)?.to_string(), v)))
            .collect())
    }

    /// Sets `key`, durably.
    pub fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.write(vec![StateChange::Put(key.to_string(), value.to_vec())])
    }

    /// Removes `key`, durably.
    pub fn delete(&self, key: &str) -> Result<()> {
        self.write(vec![StateChange::Delete(key.to_string())])
    }

    /// Applies `changes` atomically and durably (one synced write).
    pub fn write(&self, changes: Vec<StateChange>) -> Result<()> {
        let mut batch = Batch::default();
        for change in changes {
            match change {
                StateChange::Put(k, v) => batch.put_raw(&self.key(&k), &v),
                StateChange::Delete(k) => batch.delete(&self.key(&k)),
            }
        }
        self.engine.inner.catalog.write(batch)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Engine, EngineConfig, StateChange};

    #[test]
    fn namespaces_are_apart_and_survive_reopen() -> crate::Result<()> {
        let dir = tempfile::tempdir().map_err(|e| crate::Error::io("tmp", e))?;
        {
            let engine = Engine::open(EngineConfig::new(dir.path()))?;
            let a = engine.service_state("kinesis")?;
            let b = engine.service_state("firehose")?;
            a.put("consumer/x", b"1")?;
            b.put("consumer/x", b"2")?;
            a.write(vec![
                StateChange::Put("consumer/y".into(), b"3".to_vec()),
                StateChange::Delete("consumer/x".into()),
            ])?;
            assert!(engine.service_state("Bad/Name").is_err());
            engine.shutdown()?;
        }
        let engine = Engine::open(EngineConfig::new(dir.path()))?;
        let a = engine.service_state("kinesis")?;
        assert_eq!(a.get("consumer/x")?, None);
        assert_eq!(
            a.scan("consumer/")?,
            vec![("consumer/y".to_string(), b"3".to_vec())]
        );
        assert_eq!(
            engine.service_state("firehose")?.get("consumer/x")?,
            Some(b"2".to_vec())
        );
        engine.shutdown()
    }
}
