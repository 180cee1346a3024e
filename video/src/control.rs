//! The control plane: CreateStream, DescribeStream, ListStreams, DeleteStream,
//! UpdateStream, UpdateDataRetention, TagStream, UntagStream, ListTagsForStream and
//! GetDataEndpoint.

use std::sync::Arc;

use base64::Engine as _;
use freshet_protocol::error::ApiError;
use serde_json::{json, Map, Value};

use crate::error::{self, invalid};
use crate::params::*;
use crate::service::Ctx;
use crate::store::{now_ms, StreamMeta, VStream};

/// The longest retention Kinesis Video takes (ten years).
pub const MAX_RETENTION_HOURS: i64 = 87_600;

/// The operations of the control plane, by path.
pub const OPERATIONS: &[&str] = &[
    "/createStream",
    "/describeStream",
    "/listStreams",
    "/deleteStream",
    "/updateStream",
    "/updateDataRetention",
    "/tagStream",
    "/untagStream",
    "/listTagsForStream",
    "/getDataEndpoint",
];

/// A new version string.
fn new_version() -> String {
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(20)
        .map(char::from)
        .collect()
}

/// The stream a request names by `StreamName` or `StreamARN`.
pub fn resolve(ctx: &Ctx, v: &Value) -> Result<Arc<VStream>, ApiError> {
    let name = opt_str(v, "StreamName")?;
    let arn = opt_str(v, "StreamARN")?;
    match (name, arn) {
        (Some(n), _) => {
            check_stream_name(n, "StreamName")?;
            let s = ctx.store.get(n).ok_or_else(error::no_stream)?;
            if let Some(a) = arn {
                if s.meta().arn != a {
                    return Err(error::no_stream());
                }
            }
            Ok(s)
        }
        (None, Some(a)) => ctx.store.by_arn(a).ok_or_else(error::no_stream),
        (None, None) => Err(invalid(
            "Either the StreamName or the StreamARN must be specified.",
        )),
    }
}

/// The stream a request names, by `StreamName` or ARN given directly.
pub fn resolve_by(
    ctx: &Ctx,
    name: Option<&str>,
    arn: Option<&str>,
) -> Result<Arc<VStream>, ApiError> {
    let mut v = Map::new();
    if let Some(n) = name {
        v.insert("StreamName".into(), Value::String(n.into()));
    }
    if let Some(a) = arn {
        v.insert("StreamARN".into(), Value::String(a.into()));
    }
    resolve(ctx, &Value::Object(v))
}

fn info(ctx: &Ctx, m: &StreamMeta) -> Value {
    let mut o = Map::new();
    if let Some(d) = &m.device_name {
        o.insert("DeviceName".into(), json!(d));
    }
    o.insert("StreamName".into(), json!(m.name));
    o.insert("StreamARN".into(), json!(m.arn));
    if let Some(t) = &m.media_type {
        o.insert("MediaType".into(), json!(t));
    }
    o.insert("KmsKeyId".into(), json!(m.kms_key_id));
    o.insert("Version".into(), json!(m.version));
    o.insert("Status".into(), json!("ACTIVE"));
    o.insert("CreationTime".into(), ts_value(m.created_ms));
    o.insert("DataRetentionInHours".into(), json!(m.retention_hours));
    let _ = ctx;
    Value::Object(o)
}

/// Runs one control-plane operation.
pub fn dispatch(ctx: &Ctx, op: &str, body: &[u8], host: &str) -> Result<Value, ApiError> {
    let v = crate::params::body(body)?;
    match op {
        "/createStream" => create(ctx, &v),
        "/describeStream" => {
            let s = resolve(ctx, &v)?;
            Ok(json!({ "StreamInfo": info(ctx, &s.meta()) }))
        }
        "/listStreams" => list(ctx, &v),
        "/deleteStream" => {
            let arn = req_str(&v, "StreamARN")?;
            let s = ctx.store.by_arn(arn).ok_or_else(error::no_stream)?;
            if let Some(cv) = opt_str(&v, "CurrentVersion")? {
                check_version(cv)?;
                if cv != s.meta().version {
                    return Err(error::version_mismatch());
                }
            }
            ctx.store.delete(&s)?;
            Ok(json!({}))
        }
        "/updateStream" => {
            let cv = req_str(&v, "CurrentVersion")?;
            check_version(cv)?;
            let device = opt_str(&v, "DeviceName")?;
            if let Some(d) = device {
                check_device_name(d)?;
            }
            let media = opt_str(&v, "MediaType")?;
            if let Some(m) = media {
                check_media_type(m)?;
            }
            let s = resolve(ctx, &v)?;
            ctx.store.update(&s, |m| {
                if m.version != cv {
                    return Err(error::version_mismatch());
                }
                if let Some(d) = device {
                    m.device_name = Some(d.into());
                }
                if let Some(t) = media {
                    m.media_type = Some(t.into());
                }
                m.version = new_version();
                Ok(())
            })?;
            Ok(json!({}))
        }
        "/updateDataRetention" => update_retention(ctx, &v),
        "/tagStream" => {
            let tags = opt_tags(&v, "Tags")?.ok_or_else(|| {
                invalid("1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")
            })?;
            let s = resolve(ctx, &v)?;
            ctx.store.update(&s, |m| {
                let mut next = m.tags.clone();
                next.extend(tags);
                if next.len() > 50 {
                    return Err(error::too_many_tags());
                }
                m.tags = next;
                Ok(())
            })?;
            Ok(json!({}))
        }
        "/untagStream" => {
            let keys: Vec<String> = match v.get("TagKeyList") {
                Some(Value::Array(a)) if !a.is_empty() && a.len() <= 50 => a
                    .iter()
                    .map(|k| k.as_str().map(str::to_string))
                    .collect::<Option<_>>()
                    .ok_or_else(|| invalid("TagKeyList must hold strings."))?,
                _ => {
                    return Err(invalid(
                        "1 validation error detected: Value at 'tagKeyList' failed to satisfy constraint: Member must have length between 1 and 50",
                    ))
                }
            };
            let s = resolve(ctx, &v)?;
            ctx.store.update(&s, |m| {
                for k in &keys {
                    m.tags.remove(k);
                }
                Ok(())
            })?;
            Ok(json!({}))
        }
        "/listTagsForStream" => {
            let s = resolve(ctx, &v)?;
            Ok(json!({ "Tags": s.meta().tags }))
        }
        "/getDataEndpoint" => {
            let api = req_str(&v, "APIName")?;
            const APIS: [&str; 8] = [
                "PUT_MEDIA",
                "GET_MEDIA",
                "LIST_FRAGMENTS",
                "GET_MEDIA_FOR_FRAGMENT_LIST",
                "GET_HLS_STREAMING_SESSION_URL",
                "GET_DASH_STREAMING_SESSION_URL",
                "GET_CLIP",
                "GET_IMAGES",
            ];
            if !APIS.contains(&api) {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{api}' at 'aPIName' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                    APIS.join(", ")
                )));
            }
            resolve(ctx, &v)?;
            Ok(json!({ "DataEndpoint": format!("{}://{host}", ctx.cfg.scheme) }))
        }
        _ => Err(ApiError::unknown_operation(format!(
            "The operation {op} is not valid for this endpoint."
        ))),
    }
}

fn create(ctx: &Ctx, v: &Value) -> Result<Value, ApiError> {
    let name = req_str(v, "StreamName")?;
    check_stream_name(name, "StreamName")?;
    let device = opt_str(v, "DeviceName")?;
    if let Some(d) = device {
        check_device_name(d)?;
    }
    let media = opt_str(v, "MediaType")?;
    if let Some(m) = media {
        check_media_type(m)?;
    }
    let kms = opt_str(v, "KmsKeyId")?;
    if kms.is_some_and(|k| k.is_empty() || k.len() > 2048) {
        return Err(invalid(
            "1 validation error detected: Value at 'kmsKeyId' failed to satisfy constraint: Member must have length between 1 and 2048",
        ));
    }
    let hours = opt_i64(v, "DataRetentionInHours")?.unwrap_or(0);
    if !(0..=MAX_RETENTION_HOURS).contains(&hours) {
        return Err(invalid(format!(
            "The data retention period must be between 0 and {MAX_RETENTION_HOURS} hours, not {hours}."
        )));
    }
    let tags = opt_tags(v, "Tags")?.unwrap_or_default();
    let meta = StreamMeta {
        name: name.to_string(),
        uid: 0,
        arn: String::new(),
        device_name: device.map(str::to_string),
        media_type: media.map(str::to_string),
        kms_key_id: kms.map(str::to_string).unwrap_or_else(|| {
            format!(
                "arn:aws:kms:{}:{}:alias/aws/kinesisvideo",
                ctx.cfg.region, ctx.cfg.account_id
            )
        }),
        version: new_version(),
        created_ms: now_ms(),
        retention_hours: hours as u64,
        tags,
    };
    let cfg = Arc::clone(&ctx.cfg);
    let meta = ctx.store.create(meta, move |n, created| {
        format!(
            "arn:aws:kinesisvideo:{}:{}:stream/{n}/{created}",
            cfg.region, cfg.account_id
        )
    })?;
    Ok(json!({ "StreamARN": meta.arn }))
}

fn list(ctx: &Ctx, v: &Value) -> Result<Value, ApiError> {
    let max = opt_i64(v, "MaxResults")?.unwrap_or(10_000);
    if !(1..=10_000).contains(&max) {
        return Err(invalid(format!(
            "1 validation error detected: Value '{max}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 10000"
        )));
    }
    let prefix = match v.get("StreamNameCondition") {
        Some(c) if !c.is_null() => {
            let op = opt_str(c, "ComparisonOperator")?;
            if op.is_some_and(|o| o != "BEGINS_WITH") {
                return Err(invalid(
                    "1 validation error detected: Value at 'streamNameCondition.comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [BEGINS_WITH]",
                ));
            }
            opt_str(c, "ComparisonValue")?.map(str::to_string)
        }
        _ => None,
    };
    let after = match opt_str(v, "NextToken")? {
        Some(t) if !t.is_empty() => Some(
            base64::engine::general_purpose::STANDARD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| invalid("The NextToken is not valid."))?,
        ),
        _ => None,
    };
    let mut out = Vec::new();
    let mut next = None;
    for s in ctx.store.all() {
        let m = s.meta();
        if after.as_ref().is_some_and(|a| m.name <= *a) {
            continue;
        }
        if prefix
            .as_ref()
            .is_some_and(|p| !m.name.starts_with(p.as_str()))
        {
            continue;
        }
        if out.len() as i64 == max {
            next = out
                .last()
                .and_then(|i: &Value| i["StreamName"].as_str().map(str::to_string));
            break;
        }
        out.push(info(ctx, &m));
    }
    let mut o = json!({ "StreamInfoList": out });
    if let Some(n) = next {
        o["NextToken"] = json!(base64::engine::general_purpose::STANDARD.encode(n));
    }
    Ok(o)
}

fn update_retention(ctx: &Ctx, v: &Value) -> Result<Value, ApiError> {
    let cv = req_str(v, "CurrentVersion")?;
    check_version(cv)?;
    let op = req_str(v, "Operation")?;
    let increase = match op {
        "INCREASE_DATA_RETENTION" => true,
        "DECREASE_DATA_RETENTION" => false,
        other => {
            return Err(invalid(format!(
                "1 validation error detected: Value '{other}' at 'operation' failed to satisfy constraint: Member must satisfy enum value set: [INCREASE_DATA_RETENTION, DECREASE_DATA_RETENTION]"
            )))
        }
    };
    let change = opt_i64(v, "DataRetentionChangeInHours")?.ok_or_else(|| {
        invalid("1 validation error detected: Value null at 'dataRetentionChangeInHours' failed to satisfy constraint: Member must not be null")
    })?;
    if change < 1 {
        return Err(invalid(format!(
            "1 validation error detected: Value '{change}' at 'dataRetentionChangeInHours' failed to satisfy constraint: Member must have value greater than or equal to 1"
        )));
    }
    let s = resolve(ctx, v)?;
    let meta = ctx.store.update(&s, |m| {
        if m.version != cv {
            return Err(error::version_mismatch());
        }
        let now = m.retention_hours as i64;
        let next = if increase { now + change } else { now - change };
        if !(0..=MAX_RETENTION_HOURS).contains(&next) {
            return Err(invalid(format!(
                "The data retention period would become {next} hours; it must stay between 0 and {MAX_RETENTION_HOURS}."
            )));
        }
        m.retention_hours = next as u64;
        m.version = new_version();
        Ok(())
    })?;
    ctx.store
        .set_engine_retention(&s.log, meta.retention_hours)?;
    Ok(json!({}))
}
