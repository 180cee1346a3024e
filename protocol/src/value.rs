//! The wire-neutral value model and its two encodings: AWS JSON 1.1 (blobs as base64,
//! timestamps as epoch seconds) and AWS CBOR 1.1 (blobs as byte strings, timestamps as
//! CBOR tag 1 holding integer epoch milliseconds, as the AWS Java SDK writes them).

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
    let mut out = Vec::with_capacity(256);
    match encoding {
        Encoding::Json => write_json(v, &mut out),
        Encoding::Cbor => write_cbor(v, &mut out),
    }
    out
}

/// Whether a byte must be escaped inside a JSON string.
#[inline]
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Writes `s` as a JSON string.
#[inline]
pub fn write_json_str(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    // One branch-free pass (the compiler vectorises it) finds most strings need no
    // escape at all, and they are copied whole.
    if !bytes.iter().fold(false, |any, &b| any | needs_escape(b)) {
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    write_json_str_escaped(bytes, out);
}

/// [`write_json_str`] for a string with at least one byte to escape.
fn write_json_str_escaped(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !needs_escape(b) {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Writes `v` as JSON.
pub fn write_json(v: &Value, out: &mut Vec<u8>) {
    use std::io::Write as _;
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) if f.is_finite() => {
            let _ = write!(out, "{f}");
        }
        Value::Float(_) => out.extend_from_slice(b"null"),
        Value::Str(s) => write_json_str(s, out),
        Value::Bytes(b) => write_json_base64(b, out),
        Value::Timestamp(ms) => write_json_timestamp(*ms, out),
        Value::List(l) => {
            out.push(b'[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(x, out);
            }
            out.push(b']');
        }
        Value::Map(m) => {
            out.push(b'{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_str(k, out);
                out.push(b':');
                write_json(x, out);
            }
            out.push(b'}');
        }
    }
}

/// Writes a blob as a quoted base64 JSON string, encoding (SIMD) straight into `out`.
#[inline]
pub fn write_json_base64(b: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    let start = out.len();
    let len = base64_simd::STANDARD.encoded_length(b.len());
    out.resize(start + len, 0);
    if let Some(dst) = out.get_mut(start..) {
        // `dst` is exactly the encoded length, as `encode` requires.
        let _ = base64_simd::STANDARD.encode(b, base64_simd::Out::from_slice(dst));
    }
    out.push(b'"');
}

/// Writes a timestamp (epoch ms) as JSON epoch seconds: an integer, or with three
/// decimals when it has a fraction.
#[inline]
pub fn write_json_timestamp(ms: i64, out: &mut Vec<u8>) {
    let (secs, frac) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    out.extend_from_slice(itoa::Buffer::new().format(secs).as_bytes());
    if frac != 0 {
        let frac = frac as u32; // 1..=999
        out.extend_from_slice(&[
            b'.',
            b'0' + (frac / 100) as u8,
            b'0' + (frac / 10 % 10) as u8,
            b'0' + (frac % 10) as u8,
        ]);
    }
}

fn cbor_head(major: u8, n: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n <= u64::from(u8::MAX) {
        out.extend_from_slice(&[m | 24, n as u8]);
    } else if n <= u64::from(u16::MAX) {
        out.push(m | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= u64::from(u32::MAX) {
        out.push(m | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn cbor_int(i: i128, out: &mut Vec<u8>) {
    if i >= 0 {
        match u64::try_from(i) {
            Ok(n) => cbor_head(0, n, out),
            Err(_) => write_cbor(&Value::Float(i as f64), out),
        }
    } else {
        match u64::try_from(-1 - i) {
            Ok(n) => cbor_head(1, n, out),
            Err(_) => write_cbor(&Value::Float(i as f64), out),
        }
    }
}

fn write_cbor(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(0xf6),
        Value::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
        Value::Int(i) => cbor_int(*i, out),
        Value::Float(f) => {
            out.push(0xfb);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::Str(s) => {
            cbor_head(3, s.len() as u64, out);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bytes(b) => {
            cbor_head(2, b.len() as u64, out);
            out.extend_from_slice(b);
        }
        Value::Timestamp(ms) => {
            cbor_head(6, 1, out);
            cbor_int(i128::from(*ms), out);
        }
        Value::List(l) => {
            cbor_head(4, l.len() as u64, out);
            for x in l {
                write_cbor(x, out);
            }
        }
        Value::Map(m) => {
            cbor_head(5, m.len() as u64, out);
            for (k, x) in m {
                cbor_head(3, k.len() as u64, out);
                out.extend_from_slice(k.as_bytes());
                write_cbor(x, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any text written as a JSON string reads back as itself, whether it took the
        /// whole-copy path or the escaping one.
        #[test]
        fn json_strings_read_back_as_written(s in ".*", plain in "[a-zA-Z0-9 ]{0,40}") {
            for text in [s, plain] {
                let mut out = Vec::new();
                write_json_str(&text, &mut out);
                let back: String = serde_json::from_slice(&out).expect("valid JSON string");
                proptest::prop_assert_eq!(back, text);
            }
        }
    }

    #[test]
    fn control_characters_are_escaped_as_json_requires() {
        let mut out = Vec::new();
        write_json_str("a\u{1}\"\\\n\t\r\u{1f}b", &mut out);
        assert_eq!(out, br#""a\u0001\"\\\n\t\r\u001fb""#);
    }

    /// Found by the `request_decode` fuzz target: a long decimal fraction re-encoded and
    /// parsed again changed in its last digit until JSON floats parse correctly rounded
    /// (serde_json's `float_roundtrip`).
    #[test]
    fn json_floats_survive_a_round_trip() {
        let body = include_bytes!("../../fuzz/regressions/request_decode/float_roundtrip");
        let v = decode(Encoding::Json, &body[1..]).expect("decodes");
        let again = encode(Encoding::Json, &v);
        let back = decode(Encoding::Json, &again).expect("our own encoding decodes");
        assert_eq!(encode(Encoding::Json, &back), again);
    }

    #[test]
    fn cbor_timestamps_are_tag_one_milliseconds() {
        let v = map([("T", Value::Timestamp(1_700_000_000_123))]);
        let bytes = encode(Encoding::Cbor, &v);
        // a1 61 54 c1 1b <8 bytes>
        assert_eq!(&bytes[..5], &[0xa1, 0x61, b'T', 0xc1, 0x1b]);
        assert_eq!(decode(Encoding::Cbor, &bytes), Ok(v));
        let all = map([
            ("i", Value::Int(-5)),
            ("big", Value::Int(1 << 40)),
            ("f", Value::Float(1.5)),
            ("s", Value::str("x".repeat(300))),
            ("b", Value::Bytes(Bytes::from(vec![7u8; 70_000]))),
            ("l", Value::List(vec![Value::Bool(true), Value::Null])),
        ]);
        let round = decode(Encoding::Cbor, &encode(Encoding::Cbor, &all));
        assert_eq!(
            round.map(|v| v.get("l").cloned()),
            Ok(Some(Value::List(vec![Value::Bool(true), Value::Null])))
        );
        let round = decode(Encoding::Cbor, &encode(Encoding::Cbor, &all)).unwrap_or(Value::Null);
        assert_eq!(round, all);
    }

    #[test]
    fn json_blobs_are_base64_and_times_seconds() {
        let v = map([
            ("D", Value::Bytes(Bytes::from_static(b"hi"))),
            ("T", Value::Timestamp(1500)),
        ]);
        assert_eq!(
            encode(Encoding::Json, &v),
            br#"{"D":"aGk=","T":1.500}"#.to_vec()
        );
        let text = map([("S", Value::str("a\"b\\c\n\u{1}é"))]);
        let json = encode(Encoding::Json, &text);
        let back: serde_json::Value = serde_json::from_slice(&json).unwrap_or_default();
        assert_eq!(back["S"], "a\"b\\c\n\u{1}é");
    }

    #[test]
    fn garbage_is_a_decode_error() {
        assert!(decode(Encoding::Json, b"{nope").is_err());
        assert!(decode(Encoding::Json, b"[1]").is_err());
        assert!(decode(Encoding::Cbor, &[0xff, 0x00]).is_err());
    }
}
