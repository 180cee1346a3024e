//! [`KinesisClient`]: the Kinesis JSON 1.1 protocol over HTTP/1.1, SigV4-signed, with
//! timeouts and retries.

mod admin;
mod consumers;
mod json;
mod retry;
mod sign;
mod subscribe;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

pub use admin::{Limits, Tags};
pub use retry::RetryPolicy;
pub use sign::Credentials;
pub use subscribe::{follow, EventStream, FollowStream};

use crate::api::{ApiFuture, KinesisApi};
use crate::error::{Error, Result};
use crate::types::*;

const TARGET_PREFIX: &str = "Kinesis_20131202.";

/// The connector: plain TCP, or TCP with TLS for `https://` endpoints (feature `tls`).
#[cfg(not(feature = "tls"))]
type Connector = HttpConnector;
/// The connector: plain TCP, or TCP with TLS for `https://` endpoints (feature `tls`).
#[cfg(feature = "tls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

#[cfg(not(feature = "tls"))]
fn connector(tcp: HttpConnector) -> Result<Connector> {
    Ok(tcp)
}

#[cfg(feature = "tls")]
fn connector(mut tcp: HttpConnector) -> Result<Connector> {
    tcp.enforce_http(false);
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp))
}

/// Whether the scheme is one this build can reach.
fn scheme_supported(scheme: Option<&str>) -> bool {
    scheme == Some("http") || (cfg!(feature = "tls") && scheme == Some("https"))
}
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// How a [`KinesisClient`] reaches its endpoint.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL, such as `http://127.0.0.1:4567`, or `https://kinesis.us-east-1.amazonaws.com`
    /// when built with the `tls` feature.
    pub endpoint: String,
    /// Region used in the signature.
    pub region: String,
    /// Signing credentials.
    pub credentials: Credentials,
    /// Longest wait for one answer (each attempt).
    pub timeout: Duration,
    /// Retries on throttling, 5xx, transport failures and timeouts.
    pub retry: RetryPolicy,
}

impl ClientConfig {
    /// Settings for `endpoint`: region from `AWS_REGION` or `AWS_DEFAULT_REGION`
    /// (default `us-east-1`); credentials from `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, or placeholders when they are
    /// unset (local endpoints do not check signatures); 30 s timeout; default retries.
    pub fn new(endpoint: impl Into<String>) -> Self {
        let region = std::env::var("AWS_REGION")
            .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "us-east-1".into());
        ClientConfig {
            endpoint: endpoint.into(),
            region,
            credentials: Credentials::from_env().unwrap_or_else(Credentials::local),
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }
}

/// An async, typed Kinesis client for any endpoint speaking JSON 1.1: Freshet,
/// kinesalite, or Amazon Kinesis (`https://`, with the `tls` feature). Cheap to clone (one connection
/// pool).
#[derive(Clone)]
pub struct KinesisClient {
    cfg: ClientConfig,
    uri: http::Uri,
    host: String,
    http: Client<Connector, Full<Bytes>>,
}

impl std::fmt::Debug for KinesisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KinesisClient")
            .field("endpoint", &self.cfg.endpoint)
            .finish_non_exhaustive()
    }
}

impl KinesisClient {
    /// A client with [`ClientConfig::new`] settings.
    pub fn new(endpoint: impl Into<String>) -> Result<Self> {
        Self::with_config(ClientConfig::new(endpoint))
    }

    /// A client with explicit settings.
    pub fn with_config(cfg: ClientConfig) -> Result<Self> {
        let uri: http::Uri = cfg
            .endpoint
            .parse()
            .map_err(|e| Error::InvalidArgument(format!("bad endpoint {}: {e}", cfg.endpoint)))?;
        if !scheme_supported(uri.scheme_str()) {
            return Err(Error::InvalidArgument(format!(
                "endpoint {} must be http:// (or https:// with the `tls` feature)",
                cfg.endpoint
            )));
        }
        let host = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .ok_or_else(|| {
                Error::InvalidArgument(format!("endpoint {} has no host", cfg.endpoint))
            })?;
        let mut connector_tcp = HttpConnector::new();
        connector_tcp.set_nodelay(true);
        connector_tcp.set_connect_timeout(Some(cfg.timeout));
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector(connector_tcp)?);
        Ok(KinesisClient {
            cfg,
            uri,
            host,
            http,
        })
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// Sends one action with retries; returns the decoded answer.
    pub async fn call(&self, action: &str, body: &Value) -> Result<Value> {
        let bytes = Bytes::from(
            serde_json::to_vec(body).map_err(|e| Error::InvalidArgument(e.to_string()))?,
        );
        self.call_raw(action, bytes).await
    }

    /// Sends one action whose body is already JSON bytes, with retries.
    pub async fn call_raw(&self, action: &str, bytes: Bytes) -> Result<Value> {
        self.call_target_raw(&format!("{TARGET_PREFIX}{action}"), bytes)
            .await
    }

    /// Sends a request with any `X-Amz-Target` (such as Freshet's own
    /// `Freshet_20261126.ListLeases`), signed and with retries like every Kinesis
    /// action; returns the decoded answer. Error types the client does not know come
    /// back as [`Error::Service`] with their code.
    pub async fn call_with_target(&self, target: &str, body: &Value) -> Result<Value> {
        let bytes = Bytes::from(
            serde_json::to_vec(body).map_err(|e| Error::InvalidArgument(e.to_string()))?,
        );
        self.call_target_raw(target, bytes).await
    }

    async fn call_target_raw(&self, target: &str, bytes: Bytes) -> Result<Value> {
        let mut attempt = 0u32;
        loop {
            match self.send_once(target, bytes.clone()).await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_retryable() && attempt + 1 < self.cfg.retry.max_attempts => {
                    tracing::debug!(target, attempt, error = %e, "retrying");
                    tokio::time::sleep(self.cfg.retry.delay(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A POST of `body` to the endpoint for `target`, signed.
    fn signed_request(&self, target: &str, body: Bytes) -> Result<http::Request<Full<Bytes>>> {
        let mut req = http::Request::builder()
            .method(http::Method::POST)
            .uri(self.uri.clone())
            .header(http::header::HOST, &self.host)
            .header(http::header::CONTENT_TYPE, CONTENT_TYPE)
            .header("x-amz-target", target)
            .body(body)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        sign::sign_request(
            &mut req,
            &self.cfg.credentials,
            &self.cfg.region,
            "kinesis",
            SystemTime::now(),
        )?;
        Ok(req.map(Full::new))
    }

    async fn send_once(&self, target: &str, body: Bytes) -> Result<Value> {
        let req = self.signed_request(target, body)?;
        let exchange = async {
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|e| Error::Transport(format!("{e:?}")))?;
            let status = resp.status().as_u16();
            let error_type = resp
                .headers()
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| Error::Transport(e.to_string()))?
                .to_bytes();
            Ok::<_, Error>((status, error_type, body))
        };
        let (status, error_type, body) = tokio::time::timeout(self.cfg.timeout, exchange)
            .await
            .map_err(|_| Error::Timeout(self.cfg.timeout))??;
        if (200..300).contains(&status) {
            if body.is_empty() {
                return Ok(Value::Object(Default::default()));
            }
            serde_json::from_slice(&body).map_err(|e| Error::Decode(e.to_string()))
        } else {
            Err(json::error_of(&body, error_type.as_deref(), status))
        }
    }

    /// `DescribeStream`'s shard listing is not offered: use `ListShards`.
    async fn list_shards_all(&self, stream: &str) -> Result<Vec<Shard>> {
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        // Bounded: a stream has at most a few thousand shards, 1,000 a page.
        for _ in 0..10_000 {
            let body = match &next {
                None => json!({ "StreamName": stream, "MaxResults": 1000 }),
                Some(token) => json!({ "NextToken": token, "MaxResults": 1000 }),
            };
            let v = self.call("ListShards", &body).await?;
            for s in v
                .get("Shards")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push(json::shard(s)?);
            }
            next = v
                .get("NextToken")
                .and_then(Value::as_str)
                .map(str::to_string);
            if next.is_none() {
                break;
            }
        }
        Ok(out)
    }
}

impl KinesisApi for KinesisClient {
    fn create_stream<'a>(&'a self, stream: &'a str, shard_count: u32) -> ApiFuture<'a, ()> {
        Box::pin(async move {
            self.call(
                "CreateStream",
                &json!({ "StreamName": stream, "ShardCount": shard_count }),
            )
            .await
            .map(|_| ())
        })
    }

    fn delete_stream<'a>(&'a self, stream: &'a str) -> ApiFuture<'a, ()> {
        Box::pin(async move {
            self.call("DeleteStream", &json!({ "StreamName": stream }))
                .await
                .map(|_| ())
        })
    }

    fn describe_stream_summary<'a>(&'a self, stream: &'a str) -> ApiFuture<'a, StreamSummary> {
        Box::pin(async move {
            let v = self
                .call("DescribeStreamSummary", &json!({ "StreamName": stream }))
                .await?;
            json::stream_summary(&v)
        })
    }

    fn list_streams(&self) -> ApiFuture<'_, Vec<String>> {
        Box::pin(async move {
            let mut out: Vec<String> = Vec::new();
            for _ in 0..10_000 {
                let body = match out.last() {
                    None => json!({ "Limit": 1000 }),
                    Some(last) => json!({ "Limit": 1000, "ExclusiveStartStreamName": last }),
                };
                let v = self.call("ListStreams", &body).await?;
                let names = v
                    .get("StreamNames")
                    .and_then(Value::as_array)
                    .ok_or_else(|| Error::Decode("missing StreamNames".into()))?;
                out.extend(names.iter().filter_map(|n| n.as_str().map(str::to_string)));
                if !v
                    .get("HasMoreStreams")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    || names.is_empty()
                {
                    break;
                }
            }
            Ok(out)
        })
    }

    fn list_shards<'a>(&'a self, stream: &'a str) -> ApiFuture<'a, Vec<Shard>> {
        Box::pin(self.list_shards_all(stream))
    }

    fn put_record<'a>(
        &'a self,
        stream: &'a str,
        entry: PutRecordsEntry,
    ) -> ApiFuture<'a, PutRecordOutput> {
        Box::pin(async move {
            let v = self
                .call("PutRecord", &json::put_record_request(stream, &entry))
                .await?;
            json::put_record_output(&v)
        })
    }

    fn put_records<'a>(
        &'a self,
        stream: &'a str,
        entries: Vec<PutRecordsEntry>,
    ) -> ApiFuture<'a, PutRecordsOutput> {
        Box::pin(async move {
            let body = Bytes::from(json::put_records_body(stream, &entries));
            let v = self.call_raw("PutRecords", body).await?;
            json::put_records_output(&v, entries.len())
        })
    }

    fn get_shard_iterator<'a>(
        &'a self,
        stream: &'a str,
        shard_id: &'a str,
        position: ShardIteratorType,
    ) -> ApiFuture<'a, String> {
        Box::pin(async move {
            let v = self
                .call(
                    "GetShardIterator",
                    &json::shard_iterator_request(stream, shard_id, &position),
                )
                .await?;
            Ok(json::str_field(&v, "ShardIterator")?.to_string())
        })
    }

    fn get_records<'a>(
        &'a self,
        shard_iterator: &'a str,
        limit: Option<u32>,
    ) -> ApiFuture<'a, GetRecordsOutput> {
        Box::pin(async move {
            let body = match limit {
                Some(l) => json!({ "ShardIterator": shard_iterator, "Limit": l }),
                None => json!({ "ShardIterator": shard_iterator }),
            };
            let v = self.call("GetRecords", &body).await?;
            json::get_records_output(&v)
        })
    }

    fn split_shard<'a>(
        &'a self,
        stream: &'a str,
        shard_id: &'a str,
        new_starting_hash_key: u128,
    ) -> ApiFuture<'a, ()> {
        Box::pin(async move {
            self.call(
                "SplitShard",
                &json!({
                    "StreamName": stream,
                    "ShardToSplit": shard_id,
                    "NewStartingHashKey": new_starting_hash_key.to_string(),
                }),
            )
            .await
            .map(|_| ())
        })
    }

    fn merge_shards<'a>(
        &'a self,
        stream: &'a str,
        shard_id: &'a str,
        adjacent_shard_id: &'a str,
    ) -> ApiFuture<'a, ()> {
        Box::pin(async move {
            self.call(
                "MergeShards",
                &json!({
                    "StreamName": stream,
                    "ShardToMerge": shard_id,
                    "AdjacentShardToMerge": adjacent_shard_id,
                }),
            )
            .await
            .map(|_| ())
        })
    }

    fn update_shard_count<'a>(
        &'a self,
        stream: &'a str,
        target: u32,
    ) -> ApiFuture<'a, UpdateShardCountOutput> {
        Box::pin(async move {
            let v = self
                .call(
                    "UpdateShardCount",
                    &json!({
                        "StreamName": stream,
                        "TargetShardCount": target,
                        "ScalingType": "UNIFORM_SCALING",
                    }),
                )
                .await?;
            let n = |f: &str| {
                v.get(f)
                    .and_then(Value::as_u64)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| Error::Decode(format!("missing {f}")))
            };
            Ok(UpdateShardCountOutput {
                current_shard_count: n("CurrentShardCount")?,
                target_shard_count: n("TargetShardCount")?,
            })
        })
    }

    fn set_retention_period<'a>(
        &'a self,
        stream: &'a str,
        hours: u32,
        increase: bool,
    ) -> ApiFuture<'a, ()> {
        Box::pin(async move {
            let action = if increase {
                "IncreaseStreamRetentionPeriod"
            } else {
                "DecreaseStreamRetentionPeriod"
            };
            self.call(
                action,
                &json!({ "StreamName": stream, "RetentionPeriodHours": hours }),
            )
            .await
            .map(|_| ())
        })
    }

    fn add_tags<'a>(
        &'a self,
        stream: &'a str,
        tags: BTreeMap<String, String>,
    ) -> ApiFuture<'a, ()> {
        Box::pin(async move {
            self.call(
                "AddTagsToStream",
                &json!({ "StreamName": stream, "Tags": tags }),
            )
            .await
            .map(|_| ())
        })
    }

    fn list_tags<'a>(&'a self, stream: &'a str) -> ApiFuture<'a, BTreeMap<String, String>> {
        Box::pin(async move {
            let mut out = BTreeMap::new();
            for _ in 0..1000 {
                let body = match out.keys().next_back() {
                    None => json!({ "StreamName": stream }),
                    Some(last) => json!({ "StreamName": stream, "ExclusiveStartTagKey": last }),
                };
                let v = self.call("ListTagsForStream", &body).await?;
                let before = out.len();
                json::tags(&v, &mut out)?;
                if !v
                    .get("HasMoreTags")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    || out.len() == before
                {
                    break;
                }
            }
            Ok(out)
        })
    }

    fn remove_tags<'a>(&'a self, stream: &'a str, keys: Vec<String>) -> ApiFuture<'a, ()> {
        Box::pin(async move {
            self.call(
                "RemoveTagsFromStream",
                &json!({ "StreamName": stream, "TagKeys": keys }),
            )
            .await
            .map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn endpoints_are_checked() {
        assert!(KinesisClient::new("http://127.0.0.1:4567").is_ok());
        assert!(KinesisClient::new("ftp://127.0.0.1").is_err());
        assert!(KinesisClient::new("not a url").is_err());
        let https = KinesisClient::new("https://kinesis.us-east-1.amazonaws.com");
        assert_eq!(https.is_ok(), cfg!(feature = "tls"));
    }
}
