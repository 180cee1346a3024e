//! The actions: dispatch, and the lifecycle of log groups and log streams, retention
//! and tags. Events are in `events.rs`.

use std::collections::BTreeMap;

use freshet_protocol::error::ApiError;
use serde_json::{json, Value};

use crate::events;
use crate::params::{
    check_group_name, check_stream_name, check_tags, constraint, empty, group_of, group_of_arn,
    invalid, Req, RETENTION_DAYS,
};
use crate::service::LogsConfig;
use crate::store::{lock, Group, GroupInner, Store};
use crate::token::digits56;

/// The operations it answers.
pub const ACTIONS: &[&str] = &[
    "CreateLogGroup",
    "DeleteLogGroup",
    "DescribeLogGroups",
    "CreateLogStream",
    "DeleteLogStream",
    "DescribeLogStreams",
    "PutLogEvents",
    "GetLogEvents",
    "FilterLogEvents",
    "PutRetentionPolicy",
    "DeleteRetentionPolicy",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
    "TagLogGroup",
    "UntagLogGroup",
    "ListTagsLogGroup",
];

/// Runs one action (on a blocking thread: catalog and engine calls block).
pub fn dispatch(store: &Store, cfg: &LogsConfig, op: &str, raw: &[u8]) -> Result<Value, ApiError> {
    let b = crate::params::body(raw)?;
    let r = Req(&b);
    match op {
        "CreateLogGroup" => create_group(store, &r),
        "DeleteLogGroup" => {
            store.delete_group(&group_of(&r)?)?;
            Ok(empty())
        }
        "DescribeLogGroups" => describe_groups(store, cfg, &r),
        "CreateLogStream" => {
            let g = store.group(&group_of(&r)?)?;
            let name = r.str("logStreamName")?;
            check_stream_name(name, "logStreamName")?;
            store.create_stream(&g, name)?;
            Ok(empty())
        }
        "DeleteLogStream" => {
            let g = store.group(&group_of(&r)?)?;
            let name = r.str("logStreamName")?;
            check_stream_name(name, "logStreamName")?;
            store.delete_stream(&g, name)?;
            Ok(empty())
        }
        "DescribeLogStreams" => describe_streams(store, cfg, &r),
        "PutLogEvents" => events::put_log_events(store, &b),
        "GetLogEvents" => events::get_log_events(store, &b),
        "FilterLogEvents" => events::filter_log_events(store, &b),
        "PutRetentionPolicy" => {
            let days = r.opt_i64("retentionInDays")?.ok_or_else(|| {
                invalid("1 validation error detected: Value null at 'retentionInDays' failed to satisfy constraint: Member must not be null")
            })?;
            let days = u32::try_from(days)
                .ok()
                .filter(|d| RETENTION_DAYS.contains(d))
                .ok_or_else(|| {
                    constraint(
                        &days.to_string(),
                        "retentionInDays",
                        &format!("Member must satisfy enum value set: {RETENTION_DAYS:?}"),
                    )
                })?;
            let g = store.group(&group_of(&r)?)?;
            store.update_group(&g, |m| {
                m.retention_days = Some(days);
                Ok(())
            })?;
            Ok(empty())
        }
        "DeleteRetentionPolicy" => {
            let g = store.group(&group_of(&r)?)?;
            store.update_group(&g, |m| {
                m.retention_days = None;
                Ok(())
            })?;
            Ok(empty())
        }
        "TagResource" | "TagLogGroup" => {
            let g = if op == "TagResource" {
                store.group(&arn_group(&r)?)?
            } else {
                store.group(&group_of(&r)?)?
            };
            let tags = r.opt_tags("tags")?.unwrap_or_default();
            if tags.is_empty() {
                return Err(constraint(
                    "{}",
                    "tags",
                    "Member must have length greater than or equal to 1",
                ));
            }
            store.update_group(&g, |m| {
                let mut all: BTreeMap<String, String> = m.tags.clone();
                all.extend(tags);
                check_tags(&all.clone().into_iter().collect::<Vec<_>>())?;
                m.tags = all;
                Ok(())
            })?;
            Ok(empty())
        }
        "UntagResource" | "UntagLogGroup" => {
            let (g, keys) = if op == "UntagResource" {
                (store.group(&arn_group(&r)?)?, r.opt_strings("tagKeys")?)
            } else {
                (store.group(&group_of(&r)?)?, r.opt_strings("tags")?)
            };
            let keys = keys.unwrap_or_default();
            store.update_group(&g, |m| {
                for k in &keys {
                    m.tags.remove(k);
                }
                Ok(())
            })?;
            Ok(empty())
        }
        "ListTagsForResource" | "ListTagsLogGroup" => {
            let g = if op == "ListTagsForResource" {
                store.group(&arn_group(&r)?)?
            } else {
                store.group(&group_of(&r)?)?
            };
            let tags = lock(&g.inner).meta.tags.clone();
            Ok(json!({ "tags": tags }))
        }
        other => Err(ApiError::unknown_operation(format!(
            "The action or operation {other} is not valid for this endpoint."
        ))),
    }
}

fn arn_group(r: &Req<'_>) -> Result<String, ApiError> {
    let arn = r.str("resourceArn")?;
    let name = group_of_arn(arn)?;
    check_group_name(&name, "resourceArn")?;
    Ok(name)
}

fn create_group(store: &Store, r: &Req<'_>) -> Result<Value, ApiError> {
    let name = r.str("logGroupName")?;
    check_group_name(name, "logGroupName")?;
    let tags = r.opt_tags("tags")?.unwrap_or_default();
    check_tags(&tags)?;
    let class = r.opt_str("logGroupClass")?;
    if let Some(c) = class {
        if !["STANDARD", "INFREQUENT_ACCESS", "DELIVERY"].contains(&c) {
            return Err(constraint(
                c,
                "logGroupClass",
                "Member must satisfy enum value set: [STANDARD, INFREQUENT_ACCESS, DELIVERY]",
            ));
        }
    }
    let kms = r.opt_str("kmsKeyId")?.map(str::to_string);
    store.create_group(
        name,
        tags.into_iter().collect(),
        kms,
        class.map(str::to_string),
    )?;
    Ok(empty())
}

/// `arn:aws:logs:{region}:{account}:log-group:{name}`.
fn group_arn(cfg: &LogsConfig, name: &str) -> String {
    format!(
        "arn:aws:logs:{}:{}:log-group:{name}",
        cfg.region, cfg.account_id
    )
}

fn group_json(cfg: &LogsConfig, inner: &GroupInner) -> Value {
    let m = &inner.meta;
    let arn = group_arn(cfg, &m.name);
    let stored: u64 = inner.streams.values().map(|s| s.stored_bytes).sum();
    let mut v = json!({
        "logGroupName": m.name,
        "creationTime": m.created,
        "metricFilterCount": 0,
        "arn": format!("{arn}:*"),
        "logGroupArn": arn,
        "storedBytes": stored,
        "logGroupClass": m.class,
    });
    if let Some(d) = m.retention_days {
        v["retentionInDays"] = json!(d);
    }
    if let Some(k) = &m.kms_key_id {
        v["kmsKeyId"] = json!(k);
    }
    v
}

fn describe_groups(store: &Store, cfg: &LogsConfig, r: &Req<'_>) -> Result<Value, ApiError> {
    let prefix = r.opt_str("logGroupNamePrefix")?;
    let pattern = r.opt_str("logGroupNamePattern")?;
    if prefix.is_some() && pattern.is_some() {
        return Err(invalid(
            "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
        ));
    }
    let class = r.opt_str("logGroupClass")?;
    let limit = r.limit(50, 50)?;
    let after = r.opt_str("nextToken")?;
    let pattern = pattern.map(str::to_ascii_lowercase);
    let mut out = Vec::new();
    let mut next = None;
    for g in store.all_groups() {
        let inner = lock(&g.inner);
        let name = &inner.meta.name;
        if after.is_some_and(|a| name.as_str() <= a)
            || prefix.is_some_and(|p| !name.starts_with(p))
            || pattern
                .as_ref()
                .is_some_and(|p| !name.to_ascii_lowercase().contains(p.as_str()))
            || class.is_some_and(|c| inner.meta.class != c)
        {
            continue;
        }
        if out.len() == limit {
            next = out
                .last()
                .and_then(|v: &Value| v["logGroupName"].as_str().map(str::to_string));
            break;
        }
        out.push(group_json(cfg, &inner));
    }
    let mut reply = json!({ "logGroups": out });
    if let Some(n) = next {
        reply["nextToken"] = json!(n);
    }
    Ok(reply)
}

fn describe_streams(store: &Store, cfg: &LogsConfig, r: &Req<'_>) -> Result<Value, ApiError> {
    let group = group_of(r)?;
    let prefix = r.opt_str("logStreamNamePrefix")?;
    let order = r.opt_str("orderBy")?.unwrap_or("LogStreamName");
    if !["LogStreamName", "LastEventTime"].contains(&order) {
        return Err(constraint(
            order,
            "orderBy",
            "Member must satisfy enum value set: [LogStreamName, LastEventTime]",
        ));
    }
    if order == "LastEventTime" && prefix.is_some() {
        return Err(invalid(
            "Cannot order by LastEventTime with a logStreamNamePrefix.",
        ));
    }
    let descending = r.opt_bool("descending")?.unwrap_or(false);
    let limit = r.limit(50, 50)?;
    let skip = match r.opt_str("nextToken")? {
        Some(t) => usize::from_str_radix(t, 16)
            .ok()
            .filter(|_| t.len() == 16)
            .ok_or_else(|| invalid("The specified nextToken is invalid."))?,
        None => 0,
    };
    let g: std::sync::Arc<Group> = store.group(&group)?;
    let inner = lock(&g.inner);
    let mut streams: Vec<_> = inner
        .streams
        .values()
        .filter(|s| prefix.is_none_or(|p| s.name.starts_with(p)))
        .collect();
    if order == "LastEventTime" {
        streams.sort_by(|a, b| {
            a.last_ts
                .unwrap_or(0)
                .cmp(&b.last_ts.unwrap_or(0))
                .then_with(|| a.name.cmp(&b.name))
        });
    }
    if descending {
        streams.reverse();
    }
    let arn = group_arn(cfg, &inner.meta.name);
    let page: Vec<Value> = streams
        .iter()
        .skip(skip)
        .take(limit)
        .map(|s| {
            let mut v = json!({
                "logStreamName": s.name,
                "creationTime": s.created,
                "arn": format!("{arn}:log-stream:{}", s.name),
                "storedBytes": s.stored_bytes,
                "uploadSequenceToken": digits56(s.end_offset),
            });
            if let Some(t) = s.first_ts {
                v["firstEventTimestamp"] = json!(t);
            }
            if let Some(t) = s.last_ts {
                v["lastEventTimestamp"] = json!(t);
            }
            if let Some(t) = s.last_ingestion {
                v["lastIngestionTime"] = json!(t);
            }
            v
        })
        .collect();
    let mut reply = json!({ "logStreams": page });
    if skip + limit < streams.len() {
        reply["nextToken"] = json!(format!("{:016x}", skip + limit));
    }
    Ok(reply)
}
