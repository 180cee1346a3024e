//! ListShards and the resharding actions: SplitShard, MergeShards, UpdateShardCount.

use base64::Engine as _;
use freshet_protocol::kinesis::rules;
use freshet_storage::{parse_shard_id, ShardDescription, StreamDescription};

use super::{empty, resolve_shard_id, shard_value, stream_name};
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
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "ShardId must be specified for ShardFilter type AFTER_SHARD_ID.",
                        )
                    })?
                    .to_string(),
            ),
            "AT_TIMESTAMP" => Filter::AtTimestamp(need_ts(ts)?),
            // FROM_TIMESTAMP: validation allows no other type.
            _ => Filter::FromTimestamp(need_ts(ts)?),
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
        Filter::AfterShardId(id) => after_shard(s, id),
        Filter::AtTimestamp(t) => {
            let t = (*t).max(d.created_ms);
            s.created_ms <= t && closed_ms(d, s).is_none_or(|c| c > t)
        }
        Filter::FromTimestamp(t) => closed_ms(d, s).is_none_or(|c| c >= *t),
    }
}

/// Whether a shard comes after the one an ExclusiveStartShardId or AFTER_SHARD_ID
/// names: by index for a shard id, else by its text.
pub(crate) fn after_shard(s: &ShardDescription, id: &str) -> bool {
    match parse_shard_id(id) {
        Some(i) => s.index > i,
        None => s.shard_id.as_str() > id,
    }
}

/// Where a page of ListShards starts.
enum After {
    /// From the first shard.
    Start,
    /// After the shard of this index (a NextToken).
    Index(u64),
    /// After the shard an ExclusiveStartShardId names.
    Shard(String),
}

/// ListShards.
pub fn list_shards(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let max = usize::try_from(req.opt_int("MaxResults")?.unwrap_or(1000)).unwrap_or(1000);
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
        (name.to_string(), After::Index(after), filter)
    } else {
        if !req.has("StreamName") && !req.has("StreamARN") {
            return Err(ApiError::invalid(
                "Either NextToken or StreamName should be provided.",
            ));
        }
        let name = stream_name(state, req)?;
        let after = match req.opt_str("ExclusiveStartShardId")? {
            Some(id) => After::Shard(id.to_string()),
            None => After::Start,
        };
        (name, after, Filter::parse(req)?)
    };
    let d = state.describe(&name)?;
    let picked: Vec<&ShardDescription> = d
        .shards
        .iter()
        .filter(|s| match &after {
            After::Start => true,
            After::Index(i) => s.index > *i,
            After::Shard(id) => after_shard(s, id),
        })
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

/// The shards a reshard names, resolved as Kinesis resolves shard ids (all of them
/// before any is looked up), each retained by the stream (AWS's "Could not find
/// shard" otherwise), with their states.
fn reshard_targets<const N: usize>(
    state: &KinesisState,
    stream: &str,
    raw: [&str; N],
) -> ApiResult<[(String, freshet_storage::ShardState); N]> {
    let mut ids = Vec::with_capacity(N);
    for r in raw {
        ids.push(resolve_shard_id(state, stream, r)?.0);
    }
    let mut out = Vec::with_capacity(N);
    for shard in ids {
        match state.engine.shard_state(stream, &shard) {
            Ok(s) => out.push((shard, s)),
            Err(freshet_storage::Error::ShardNotFound { .. }) => {
                return Err(ApiError::not_found(format!(
                    "Could not find shard {shard} in stream {stream} under account {}.",
                    state.cfg.account_id
                )))
            }
            Err(e) => return Err(state.err(e)),
        }
    }
    out.try_into()
        .map_err(|_| ApiError::internal("Internal service failure."))
}

/// SplitShard.
pub fn split_shard(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = stream_name(state, req)?;
    let [(shard, target)] = reshard_targets(state, &name, [req.str("ShardToSplit")?])?;
    let value = req.str("NewStartingHashKey")?;
    // Beyond 2^128 - 1 (its pattern held): outside every shard, worded as the engine
    // words a key outside the shard's range.
    let key = rules::hash_key(value).map_err(|_| {
        ApiError::invalid(format!(
            "NewStartingHashKey {value} used in SplitShard() on shard {shard} in stream {name} under account {} is not both greater than one plus the shard's StartingHashKey {} and less than the shard's EndingHashKey {}.",
            state.cfg.account_id, target.range.start, target.range.end
        ))
    })?;
    state
        .engine
        .split_shard(&name, &shard, key)
        .map_err(|e| state.err(e))?;
    Ok(empty())
}

/// MergeShards.
pub fn merge_shards(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = stream_name(state, req)?;
    let [(a, _), (b, _)] = reshard_targets(
        state,
        &name,
        [req.str("ShardToMerge")?, req.str("AdjacentShardToMerge")?],
    )?;
    state
        .engine
        .merge_shards(&name, &a, &b)
        .map_err(|e| state.err(e))?;
    Ok(empty())
}

/// UpdateShardCount.
pub fn update_shard_count(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = stream_name(state, req)?;
    // At least 1 and within Integer's range: the model's rules.
    let target = u32::try_from(req.int("TargetShardCount")?).unwrap_or(u32::MAX);
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
