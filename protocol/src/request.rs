//! Typed access to the members of a request document.
//!
//! A request is first validated against its action's input shape
//! ([`validate`](crate::validate::validate)), which reports members of the wrong type
//! (SerializationException) and every broken rule (ValidationException) as AWS does and
//! normalizes the document; on what it returns, these accessors only ever meet members
//! of their declared types. Their own errors (a missing member, a wrong type) stay for
//! documents read without validation.

use base64::Engine as _;
use bytes::Bytes;

use crate::error::{ApiError, ApiResult};
use crate::value::Value;

/// The member name as AWS spells it in validation messages: `StreamName` -> `streamName`.
pub fn field_name(member: &str) -> String {
    crate::validate::path_name(member)
}

fn wrong_type(member: &str, expected: &str, got: &Value) -> ApiError {
    ApiError::serialization(format!(
        "Unexpected {} for member {member}: expected {expected}",
        got.type_name()
    ))
}

/// A structure of a request (the top level or a nested one).
#[derive(Debug, Clone, Copy)]
pub struct Req<'a> {
    v: &'a Value,
}

impl<'a> Req<'a> {
    /// Wraps a decoded structure.
    pub fn new(v: &'a Value) -> Self {
        Req { v }
    }

    fn member(&self, name: &str) -> Option<&'a Value> {
        match self.v.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// Whether a member is present.
    pub fn has(&self, name: &str) -> bool {
        self.member(name).is_some()
    }

    /// An optional text member.
    pub fn opt_str(&self, name: &str) -> ApiResult<Option<&'a str>> {
        match self.member(name) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s)),
            Some(other) => Err(wrong_type(name, "a string", other)),
        }
    }

    /// A required text member.
    pub fn str(&self, name: &str) -> ApiResult<&'a str> {
        self.opt_str(name)?.ok_or_else(|| missing(name))
    }

    /// An optional integer member.
    pub fn opt_int(&self, name: &str) -> ApiResult<Option<i64>> {
        match self.member(name) {
            None => Ok(None),
            Some(Value::Int(i)) => i64::try_from(*i).map(Some).map_err(|_| {
                ApiError::serialization(format!("Number out of range for member {name}"))
            }),
            Some(other) => Err(wrong_type(name, "an integer", other)),
        }
    }

    /// A required integer member.
    pub fn int(&self, name: &str) -> ApiResult<i64> {
        self.opt_int(name)?.ok_or_else(|| missing(name))
    }

    /// An optional boolean member.
    pub fn opt_bool(&self, name: &str) -> ApiResult<Option<bool>> {
        match self.member(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong_type(name, "a boolean", other)),
        }
    }

    /// An optional blob member (base64 text in JSON, a byte string in CBOR).
    pub fn opt_blob(&self, name: &str) -> ApiResult<Option<Bytes>> {
        match self.member(name) {
            None => Ok(None),
            Some(Value::Bytes(b)) => Ok(Some(b.clone())),
            Some(Value::Str(s)) => base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map(|b| Some(Bytes::from(b)))
                .map_err(|_| {
                    ApiError::serialization(format!(
                        "Member {name} is not valid base64-encoded data"
                    ))
                }),
            Some(other) => Err(wrong_type(name, "a blob", other)),
        }
    }

    /// An optional timestamp member, in epoch milliseconds (JSON: seconds, integer or
    /// fractional; CBOR: tag 1 milliseconds).
    pub fn opt_timestamp_ms(&self, name: &str) -> ApiResult<Option<i64>> {
        match self.member(name) {
            None => Ok(None),
            Some(Value::Timestamp(ms)) => Ok(Some(*ms)),
            Some(Value::Int(s)) => i64::try_from(*s)
                .ok()
                .and_then(|s| s.checked_mul(1000))
                .map(Some)
                .ok_or_else(|| {
                    ApiError::serialization(format!("Timestamp out of range for member {name}"))
                }),
            Some(Value::Float(f)) if f.is_finite() && f.abs() < 1e15 => {
                Ok(Some((f * 1000.0).round() as i64))
            }
            Some(other) => Err(wrong_type(name, "a timestamp", other)),
        }
    }

    /// An optional list member.
    pub fn opt_list(&self, name: &str) -> ApiResult<Option<&'a [Value]>> {
        match self.member(name) {
            None => Ok(None),
            Some(Value::List(l)) => Ok(Some(l)),
            Some(other) => Err(wrong_type(name, "a list", other)),
        }
    }

    /// An optional list of strings.
    pub fn opt_str_list(&self, name: &str) -> ApiResult<Option<Vec<String>>> {
        let Some(list) = self.opt_list(name)? else {
            return Ok(None);
        };
        list.iter()
            .map(|v| match v {
                Value::Str(s) => Ok(s.clone()),
                other => Err(wrong_type(name, "a list of strings", other)),
            })
            .collect::<ApiResult<Vec<_>>>()
            .map(Some)
    }

    /// An optional structure member.
    pub fn opt_struct(&self, name: &str) -> ApiResult<Option<Req<'a>>> {
        match self.member(name) {
            None => Ok(None),
            Some(v @ Value::Map(_)) => Ok(Some(Req { v })),
            Some(other) => Err(wrong_type(name, "a structure", other)),
        }
    }

    /// An optional string-to-string map member.
    pub fn opt_str_map(&self, name: &str) -> ApiResult<Option<Vec<(String, String)>>> {
        match self.member(name) {
            None => Ok(None),
            Some(Value::Map(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::Str(s) => Ok((k.clone(), s.clone())),
                    other => Err(wrong_type(name, "a map of strings", other)),
                })
                .collect::<ApiResult<Vec<_>>>()
                .map(Some),
            Some(other) => Err(wrong_type(name, "a map", other)),
        }
    }
}

/// The ValidationException of a missing required member.
pub fn missing(name: &str) -> ApiError {
    ApiError::validation(format!(
        "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
        field_name(name)
    ))
}
