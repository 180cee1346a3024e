//! [`KinesisClient`]: the Kinesis JSON 1.1 protocol over HTTP/1.1 (and HTTP/2 over TLS
//! where the server offers it), SigV4-signed with credentials and region from the AWS
//! chains ([`crate::credentials`]), with timeouts and retries.

mod admin;
mod consumers;
mod json;
mod retry;
mod sign;
mod subscribe;
#[cfg(feature = "tls")]
mod tls;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

pub use crate::credentials::Credentials;
pub use admin::{Limits, Tags};
pub use retry::RetryPolicy;
pub use subscribe::{follow, EventStream, FollowStream};

use crate::api::{ApiFuture, KinesisApi};
use crate::credentials::Signer;
use crate::error::{Error, Result};
use crate::types::*;

const TARGET_PREFIX: &str = "Kinesis_20131202.";

/// The connector: plain TCP, or TCP with TLS for `https://` endpoints (feature `tls`).
#[cfg(not(feature = "tls"))]
type Connector = HttpConnector;
/// The connector: plain TCP, or TCP with TLS for `https://` endpoints (feature `tls`).
#[cfg(feature = "tls")]
type Connector = tls::Connector;

/// A CA bundle: what names it (for errors) and its PEM bytes.
type Bundle = (String, Arc<[u8]>);

#[cfg(not(feature = "tls"))]
fn connector(tcp: HttpConnector, _bundle: Option<&Bundle>) -> Result<Connector> {
    Ok(tcp)
}

#[cfg(feature = "tls")]
fn connector(tcp: HttpConnector, bundle: Option<&Bundle>) -> Result<Connector> {
    tls::connector(tcp, bundle.map(|(what, pem)| (what.as_str(), &pem[..])))
}

/// The CA bundle an `https://` endpoint is trusted with besides the usual roots:
/// [`ClientConfig::ca_bundle`], else `AWS_CA_BUNDLE`, else the profile's `ca_bundle`.
/// Read only with the `tls` feature.
fn ca_bundle(cfg: &ClientConfig) -> Result<Option<Bundle>> {
    if !cfg!(feature = "tls") {
        return Ok(None);
    }
    let found = match &cfg.ca_bundle {
        Some(p) => Some(("ClientConfig::ca_bundle", p.clone())),
        None => crate::credentials::ca_bundle_path(),
    };
    let Some((source, path)) = found else {
        return Ok(None);
    };
    let what = format!("{} ({source})", path.display());
    let pem = std::fs::read(&path)
        .map_err(|e| Error::InvalidArgument(format!("CA bundle {what}: cannot read it: {e}")))?;
    Ok(Some((what, Arc::from(pem))))
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
    /// Region used in the signature; `None`: the AWS region chain (see
    /// [`crate::credentials`]).
    pub region: Option<String>,
    /// Where signing credentials come from ([`Credentials::default_chain`] unless set).
    pub credentials: Credentials,
    /// A PEM file of CA certificates trusted for `https://` besides the webpki roots;
    /// `None`: `AWS_CA_BUNDLE`, else the profile's `ca_bundle`, as the AWS CLI reads
    /// them (feature `tls`).
    pub ca_bundle: Option<PathBuf>,
    /// Longest wait for one answer (each attempt).
    pub timeout: Duration,
    /// Retries on throttling, 5xx, transport failures and timeouts.
    pub retry: RetryPolicy,
}

impl ClientConfig {
    /// Settings for `endpoint`: region and credentials from the standard AWS chains
    /// (environment, profile files, web identity, container and instance metadata),
    /// resolved on the first request and cached, with a placeholder for a loopback
    /// endpoint when nothing is configured (see [`crate::credentials`]); the CA bundle
    /// of `AWS_CA_BUNDLE` or the profile; 30 s timeout; default retries.
    pub fn new(endpoint: impl Into<String>) -> Self {
        ClientConfig {
            endpoint: endpoint.into(),
            region: None,
            credentials: Credentials::default_chain(),
            ca_bundle: None,
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
    signer: Arc<Signer>,
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
        let bundle = match uri.scheme_str() {
            Some("https") => ca_bundle(&cfg)?,
            _ => None,
        };
        let mut connector_tcp = HttpConnector::new();
        connector_tcp.set_nodelay(true);
        connector_tcp.set_connect_timeout(Some(cfg.timeout));
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector(connector_tcp, bundle.as_ref())?);
        let signer = Arc::new(Signer::new(
            &cfg.credentials,
            cfg.region.as_deref(),
            uri.host().unwrap_or_default(),
            bundle.map(|(_, pem)| pem),
        ));
        Ok(KinesisClient {
            cfg,
            uri,
            host,
            http,
            signer,
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

    /// The region requests are signed for: [`ClientConfig::region`], else what the AWS
    /// region chain found (looked up once, on first use).
    pub async fn signing_region(&self) -> String {
        self.signer.region().await.to_string()
    }

    /// The credentials the next request is signed with (from the cache while they are
    /// fresh; see [`crate::credentials`]). Their `Debug` hides the secret.
    pub async fn signing_credentials(&self) -> Result<aws_credential_types::Credentials> {
        Ok(self.signer.identity().await?.1)
    }

    /// A POST of `body` to the endpoint for `target`, signed.
    async fn signed_request(
        &self,
        target: &str,
        body: Bytes,
    ) -> Result<http::Request<Full<Bytes>>> {
        let mut req = http::Request::builder()
            .method(http::Method::POST)
            .uri(self.uri.clone())
            .header(http::header::HOST, &self.host)
            .header(http::header::CONTENT_TYPE, CONTENT_TYPE)
            .header("x-amz-target", target)
            .body(body)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let (region, credentials) = self.signer.identity().await?;
        sign::sign_request(&mut req, credentials, region, "kinesis", SystemTime::now())?;
        Ok(req.map(Full::new))
    }

    async fn send_once(&self, target: &str, body: Bytes) -> Result<Value> {
        let req = self.signed_request(target, body).await?;
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
