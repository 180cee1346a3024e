//! Retention, tags, stream mode, encryption, enhanced monitoring, limits and account
//! settings.

use freshet_storage::Encryption;

use super::streams::check_tags;
use super::{empty, name_from_arn, parse_mode, stream_name};
use crate::state::KinesisState;
use freshet_protocol::request::{missing, Req};
use freshet_protocol::value::{map, Value};
use freshet_protocol::{ApiError, ApiResult};

/// Increase/DecreaseStreamRetentionPeriod.
pub fn retention(state: &KinesisState, req: Req<'_>, increase: bool) -> ApiResult<Value> {
    let name = stream_name(req)?;
    let hours = req.int("RetentionPeriodHours")?;
    let hours = u32::try_from(hours.clamp(0, i64::from(u32::MAX))).unwrap_or(u32::MAX);
    state
        .engine
        .set_retention(&name, hours, increase)
        .map_err(|e| state.err(e))?;
    Ok(empty())
}

fn tags_list(tags: impl IntoIterator<Item = (String, String)>) -> Value {
    Value::List(
        tags.into_iter()
            .map(|(k, v)| map([("Key", Value::str(k)), ("Value", Value::str(v))]))
            .collect(),
    )
}

fn add_tags(state: &KinesisState, name: &str, tags: Vec<(String, String)>) -> ApiResult<()> {
    check_tags(&tags)?;
    if tags.is_empty() {
        return Err(ApiError::constraint(
            "{}",
            "tags",
            "Member must have length greater than or equal to 1",
        ));
    }
    let existing = state.engine.list_tags(name).map_err(|e| state.err(e))?;
    let new_keys = tags
        .iter()
        .filter(|(k, _)| !existing.contains_key(k))
        .count();
    if existing.len() + new_keys > 50 {
        return Err(ApiError::limit(format!(
            "Failed to add tags to stream {name} under account {}: a stream can have at most 50 tags.",
            state.cfg.account_id
        )));
    }
    state
        .engine
        .add_tags(name, tags.into_iter().collect())
        .map_err(|e| state.err(e))
}

fn remove_tags(state: &KinesisState, name: &str, keys: Vec<String>) -> ApiResult<()> {
    if keys.is_empty() || keys.len() > 50 {
        return Err(ApiError::constraint(
            &format!("{keys:?}"),
            "tagKeys",
            "Member must have length between 1 and 50",
        ));
    }
    state
        .engine
        .remove_tags(name, &keys)
        .map_err(|e| state.err(e))
}

/// AddTagsToStream.
pub fn add_tags_to_stream(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = stream_name(req)?;
    let tags = req.opt_str_map("Tags")?.ok_or_else(|| missing("Tags"))?;
    add_tags(state, &name, tags)?;
    Ok(empty())
}

/// RemoveTagsFromStream.
pub fn remove_tags_from_stream(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = stream_name(req)?;
    let keys = req
        .opt_str_list("TagKeys")?
        .ok_or_else(|| missing("TagKeys"))?;
    remove_tags(state, &name, keys)?;
    Ok(empty())
}

/// ListTagsForStream.
pub fn list_tags_for_stream(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = stream_name(req)?;
    let limit = req.opt_int_in("Limit", 1, 50)?.unwrap_or(50) as usize;
    let start = req.opt_str("ExclusiveStartTagKey")?;
    let tags = state.engine.list_tags(&name).map_err(|e| state.err(e))?;
    let rest: Vec<(String, String)> = tags
        .into_iter()
        .filter(|(k, _)| start.is_none_or(|s| k.as_str() > s))
        .collect();
    let more = rest.len() > limit;
    Ok(map([
        ("Tags", tags_list(rest.into_iter().take(limit))),
        ("HasMoreTags", Value::Bool(more)),
    ]))
}

fn resource(req: Req<'_>) -> ApiResult<String> {
    let arn = req.str("ResourceARN")?;
    name_from_arn(arn, "resourceARN")
}

/// TagResource.
pub fn tag_resource(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = resource(req)?;
    let tags = req.opt_str_map("Tags")?.ok_or_else(|| missing("Tags"))?;
    add_tags(state, &name, tags)?;
    Ok(empty())
}

/// UntagResource.
pub fn untag_resource(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = resource(req)?;
    let keys = req
        .opt_str_list("TagKeys")?
        .ok_or_else(|| missing("TagKeys"))?;
    remove_tags(state, &name, keys)?;
    Ok(empty())
}

/// ListTagsForResource.
pub fn list_tags_for_resource(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = resource(req)?;
    let tags = state.engine.list_tags(&name).map_err(|e| state.err(e))?;
    Ok(map([("Tags", tags_list(tags))]))
}

/// UpdateStreamMode.
pub fn update_stream_mode(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let arn = req.str("StreamARN")?;
    let name = name_from_arn(arn, "streamARN")?;
    let mode = parse_mode(req)?.ok_or_else(|| missing("StreamModeDetails"))?;
    state
        .engine
        .set_stream_mode(&name, mode)
        .map_err(|e| state.err(e))?;
    Ok(empty())
}

/// Start/StopStreamEncryption.
pub fn encryption(state: &KinesisState, req: Req<'_>, start: bool) -> ApiResult<Value> {
    let name = stream_name(req)?;
    let ty = req.str("EncryptionType")?;
    if ty != "KMS" && ty != "NONE" {
        return Err(ApiError::constraint(
            ty,
            "encryptionType",
            "Member must satisfy enum value set: [KMS, NONE]",
        ));
    }
    let key = req.str("KeyId")?;
    if key.is_empty() || key.len() > 2048 {
        return Err(ApiError::constraint(
            key,
            "keyId",
            "Member must have length between 1 and 2048",
        ));
    }
    if ty != "KMS" {
        return Err(ApiError::invalid(format!(
            "EncryptionType {ty} is not supported; use KMS."
        )));
    }
    let setting = start.then(|| Encryption {
        encryption_type: ty.to_string(),
        key_id: key.to_string(),
    });
    state
        .engine
        .set_encryption(&name, setting)
        .map_err(|e| state.err(e))?;
    Ok(empty())
}

/// Enable/DisableEnhancedMonitoring.
pub fn monitoring(state: &KinesisState, req: Req<'_>, enable: bool) -> ApiResult<Value> {
    let name = stream_name(req)?;
    let metrics = req
        .opt_str_list("ShardLevelMetrics")?
        .ok_or_else(|| missing("ShardLevelMetrics"))?;
    if metrics.is_empty() || metrics.len() > 7 {
        return Err(ApiError::constraint(
            &format!("{metrics:?}"),
            "shardLevelMetrics",
            "Member must have length between 1 and 7",
        ));
    }
    for m in &metrics {
        if m != "ALL" && !freshet_storage::SHARD_LEVEL_METRICS.contains(&m.as_str()) {
            return Err(ApiError::constraint(
                m,
                "shardLevelMetrics",
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    [&freshet_storage::SHARD_LEVEL_METRICS[..], &["ALL"]]
                        .concat()
                        .join(", ")
                ),
            ));
        }
    }
    let (before, after) = state
        .engine
        .set_enhanced_monitoring(&name, &metrics, enable)
        .map_err(|e| state.err(e))?;
    Ok(map([
        ("StreamName", Value::str(&name)),
        ("StreamARN", Value::str(state.stream_arn(&name))),
        (
            "CurrentShardLevelMetrics",
            Value::List(before.iter().map(Value::str).collect()),
        ),
        (
            "DesiredShardLevelMetrics",
            Value::List(after.iter().map(Value::str).collect()),
        ),
    ]))
}

/// DescribeLimits.
pub fn describe_limits(state: &KinesisState) -> ApiResult<Value> {
    let open = state.engine.open_shard_count().map_err(|e| state.err(e))?;
    let mut on_demand = 0;
    for name in state.engine.list_streams().map_err(|e| state.err(e))? {
        if let Ok(d) = state.engine.describe_stream(&name) {
            if d.mode == freshet_storage::StreamMode::OnDemand {
                on_demand += 1;
            }
        }
    }
    Ok(map([
        ("ShardLimit", Value::Int(i128::from(state.cfg.shard_limit))),
        ("OpenShardCount", Value::Int(open as i128)),
        ("OnDemandStreamCount", Value::Int(on_demand)),
        (
            "OnDemandStreamCountLimit",
            Value::Int(i128::from(state.cfg.on_demand_stream_limit)),
        ),
    ]))
}

/// DescribeAccountSettings (and UpdateAccountSettings, which changes nothing here).
pub fn account_settings() -> Value {
    map([(
        "MinimumThroughputBillingCommitment",
        map([("Status", Value::str("DISABLED"))]),
    )])
}
