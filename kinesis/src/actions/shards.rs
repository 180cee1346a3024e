//! ListShards and the resharding actions: SplitShard, MergeShards, UpdateShardCount.

use base64::Engine as _;
use freshet_storage::{
    hash_key::parse_hash_key, parse_shard_id, ShardDescription, StreamDescription,
};

use super::{empty, shard_value, stream_name};
use crate::state::KinesisState;
use freshet_protocol::request::Req;
use freshet_protocol::value::{map, Value};
use freshet_protocol::{ApiError, ApiResult};

const TOKEN_PREFIX: &str = "freshet-lsh1";
/// How long a ListShards NextToken stays valid, ms.
const TOKEN_TTL_MS: i64 = 300_000;

/// A ShardFilter.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Filter {
    None,
    AtTrimHorizon,
    FromTrimHorizon,
    AtLatest,
    AfterShardId(String),
    AtTimestamp(i64),
    FromTimestamp(i64),
}

impl Filter {
    fn parse(req: Req<'_>) -> ApiResult<Filter> {
        let Some(f) = req.opt_struct("ShardFilter")? else {
            return Ok(Filter::None);
        };
        let ty = f.str("Type")?;
        let shard = f.opt_str("ShardId")?;
        let ts = f.opt_timestamp_ms("Timestamp")?;
        let need_ts = |ts: Option<i64>| {
            ts.ok_or_else(|| {
                ApiError::invalid(format!(
                    "Timestamp must be specified for ShardFilter type {ty}."
                ))
            })
        };
        Ok(match ty {
            "AT_TRIM_HORIZON" => Filter::AtTrimHorizon,
            "FROM_TRIM_HORIZON" => Filter::FromTrimHorizon,
            "AT_LATEST" => Filter::AtLatest,
            "AFTER_SHARD_ID" => Filter::AfterShardId(
                shard
                    .ok_or_else(|| ApiError::invalid("ShardId must be specified for ShardFilter type AFTER_SHARD_ID."))?
                    .to_string(),
            ),
            "AT_TIMESTAMP" => Filter::AtTimestamp(need_ts(ts)?),
            "FROM_TIMESTAMP" => Filter::FromTimestamp(need_ts(ts)?),
            other => {
                return Err(ApiError::constraint(
                    other,
                    "shardFilter.type",
                    "Member must satisfy enum value set: [AFTER_SHARD_ID, AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, FROM_TIMESTAMP]",
                ))
            }
        })
    }

    fn encode(&self) -> String {
        match self {
            Filter::None => "N".into(),
            Filter::AtTrimHorizon => "ATH".into(),
            Filter::FromTrimHorizon => "FTH".into(),
            Filter::AtLatest => "AL".into(),
            Filter::AfterShardId(s) => format!("AS{s}"),
            Filter::AtTimestamp(t) => format!("AT{t}"),
            Filter::FromTimestamp(t) => format!("FT{t}"),
        }
    }

    fn decode(s: &str) -> Option<Filter> {
        Some(match s {
            "N" => Filter::None,
            "ATH" => Filter::AtTrimHorizon,
            "FTH" => Filter::FromTrimHorizon,
            "AL" => Filter::AtLatest,
            _ if s.starts_with("AS") => Filter::AfterShardId(s.get(2..)?.to_string()),
            _ if s.starts_with("AT") => Filter::AtTimestamp(s.get(2..)?.parse().ok()?),
            _ if s.starts_with("FT") => Filter::FromTimestamp(s.get(2..)?.parse().ok()?),
            _ => return None,
        })
    }
}

/// When a shard was closed: its children's creation time (the engine creates them in
/// the same step).
fn closed_ms(d: &StreamDescription, s: &ShardDescription) -> Option<i64> {
    if !s.is_closed() {
        return None;
    }
    d.shards
        .iter()
        .filter(|c| {
            c.parent_shard_id.as_deref() == Some(&s.shard_id)
                || c.adjacent_parent_shard_id.as_deref() == Some(&s.shard_id)
        })
        .map(|c| c.created_ms)
        .min()
        .or(Some(i64::MIN))
}

fn keep(d: &StreamDescription, s: &ShardDescription, f: &Filter) -> bool {
    let retained = |id: &Option<String>| {
        id.as_ref()
            .is_some_and(|p| d.shards.iter().any(|x| &x.shard_id == p))
    };
    match f {
        Filter::None | Filter::FromTrimHorizon => true,
        Filter::AtTrimHorizon => {
            !retained(&s.parent_shard_id) && !retained(&s.adjacent_parent_shard_id)
        }
        Filter::AtLatest => !s.is_closed(),
        Filter::AfterShardId(id) => match parse_shard_id(id) {
            Some(i) => s.index > i,
            None => s.shard_id.as_str() > id.as_str(),
        },
        Filter::AtTimestamp(t) => {
            let t = (*t).max(d.created_ms);
            s.created_ms <= t && closed_ms(d, s).is_none_or(|c| c > t)
        }
        Filter::FromTimestamp(t) => closed_ms(d, s).is_none_or(|c| c >= *t),
    }
}

/// ListShards.
pub fn list_shards(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let max = req.opt_int_in("MaxResults", 1, 10_000)?.unwrap_or(1000) as usize;
    let now = state.now_ms();
    let (name, after, filter) = if let Some(token) = req.opt_str("NextToken")? {
        if req.has("StreamName") || req.has("StreamARN") {
            return Err(ApiError::invalid(
                "NextToken and StreamName cannot be provided together.",
            ));
        }
        if req.has("ExclusiveStartShardId") {
            return Err(ApiError::invalid(
                "NextToken and ExclusiveStartShardId cannot be provided together.",
            ));
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.as_bytes())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| ApiError::invalid(format!("Invalid NextToken: {token}")))?;
        let parts: Vec<&str> = raw.split('\n').collect();
        let [TOKEN_PREFIX, name, after, issued, filter] = parts.as_slice() else {
            return Err(ApiError::invalid(format!("Invalid NextToken: {token}")));
        };
        let issued: i64 = issued
            .parse()
            .map_err(|_| ApiError::invalid(format!("Invalid NextToken: {token}")))?;
        if now - issued > TOKEN_TTL_MS {
            return Err(ApiError::expired_next_token(format!(
                "The NextToken {token} has expired."
            )));
        }
        let filter = Filter::decode(filter)
            .ok_or_else(|| ApiError::invalid(format!("Invalid NextToken: {token}")))?;
        let after: u64 = after
            .parse()
            .map_err(|_| ApiError::invalid(format!("Invalid NextToken: {token}")))?;
        (name.to_string(), Some(after), filter)
    } else {
        let name = stream_name(req)?;
        let after = match req.opt_str("ExclusiveStartShardId")? {
            Some(id) => Some(parse_shard_id(id).ok_or_else(|| {
                ApiError::constraint(
                    id,
                    "exclusiveStartShardId",
                    "Member must satisfy regular expression pattern: shardId-[0-9]+",
                )
            })?),
            None => None,
        };
        (name, after, Filter::parse(req)?)
    };
    let d = state.describe(&name)?;
    let picked: Vec<&ShardDescription> = d
        .shards
        .iter()
        .filter(|s| after.is_none_or(|a| s.index > a))
        .filter(|s| keep(&d, s, &filter))
        .collect();
    let more = picked.len() > max;
    let page: Vec<&ShardDescription> = picked.into_iter().take(max).collect();
    let next = match (more, page.last()) {
        (true, Some(last)) => Value::str(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            format!(
                "{TOKEN_PREFIX}\n{name}\n{}\n{now}\n{}",
                last.index,
                filter.encode()
            ),
        )),
        _ => Value::Null,
    };
    Ok(map([
        (
            "Shards",
            Value::List(page.into_iter().map(shard_value).collect()),
        ),
        ("NextToken", next),
    ]))
}

fn hash_key(value: &str, field: &str) -> ApiResult<u128> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::constraint(
            value,
            field,
            "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})",
        ));
    }
    parse_hash_key(value).ok_or_else(|| {
        ApiError::invalid(format!(
            "Invalid {field}. It must be in the range: [0, 340282366920938463463374607431768211455]. Specified value was {value}"
        ))
    })
}

/// SplitShard.
pub fn split_shard(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = stream_name(req)?;
    let shard = req.str("ShardToSplit")?;
    let key = hash_key(req.str("NewStartingHashKey")?, "newStartingHashKey")?;
    state
        .engine
        .split_shard(&name, shard, key)
        .map_err(|e| state.err(e))?;
    Ok(empty())
}

/// MergeShards.
pub fn merge_shards(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = stream_name(req)?;
    let a = req.str("ShardToMerge")?;
    let b = req.str("AdjacentShardToMerge")?;
    state
        .engine
        .merge_shards(&name, a, b)
        .map_err(|e| state.err(e))?;
    Ok(empty())
}

/// UpdateShardCount.
pub fn update_shard_count(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = stream_name(req)?;
    let target = req.int("TargetShardCount")?;
    if target < 1 {
        return Err(ApiError::constraint(
            &target.to_string(),
            "targetShardCount",
            "Member must have value greater than or equal to 1",
        ));
    }
    let scaling = req.str("ScalingType")?;
    if scaling != "UNIFORM_SCALING" {
        return Err(ApiError::constraint(
            scaling,
            "scalingType",
            "Member must satisfy enum value set: [UNIFORM_SCALING]",
        ));
    }
    let target =
        u32::try_from(target).map_err(|_| ApiError::invalid("TargetShardCount is too large."))?;
    // The engine checks AWS's rules (double/half, scaling operations per 24 hours,
    // the account shard limit) before it changes anything.
    let r = state
        .engine
        .update_shard_count(&name, target)
        .map_err(|e| state.err(e))?;
    Ok(map([
        ("StreamName", Value::str(&name)),
        ("StreamARN", Value::str(state.stream_arn(&name))),
        ("CurrentShardCount", Value::Int(r.current as i128)),
        ("TargetShardCount", Value::Int(r.target as i128)),
    ]))
}
