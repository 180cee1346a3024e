//! The remaining actions, as inherent methods of [`KinesisClient`]: stream modes,
//! encryption, enhanced monitoring, resource tags, limits and the full
//! `DescribeStream`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::json::{shard, str_field, stream_summary};
use super::KinesisClient;
use crate::error::{Error, Result};
use crate::types::{Shard, StreamSummary};

/// What `DescribeLimits` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open shards allowed across all streams.
    pub shard_limit: u64,
    /// Open shards now.
    pub open_shard_count: u64,
}

/// Tags of a `TagResource` or `ListTagsForResource` call.
pub type Tags = BTreeMap<String, String>;

impl KinesisClient {
    /// `DescribeStream`, every page of shards: the summary and all retained shards.
    pub async fn describe_stream(&self, stream: &str) -> Result<(StreamSummary, Vec<Shard>)> {
        let summary = self.describe_stream_summary_raw(stream).await?;
        let mut shards: Vec<Shard> = Vec::new();
        for _ in 0..10_000 {
            let body = match shards.last() {
                None => json!({ "StreamName": stream }),
                Some(last) => {
                    json!({ "StreamName": stream, "ExclusiveStartShardId": last.shard_id })
                }
            };
            let v = self.call("DescribeStream", &body).await?;
            let d = v
                .get("StreamDescription")
                .ok_or_else(|| Error::Decode("missing StreamDescription".into()))?;
            let page = d
                .get("Shards")
                .and_then(Value::as_array)
                .ok_or_else(|| Error::Decode("missing Shards".into()))?;
            for s in page {
                shards.push(shard(s)?);
            }
            if !d
                .get("HasMoreShards")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                || page.is_empty()
            {
                break;
            }
        }
        Ok((summary, shards))
    }

    async fn describe_stream_summary_raw(&self, stream: &str) -> Result<StreamSummary> {
        let v = self
            .call("DescribeStreamSummary", &json!({ "StreamName": stream }))
            .await?;
        stream_summary(&v)
    }

    /// `DescribeLimits`.
    pub async fn describe_limits(&self) -> Result<Limits> {
        let v = self.call("DescribeLimits", &json!({})).await?;
        let n = |f: &str| {
            v.get(f)
                .and_then(Value::as_u64)
                .ok_or_else(|| Error::Decode(format!("missing {f}")))
        };
        Ok(Limits {
            shard_limit: n("ShardLimit")?,
            open_shard_count: n("OpenShardCount")?,
        })
    }

    /// `UpdateStreamMode` to `PROVISIONED` or `ON_DEMAND`.
    pub async fn update_stream_mode(&self, stream_arn: &str, mode: &str) -> Result<()> {
        self.call(
            "UpdateStreamMode",
            &json!({ "StreamARN": stream_arn, "StreamModeDetails": { "StreamMode": mode } }),
        )
        .await
        .map(|_| ())
    }

    /// `StartStreamEncryption` (`KMS` with a key id) or `StopStreamEncryption`.
    pub async fn set_stream_encryption(
        &self,
        stream: &str,
        key_id: &str,
        enable: bool,
    ) -> Result<()> {
        let action = if enable {
            "StartStreamEncryption"
        } else {
            "StopStreamEncryption"
        };
        self.call(
            action,
            &json!({ "StreamName": stream, "EncryptionType": "KMS", "KeyId": key_id }),
        )
        .await
        .map(|_| ())
    }

    /// `EnableEnhancedMonitoring` or `DisableEnhancedMonitoring`; returns the metrics
    /// enabled afterwards.
    pub async fn set_enhanced_monitoring(
        &self,
        stream: &str,
        metrics: &[&str],
        enable: bool,
    ) -> Result<Vec<String>> {
        let action = if enable {
            "EnableEnhancedMonitoring"
        } else {
            "DisableEnhancedMonitoring"
        };
        let v = self
            .call(
                action,
                &json!({ "StreamName": stream, "ShardLevelMetrics": metrics }),
            )
            .await?;
        Ok(v.get("DesiredShardLevelMetrics")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `TagResource` on an ARN.
    pub async fn tag_resource(&self, arn: &str, tags: &Tags) -> Result<()> {
        self.call("TagResource", &json!({ "ResourceARN": arn, "Tags": tags }))
            .await
            .map(|_| ())
    }

    /// `UntagResource` on an ARN.
    pub async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<()> {
        self.call(
            "UntagResource",
            &json!({ "ResourceARN": arn, "TagKeys": keys }),
        )
        .await
        .map(|_| ())
    }

    /// `ListTagsForResource` on an ARN.
    pub async fn list_tags_for_resource(&self, arn: &str) -> Result<Tags> {
        let v = self
            .call("ListTagsForResource", &json!({ "ResourceARN": arn }))
            .await?;
        let mut out = Tags::new();
        for t in v
            .get("Tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.insert(
                str_field(t, "Key")?.to_string(),
                t.get("Value")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        Ok(out)
    }
}
