//! Retention, tags, stream mode, encryption, enhanced monitoring, limits and account
//! settings.

use freshet_storage::Encryption;

use super::streams::{check_tag_chars, check_tags};
use super::{empty, name_from_resource_arn, name_from_stream_arn, parse_mode, stream_name};
use crate::state::KinesisState;
use freshet_protocol::request::Req;
use freshet_protocol::value::{map, Value};
use freshet_protocol::{ApiError, ApiResult};

/// Increase/DecreaseStreamRetentionPeriod.
pub fn retention(state: &KinesisState, req: Req<'_>, increase: bool) -> ApiResult<Value> {
    let name = stream_name(state, req)?;
    let hours = req.int("RetentionPeriodHours")?;
    let hours = u32::try_from(hours.max(0)).unwrap_or(u32::MAX);
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
    let existing = state.engine.list_tags(name).map_err(|e| state.err(e))?;
    check_tag_chars(
        state,
        tags.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]),
        name,
        "add tags to",
    )?;
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
    // The stream first: an unknown stream is reported before the keys' characters.
    state.engine.list_tags(name).map_err(|e| state.err(e))?;
    check_tag_chars(
        state,
        keys.iter().map(String::as_str),
        name,
        "remove tags from",
    )?;
    state
        .engine
        .remove_tags(name, &keys)
        .map_err(|e| state.err(e))
}

/// AddTagsToStream.
pub fn add_tags_to_stream(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = stream_name(state, req)?;
    let tags = req.opt_str_map("Tags")?.unwrap_or_default();
    add_tags(state, &name, tags)?;
    Ok(empty())
}

/// RemoveTagsFromStream.
pub fn remove_tags_from_stream(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = stream_name(state, req)?;
    let keys = req.opt_str_list("TagKeys")?.unwrap_or_default();
    remove_tags(state, &name, keys)?;
    Ok(empty())
}

/// ListTagsForStream.
pub fn list_tags_for_stream(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = stream_name(state, req)?;
    let limit = usize::try_from(req.opt_int("Limit")?.unwrap_or(50)).unwrap_or(50);
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

fn resource(state: &KinesisState, req: Req<'_>) -> ApiResult<String> {
    name_from_resource_arn(state, req.str("ResourceARN")?)
}

/// TagResource.
pub fn tag_resource(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = resource(state, req)?;
    let tags = req.opt_str_map("Tags")?.unwrap_or_default();
    add_tags(state, &name, tags)?;
    Ok(empty())
}

/// UntagResource.
pub fn untag_resource(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = resource(state, req)?;
    let keys = req.opt_str_list("TagKeys")?.unwrap_or_default();
    remove_tags(state, &name, keys)?;
    Ok(empty())
}

/// ListTagsForResource.
pub fn list_tags_for_resource(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = resource(state, req)?;
    let tags = state.engine.list_tags(&name).map_err(|e| state.err(e))?;
    Ok(map([("Tags", tags_list(tags))]))
}

/// UpdateStreamMode.
pub fn update_stream_mode(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = name_from_stream_arn(state, req.str("StreamARN")?)?;
    let mode = parse_mode(req)?.unwrap_or(freshet_storage::StreamMode::Provisioned);
    state
        .engine
        .set_stream_mode(&name, mode)
        .map_err(|e| state.err(e))?;
    Ok(empty())
}

/// Start/StopStreamEncryption.
pub fn encryption(state: &KinesisState, req: Req<'_>, start: bool) -> ApiResult<Value> {
    let name = stream_name(state, req)?;
    let ty = req.str("EncryptionType")?;
    let key = req.str("KeyId")?;
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
    let name = stream_name(state, req)?;
    let metrics = req.opt_str_list("ShardLevelMetrics")?.unwrap_or_default();
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
        if let Ok(d) = state.engine.stream_summary(&name) {
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
