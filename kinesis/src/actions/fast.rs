//! The typed fast path of the two hot actions, PutRecords and GetRecords, for JSON
//! requests: the body is decoded straight into borrowed structs (no document tree),
//! every record's base64 data is decoded into one shared buffer, and the reply is
//! written as JSON into one pre-sized buffer.
//!
//! The fast path only ever accepts what the generic path ([`super::dispatch`]) accepts,
//! and does what it does: it checks members with the same declarations
//! ([`freshet_protocol::kinesis::rules`]), runs the same steps after validation
//! ([`super::records`]) and writes its replies with the same writers
//! ([`super::replies`]). Whenever a request is anything but well formed and valid (an
//! unknown or duplicate member, a string with escapes, a wrong type, a rule broken, bad
//! base64, ...) it answers [`None`] before any side effect, and the caller runs the
//! generic path, which gives AWS's error for it. `kinesis/tests/
//! fast_and_generic_paths_agree.rs` holds the two paths to the same bytes.

use std::fmt;
use std::time::Instant;

use bytes::Bytes;
use freshet_protocol::kinesis::{model, rules};
use freshet_protocol::writer::JsonWriter;
use freshet_storage::{ByteString, PutOutcome, PutRecordInput, RecordFailure};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::records::{
    check_request_size, encryption_type, explicit_hash_key, get_records_read, put_many,
    put_many_async,
};
use super::{replies, stream_name_of};
use crate::state::KinesisState;
use freshet_protocol::ApiResult;

/// Runs `action` on a JSON body through the typed path, or answers `None` when the
/// generic path must handle it (another action, or a request it would refuse).
pub fn try_dispatch(
    state: &KinesisState,
    action: &str,
    body: &[u8],
    deadline: Instant,
) -> Option<ApiResult<Vec<u8>>> {
    match action {
        "PutRecords" => put_records(state, body, deadline),
        "GetRecords" => get_records(state, body),
        _ => None,
    }
}

/// A member's value: absent/null, or a string without escapes.
type Text<'a> = Option<&'a str>;

/// Reads the members of a JSON object (only an object: never an array, which serde's
/// derived structs would also take) into `T`, refusing unknown and repeated members.
fn members<'de, D, T>(d: D, expecting: &'static str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Fields<'de>,
{
    struct V<T>(&'static str, std::marker::PhantomData<T>);
    impl<'de, T: Fields<'de>> Visitor<'de> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
            let mut t = T::default();
            let mut seen = 0u32;
            while let Some(key) = map.next_key::<&'de str>()? {
                let bit = t.member(key, &mut map)?;
                if seen & bit != 0 {
                    return Err(de::Error::custom("repeated member"));
                }
                seen |= bit;
            }
            Ok(t)
        }
    }
    d.deserialize_map(V(expecting, std::marker::PhantomData))
}

/// A structure read by [`members`].
trait Fields<'de>: Default {
    /// Reads the value of member `key`, answering its bit (for the repeat check).
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<u32, A::Error>;
}

fn unknown<E: de::Error>() -> Result<u32, E> {
    Err(E::custom("unknown member"))
}

/// One entry of PutRecords' Records.
#[derive(Default)]
struct RecordIn<'a> {
    partition_key: Text<'a>,
    data: Text<'a>,
    explicit_hash_key: Text<'a>,
}

impl<'de> Fields<'de> for RecordIn<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<u32, A::Error> {
        match key {
            "PartitionKey" => self.partition_key = map.next_value()?,
            "Data" => self.data = map.next_value()?,
            "ExplicitHashKey" => self.explicit_hash_key = map.next_value()?,
            _ => return unknown(),
        }
        Ok(match key {
            "PartitionKey" => 1,
            "Data" => 2,
            _ => 4,
        })
    }
}

impl<'de> Deserialize<'de> for RecordIn<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        members(d, "a record structure")
    }
}

/// PutRecords' Records: a JSON array only.
struct RecordList<'a>(Vec<RecordIn<'a>>);

impl<'de> Deserialize<'de> for RecordList<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RecordList<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of records")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut v =
                    Vec::with_capacity(seq.size_hint().unwrap_or(0).min(rules::MAX_PUT_RECORDS));
                while let Some(r) = seq.next_element()? {
                    if v.len() == rules::MAX_PUT_RECORDS {
                        return Err(de::Error::custom("too many records"));
                    }
                    v.push(r);
                }
                Ok(RecordList(v))
            }
        }
        d.deserialize_seq(V)
    }
}

/// A PutRecords request.
#[derive(Default)]
struct PutRecordsIn<'a> {
    stream_name: Text<'a>,
    stream_arn: Text<'a>,
    records: Option<RecordList<'a>>,
}

impl<'de> Fields<'de> for PutRecordsIn<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<u32, A::Error> {
        match key {
            "StreamName" => self.stream_name = map.next_value()?,
            "StreamARN" => self.stream_arn = map.next_value()?,
            "Records" => self.records = map.next_value()?,
            _ => return unknown(),
        }
        Ok(match key {
            "StreamName" => 1,
            "StreamARN" => 2,
            _ => 4,
        })
    }
}

impl<'de> Deserialize<'de> for PutRecordsIn<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        members(d, "a PutRecords structure")
    }
}

/// A GetRecords request.
#[derive(Default)]
struct GetRecordsIn<'a> {
    shard_iterator: Text<'a>,
    limit: Option<i64>,
}

impl<'de> Fields<'de> for GetRecordsIn<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<u32, A::Error> {
        match key {
            "ShardIterator" => self.shard_iterator = map.next_value()?,
            "Limit" => self.limit = map.next_value()?,
            _ => return unknown(),
        }
        Ok(if key == "Limit" { 2 } else { 1 })
    }
}

impl<'de> Deserialize<'de> for GetRecordsIn<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        members(d, "a GetRecords structure")
    }
}

/// Decodes standard, padded base64 `text` into the front of `out` with SIMD: its
/// length, or `None` where the generic path's decoder would refuse it too (checked
/// against it in the tests: padding, stray bits, other characters).
fn decode_base64(text: &str, out: &mut [u8]) -> Option<usize> {
    let b64 = base64_simd::STANDARD;
    let n = b64.decoded_length(text.as_bytes()).ok()?;
    b64.decode(
        text.as_bytes(),
        base64_simd::Out::from_slice(out.get_mut(..n)?),
    )
    .ok()
    .map(|d| d.len())
}

/// Decodes every record's data, and copies every partition key, into one buffer per
/// request (records are views of it: no allocation per record), checking each record
/// as the generic path does (the model's rules, then the hash key's range); `None` at
/// the first record it would refuse.
fn record_inputs(list: &[RecordIn<'_>]) -> Option<Vec<PutRecordInput>> {
    let capacity: usize = list
        .iter()
        .map(|r| {
            r.data.map_or(0, |d| d.len().div_ceil(4) * 3) + r.partition_key.map_or(0, str::len)
        })
        .sum();
    let mut buf = vec![0u8; capacity];
    let mut spans = Vec::with_capacity(list.len());
    let mut at = 0usize;
    for r in list {
        let pk = r.partition_key?;
        if !rules::PARTITION_KEY.accepts_str(pk)
            || r.explicit_hash_key
                .is_some_and(|k| !rules::EXPLICIT_HASH_KEY.accepts_str(k))
        {
            return None;
        }
        let key_at = at;
        buf.get_mut(at..at + pk.len())?
            .copy_from_slice(pk.as_bytes());
        at += pk.len();
        let n = decode_base64(r.data?, buf.get_mut(at..)?)?;
        if !rules::DATA.accepts_len(n) {
            return None;
        }
        spans.push((key_at..at, at..at + n));
        at += n;
    }
    let buf = Bytes::from(buf);
    let mut out = Vec::with_capacity(list.len());
    for (r, (key, data)) in list.iter().zip(spans) {
        out.push(PutRecordInput {
            // UTF-8: copied from a `str`.
            partition_key: ByteString::try_from(buf.slice(key)).ok()?,
            explicit_hash_key: match r.explicit_hash_key {
                Some(k) => Some(explicit_hash_key(k).ok()?),
                None => None,
            },
            data: buf.slice(data),
        });
    }
    Some(out)
}

fn put_records(state: &KinesisState, body: &[u8], deadline: Instant) -> Option<ApiResult<Vec<u8>>> {
    let (name, records) = put_records_input(state, body)?;
    Some(
        put_many(state, &name, records, deadline)
            .map(|results| put_records_reply(state, &name, &results)),
    )
}

/// A JSON PutRecords on the typed path, written and waited for on the calling task
/// (no blocking thread); `None` where the blocking path must answer (anything
/// [`try_dispatch`] would leave to the generic path, or per-shard limits enforced).
pub async fn put_records_async(
    state: &KinesisState,
    body: &[u8],
    deadline: Instant,
) -> Option<ApiResult<Vec<u8>>> {
    let (name, records) = put_records_input(state, body)?;
    let done = put_many_async(state, &name, records, deadline).await?;
    Some(done.map(|results| put_records_reply(state, &name, &results)))
}

fn put_records_reply(
    state: &KinesisState,
    name: &str,
    results: &[Result<PutOutcome, RecordFailure>],
) -> Vec<u8> {
    let mut w = JsonWriter::with_capacity(64 + results.len() * 96);
    replies::put_records(&mut w, results, &encryption_type(state, name));
    w.into_bytes()
}

/// A PutRecords body the typed path takes: the stream's name and the records.
fn put_records_input(state: &KinesisState, body: &[u8]) -> Option<(String, Vec<PutRecordInput>)> {
    let req: PutRecordsIn<'_> = serde_json::from_slice(body).ok()?;
    if req
        .stream_name
        .is_some_and(|n| !rules::STREAM_NAME.accepts_str(n))
        || req
            .stream_arn
            .is_some_and(|a| !rules::STREAM_ARN.accepts_str(a))
    {
        return None;
    }
    let list = req.records?.0;
    if !model::RECORDS.accepts_len(list.len()) {
        return None;
    }
    let name = stream_name_of(state, req.stream_name, req.stream_arn).ok()?;
    let records = record_inputs(&list)?;
    check_request_size(&records).ok()?;
    Some((name, records))
}

fn get_records(state: &KinesisState, body: &[u8]) -> Option<ApiResult<Vec<u8>>> {
    let started = Instant::now();
    let req: GetRecordsIn<'_> = serde_json::from_slice(body).ok()?;
    let token = req.shard_iterator?;
    if !rules::SHARD_ITERATOR.accepts_str(token)
        || req
            .limit
            .is_some_and(|l| !rules::GET_RECORDS_LIMIT.accepts_int(l))
    {
        return None;
    }
    let limit = req.limit.unwrap_or(rules::MAX_GET_RECORDS_LIMIT);
    Some(get_records_read(state, token, limit, started).map(|got| {
        let mut w = JsonWriter::with_capacity(got.json_size());
        replies::get_records(&mut w, &got);
        w.into_bytes()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_put(body: &str) -> Option<usize> {
        let req: PutRecordsIn<'_> = serde_json::from_str(body).ok()?;
        Some(req.records?.0.len())
    }

    #[test]
    fn simd_base64_refuses_what_the_generic_decoder_refuses() {
        use base64::Engine as _;
        let generic = base64::engine::general_purpose::STANDARD;
        for text in [
            "",
            "eA==",
            "eHk=",
            "eHl6",
            "eB==",
            "eHo=",
            "eHl=",
            "eA=",
            "eA",
            "e",
            "====",
            "eA==eA==",
            " eA==",
            "eA== ",
            "eA\n==",
            "eHl6eHl6eHl6eHl6eHl6eHl6eHl6eHl6eHl6eHl6eA==",
            "eHl6eHl6eHl6eHl6eHl6eHl6eHl6eHl6eHl6eHl6eB==",
            "eHl6eHl6eHl6eHl6-Hl6eHl6eHl6eHl6",
            "eHl6eHl6eHl6eHl6_Hl6eHl6eHl6eHl6",
            "eHl6eHl6eHl6eHl6eHl6eHl6eHl6eHl6eHl6eHl6eA=a",
        ] {
            let mut out = vec![0u8; text.len()];
            let fast = decode_base64(text, &mut out).map(|n| out[..n].to_vec());
            assert_eq!(fast, generic.decode(text).ok(), "{text:?}");
        }
    }

    #[test]
    fn only_plain_objects_take_the_typed_path() {
        assert_eq!(
            parse_put(r#"{"StreamName":"s","Records":[{"PartitionKey":"a","Data":"eA=="}]}"#),
            Some(1)
        );
        // Arrays in place of structures, unknown and repeated members, escapes, wrong
        // types: all left to the generic path.
        assert_eq!(parse_put(r#"["s",[]]"#), None);
        assert_eq!(
            parse_put(r#"{"StreamName":"s","Records":[["a","eA=="]]}"#),
            None
        );
        assert_eq!(
            parse_put(r#"{"StreamName":"s","Other":1,"Records":[]}"#),
            None
        );
        assert_eq!(
            parse_put(r#"{"StreamName":"s","StreamName":"t","Records":[]}"#),
            None
        );
        assert_eq!(parse_put(r#"{"StreamName":"s\u0041","Records":[]}"#), None);
        assert_eq!(
            parse_put(r#"{"StreamName":"s","Records":[{"PartitionKey":1}]}"#),
            None
        );
        assert_eq!(parse_put(""), None);
    }

    #[test]
    fn bad_records_leave_the_typed_path() {
        fn rec<'a>(pk: &'a str, data: &'a str) -> RecordIn<'a> {
            RecordIn {
                partition_key: Some(pk).filter(|p| !p.is_empty()),
                data: Some(data),
                explicit_hash_key: None,
            }
        }
        let long = "k".repeat(257);
        let ok = record_inputs(&[rec("a", "aGk="), rec("b", "eHl6")]).unwrap_or_default();
        assert_eq!(ok.len(), 2);
        assert_eq!(&ok[0].data[..], b"hi");
        assert_eq!(&ok[1].data[..], b"xyz");
        assert!(record_inputs(&[rec("a", "not base64!")]).is_none());
        assert!(record_inputs(&[rec("", "aGk=")]).is_none());
        assert!(record_inputs(&[rec(&long, "aGk=")]).is_none());
        // 256 characters of two UTF-16 units each: too long, as AWS counts.
        assert!(record_inputs(&[rec(&"😀".repeat(200), "aGk=")]).is_none());
        assert!(record_inputs(&[rec(&"é".repeat(256), "aGk=")]).is_some());
    }

    #[test]
    fn get_records_members() {
        let req: Option<GetRecordsIn<'_>> =
            serde_json::from_str(r#"{"ShardIterator":"abc","Limit":5}"#).ok();
        assert_eq!(
            req.map(|r| (r.shard_iterator, r.limit)),
            Some((Some("abc"), Some(5)))
        );
        assert!(serde_json::from_str::<GetRecordsIn<'_>>(r#"{"Limit":1.5}"#).is_err());
    }
}
