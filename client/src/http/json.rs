//! JSON 1.1 shapes of requests and answers.

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::types::*;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn missing(field: &str) -> Error {
    Error::Decode(format!("missing or mistyped field {field}"))
}

/// A string field.
pub(crate) fn str_field<'a>(v: &'a Value, field: &str) -> Result<&'a str> {
    v.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| missing(field))
}

fn opt_str(v: &Value, field: &str) -> Option<String> {
    v.get(field).and_then(Value::as_str).map(str::to_string)
}

fn u128_field(v: &Value, field: &str) -> Result<u128> {
    str_field(v, field)?
        .parse()
        .map_err(|_| Error::Decode(format!("field {field} is not a 128-bit number")))
}

fn u32_field(v: &Value, field: &str) -> Result<u32> {
    v.get(field)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| missing(field))
}

fn array<'a>(v: &'a Value, field: &str) -> Result<&'a Vec<Value>> {
    v.get(field)
        .and_then(Value::as_array)
        .ok_or_else(|| missing(field))
}

/// Epoch seconds (a JSON number, possibly fractional) to ms.
fn epoch_ms(v: &Value, field: &str) -> Option<i64> {
    v.get(field)
        .and_then(Value::as_f64)
        .map(|s| (s * 1000.0).round() as i64)
}

fn range(v: &Value) -> Result<HashKeyRange> {
    let r = v
        .get("HashKeyRange")
        .ok_or_else(|| missing("HashKeyRange"))?;
    Ok(HashKeyRange {
        start: u128_field(r, "StartingHashKey")?,
        end: u128_field(r, "EndingHashKey")?,
    })
}

/// A `Shard` structure.
pub(crate) fn shard(v: &Value) -> Result<Shard> {
    let seq = v
        .get("SequenceNumberRange")
        .ok_or_else(|| missing("SequenceNumberRange"))?;
    Ok(Shard {
        shard_id: str_field(v, "ShardId")?.to_string(),
        parent_shard_id: opt_str(v, "ParentShardId"),
        adjacent_parent_shard_id: opt_str(v, "AdjacentParentShardId"),
        hash_key_range: range(v)?,
        starting_sequence_number: str_field(seq, "StartingSequenceNumber")?.to_string(),
        ending_sequence_number: opt_str(seq, "EndingSequenceNumber"),
    })
}

/// The answer of `DescribeStreamSummary`.
pub(crate) fn stream_summary(v: &Value) -> Result<StreamSummary> {
    let d = v
        .get("StreamDescriptionSummary")
        .ok_or_else(|| missing("StreamDescriptionSummary"))?;
    Ok(StreamSummary {
        stream_name: str_field(d, "StreamName")?.to_string(),
        stream_arn: opt_str(d, "StreamARN").unwrap_or_default(),
        stream_status: StreamStatus::parse(str_field(d, "StreamStatus")?),
        retention_period_hours: u32_field(d, "RetentionPeriodHours")?,
        open_shard_count: u32_field(d, "OpenShardCount")?,
        creation_ms: epoch_ms(d, "StreamCreationTimestamp").unwrap_or_default(),
        stream_mode: d
            .get("StreamModeDetails")
            .and_then(|m| opt_str(m, "StreamMode"))
            .unwrap_or_else(|| "PROVISIONED".into()),
        encryption_type: opt_str(d, "EncryptionType").unwrap_or_else(|| "NONE".into()),
    })
}

/// One `PutRecords` entry.
pub(crate) fn entry(e: &PutRecordsEntry) -> Value {
    let mut m = Map::with_capacity(3);
    m.insert("Data".into(), Value::String(B64.encode(&e.data)));
    m.insert(
        "PartitionKey".into(),
        Value::String(e.partition_key.clone()),
    );
    if let Some(k) = e.explicit_hash_key {
        m.insert("ExplicitHashKey".into(), Value::String(k.to_string()));
    }
    Value::Object(m)
}

/// A `PutRecord` request.
pub(crate) fn put_record_request(stream: &str, e: &PutRecordsEntry) -> Value {
    let mut v = entry(e);
    if let Value::Object(m) = &mut v {
        m.insert("StreamName".into(), Value::String(stream.to_string()));
    }
    v
}

/// Appends `s` as a JSON string.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// The body of a `PutRecords` request, written straight into bytes (base64 encoded in
/// place, no intermediate JSON tree: this is the producer's hot path).
pub(crate) fn put_records_body(stream: &str, entries: &[PutRecordsEntry]) -> Vec<u8> {
    let estimate: usize = entries
        .iter()
        .map(|e| e.data.len() * 4 / 3 + e.partition_key.len() + 100)
        .sum::<usize>()
        + stream.len()
        + 40;
    let mut out = Vec::with_capacity(estimate);
    out.extend_from_slice(b"{\"StreamName\":");
    push_json_str(&mut out, stream);
    out.extend_from_slice(b",\"Records\":[");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"Data\":\"");
        let start = out.len();
        out.resize(
            start + base64::encoded_len(e.data.len(), true).unwrap_or(0),
            0,
        );
        let written = B64.encode_slice(&e.data, &mut out[start..]).unwrap_or(0);
        out.truncate(start + written);
        out.extend_from_slice(b"\",\"PartitionKey\":");
        push_json_str(&mut out, &e.partition_key);
        if let Some(k) = e.explicit_hash_key {
            out.extend_from_slice(b",\"ExplicitHashKey\":\"");
            out.extend_from_slice(k.to_string().as_bytes());
            out.push(b'"');
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    out
}

/// The answer of `PutRecord`.
pub(crate) fn put_record_output(v: &Value) -> Result<PutRecordOutput> {
    Ok(PutRecordOutput {
        shard_id: str_field(v, "ShardId")?.to_string(),
        sequence_number: str_field(v, "SequenceNumber")?.to_string(),
    })
}

/// The answer of `PutRecords`.
pub(crate) fn put_records_output(v: &Value, sent: usize) -> Result<PutRecordsOutput> {
    let mut records = Vec::with_capacity(sent);
    for r in array(v, "Records")? {
        records.push(match opt_str(r, "ErrorCode") {
            Some(code) => Err(RecordError {
                error_code: code,
                error_message: opt_str(r, "ErrorMessage").unwrap_or_default(),
            }),
            None => Ok(put_record_output(r)?),
        });
    }
    if records.len() != sent {
        return Err(Error::Decode(format!(
            "PutRecords answered {} results for {sent} records",
            records.len()
        )));
    }
    Ok(PutRecordsOutput {
        failed_record_count: records.iter().filter(|r| r.is_err()).count(),
        records,
    })
}

/// A `GetShardIterator` request.
pub(crate) fn shard_iterator_request(
    stream: &str,
    shard_id: &str,
    position: &ShardIteratorType,
) -> Value {
    let mut m = Map::new();
    m.insert("StreamName".into(), json!(stream));
    m.insert("ShardId".into(), json!(shard_id));
    let kind = match position {
        ShardIteratorType::TrimHorizon => "TRIM_HORIZON",
        ShardIteratorType::Latest => "LATEST",
        ShardIteratorType::AtSequenceNumber(s) => {
            m.insert("StartingSequenceNumber".into(), json!(s));
            "AT_SEQUENCE_NUMBER"
        }
        ShardIteratorType::AfterSequenceNumber(s) => {
            m.insert("StartingSequenceNumber".into(), json!(s));
            "AFTER_SEQUENCE_NUMBER"
        }
        ShardIteratorType::AtTimestamp(ms) => {
            m.insert("Timestamp".into(), json!(*ms as f64 / 1000.0));
            "AT_TIMESTAMP"
        }
    };
    m.insert("ShardIteratorType".into(), json!(kind));
    Value::Object(m)
}

/// The `Records` list of `GetRecords` and of a `SubscribeToShardEvent`.
fn records(v: &Value) -> Result<Vec<Record>> {
    let list = array(v, "Records")?;
    let mut records = Vec::with_capacity(list.len());
    for r in list {
        let data = B64
            .decode(str_field(r, "Data")?)
            .map_err(|e| Error::Decode(format!("Data is not base64: {e}")))?;
        records.push(Record {
            sequence_number: str_field(r, "SequenceNumber")?.to_string(),
            approximate_arrival_ms: epoch_ms(r, "ApproximateArrivalTimestamp"),
            partition_key: str_field(r, "PartitionKey")?.to_string(),
            data: Bytes::from(data),
        });
    }
    Ok(records)
}

/// The `ChildShards` list (absent or null: `None`).
fn child_shards(v: &Value) -> Result<Option<Vec<ChildShard>>> {
    let Some(list) = v.get("ChildShards").and_then(Value::as_array) else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(list.len());
    for c in list {
        out.push(ChildShard {
            shard_id: str_field(c, "ShardId")?.to_string(),
            parent_shards: array(c, "ParentShards")?
                .iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect(),
            hash_key_range: range(c)?,
        });
    }
    Ok(Some(out))
}

/// The answer of `GetRecords`.
pub(crate) fn get_records_output(v: &Value) -> Result<GetRecordsOutput> {
    Ok(GetRecordsOutput {
        records: records(v)?,
        next_shard_iterator: opt_str(v, "NextShardIterator"),
        millis_behind_latest: v.get("MillisBehindLatest").and_then(Value::as_u64),
        child_shards: child_shards(v)?,
    })
}

/// The payload of a `SubscribeToShardEvent` message.
pub(crate) fn subscribe_event(v: &Value) -> Result<SubscribeToShardEvent> {
    Ok(SubscribeToShardEvent {
        records: records(v)?,
        continuation_sequence_number: str_field(v, "ContinuationSequenceNumber")?.to_string(),
        millis_behind_latest: v
            .get("MillisBehindLatest")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        child_shards: child_shards(v)?,
    })
}

/// The `StartingPosition` of a `SubscribeToShard` request.
pub(crate) fn starting_position(position: &StartingPosition) -> Value {
    match position {
        ShardIteratorType::TrimHorizon => json!({ "Type": "TRIM_HORIZON" }),
        ShardIteratorType::Latest => json!({ "Type": "LATEST" }),
        ShardIteratorType::AtSequenceNumber(s) => {
            json!({ "Type": "AT_SEQUENCE_NUMBER", "SequenceNumber": s })
        }
        ShardIteratorType::AfterSequenceNumber(s) => {
            json!({ "Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": s })
        }
        ShardIteratorType::AtTimestamp(ms) => {
            json!({ "Type": "AT_TIMESTAMP", "Timestamp": *ms as f64 / 1000.0 })
        }
    }
}

/// A `Consumer` or `ConsumerDescription` structure; `stream_arn` when it names none.
pub(crate) fn consumer(v: &Value, stream_arn: &str) -> Result<ConsumerDescription> {
    Ok(ConsumerDescription {
        consumer_name: str_field(v, "ConsumerName")?.to_string(),
        consumer_arn: str_field(v, "ConsumerARN")?.to_string(),
        consumer_status: ConsumerStatus::parse(str_field(v, "ConsumerStatus")?),
        creation_ms: epoch_ms(v, "ConsumerCreationTimestamp").unwrap_or_default(),
        stream_arn: opt_str(v, "StreamARN").unwrap_or_else(|| stream_arn.to_string()),
    })
}

/// The `Tags` list of `ListTagsForStream`.
pub(crate) fn tags(v: &Value, into: &mut BTreeMap<String, String>) -> Result<()> {
    for t in array(v, "Tags")? {
        into.insert(
            str_field(t, "Key")?.to_string(),
            opt_str(t, "Value").unwrap_or_default(),
        );
    }
    Ok(())
}

/// The error type and message of an error answer.
pub(crate) fn error_of(body: &[u8], header_type: Option<&str>, status: u16) -> Error {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let raw = v
        .get("__type")
        .and_then(Value::as_str)
        .or(header_type)
        .unwrap_or("UnknownError");
    // `com.amazonaws.kinesis.v20131202#ResourceNotFoundException` or
    // `ResourceNotFoundException:http://...`.
    let code = raw.rsplit('#').next().unwrap_or(raw);
    let code = code.split(':').next().unwrap_or(code);
    let message = v
        .get("message")
        .or_else(|| v.get("Message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    Error::from_service(code, message, status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_records_body_is_the_json_of_the_entries() {
        let entries = vec![
            PutRecordsEntry::new("k\"1", vec![0u8, 1, 2, 255]),
            PutRecordsEntry::new("k2", "").with_explicit_hash_key(u128::MAX),
        ];
        let body = put_records_body("s", &entries);
        let v: Value = serde_json::from_slice(&body).unwrap();
        let expected = json!({
            "StreamName": "s",
            "Records": entries.iter().map(entry).collect::<Vec<_>>(),
        });
        assert_eq!(v, expected);
    }

    #[test]
    fn errors_are_typed() {
        let e = error_of(
            br#"{"__type":"com.amazonaws.kinesis.v20131202#ResourceNotFoundException","message":"Stream x not found"}"#,
            None,
            400,
        );
        assert!(matches!(e, Error::ResourceNotFound(ref m) if m == "Stream x not found"));
        let e = error_of(
            b"",
            Some("ProvisionedThroughputExceededException:http://x"),
            400,
        );
        assert!(matches!(e, Error::Throttled(_)));
        let e = error_of(b"oops", None, 503);
        assert!(e.is_retryable());
    }

    #[test]
    fn get_records_decodes() {
        let v = json!({
            "Records": [{"SequenceNumber": "1", "ApproximateArrivalTimestamp": 1.5,
                         "PartitionKey": "k", "Data": "aGk="}],
            "NextShardIterator": "it", "MillisBehindLatest": 0
        });
        let out = get_records_output(&v).unwrap();
        assert_eq!(&out.records[0].data[..], b"hi");
        assert_eq!(out.records[0].approximate_arrival_ms, Some(1500));
        assert_eq!(out.next_shard_iterator.as_deref(), Some("it"));
        assert!(out.child_shards.is_none());
    }

    #[test]
    fn subscribe_events_decode() {
        let v = json!({
            "Records": [{"SequenceNumber": "7", "PartitionKey": "k", "Data": "aGk="}],
            "ContinuationSequenceNumber": "7", "MillisBehindLatest": 3, "ChildShards": null
        });
        let ev = subscribe_event(&v).unwrap();
        assert_eq!(ev.records.len(), 1);
        assert_eq!(ev.continuation_sequence_number, "7");
        assert_eq!(ev.millis_behind_latest, 3);
        assert!(ev.child_shards.is_none());
        let v = json!({
            "Records": [], "ContinuationSequenceNumber": "9", "MillisBehindLatest": 0,
            "ChildShards": [{"ShardId": "shardId-000000000001", "ParentShards": ["shardId-000000000000"],
                             "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": "9"}}]
        });
        let children = subscribe_event(&v).unwrap().child_shards.unwrap();
        assert_eq!(children[0].parent_shards, ["shardId-000000000000"]);
        assert!(subscribe_event(&json!({"Records": []})).is_err());
    }

    #[test]
    fn starting_positions_encode() {
        assert_eq!(
            starting_position(&ShardIteratorType::AfterSequenceNumber("5".into())),
            json!({"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": "5"})
        );
        assert_eq!(
            starting_position(&ShardIteratorType::AtTimestamp(1500)),
            json!({"Type": "AT_TIMESTAMP", "Timestamp": 1.5})
        );
    }
}
