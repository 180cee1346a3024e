//! The wire-neutral value model and its two encodings: AWS JSON 1.1 (blobs as base64,
//! timestamps as epoch seconds) and AWS CBOR 1.1 (blobs as byte strings, timestamps as
//! CBOR tag 1 holding integer epoch milliseconds, as the AWS Java SDK writes them).

use base64::Engine as _;
use bytes::Bytes;

/// A request or response document.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Absent / null.
    Null,
    /// Boolean.
    Bool(bool),
    /// Integer.
    Int(i128),
    /// Floating point number.
    Float(f64),
    /// Text.
    Str(String),
    /// A blob (JSON: base64 text; CBOR: byte string).
    Bytes(Bytes),
    /// A timestamp in epoch milliseconds (JSON: seconds; CBOR: tag 1 + integer ms).
    Timestamp(i64),
    /// A list.
    List(Vec<Value>),
    /// A structure or map, in order.
    Map(Vec<(String, Value)>),
}

/// Which encoding a request used (and its reply uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-amz-json-1.1`.
    Json,
    /// `application/x-amz-cbor-1.1`.
    Cbor,
}

impl Encoding {
    /// Chooses the encoding from a Content-Type header.
    pub fn from_content_type(ct: Option<&str>) -> Encoding {
        match ct {
            Some(ct) if ct.to_ascii_lowercase().contains("cbor") => Encoding::Cbor,
            _ => Encoding::Json,
        }
    }

    /// The Content-Type of replies.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Json => "application/x-amz-json-1.1",
            Encoding::Cbor => "application/x-amz-cbor-1.1",
        }
    }
}

/// Builds a map value from pairs, leaving out `Null` members.
pub fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Map(
        pairs
            .into_iter()
            .filter(|(_, v)| !matches!(v, Value::Null))
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

impl Value {
    /// A text value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    /// Text, or `Null` when absent.
    pub fn opt_str(s: Option<impl Into<String>>) -> Value {
        s.map_or(Value::Null, |s| Value::Str(s.into()))
    }

    /// Looks a member of a map up by name.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) | Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Bytes(_) => "blob",
            Value::Timestamp(_) => "timestamp",
            Value::List(_) => "list",
            Value::Map(_) => "structure",
        }
    }
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

/// Deepest nesting accepted in a request document.
const MAX_DEPTH: usize = 32;

/// Decodes a request body. An empty body is an empty structure.
pub fn decode(encoding: Encoding, body: &[u8]) -> Result<Value, DecodeError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Value::Map(Vec::new()));
    }
    let v = match encoding {
        Encoding::Json => {
            let j: serde_json::Value = serde_json::from_slice(body)
                .map_err(|e| DecodeError(format!("Unable to parse the JSON request body: {e}")))?;
            from_json(j, 0)?
        }
        Encoding::Cbor => {
            let c: ciborium::value::Value =
                ciborium::de::from_reader_with_recursion_limit(body, 64).map_err(|e| {
                    DecodeError(format!("Unable to parse the CBOR request body: {e}"))
                })?;
            from_cbor(c, 0)?
        }
    };
    match v {
        Value::Map(_) => Ok(v),
        other => Err(DecodeError(format!(
            "The request body must be a structure, not a {}",
            other.type_name()
        ))),
    }
}

fn from_json(j: serde_json::Value, depth: usize) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError(
            "The request document is nested too deeply".into(),
        ));
    }
    Ok(match j {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i128::from(i))
            } else if let Some(u) = n.as_u64() {
                Value::Int(i128::from(u))
            } else {
                Value::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::Str(s),
        serde_json::Value::Array(a) => Value::List(
            a.into_iter()
                .map(|v| from_json(v, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        serde_json::Value::Object(o) => Value::Map(
            o.into_iter()
                .map(|(k, v)| Ok((k, from_json(v, depth + 1)?)))
                .collect::<Result<_, DecodeError>>()?,
        ),
    })
}

fn from_cbor(c: ciborium::value::Value, depth: usize) -> Result<Value, DecodeError> {
    use ciborium::value::Value as C;
    if depth > MAX_DEPTH {
        return Err(DecodeError(
            "The request document is nested too deeply".into(),
        ));
    }
    Ok(match c {
        C::Null => Value::Null,
        C::Bool(b) => Value::Bool(b),
        C::Integer(i) => Value::Int(i128::from(i)),
        C::Float(f) => Value::Float(f),
        C::Text(s) => Value::Str(s),
        C::Bytes(b) => Value::Bytes(Bytes::from(b)),
        C::Tag(1, inner) => match *inner {
            C::Integer(i) => Value::Timestamp(
                i64::try_from(i128::from(i))
                    .map_err(|_| DecodeError("timestamp out of range".into()))?,
            ),
            C::Float(f) if f.is_finite() => Value::Timestamp((f * 1000.0) as i64),
            _ => return Err(DecodeError("CBOR tag 1 must hold a number".into())),
        },
        C::Tag(_, inner) => from_cbor(*inner, depth + 1)?,
        C::Array(a) => Value::List(
            a.into_iter()
                .map(|v| from_cbor(v, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        C::Map(m) => Value::Map(
            m.into_iter()
                .map(|(k, v)| match k {
                    C::Text(k) => Ok((k, from_cbor(v, depth + 1)?)),
                    _ => Err(DecodeError("CBOR map keys must be text".into())),
                })
                .collect::<Result<_, DecodeError>>()?,
        ),
        _ => return Err(DecodeError("unsupported CBOR value".into())),
    })
}

/// Encodes a reply document.
pub fn encode(encoding: Encoding, v: &Value) -> Vec<u8> {
    match encoding {
        Encoding::Json => serde_json::to_vec(&to_json(v)).unwrap_or_else(|_| b"{}".to_vec()),
        Encoding::Cbor => {
            let mut out = Vec::new();
            if ciborium::ser::into_writer(&to_cbor(v), &mut out).is_err() {
                out = vec![0xa0];
            }
            out
        }
    }
}

fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => match i64::try_from(*i) {
            Ok(i) => J::from(i),
            Err(_) => J::from(*i as f64),
        },
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::Str(s) => J::String(s.clone()),
        Value::Bytes(b) => J::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::Timestamp(ms) => {
            if ms % 1000 == 0 {
                J::from(ms / 1000)
            } else {
                serde_json::Number::from_f64(*ms as f64 / 1000.0).map_or(J::Null, J::Number)
            }
        }
        Value::List(l) => J::Array(l.iter().map(to_json).collect()),
        Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}

fn to_cbor(v: &Value) -> ciborium::value::Value {
    use ciborium::value::Value as C;
    match v {
        Value::Null => C::Null,
        Value::Bool(b) => C::Bool(*b),
        Value::Int(i) => match ciborium::value::Integer::try_from(*i) {
            Ok(i) => C::Integer(i),
            Err(_) => C::Float(*i as f64),
        },
        Value::Float(f) => C::Float(*f),
        Value::Str(s) => C::Text(s.clone()),
        Value::Bytes(b) => C::Bytes(b.to_vec()),
        Value::Timestamp(ms) => C::Tag(1, Box::new(C::Integer((*ms).into()))),
        Value::List(l) => C::Array(l.iter().map(to_cbor).collect()),
        Value::Map(m) => C::Map(
            m.iter()
                .map(|(k, v)| (C::Text(k.clone()), to_cbor(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cbor_timestamps_are_tag_one_milliseconds() {
        let v = map([("T", Value::Timestamp(1_700_000_000_123))]);
        let bytes = encode(Encoding::Cbor, &v);
        // a1 61 54 c1 1b <8 bytes>
        assert_eq!(&bytes[..5], &[0xa1, 0x61, b'T', 0xc1, 0x1b]);
        assert_eq!(decode(Encoding::Cbor, &bytes), Ok(v));
    }

    #[test]
    fn json_blobs_are_base64_and_times_seconds() {
        let v = map([
            ("D", Value::Bytes(Bytes::from_static(b"hi"))),
            ("T", Value::Timestamp(1500)),
        ]);
        assert_eq!(
            encode(Encoding::Json, &v),
            br#"{"D":"aGk=","T":1.5}"#.to_vec()
        );
    }

    #[test]
    fn garbage_is_a_decode_error() {
        assert!(decode(Encoding::Json, b"{nope").is_err());
        assert!(decode(Encoding::Json, b"[1]").is_err());
        assert!(decode(Encoding::Cbor, &[0xff, 0x00]).is_err());
    }
}
