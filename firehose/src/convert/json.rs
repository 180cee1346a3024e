//! A JSON value that borrows its strings from the record and keeps an object's keys in
//! their order, parsed once per record by `serde_json`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// One JSON object's members, in the record's order (a repeated key appears twice).
pub(crate) type Object<'a> = Vec<(Cow<'a, str>, Json<'a>)>;

/// A parsed JSON value; strings without escapes borrow from the record.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Json<'a> {
    /// `null` (also the value of a missing key).
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits an `i64`.
    Int(i64),
    /// An integer above `i64::MAX` (and at most `u64::MAX`).
    UInt(u64),
    /// Any other number (a fraction, an exponent, or an integer beyond `u64`).
    Float(f64),
    /// A string.
    Str(Cow<'a, str>),
    /// An array.
    Array(Vec<Json<'a>>),
    /// An object.
    Object(Object<'a>),
}

impl Json<'_> {
    /// The JSON kind, for messages: `null`, `boolean`, `number`, `string`, `array`, `object`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "boolean",
            Json::Int(_) | Json::UInt(_) | Json::Float(_) => "number",
            Json::Str(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }

    /// The value as JSON text (numbers in `serde_json`'s shortest form).
    pub(crate) fn to_json_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A short description of the value for an error message: its kind and up to 48
    /// characters of its text.
    pub(crate) fn describe(&self) -> String {
        let text = match self {
            Json::Str(s) => serde_json::to_string(s.as_ref()).unwrap_or_default(),
            other => other.to_json_text(),
        };
        format!("{} {}", self.kind(), shorten(&text, 48))
    }
}

/// `text` cut to at most `max` characters, with `…` when cut.
pub(crate) fn shorten(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
    }
}

/// Parses one record: one or more JSON objects, concatenated or separated by white
/// space (as Firehose accepts aggregated records, `{"a":1}{"a":2}`), appended to
/// `objects`. `Err` says why the record is not a sequence of JSON objects.
pub(crate) fn parse_record<'a>(
    record: &'a [u8],
    objects: &mut Vec<Object<'a>>,
) -> Result<(), String> {
    let start = objects.len();
    for value in serde_json::Deserializer::from_slice(record).into_iter::<Json<'a>>() {
        match value {
            Ok(Json::Object(members)) => objects.push(members),
            Ok(other) => {
                objects.truncate(start);
                return Err(format!(
                    "record is not a JSON object (found {})",
                    other.describe()
                ));
            }
            Err(e) => {
                objects.truncate(start);
                return Err(format!("record is not valid JSON: {e}"));
            }
        }
    }
    if objects.len() == start {
        return Err("record holds no JSON object".to_string());
    }
    Ok(())
}

/// Receives the members of a record's object as they are parsed.
pub(crate) trait Members<'de> {
    /// Called with each key: whether its value is wanted (then [`Members::member`]
    /// follows; otherwise the value is skipped unparsed).
    fn wants(&mut self, key: &str) -> bool;
    /// The wanted member just parsed.
    fn member(&mut self, key: Cow<'de, str>, value: Json<'de>);
}

/// Collecting every member makes the object itself.
impl<'de> Members<'de> for Object<'de> {
    fn wants(&mut self, _key: &str) -> bool {
        true
    }

    fn member(&mut self, key: Cow<'de, str>, value: Json<'de>) {
        self.push((key, value));
    }
}

/// Parses a record holding exactly one JSON object straight into `members`, without
/// building the object. `false` when the record is anything else (invalid, several
/// objects, not an object): `members` may then have seen part of it, and the caller
/// reads the record with [`parse_record`] instead.
pub(crate) fn parse_single_object<'de, M: Members<'de>>(
    record: &'de [u8],
    members: &mut M,
) -> bool {
    let mut deserializer = serde_json::Deserializer::from_slice(record);
    de::DeserializeSeed::deserialize(ObjectSeed(members), &mut deserializer).is_ok()
        && deserializer.end().is_ok()
}

struct ObjectSeed<'m, M>(&'m mut M);

impl<'de, M: Members<'de>> de::DeserializeSeed<'de> for ObjectSeed<'_, M> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, M: Members<'de>> Visitor<'de> for ObjectSeed<'_, M> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key()? {
            if self.0.wants(&key) {
                let value = map.next_value()?;
                self.0.member(key, value);
            } else {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Json::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Json::Int(i),
            Err(_) => Json::UInt(v),
        })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Json::Float(v))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Owned(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8).min(64));
        while let Some(Key(key)) = map.next_key()? {
            members.push((key, map.next_value()?));
        }
        Ok(Json::Object(members))
    }
}

/// An object's key, borrowed from the record when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v)))
    }
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(b) => serializer.serialize_bool(*b),
            Json::Int(i) => serializer.serialize_i64(*i),
            Json::UInt(u) => serializer.serialize_u64(*u),
            Json::Float(f) => serializer.serialize_f64(*f),
            Json::Str(s) => serializer.serialize_str(s),
            Json::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (key, value) in members {
                    map.serialize_entry(key.as_ref(), value)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_objects_in_order_and_borrows_strings() {
        let mut objects = Vec::new();
        parse_record(br#"{"b":1,"a":"x","c":[1.5,null,true]}"#, &mut objects).unwrap();
        assert_eq!(objects.len(), 1);
        let keys: Vec<&str> = objects[0].iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["b", "a", "c"]);
        assert!(matches!(&objects[0][0].0, Cow::Borrowed(_)));
        assert!(matches!(&objects[0][1].1, Json::Str(Cow::Borrowed("x"))));
        assert_eq!(
            objects[0][2].1,
            Json::Array(vec![Json::Float(1.5), Json::Null, Json::Bool(true)])
        );
    }

    #[test]
    fn aggregated_records_give_several_objects() {
        let mut objects = Vec::new();
        parse_record(b"{\"a\":1}{\"a\":2}\n {\"a\":3}\n", &mut objects).unwrap();
        assert_eq!(objects.len(), 3);
    }

    #[test]
    fn rejects_non_objects_and_garbage() {
        let mut objects = Vec::new();
        let e = parse_record(b"[1,2]", &mut objects).unwrap_err();
        assert!(e.contains("not a JSON object"), "{e}");
        let e = parse_record(b"{\"a\":1} 7", &mut objects).unwrap_err();
        assert!(e.contains("number 7"), "{e}");
        let e = parse_record(b"{\"a\":", &mut objects).unwrap_err();
        assert!(e.contains("not valid JSON"), "{e}");
        let e = parse_record(b"  \n", &mut objects).unwrap_err();
        assert!(e.contains("no JSON object"), "{e}");
        assert!(parse_record(b"\xff\xfe", &mut objects).is_err());
        assert!(objects.is_empty());
    }

    #[derive(Default)]
    struct Collect(Vec<String>);

    impl<'de> Members<'de> for Collect {
        fn wants(&mut self, key: &str) -> bool {
            key != "skip"
        }
        fn member(&mut self, key: Cow<'de, str>, value: Json<'de>) {
            self.0.push(format!("{key}={}", value.to_json_text()));
        }
    }

    #[test]
    fn single_objects_stream_into_members() {
        let mut seen = Collect::default();
        assert!(parse_single_object(
            br#" {"a":1,"skip":{"x":[1,2]},"b":"c"} "#,
            &mut seen
        ));
        assert_eq!(seen.0, ["a=1", r#"b="c""#]);
        for other in [
            &b"{\"a\":1}{\"a\":2}"[..],
            b"[1]",
            b"{\"a\":",
            b"",
            b"7",
            b"{\"skip\":[}",
        ] {
            assert!(
                !parse_single_object(other, &mut Collect::default()),
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }

    #[test]
    fn numbers_and_text() {
        let mut objects = Vec::new();
        parse_record(
            br#"{"i":-3,"u":18446744073709551615,"f":1e300,"s":"a\"b"}"#,
            &mut objects,
        )
        .unwrap();
        let values: Vec<&Json> = objects[0].iter().map(|(_, v)| v).collect();
        assert_eq!(values[0], &Json::Int(-3));
        assert_eq!(values[1], &Json::UInt(u64::MAX));
        assert_eq!(values[2], &Json::Float(1e300));
        assert_eq!(values[3].to_json_text(), r#""a\"b""#);
        assert_eq!(
            Json::Object(objects[0].clone()).to_json_text(),
            r#"{"i":-3,"u":18446744073709551615,"f":1e+300,"s":"a\"b"}"#
        );
        assert_eq!(shorten("abcdef", 3), "abc…");
    }
}
