//! A lease store hosted by a `freshet serve` server, reached through Freshet's own
//! actions (`X-Amz-Target: Freshet_20261126.ListLeases`, `PutLease`, `DeleteLease`),
//! so workers in separate processes share one lease table in the server's catalog.

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use super::{decode_lease, encode_lease, Expect, LeaseStore, StoreFuture};
use crate::error::{Error, Result};
use crate::lease::{Lease, StoredLease};

/// The `X-Amz-Target` prefix of Freshet's own actions.
pub const FRESHET_TARGET_PREFIX: &str = "Freshet_20261126.";

/// The lease table `table` of stream `stream` on a Freshet server. Requests are not
/// signed: use it against servers without `--auth`.
#[derive(Clone)]
pub struct HttpLeaseStore {
    uri: http::Uri,
    stream: String,
    table: String,
    timeout: Duration,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for HttpLeaseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpLeaseStore")
            .field("uri", &self.uri)
            .field("stream", &self.stream)
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl HttpLeaseStore {
    /// The table `table` of `stream` at `endpoint` (`http://host:port`).
    pub fn new(
        endpoint: &str,
        stream: impl Into<String>,
        table: impl Into<String>,
    ) -> Result<Self> {
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|e| Error::Store(format!("bad endpoint {endpoint}: {e}")))?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            return Err(Error::Store(format!(
                "endpoint {endpoint} must be http://host:port"
            )));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new()).build(connector);
        Ok(HttpLeaseStore {
            uri,
            stream: stream.into(),
            table: table.into(),
            timeout: Duration::from_secs(10),
            http,
        })
    }

    async fn call(&self, action: &str, body: Value) -> Result<Value> {
        let host = self
            .uri
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default();
        let bytes = Bytes::from(body.to_string());
        let req = http::Request::builder()
            .method(http::Method::POST)
            .uri(self.uri.clone())
            .header(http::header::HOST, host)
            .header(http::header::CONTENT_TYPE, "application/x-amz-json-1.1")
            .header("x-amz-target", format!("{FRESHET_TARGET_PREFIX}{action}"))
            .body(Full::new(bytes))
            .map_err(|e| Error::Store(e.to_string()))?;
        let exchange = async {
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|e| Error::Store(format!("{action}: {e}")))?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| Error::Store(format!("{action}: {e}")))?
                .to_bytes();
            Ok::<_, Error>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| Error::Store(format!("{action} timed out")))??;
        let value: Value = if body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(&body)
                .map_err(|e| Error::Store(format!("{action}: undecodable answer: {e}")))?
        };
        if (200..300).contains(&status) {
            return Ok(value);
        }
        let kind = value
            .get("__type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = kind.rsplit('#').next().unwrap_or(kind);
        let message = value
            .get("message")
            .or_else(|| value.get("Message"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if kind == "LeaseConflictException" {
            return Err(Error::LeaseConflict { key: String::new() });
        }
        Err(Error::Store(format!(
            "{action}: {kind} (HTTP {status}): {message}"
        )))
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
