//! The CBOR 1.1 encoding the AWS Java SDK and KCL use, checked byte for byte with a
//! small hand-written CBOR client: blobs as byte strings, timestamps as tag 1 holding
//! integer epoch milliseconds, errors as CBOR maps.

use ciborium::value::Value as C;
use freshet_tests::{call, Server};

const CBOR: &str = "application/x-amz-cbor-1.1";

/// CBOR text string header + bytes (short strings only).
fn text(s: &str) -> Vec<u8> {
    assert!(s.len() < 256);
    let mut v = if s.len() < 24 {
        vec![0x60 | s.len() as u8]
    } else {
        vec![0x78, s.len() as u8]
    };
    v.extend_from_slice(s.as_bytes());
    v
}

fn bytes(b: &[u8]) -> Vec<u8> {
    assert!(b.len() < 24);
    let mut v = vec![0x40 | b.len() as u8];
    v.extend_from_slice(b);
    v
}

fn map(pairs: &[(&str, Vec<u8>)]) -> Vec<u8> {
    assert!(pairs.len() < 24);
    let mut v = vec![0xa0 | pairs.len() as u8];
    for (k, val) in pairs {
        v.extend(text(k));
        v.extend_from_slice(val);
    }
    v
}

fn uint(n: u64) -> Vec<u8> {
    let mut v = vec![0x1b];
    v.extend_from_slice(&n.to_be_bytes());
    v
}

fn decode(body: &[u8]) -> C {
    ciborium::de::from_reader(body).unwrap_or_else(|e| panic!("reply is not CBOR: {e}: {body:?}"))
}

fn get<'a>(v: &'a C, key: &str) -> &'a C {
    match v {
        C::Map(m) => m
            .iter()
            .find(|(k, _)| matches!(k, C::Text(t) if t == key))
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {key} in {v:?}")),
        _ => panic!("not a map: {v:?}"),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn cbor_round_trip_is_byte_exact() {
    let server = Server::start(&[]);
    let a = server.addr;
    let ok = |action: &str, body: Vec<u8>| {
        let r = call(a, action, CBOR, &body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status, 200, "{action}: {:?}", decode(&r.body));
        assert_eq!(r.header("content-type"), Some(CBOR));
        assert!(r.header("x-amzn-requestid").is_some());
        r
    };
    ok(
        "CreateStream",
        map(&[("StreamName", text("cb")), ("ShardCount", vec![0x01])]),
    );
    let before = now_ms();
    let put = ok(
        "PutRecord",
        map(&[
            ("StreamName", text("cb")),
            ("PartitionKey", text("pk")),
            ("Data", bytes(b"\x00hi\xff")),
        ]),
    );
    let after = now_ms();
    let put = decode(&put.body);
    let C::Text(seq) = get(&put, "SequenceNumber") else {
        panic!("{put:?}")
    };
    assert_eq!(seq.len(), 38);

    // GetShardIterator AT_TIMESTAMP with a tag-1 millisecond timestamp.
    let it = ok(
        "GetShardIterator",
        map(&[
            ("StreamName", text("cb")),
            ("ShardId", text("shardId-000000000000")),
            ("ShardIteratorType", text("AT_TIMESTAMP")),
            ("Timestamp", [vec![0xc1], uint(before - 1)].concat()),
        ]),
    );
    let it = decode(&it.body);
    let C::Text(it) = get(&it, "ShardIterator") else {
        panic!("{it:?}")
    };
    let got = ok("GetRecords", map(&[("ShardIterator", text(it))]));
    let raw = &got.body;
    // "Data" followed by the byte string h'00 68 69 ff'.
    let data_at = find(raw, &[text("Data"), bytes(b"\x00hi\xff")].concat());
    assert!(data_at.is_some(), "Data is a CBOR byte string: {raw:02x?}");
    // "ApproximateArrivalTimestamp" followed by tag 1 and an integer of milliseconds.
    let key = text("ApproximateArrivalTimestamp");
    let at =
        find(raw, &key).unwrap_or_else(|| panic!("no arrival timestamp: {raw:02x?}")) + key.len();
    assert_eq!(raw[at], 0xc1, "tag 1");
    assert_eq!(raw[at + 1], 0x1b, "an 8-byte unsigned integer");
    let mut ms = [0u8; 8];
    ms.copy_from_slice(&raw[at + 2..at + 10]);
    let ms = u64::from_be_bytes(ms);
    assert!(before <= ms && ms <= after, "{before} <= {ms} <= {after}");
    let doc = decode(raw);
    let C::Array(records) = get(&doc, "Records") else {
        panic!("{doc:?}")
    };
    assert_eq!(records.len(), 1);
    assert_eq!(get(&records[0], "PartitionKey"), &C::Text("pk".into()));
    assert!(matches!(get(&doc, "NextShardIterator"), C::Text(_)));
    assert!(matches!(get(&doc, "MillisBehindLatest"), C::Integer(_)));

    // DescribeStreamSummary's creation time is tag 1 too.
    let s = ok("DescribeStreamSummary", map(&[("StreamName", text("cb"))]));
    let key = text("StreamCreationTimestamp");
    let at = find(&s.body, &key).unwrap_or_else(|| panic!("no creation time")) + key.len();
    assert_eq!(&s.body[at..at + 2], &[0xc1, 0x1b]);

    // PutRecords with byte-string data.
    let rec = map(&[("Data", bytes(b"r")), ("PartitionKey", text("k"))]);
    let recs = [vec![0x82], rec.clone(), rec].concat();
    let pr = ok(
        "PutRecords",
        map(&[("StreamName", text("cb")), ("Records", recs)]),
    );
    let pr = decode(&pr.body);
    assert_eq!(get(&pr, "FailedRecordCount"), &C::Integer(0.into()));

    // Errors are CBOR maps with __type and message, plus the header.
    let e = call(
        a,
        "DescribeStream",
        CBOR,
        &map(&[("StreamName", text("nope"))]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.status, 400);
    assert_eq!(
        e.header("x-amzn-errortype"),
        Some("ResourceNotFoundException")
    );
    let doc = decode(&e.body);
    assert_eq!(
        get(&doc, "__type"),
        &C::Text("ResourceNotFoundException".into())
    );
    assert_eq!(
        get(&doc, "message"),
        &C::Text("Stream nope under account 000000000000 not found.".into())
    );

    // Malformed CBOR.
    for garbage in [
        &[0xff_u8, 0x00][..],
        &[0xa1, 0x61],
        &[0x1b, 0, 0],
        &[0x9f, 0x9f, 0x9f],
    ] {
        let r = call(a, "PutRecord", CBOR, garbage).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status, 400);
        assert_eq!(
            r.header("x-amzn-errortype"),
            Some("SerializationException"),
            "{garbage:?}"
        );
    }
    // A text where a blob belongs is read as base64; a number where text belongs is refused.
    let r = call(
        a,
        "PutRecord",
        CBOR,
        &map(&[
            ("StreamName", vec![0x05]),
            ("PartitionKey", text("k")),
            ("Data", bytes(b"x")),
        ]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.header("x-amzn-errortype"), Some("SerializationException"));
}
