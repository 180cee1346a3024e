//! The service's durable state in the catalog (`svc/lambda/...`): functions, event
//! source mappings and their per-shard checkpoints, each a JSON value under its key.
//! Every write is one synced RocksDB batch; calls block (run them off the async
//! workers, see [`blocking`]).

use serde::de::DeserializeOwned;
use serde::Serialize;

use freshet_protocol::error::ApiError;
use freshet_storage::{Engine, ServiceState, StateChange};

use crate::error::{service, storage, LambdaResult};
use crate::model::FunctionRecord;

/// The catalog namespace of the Lambda service.
#[derive(Debug, Clone)]
pub struct Catalog {
    state: ServiceState,
}

fn function_key(name: &str) -> String {
    format!("function/{name}")
}

fn mapping_key(uuid: &str) -> String {
    format!("mapping/{uuid}")
}

/// The key of a mapping's checkpoint for one shard.
pub fn checkpoint_key(uuid: &str, shard: &str) -> String {
    format!("checkpoint/{uuid}/{shard}")
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> LambdaResult<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| service(format!("catalog entry {key} is damaged: {e}")))
}

fn encode<T: Serialize>(value: &T) -> LambdaResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| service(format!("cannot encode a catalog entry: {e}")))
}

impl Catalog {
    /// The namespace in `engine`'s catalog.
    pub fn open(engine: &Engine) -> LambdaResult<Catalog> {
        Ok(Catalog {
            state: engine.service_state("lambda").map_err(storage)?,
        })
    }

    /// A function by name.
    pub fn function(&self, name: &str) -> LambdaResult<Option<FunctionRecord>> {
        self.get(&function_key(name))
    }

    /// Every function, by name.
    pub fn functions(&self) -> LambdaResult<Vec<FunctionRecord>> {
        self.scan("function/")
    }

    /// Stores a function.
    pub fn put_function(&self, f: &FunctionRecord) -> LambdaResult<()> {
        self.put(&function_key(&f.name), f)
    }

    /// Removes a function.
    pub fn delete_function(&self, name: &str) -> LambdaResult<()> {
        self.state.delete(&function_key(name)).map_err(storage)
    }

    /// A mapping by UUID.
    pub fn mapping<T: DeserializeOwned>(&self, uuid: &str) -> LambdaResult<Option<T>> {
        self.get(&mapping_key(uuid))
    }

    /// Every mapping.
    pub fn mappings<T: DeserializeOwned>(&self) -> LambdaResult<Vec<T>> {
        self.scan("mapping/")
    }

    /// Stores a mapping.
    pub fn put_mapping<T: Serialize>(&self, uuid: &str, m: &T) -> LambdaResult<()> {
        self.put(&mapping_key(uuid), m)
    }

    /// Removes a mapping and its checkpoints, atomically.
    pub fn delete_mapping(&self, uuid: &str) -> LambdaResult<()> {
        let mut changes = vec![StateChange::Delete(mapping_key(uuid))];
        for (key, _) in self
            .state
            .scan(&format!("checkpoint/{uuid}/"))
            .map_err(storage)?
        {
            changes.push(StateChange::Delete(key));
        }
        self.state.write(changes).map_err(storage)
    }

    /// A mapping's checkpoints, by shard.
    pub fn checkpoints<T: DeserializeOwned>(&self, uuid: &str) -> LambdaResult<Vec<(String, T)>> {
        let prefix = format!("checkpoint/{uuid}/");
        self.state
            .scan(&prefix)
            .map_err(storage)?
            .into_iter()
            .map(|(key, bytes)| {
                let shard = key.strip_prefix(&prefix).unwrap_or(&key).to_string();
                decode(&key, &bytes).map(|v| (shard, v))
            })
            .collect()
    }

    /// Stores one shard's checkpoint of a mapping, durably.
    pub fn put_checkpoint<T: Serialize>(
        &self,
        uuid: &str,
        shard: &str,
        value: &T,
    ) -> LambdaResult<()> {
        self.put(&checkpoint_key(uuid, shard), value)
    }

    fn get<T: DeserializeOwned>(&self, key: &str) -> LambdaResult<Option<T>> {
        match self.state.get(key).map_err(storage)? {
            Some(bytes) => decode(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn scan<T: DeserializeOwned>(&self, prefix: &str) -> LambdaResult<Vec<T>> {
        self.state
            .scan(prefix)
            .map_err(storage)?
            .into_iter()
            .map(|(key, bytes)| decode(&key, &bytes))
            .collect()
    }

    fn put<T: Serialize>(&self, key: &str, value: &T) -> LambdaResult<()> {
        self.state.put(key, &encode(value)?).map_err(storage)
    }
}

/// Runs catalog (or other blocking) work on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> LambdaResult<T> + Send + 'static,
) -> LambdaResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::custom("ServiceException", format!("task failed: {e}"), 500))?
}
