//! The event a Kinesis mapping delivers, byte for byte as AWS writes it.

use freshet_protocol::value::{write_json_base64, write_json_str, write_json_timestamp};
use freshet_storage::Record;

/// The fixed parts of every record's entry in one mapping's events.
#[derive(Debug, Clone)]
pub struct EventContext {
    /// `eventSourceARN`: the stream's ARN.
    pub event_source_arn: String,
    /// `awsRegion`.
    pub region: String,
    /// `invokeIdentityArn`: the function's role.
    pub invoke_identity_arn: String,
}

/// The exact size of each record's entry in one shard's events, without measuring
/// the record's own parts: computed once from an entry with an empty key and data and
/// the longest sequence number.
#[derive(Debug, Clone, Copy)]
pub struct EntrySizer {
    fixed: usize,
}

impl EntrySizer {
    /// The sizer for a mapping's entries of `shard_id`.
    pub fn new(ctx: &EventContext, shard_id: &str) -> EntrySizer {
        let sample = Record {
            sequence_number: freshet_storage::SequenceNumber {
                shard_index: u64::MAX >> 4,
                offset: u64::MAX,
            },
            arrival_ms: i64::MAX / 1_000_000,
            partition_key: bytes::Bytes::new(),
            data: bytes::Bytes::new(),
        };
        let mut out = Vec::new();
        write_record(&mut out, ctx, shard_id, &sample);
        // Plus the comma that separates entries.
        EntrySizer {
            fixed: out.len() + 1,
        }
    }

    /// Bytes of `r`'s entry (never fewer than written).
    pub fn size(&self, r: &Record) -> usize {
        self.fixed + r.data.len().div_ceil(3) * 4 + json_escaped_len(&r.partition_key)
    }
}

/// Bytes a key takes inside a JSON string (quotes not counted).
fn json_escaped_len(key: &[u8]) -> usize {
    key.iter()
        .map(|&b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' => 2,
            0..=0x1f => 6,
            // Bytes of invalid UTF-8 become U+FFFD (3 bytes) when written.
            0x80..=0xff => 3,
            _ => 1,
        })
        .sum()
}

/// Bytes of an event around its entries (the `Records` list, a window's members).
pub const EVENT_FRAME_BYTES: usize = 2048;

/// Writes one record's entry of `Records`.
pub fn write_record(out: &mut Vec<u8>, ctx: &EventContext, shard_id: &str, r: &Record) {
    let mut buf = itoa::Buffer::new();
    let num = buf.format(r.sequence_number.to_u128());
    out.extend_from_slice(br#"{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"#);
    match std::str::from_utf8(&r.partition_key) {
        Ok(k) => write_json_str(k, out),
        Err(_) => write_json_str(&String::from_utf8_lossy(&r.partition_key), out),
    }
    out.extend_from_slice(br#","sequenceNumber":""#);
    out.extend_from_slice(num.as_bytes());
    out.extend_from_slice(br#"","data":"#);
    write_json_base64(&r.data, out);
    out.extend_from_slice(br#","approximateArrivalTimestamp":"#);
    write_json_timestamp(r.arrival_ms, out);
    out.extend_from_slice(br#"},"eventSource":"aws:kinesis","eventVersion":"1.0","eventID":""#);
    out.extend_from_slice(shard_id.as_bytes());
    out.push(b':');
    out.extend_from_slice(num.as_bytes());
    out.extend_from_slice(br#"","eventName":"aws:kinesis:record","invokeIdentityArn":"#);
    write_json_str(&ctx.invoke_identity_arn, out);
    out.extend_from_slice(br#","awsRegion":"#);
    write_json_str(&ctx.region, out);
    out.extend_from_slice(br#","eventSourceARN":"#);
    write_json_str(&ctx.event_source_arn, out);
    out.push(b'}');
}

/// A tumbling window's part of an event.
#[derive(Debug, Clone)]
pub struct WindowPart<'a> {
    /// Window start, ms.
    pub start_ms: i64,
    /// Window end, ms.
    pub end_ms: i64,
    /// The state the function returned last in this window (`{}` at first).
    pub state: &'a serde_json::Value,
    /// The shard.
    pub shard_id: &'a str,
    /// Whether this is the window's last invocation.
    pub is_final: bool,
}

fn iso_seconds(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&fmt).unwrap_or_default()
}

/// The whole event for `records` of one shard.
pub fn write_event(
    ctx: &EventContext,
    shard_id: &str,
    records: &[Record],
    window: Option<&WindowPart<'_>>,
) -> Vec<u8> {
    let sizer = EntrySizer::new(ctx, shard_id);
    let size: usize = records.iter().map(|r| sizer.size(r)).sum();
    let mut out = Vec::with_capacity(size + 512);
    out.extend_from_slice(br#"{"Records":["#);
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_record(&mut out, ctx, shard_id, r);
    }
    out.push(b']');
    if let Some(w) = window {
        out.extend_from_slice(br#","window":{"start":"#);
        write_json_str(&iso_seconds(w.start_ms), &mut out);
        out.extend_from_slice(br#","end":"#);
        write_json_str(&iso_seconds(w.end_ms), &mut out);
        out.extend_from_slice(br#"},"state":"#);
        out.extend_from_slice(w.state.to_string().as_bytes());
        out.extend_from_slice(br#","shardId":"#);
        write_json_str(w.shard_id, &mut out);
        out.extend_from_slice(br#","eventSourceARN":"#);
        write_json_str(&ctx.event_source_arn, &mut out);
        out.extend_from_slice(if w.is_final {
            br#","isFinalInvokeForWindow":true,"isWindowTerminatedEarly":false"#.as_slice()
        } else {
            br#","isFinalInvokeForWindow":false,"isWindowTerminatedEarly":false"#.as_slice()
        });
    }
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use freshet_storage::SequenceNumber;

    #[test]
    fn an_event_is_what_aws_delivers() {
        let ctx = EventContext {
            event_source_arn: "arn:aws:kinesis:us-east-1:000000000000:stream/s".into(),
            region: "us-east-1".into(),
            invoke_identity_arn: "arn:aws:iam::000000000000:role/r".into(),
        };
        let r = Record {
            sequence_number: SequenceNumber::new(1, 7),
            arrival_ms: 1_545_084_650_987,
            partition_key: Bytes::from_static(b"k\"1"),
            data: Bytes::from_static(b"Hello"),
        };
        let event = write_event(&ctx, "shardId-000000000001", std::slice::from_ref(&r), None);
        let v: serde_json::Value = serde_json::from_slice(&event).expect("JSON");
        let seq = r.sequence_number.to_u128().to_string();
        assert_eq!(
            v,
            serde_json::json!({"Records": [{
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "k\"1",
                    "sequenceNumber": seq,
                    "data": "SGVsbG8=",
                    "approximateArrivalTimestamp": 1545084650.987
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000001:{seq}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::000000000000:role/r",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/s"
            }]})
        );
        let sizer = EntrySizer::new(&ctx, "shardId-000000000001");
        assert!(sizer.size(&r) >= event.len() - 13);
        assert!(sizer.size(&r) <= event.len());
    }
}
