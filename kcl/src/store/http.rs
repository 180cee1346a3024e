//! A lease store hosted by a `freshet serve` server, reached through Freshet's own
//! actions (`X-Amz-Target: Freshet_20261126.ListLeases`, `PutLease`, `DeleteLease`),
//! so workers in separate processes share one lease table in the server's catalog.
//! Requests go through [`KinesisClient::call_with_target`]: SigV4-signed (so they pass
//! a server running with `--auth`) and retried like Kinesis calls.

use std::time::Duration;

use base64::Engine as _;
use freshet_client::{ClientConfig, KinesisClient};
use serde_json::{json, Value};

use super::{decode_lease, encode_lease, Expect, LeaseStore, StoreFuture};
use crate::error::{Error, Result};
use crate::lease::{Lease, StoredLease};

/// The `X-Amz-Target` prefix of Freshet's own actions.
pub const FRESHET_TARGET_PREFIX: &str = "Freshet_20261126.";

/// The lease table `table` of stream `stream` on a Freshet server.
#[derive(Debug, Clone)]
pub struct HttpLeaseStore {
    client: KinesisClient,
    stream: String,
    table: String,
}

impl HttpLeaseStore {
    /// The table `table` of `stream` at `endpoint` (`http://host:port`), with
    /// [`ClientConfig::new`] settings (credentials and region from the AWS SDK's default chain) and a 10 s
    /// timeout.
    pub fn new(
        endpoint: &str,
        stream: impl Into<String>,
        table: impl Into<String>,
    ) -> Result<Self> {
        let mut cfg = ClientConfig::new(endpoint);
        cfg.timeout = Duration::from_secs(10);
        let client = KinesisClient::with_config(cfg)
            .map_err(|e| Error::Store(format!("bad endpoint {endpoint}: {e}")))?;
        Ok(Self::with_client(client, stream, table))
    }

    /// The table `table` of `stream` reached through `client` (its endpoint,
    /// credentials, timeout and retries).
    pub fn with_client(
        client: KinesisClient,
        stream: impl Into<String>,
        table: impl Into<String>,
    ) -> Self {
        HttpLeaseStore {
            client,
            stream: stream.into(),
            table: table.into(),
        }
    }

    async fn call(&self, action: &str, body: Value) -> Result<Value> {
        let target = format!("{FRESHET_TARGET_PREFIX}{action}");
        match self.client.call_with_target(&target, &body).await {
            Ok(v) => Ok(v),
            Err(freshet_client::Error::Service { code, .. })
                if code == "LeaseConflictException" =>
            {
                Err(Error::LeaseConflict { key: String::new() })
            }
            Err(e) => Err(Error::Store(format!("{action}: {e}"))),
        }
    }
}

/// Names the key in a conflict (the error body does not carry it).
fn keyed(e: Error, key: &str) -> Error {
    match e {
        Error::LeaseConflict { .. } => Error::LeaseConflict {
            key: key.to_string(),
        },
        other => other,
    }
}

fn decode_entry(v: &Value) -> Result<StoredLease> {
    let bad = |m: &str| Error::Store(format!("ListLeases: {m}"));
    let key = v
        .get("Key")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("entry without Key"))?;
    let counter = v
        .get("Counter")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("entry without Counter"))?;
    let value = v
        .get("Value")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("entry without Value"))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|e| bad(&e.to_string()))?;
    Ok(StoredLease {
        key: key.to_string(),
        counter,
        lease: decode_lease(key, &bytes)?,
    })
}

impl LeaseStore for HttpLeaseStore {
    fn list(&self) -> StoreFuture<'_, Vec<StoredLease>> {
        Box::pin(async move {
            let out = self
                .call(
                    "ListLeases",
                    json!({"StreamName": self.stream, "TableName": self.table}),
                )
                .await?;
            out.get("Leases")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(decode_entry).collect())
                .unwrap_or_else(|| Ok(Vec::new()))
        })
    }

    fn put<'a>(&'a self, key: &'a str, expect: Expect, lease: &'a Lease) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let mut body = json!({
                "StreamName": self.stream,
                "TableName": self.table,
                "Key": key,
                "Value": base64::engine::general_purpose::STANDARD.encode(encode_lease(lease)),
            });
            if let (Expect::Counter(c), Some(obj)) = (expect, body.as_object_mut()) {
                obj.insert("ExpectedCounter".into(), json!(c));
            }
            let out = self
                .call("PutLease", body)
                .await
                .map_err(|e| keyed(e, key))?;
            out.get("Counter")
                .and_then(Value::as_u64)
                .ok_or_else(|| Error::Store("PutLease: answer without Counter".into()))
        })
    }

    fn remove<'a>(&'a self, key: &'a str, counter: u64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.call(
                "DeleteLease",
                json!({"StreamName": self.stream, "TableName": self.table, "Key": key, "Counter": counter}),
            )
            .await
            .map(|_| ())
            .map_err(|e| keyed(e, key))
        })
    }
}
