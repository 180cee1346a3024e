//! Step one of validation: every member of its declared type, or the
//! `SerializationException` AWS's deserializer gives; the document normalized.

use base64::Engine as _;
use bytes::Bytes;

use super::{Member, Shape, Type};
use crate::error::{ApiError, ApiResult};
use crate::value::Value;

fn serialization(msg: impl Into<String>) -> ApiError {
    ApiError::serialization(msg)
}

/// How AWS's deserializer names the Java class a value arrived as.
fn class_of(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "class java.lang.Boolean",
        Value::Int(_) | Value::Float(_) => {
            "class com.amazon.coral.value.json.numbers.TruncatingBigNumber"
        }
        Value::Str(_) => "class java.lang.String",
        Value::Bytes(_) => "class java.nio.HeapByteBuffer",
        Value::Timestamp(_) => "class java.util.Date",
        Value::Null | Value::List(_) | Value::Map(_) => "class java.lang.Object",
    }
}

/// The error for a value that is not of a scalar type (`target`: `an Integer`, `a
/// Blob`, `milliseconds since epoch`).
fn not_scalar(v: &Value, target: &str) -> ApiError {
    match v {
        Value::List(_) => serialization("Start of list found where not expected"),
        Value::Map(_) => serialization("Start of structure or map found where not expected."),
        other => serialization(format!(
            "{} can not be converted to {target}",
            class_of(other)
        )),
    }
}

/// Converts one value to its declared type; `Null` stays `Null` (left out by callers).
fn convert(ty: &Type, v: &Value) -> ApiResult<Value> {
    if matches!(v, Value::Null) {
        return Ok(Value::Null);
    }
    match ty {
        Type::String => match v {
            Value::Str(_) => Ok(v.clone()),
            other => Err(not_scalar(other, "an String")),
        },
        Type::Integer => integer(v, "an Integer", i64::from(i32::MIN), i64::from(i32::MAX)),
        Type::Long => integer(v, "an Long", i64::MIN, i64::MAX),
        Type::Boolean => match v {
            Value::Bool(_) => Ok(v.clone()),
            Value::Str(s) => Err(serialization(format!(
                "'{}' can not be converted to an Boolean",
                s.to_uppercase()
            ))),
            other => Err(not_scalar(other, "an Boolean")),
        },
        Type::Blob => match v {
            Value::Bytes(_) => Ok(v.clone()),
            Value::Str(s) => blob(s).map(Value::Bytes),
            other => Err(not_scalar(other, "a Blob")),
        },
        Type::Timestamp => match v {
            Value::Timestamp(_) => Ok(v.clone()),
            Value::Int(secs) => Ok(Value::Timestamp(
                secs.saturating_mul(1000)
                    .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
            )),
            // `as` saturates: out-of-range times clamp rather than wrap.
            Value::Float(f) if f.is_finite() => Ok(Value::Timestamp((f * 1000.0).round() as i64)),
            other => Err(not_scalar(other, "milliseconds since epoch")),
        },
        Type::List(element) => match v {
            Value::List(items) => list(element, items),
            Value::Map(_) => Err(serialization(
                "Start of structure or map found where not expected.",
            )),
            _ => Err(serialization("Expected list or null")),
        },
        Type::Map(_, value) => match v {
            Value::Map(entries) => {
                let mut out = Vec::with_capacity(entries.len());
                for (k, x) in entries {
                    let x = convert(&value.ty, x)?;
                    if !matches!(x, Value::Null) {
                        out.push((k.clone(), x));
                    }
                }
                Ok(Value::Map(out))
            }
            Value::List(_) => Err(serialization("Start of list found where not expected")),
            _ => Err(serialization("Expected map or null")),
        },
        Type::Structure(shape) => match v {
            Value::Map(_) => structure(shape, v),
            Value::List(_) => Err(serialization("Start of list found where not expected")),
            _ => Err(serialization("Expected null")),
        },
    }
}

/// Integers: fractions cut toward negative infinity and clamped to the type's range,
/// as AWS's deserializer truncates numbers.
fn integer(v: &Value, target: &str, min: i64, max: i64) -> ApiResult<Value> {
    let n = match v {
        Value::Int(i) => (*i).clamp(i128::from(min), i128::from(max)) as i64,
        // `as` saturates at i64's bounds; the clamp then narrows to the type's.
        Value::Float(f) if f.is_finite() => (f.floor() as i64).clamp(min, max),
        other => return Err(not_scalar(other, target)),
    };
    Ok(Value::Int(i128::from(n)))
}

fn list(element: &Member, items: &[Value]) -> ApiResult<Value> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match (&element.ty, item) {
            // A null structure in a list is an empty one (its required members are then
            // reported missing); a null scalar is left out.
            (Type::Structure(_), Value::Null) => out.push(Value::Map(Vec::new())),
            (_, Value::Null) => {}
            (ty, x) => out.push(convert(ty, x)?),
        }
    }
    Ok(Value::List(out))
}

/// A structure: its declared members, in model order, converted; unknown members and
/// nulls left out.
pub(super) fn structure(shape: &Shape, v: &Value) -> ApiResult<Value> {
    let entries = match v {
        Value::Map(entries) => entries,
        Value::List(_) => return Err(serialization("Start of list found where not expected")),
        _ => return Err(serialization("Expected null")),
    };
    let mut out = Vec::with_capacity(shape.members.len().min(entries.len()));
    for m in shape.members {
        // A repeated member counts once: its last value, as JSON decoders keep it.
        let Some((_, x)) = entries.iter().rev().find(|(k, _)| k == m.name) else {
            continue;
        };
        let x = convert(&m.ty, x)?;
        if !matches!(x, Value::Null) {
            out.push((m.name.to_string(), x));
        }
    }
    Ok(Value::Map(out))
}

/// Decodes base64 text as AWS does, with its messages for text that is not base64.
pub fn blob(s: &str) -> ApiResult<Bytes> {
    let not_blob =
        |why: String| serialization(format!("'{s}' can not be converted to a Blob: {why}"));
    let units = if s.is_ascii() {
        s.len()
    } else {
        s.encode_utf16().count()
    };
    if units % 4 != 0 {
        return Err(not_blob(format!(
            "Base64 encoded length is expected a multiple of 4 bytes but found: {units}"
        )));
    }
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let base64 = b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=';
        let pad_then_data = b == b'=' && bytes.get(i + 1).is_some_and(|&n| n != b'=');
        if !base64 || pad_then_data {
            let c = s.get(i..).and_then(|r| r.chars().next()).unwrap_or('?');
            return Err(not_blob(format!("Invalid Base64 character: '{c}'")));
        }
    }
    base64::engine::general_purpose::STANDARD
        .decode(bytes)
        .map(Bytes::from)
        .map_err(|_| not_blob("Invalid last non-pad Base64 character dectected".into()))
}
