//! Reading request members with Kinesis Video's validation and wording.

use freshet_protocol::error::ApiError;
use serde_json::Value;

use crate::error::invalid;

/// `application/json`.
pub const JSON: &str = "application/json";

/// The request body as a JSON object (an empty body is `{}`).
pub fn body(b: &[u8]) -> Result<Value, ApiError> {
    if b.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_slice::<Value>(b) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(ApiError::custom(
            "SerializationException",
            "The request body is not a JSON object.",
            400,
        )),
    }
}

fn constraint(value: &str, member: &str, rule: &str) -> ApiError {
    invalid(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {rule}"
    ))
}

/// An optional string member.
pub fn opt_str<'a>(v: &'a Value, member: &str) -> Result<Option<&'a str>, ApiError> {
    match v.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::custom(
            "SerializationException",
            format!("{member} must be a string."),
            400,
        )),
    }
}

/// A required string member.
pub fn req_str<'a>(v: &'a Value, member: &str) -> Result<&'a str, ApiError> {
    opt_str(v, member)?.ok_or_else(|| {
        invalid(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(member)
        ))
    })
}

/// An optional integer member.
pub fn opt_i64(v: &Value, member: &str) -> Result<Option<i64>, ApiError> {
    match v.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n.as_i64().map(Some).ok_or_else(|| {
            ApiError::custom(
                "SerializationException",
                format!("{member} must be an integer."),
                400,
            )
        }),
    }
}

/// An optional timestamp member (epoch seconds, as the SDKs send them), in ms.
pub fn opt_ts(v: &Value, member: &str) -> Result<Option<i64>, ApiError> {
    match v.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(|s| Some((s * 1000.0).round() as i64))
            .ok_or_else(|| invalid(format!("{member} is not a timestamp."))),
        Some(Value::String(s)) => s
            .parse::<f64>()
            .map(|s| Some((s * 1000.0).round() as i64))
            .map_err(|_| invalid(format!("{member} is not a timestamp."))),
        Some(_) => Err(invalid(format!("{member} is not a timestamp."))),
    }
}

/// Epoch seconds with milliseconds, as a JSON number.
pub fn ts_value(ms: i64) -> Value {
    serde_json::Number::from_f64(ms as f64 / 1000.0).map_or(Value::Null, Value::Number)
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn name_chars(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Checks a StreamName (1 to 256 of `[a-zA-Z0-9_.-]`).
pub fn check_stream_name(s: &str, member: &str) -> Result<(), ApiError> {
    if s.is_empty() || s.len() > 256 {
        return Err(constraint(
            s,
            &lower_first(member),
            "Member must have length between 1 and 256",
        ));
    }
    if !name_chars(s) {
        return Err(constraint(
            s,
            &lower_first(member),
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ));
    }
    Ok(())
}

/// Checks a DeviceName (1 to 128 of `[a-zA-Z0-9_.-]`).
pub fn check_device_name(s: &str) -> Result<(), ApiError> {
    if s.is_empty() || s.len() > 128 || !name_chars(s) {
        return Err(constraint(
            s,
            "deviceName",
            "Member must have length between 1 and 128 and satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ));
    }
    Ok(())
}

/// Checks a MediaType (`type/subtype`, comma-separated, up to 128 characters).
pub fn check_media_type(s: &str) -> Result<(), ApiError> {
    let part_ok = |p: &str| {
        let mut it = p.split('/');
        let ok = |x: Option<&str>| {
            x.is_some_and(|x| {
                !x.is_empty()
                    && x.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+')
                    })
            })
        };
        ok(it.next()) && ok(it.next()) && it.next().is_none()
    };
    if s.is_empty() || s.len() > 128 || !s.split(',').all(part_ok) {
        return Err(constraint(
            s,
            "mediaType",
            "Member must satisfy regular expression pattern: [\\w\\-\\.\\+]+/[\\w\\-\\.\\+]+(,[\\w\\-\\.\\+]+/[\\w\\-\\.\\+]+)*",
        ));
    }
    Ok(())
}

/// Checks a Version (1 to 64 alphanumerics).
pub fn check_version(s: &str) -> Result<(), ApiError> {
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(constraint(
            s,
            "currentVersion",
            "Member must satisfy regular expression pattern: [a-zA-Z0-9]+",
        ));
    }
    Ok(())
}

/// An optional map of tags, checked as AWS does (1 to 50; keys 1 to 128, values up to 256).
pub fn opt_tags(
    v: &Value,
    member: &str,
) -> Result<Option<std::collections::BTreeMap<String, String>>, ApiError> {
    let Some(t) = v.get(member).filter(|t| !t.is_null()) else {
        return Ok(None);
    };
    let Some(map) = t.as_object() else {
        return Err(ApiError::custom(
            "SerializationException",
            format!("{member} must be a map."),
            400,
        ));
    };
    let mut out = std::collections::BTreeMap::new();
    for (k, val) in map {
        let val = val
            .as_str()
            .ok_or_else(|| invalid("Tag values must be strings."))?;
        if k.is_empty() || k.chars().count() > 128 {
            return Err(constraint(
                k,
                "tags",
                "Member must have length between 1 and 128",
            ));
        }
        if val.chars().count() > 256 {
            return Err(constraint(
                val,
                "tags",
                "Member must have length less than or equal to 256",
            ));
        }
        out.insert(k.clone(), val.to_string());
    }
    if out.is_empty() || out.len() > 50 {
        return Err(invalid(
            "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length between 1 and 50",
        ));
    }
    Ok(Some(out))
}
