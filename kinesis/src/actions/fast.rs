//! The typed fast path of the two hot actions, PutRecords and GetRecords, for JSON
//! requests: the body is decoded straight into borrowed structs (no document tree),
//! every record's base64 data is decoded into one shared buffer, and the reply is
//! written as JSON into one pre-sized buffer.
//!
//! The fast path only ever accepts what the generic path ([`super::dispatch`]) accepts,
//! and does what it does. Whenever a request is anything but well formed and valid (an
//! unknown or duplicate member, a string with escapes, a wrong type, a rule broken, bad
//! base64, ...) it answers [`None`] before any side effect, and the caller runs the
//! generic path, which gives AWS's error for it.

use std::fmt;
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use freshet_storage::{PutRecordInput, MAX_PUT_RECORDS};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::records::{
    check_data, check_partition_key, encryption_type, explicit_hash_key, get_records_args_ok,
    get_records_read, put_many, MAX_PUT_RECORDS_BYTES,
};
use super::stream_name_of;
use crate::state::KinesisState;
use freshet_protocol::value::{
    write_json, write_json_base64, write_json_str, write_json_timestamp,
};
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

/// Bytes of a GetRecords reply entry besides its data and key: member names, quotes,
/// a sequence number (up to 56 digits) and a timestamp.
const RECORD_JSON_OVERHEAD: usize = 160;

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
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_PUT_RECORDS));
                while let Some(r) = seq.next_element()? {
                    if v.len() == MAX_PUT_RECORDS {
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

/// Decodes every record's data into one buffer and checks each record as the generic
/// path does; `None` at the first record it would refuse.
fn record_inputs(list: &[RecordIn<'_>]) -> Option<Vec<PutRecordInput>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let capacity: usize = list
        .iter()
        .map(|r| r.data.map_or(0, |d| d.len().div_ceil(4) * 3))
        .sum();
    let mut buf = vec![0u8; capacity];
    let mut spans = Vec::with_capacity(list.len());
    let mut at = 0usize;
    for r in list {
        let pk = r.partition_key?;
        check_partition_key(pk, "").ok()?;
        let n = b64.decode_slice(r.data?, buf.get_mut(at..)?).ok()?;
        spans.push(at..at + n);
        at += n;
    }
    let buf = Bytes::from(buf);
    let mut out = Vec::with_capacity(list.len());
    for (r, span) in list.iter().zip(spans) {
        let data = buf.slice(span);
        check_data(&data, "").ok()?;
        out.push(PutRecordInput {
            partition_key: r.partition_key?.to_string(),
            explicit_hash_key: explicit_hash_key(r.explicit_hash_key, "").ok()?,
            data,
        });
    }
    Some(out)
}

fn put_records(state: &KinesisState, body: &[u8], deadline: Instant) -> Option<ApiResult<Vec<u8>>> {
    let req: PutRecordsIn<'_> = serde_json::from_slice(body).ok()?;
    let name = stream_name_of(req.stream_name, req.stream_arn).ok()?;
    let list = req.records?.0;
    if list.is_empty() {
        return None;
    }
    let records = record_inputs(&list)?;
    let total: usize = records
        .iter()
        .map(|r| r.data.len() + r.partition_key.len())
        .sum();
    if total > MAX_PUT_RECORDS_BYTES {
        return None;
    }
    drop(list);
    Some(put_many(state, &name, records, deadline).map(|results| {
        let failed = results.iter().filter(|r| r.is_err()).count();
        let mut out = Vec::with_capacity(64 + results.len() * 96);
        out.extend_from_slice(b"{\"FailedRecordCount\":");
        out.extend_from_slice(itoa::Buffer::new().format(failed).as_bytes());
        out.extend_from_slice(b",\"Records\":[");
        let mut num = itoa::Buffer::new();
        for (i, r) in results.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            match r {
                Ok(ok) => {
                    out.extend_from_slice(b"{\"SequenceNumber\":\"");
                    out.extend_from_slice(num.format(ok.sequence_number.to_u128()).as_bytes());
                    out.extend_from_slice(b"\",\"ShardId\":");
                    write_json_str(&ok.shard_id, &mut out);
                }
                Err(f) => {
                    out.extend_from_slice(b"{\"ErrorCode\":");
                    write_json_str(&f.error_code, &mut out);
                    out.extend_from_slice(b",\"ErrorMessage\":");
                    write_json_str(&f.message, &mut out);
                }
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"EncryptionType\":");
        write_json_str(&encryption_type(state, &name), &mut out);
        out.push(b'}');
        out
    }))
}

fn get_records(state: &KinesisState, body: &[u8]) -> Option<ApiResult<Vec<u8>>> {
    let started = Instant::now();
    let req: GetRecordsIn<'_> = serde_json::from_slice(body).ok()?;
    let token = req.shard_iterator?;
    if !get_records_args_ok(token, req.limit) {
        return None;
    }
    let limit = req.limit.unwrap_or(10_000) as usize;
    Some(get_records_read(state, token, limit, started).map(|got| {
        let size: usize = got
            .records
            .iter()
            .map(|r| r.data.len().div_ceil(3) * 4 + r.partition_key.len() + RECORD_JSON_OVERHEAD)
            .sum();
        let mut out = Vec::with_capacity(size + 1024);
        out.extend_from_slice(b"{\"Records\":[");
        let mut num = itoa::Buffer::new();
        for (i, r) in got.records.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"SequenceNumber\":\"");
            out.extend_from_slice(num.format(r.sequence_number.to_u128()).as_bytes());
            out.extend_from_slice(b"\",\"ApproximateArrivalTimestamp\":");
            write_json_timestamp(r.arrival_ms, &mut out);
            out.extend_from_slice(b",\"Data\":");
            write_json_base64(&r.data, &mut out);
            out.extend_from_slice(b",\"PartitionKey\":");
            write_json_str(&String::from_utf8_lossy(&r.partition_key), &mut out);
            out.push(b'}');
        }
        out.push(b']');
        if let Some(next) = &got.next {
            out.extend_from_slice(b",\"NextShardIterator\":");
            write_json_str(next, &mut out);
        }
        out.extend_from_slice(b",\"MillisBehindLatest\":");
        out.extend_from_slice(num.format(got.millis_behind_latest).as_bytes());
        if let Some(children) = &got.children {
            out.extend_from_slice(b",\"ChildShards\":");
            write_json(&super::child_shards_value(children), &mut out);
        }
        out.push(b'}');
        out
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
        assert!(!get_records_args_ok("abc", Some(0)));
        assert!(!get_records_args_ok("", None));
        assert!(get_records_args_ok("abc", Some(10_000)));
    }
}
