//! CreateStream, DeleteStream, DescribeStream, DescribeStreamSummary and ListStreams.

use base64::Engine as _;
use freshet_storage::{CreateStream, StreamMode};

use super::{
    empty, encryption_values, mode_value, monitoring_value, parse_mode, shard_value, stream_name,
};
use crate::state::KinesisState;
use freshet_protocol::request::Req;
use freshet_protocol::value::{map, Value};
use freshet_protocol::{ApiError, ApiResult};

/// Shards of an on-demand stream created without a ShardCount.
const ON_DEMAND_SHARDS: u32 = 4;

/// Whether a tag key or value holds only what Kinesis allows: Unicode letters and
/// digits, white space (not tabs or line breaks) and `_ . / = + - % @`.
fn tag_text_ok(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_alphanumeric()
            || matches!(c, '_' | '.' | '/' | '=' | '+' | '-' | '%' | '@')
            || (c.is_whitespace() && !c.is_control())
    })
}

/// Checks the characters of tag keys and values as Kinesis does: AWS's
/// "invalid characters", then its refusal of `%` (which its first message allows),
/// worded for the stream and what was being done (`add tags to`, `remove tags from`).
pub(crate) fn check_tag_chars<'a>(
    state: &KinesisState,
    texts: impl Iterator<Item = &'a str> + Clone,
    stream: &str,
    doing: &str,
) -> ApiResult<()> {
    if !texts.clone().all(tag_text_ok) {
        return Err(ApiError::invalid(
            "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @.",
        ));
    }
    if texts.into_iter().any(|t| t.contains('%')) {
        return Err(ApiError::invalid(format!(
            "Failed to {doing} stream {stream} under account {} because some tags contained illegal characters. The allowed characters are Unicode letters, white-spaces, '_',',','/','=','+','-','@'.",
            state.cfg.account_id
        )));
    }
    Ok(())
}

/// Checks a (validated) tag map against the rules that come after the model's.
pub(crate) fn check_tags(tags: &[(String, String)]) -> ApiResult<()> {
    if tags.len() > 50 {
        return Err(ApiError::invalid(format!(
            "Failed to add tags: {} tags were given, more than the 50 a stream may have.",
            tags.len()
        )));
    }
    for (k, _) in tags {
        if k.starts_with("aws:") {
            return Err(ApiError::invalid(format!(
                "Tag key {k} may not start with the reserved prefix aws:."
            )));
        }
    }
    Ok(())
}

/// CreateStream.
pub fn create_stream(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = req.str("StreamName")?;
    // Neither a shard count nor a mode: AWS creates an on-demand stream (4 shards).
    let mode = match (parse_mode(req)?, req.opt_int("ShardCount")?) {
        (Some(mode), _) => mode,
        (None, Some(_)) => StreamMode::Provisioned,
        (None, None) => StreamMode::OnDemand,
    };
    let shard_count = match (req.opt_int("ShardCount")?, mode) {
        (Some(n), _) => u32::try_from(n).unwrap_or(u32::MAX),
        (None, StreamMode::OnDemand) => ON_DEMAND_SHARDS,
        (None, StreamMode::Provisioned) => {
            return Err(ApiError::invalid(
                "ShardCount is required for a stream with the PROVISIONED capacity mode.",
            ))
        }
    };
    let tags = req.opt_str_map("Tags")?.unwrap_or_default();
    check_tags(&tags)?;
    let open = state.engine.open_shard_count().map_err(|e| state.err(e))?;
    if open as u64 + u64::from(shard_count) > u64::from(state.cfg.shard_limit) {
        return Err(state.shard_limit_error(open as u64, u64::from(shard_count)));
    }
    let mut create = CreateStream::new(name, shard_count);
    create.mode = mode;
    create.tags = tags.into_iter().collect();
    create.activation_delay_ms = state.cfg.create_delay_ms;
    state
        .engine
        .create_stream(create)
        .map_err(|e| state.err(e))?;
    Ok(empty())
}

/// DeleteStream.
pub fn delete_stream(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = stream_name(state, req)?;
    let _ = req.opt_bool("EnforceConsumerDeletion")?;
    state
        .engine
        .delete_stream(&name)
        .map_err(|e| state.err(e))?;
    state.metrics.forget_stream(&name);
    state.scaler.forget_stream(&name);
    super::policies::forget_stream(state, &name);
    Ok(empty())
}

/// DescribeStream.
pub fn describe_stream(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = stream_name(state, req)?;
    let limit = usize::try_from(req.opt_int("Limit")?.unwrap_or(100)).unwrap_or(100);
    let start = req.opt_str("ExclusiveStartShardId")?;
    let d = state.describe(&name)?;
    let candidates: Vec<_> = d
        .shards
        .iter()
        .filter(|s| start.is_none_or(|id| super::shards::after_shard(s, id)))
        .collect();
    let has_more = candidates.len() > limit;
    let shards = candidates
        .into_iter()
        .take(limit)
        .map(shard_value)
        .collect();
    let (enc, key) = encryption_values(d.encryption.as_ref());
    Ok(map([(
        "StreamDescription",
        map([
            ("StreamName", Value::str(&d.name)),
            ("StreamARN", Value::str(state.stream_arn(&d.name))),
            ("StreamStatus", Value::str(d.status.as_str())),
            ("StreamModeDetails", mode_value(d.mode)),
            ("Shards", Value::List(shards)),
            ("HasMoreShards", Value::Bool(has_more)),
            (
                "RetentionPeriodHours",
                Value::Int(i128::from(d.retention_hours)),
            ),
            ("StreamCreationTimestamp", Value::Timestamp(d.created_ms)),
            (
                "EnhancedMonitoring",
                monitoring_value(&d.shard_level_metrics),
            ),
            ("EncryptionType", enc),
            ("KeyId", key),
        ]),
    )]))
}

/// DescribeStreamSummary.
pub fn describe_stream_summary(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = stream_name(state, req)?;
    let d = state
        .engine
        .stream_summary(&name)
        .map_err(|e| state.err(e))?;
    let (enc, key) = encryption_values(d.encryption.as_ref());
    Ok(map([(
        "StreamDescriptionSummary",
        map([
            ("StreamName", Value::str(&d.name)),
            ("StreamARN", Value::str(state.stream_arn(&d.name))),
            ("StreamStatus", Value::str(d.status.as_str())),
            ("StreamModeDetails", mode_value(d.mode)),
            (
                "RetentionPeriodHours",
                Value::Int(i128::from(d.retention_hours)),
            ),
            ("StreamCreationTimestamp", Value::Timestamp(d.created_ms)),
            (
                "EnhancedMonitoring",
                monitoring_value(&d.shard_level_metrics),
            ),
            ("EncryptionType", enc),
            ("KeyId", key),
            ("OpenShardCount", Value::Int(d.open_shard_count as i128)),
            (
                "ConsumerCount",
                Value::Int(super::consumers::live_consumers(state, &name)?.len() as i128),
            ),
        ]),
    )]))
}

const LIST_TOKEN_PREFIX: &str = "freshet-ls1:";

/// ListStreams.
pub fn list_streams(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let limit = usize::try_from(req.opt_int("Limit")?.unwrap_or(100)).unwrap_or(100);
    let mut after = req.opt_str("ExclusiveStartStreamName")?.map(str::to_string);
    if let Some(token) = req.opt_str("NextToken")? {
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.as_bytes())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix(LIST_TOKEN_PREFIX).map(str::to_string))
            .ok_or_else(|| ApiError::invalid(format!("Invalid NextToken: {token}")))?;
        after = Some(decoded);
    }
    let names = state.engine.list_streams().map_err(|e| state.err(e))?;
    let rest: Vec<String> = names
        .into_iter()
        .filter(|n| after.as_ref().is_none_or(|a| n > a))
        .collect();
    let has_more = rest.len() > limit;
    let page: Vec<String> = rest.into_iter().take(limit).collect();
    let mut summaries = Vec::new();
    for n in &page {
        // A stream deleted meanwhile is left out of the summaries.
        if let Ok(d) = state.engine.stream_summary(n) {
            summaries.push(map([
                ("StreamName", Value::str(&d.name)),
                ("StreamARN", Value::str(state.stream_arn(&d.name))),
                ("StreamStatus", Value::str(d.status.as_str())),
                ("StreamModeDetails", mode_value(d.mode)),
                ("StreamCreationTimestamp", Value::Timestamp(d.created_ms)),
            ]));
        }
    }
    let next = match (has_more, page.last()) {
        (true, Some(last)) => Value::str(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(format!("{LIST_TOKEN_PREFIX}{last}")),
        ),
        _ => Value::Null,
    };
    Ok(map([
        (
            "StreamNames",
            Value::List(page.iter().map(Value::str).collect()),
        ),
        ("HasMoreStreams", Value::Bool(has_more)),
        ("NextToken", next),
        ("StreamSummaries", Value::List(summaries)),
    ]))
}
