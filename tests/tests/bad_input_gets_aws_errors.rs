//! Malformed, mistyped, oversized and garbage requests, and foreign, tampered and
//! expired iterators: the AWS error every time, never a 500, never a crash.

use std::time::Duration;

use freshet_tests::{call, call_json, http::raw, Server};
use serde_json::json;

const JSON: &str = "application/x-amz-json-1.1";

fn expect(r: &freshet_tests::RawResponse, status: u16, ty: &str) {
    assert_eq!(r.status, status, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.error_type(), ty, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-amzn-errortype"), Some(ty));
    assert!(!r.json()["message"].as_str().unwrap_or_default().is_empty());
}

fn iterator(a: std::net::SocketAddr, stream: &str) -> String {
    let r = call_json(
        a,
        "GetShardIterator",
        &json!({"StreamName": stream, "ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON"}),
    );
    r.json()["ShardIterator"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn bad_requests_get_aws_errors() {
    let server = Server::start(&[]);
    let a = server.addr;
    assert_eq!(
        call_json(
            a,
            "CreateStream",
            &json!({"StreamName": "s", "ShardCount": 1})
        )
        .status,
        200
    );

    let send =
        |action: &str, body: &[u8]| call(a, action, JSON, body).unwrap_or_else(|e| panic!("{e}"));
    expect(
        &send("PutRecord", b"{not json"),
        400,
        "SerializationException",
    );
    expect(&send("PutRecord", b"[1,2]"), 400, "SerializationException");
    expect(
        &send("PutRecord", b"\x00\x01\x02"),
        400,
        "SerializationException",
    );
    expect(
        &send("NoSuchAction", b"{}"),
        400,
        "UnknownOperationException",
    );
    let r = raw(
        a,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    expect(&r, 400, "UnknownOperationException");

    // Wrong types and missing members.
    expect(
        &call_json(a, "DescribeStream", &json!({"StreamName": 5})),
        400,
        "SerializationException",
    );
    expect(
        &call_json(
            a,
            "PutRecord",
            &json!({"StreamName": "s", "PartitionKey": "k", "Data": "!!not base64!!"}),
        ),
        400,
        "SerializationException",
    );
    expect(
        &call_json(
            a,
            "PutRecord",
            &json!({"StreamName": "s", "PartitionKey": ["k"], "Data": ""}),
        ),
        400,
        "SerializationException",
    );
    expect(
        &call_json(
            a,
            "CreateStream",
            &json!({"StreamName": "t", "ShardCount": "one"}),
        ),
        400,
        "SerializationException",
    );
    expect(
        &call_json(
            a,
            "PutRecords",
            &json!({"StreamName": "s", "Records": [1, 2]}),
        ),
        400,
        "SerializationException",
    );
    let r = call_json(a, "PutRecord", &json!({"StreamName": "s", "Data": "AA=="}));
    expect(&r, 400, "ValidationException");
    assert_eq!(
        r.json()["message"],
        "1 validation error detected: Value null at 'partitionKey' failed to satisfy constraint: Member must not be null"
    );
    expect(
        &call_json(a, "DescribeStream", &json!({})),
        400,
        "InvalidArgumentException",
    );

    // AWS's validation: a member of the wrong type is a SerializationException before
    // any rule is checked; every broken rule is listed in one ValidationException, in
    // the order of AWS's model; missing required members are violations too.
    let message = |r: &freshet_tests::RawResponse| {
        r.json()["message"].as_str().unwrap_or_default().to_string()
    };
    let r = call_json(
        a,
        "CreateStream",
        &json!({"StreamName": "ab cd", "ShardCount": "one"}),
    );
    expect(&r, 400, "SerializationException");
    assert_eq!(
        message(&r),
        "class java.lang.String can not be converted to an Integer"
    );
    let r = call_json(
        a,
        "CreateStream",
        &json!({"StreamName": "ab cd", "ShardCount": 0}),
    );
    expect(&r, 400, "ValidationException");
    assert_eq!(
        message(&r),
        "2 validation errors detected: \
         Value '0' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1; \
         Value 'ab cd' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
    );
    let r = call_json(a, "PutRecords", &json!({}));
    expect(&r, 400, "ValidationException");
    assert_eq!(
        message(&r),
        "1 validation error detected: Value null at 'records' failed to satisfy constraint: Member must not be null"
    );
    let r = call_json(
        a,
        "PutRecords",
        &json!({"StreamName": "s", "Records": [{"PartitionKey": "", "Data": "", "ExplicitHashKey": "x"}, {"Data": "AA=="}]}),
    );
    expect(&r, 400, "ValidationException");
    assert_eq!(
        message(&r),
        "3 validation errors detected: \
         Value '' at 'records.1.member.partitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1; \
         Value 'x' at 'records.1.member.explicitHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38}); \
         Value null at 'records.2.member.partitionKey' failed to satisfy constraint: Member must not be null"
    );
    let r = call_json(
        a,
        "GetShardIterator",
        &json!({"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "SOMEWHERE", "Timestamp": "yesterday"}),
    );
    expect(&r, 400, "SerializationException");
    assert_eq!(
        message(&r),
        "class java.lang.String can not be converted to milliseconds since epoch"
    );
    // Kinesis resolves a shard id by its number ("shardId-0", "x-0" and "0" name
    // shardId-000000000000) and says so when it cannot; it names the shard, not the
    // stream, when neither exists.
    let r = call_json(
        a,
        "GetShardIterator",
        &json!({"StreamName": "s", "ShardId": "nonsense", "ShardIteratorType": "LATEST"}),
    );
    expect(&r, 400, "ResourceNotFoundException");
    assert_eq!(
        message(&r),
        "Could not find shard nonsense in stream s under account 000000000000."
    );
    let r = call_json(
        a,
        "GetShardIterator",
        &json!({"StreamName": "nope", "ShardId": "x-7", "ShardIteratorType": "LATEST"}),
    );
    expect(&r, 400, "ResourceNotFoundException");
    assert_eq!(
        message(&r),
        "Shard shardId-000000000007 in stream nope under account 000000000000 does not exist"
    );
    let r = call_json(
        a,
        "GetShardIterator",
        &json!({"StreamName": "s", "ShardId": "0", "ShardIteratorType": "LATEST"}),
    );
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let r = call_json(
        a,
        "AddTagsToStream",
        &json!({"StreamName": "s", "Tags": {"a;b": "1"}}),
    );
    expect(&r, 400, "InvalidArgumentException");
    assert_eq!(
        message(&r),
        "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @."
    );
    let r = call_json(
        a,
        "SplitShard",
        &json!({"StreamName": "s", "ShardToSplit": "shard-0", "NewStartingHashKey": "9".repeat(39)}),
    );
    expect(&r, 400, "InvalidArgumentException");
    assert_eq!(
        message(&r),
        format!(
            "NewStartingHashKey {} used in SplitShard() on shard shardId-000000000000 in stream s under account 000000000000 is not both greater than one plus the shard's StartingHashKey 0 and less than the shard's EndingHashKey {}.",
            "9".repeat(39),
            u128::MAX
        )
    );
    let r = call_json(a, "ListShards", &json!({}));
    expect(&r, 400, "InvalidArgumentException");
    assert_eq!(
        message(&r),
        "Either NextToken or StreamName should be provided."
    );
    let r = call_json(
        a,
        "PutRecord",
        &json!({"StreamName": "s", "PartitionKey": "k", "Data": "AA==", "ExplicitHashKey": "340282366920938463463374607431768211456"}),
    );
    expect(&r, 400, "InvalidArgumentException");
    assert_eq!(
        message(&r),
        "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was 340282366920938463463374607431768211456"
    );

    // Bad names and values.
    let r = call_json(
        a,
        "CreateStream",
        &json!({"StreamName": "bad name", "ShardCount": 1}),
    );
    expect(&r, 400, "ValidationException");
    assert!(r.json()["message"].as_str().unwrap_or_default().starts_with("1 validation error detected: Value 'bad name' at 'streamName' failed to satisfy constraint"));
    expect(
        &call_json(
            a,
            "CreateStream",
            &json!({"StreamName": "x".repeat(129), "ShardCount": 1}),
        ),
        400,
        "ValidationException",
    );
    expect(
        &call_json(
            a,
            "CreateStream",
            &json!({"StreamName": "z", "ShardCount": 0}),
        ),
        400,
        "ValidationException",
    );
    expect(
        &call_json(
            a,
            "DescribeStream",
            &json!({"StreamARN": "arn:aws:s3:::bucket"}),
        ),
        400,
        "ValidationException",
    );
    expect(
        &call_json(
            a,
            "GetShardIterator",
            &json!({"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "SOMEWHERE"}),
        ),
        400,
        "ValidationException",
    );
    expect(
        &call_json(
            a,
            "GetShardIterator",
            &json!({"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "AT_SEQUENCE_NUMBER", "StartingSequenceNumber": "12"}),
        ),
        400,
        "InvalidArgumentException",
    );
    expect(
        &call_json(
            a,
            "GetShardIterator",
            &json!({"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "AT_TIMESTAMP"}),
        ),
        400,
        "InvalidArgumentException",
    );
    expect(
        &call_json(
            a,
            "GetShardIterator",
            &json!({"StreamName": "s", "ShardId": "nonsense", "ShardIteratorType": "LATEST"}),
        ),
        400,
        "ResourceNotFoundException",
    );
    expect(
        &call_json(
            a,
            "SplitShard",
            &json!({"StreamName": "s", "ShardToSplit": "shardId-000000000000", "NewStartingHashKey": "-5"}),
        ),
        400,
        "ValidationException",
    );
    expect(
        &call_json(
            a,
            "SplitShard",
            &json!({"StreamName": "s", "ShardToSplit": "shardId-000000000000", "NewStartingHashKey": "1"}),
        ),
        400,
        "InvalidArgumentException",
    );
    expect(
        &call_json(
            a,
            "MergeShards",
            &json!({"StreamName": "s", "ShardToMerge": "shardId-000000000000", "AdjacentShardToMerge": "shardId-000000000007"}),
        ),
        400,
        "ResourceNotFoundException",
    );
    expect(
        &call_json(
            a,
            "GetRecords",
            &json!({"ShardIterator": iterator(a, "s"), "Limit": 10001}),
        ),
        400,
        "ValidationException",
    );
    expect(
        &call_json(
            a,
            "ListShards",
            &json!({"StreamName": "s", "NextToken": "abc"}),
        ),
        400,
        "InvalidArgumentException",
    );
    expect(
        &call_json(a, "ListShards", &json!({"NextToken": "abc"})),
        400,
        "InvalidArgumentException",
    );
    expect(
        &call_json(
            a,
            "ListShards",
            &json!({"StreamName": "s", "ShardFilter": {"Type": "AT_TIMESTAMP"}}),
        ),
        400,
        "InvalidArgumentException",
    );
    expect(
        &call_json(
            a,
            "UpdateShardCount",
            &json!({"StreamName": "s", "TargetShardCount": 3, "ScalingType": "UNIFORM_SCALING"}),
        ),
        400,
        "LimitExceededException",
    );
    expect(
        &call_json(
            a,
            "AddTagsToStream",
            &json!({"StreamName": "s", "Tags": (0..51).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}),
        ),
        400,
        "InvalidArgumentException",
    );
    expect(
        &call_json(
            a,
            "EnableEnhancedMonitoring",
            &json!({"StreamName": "s", "ShardLevelMetrics": ["Nope"]}),
        ),
        400,
        "ValidationException",
    );

    // Oversize: one record over 1 MiB, more than 500 records, more than 10 MiB, a body over the limit.
    let big = "A".repeat(4 * ((1024 * 1024 + 3) / 3) + 4);
    let r = call_json(
        a,
        "PutRecord",
        &json!({"StreamName": "s", "PartitionKey": "k", "Data": big}),
    );
    expect(&r, 400, "ValidationException");
    assert_eq!(
        message(&r),
        "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1048581 cap=1048581]' at 'data' failed to satisfy constraint: Member must have length less than or equal to 1048576"
    );
    let records: Vec<_> = (0..501)
        .map(|_| json!({"PartitionKey": "k", "Data": "AA=="}))
        .collect();
    expect(
        &call_json(
            a,
            "PutRecords",
            &json!({"StreamName": "s", "Records": records}),
        ),
        400,
        "ValidationException",
    );
    let mib = "A".repeat(4 * (1024 * 1024 / 3));
    let records: Vec<_> = (0..11)
        .map(|_| json!({"PartitionKey": "k", "Data": mib}))
        .collect();
    expect(
        &call_json(
            a,
            "PutRecords",
            &json!({"StreamName": "s", "Records": records}),
        ),
        400,
        "InvalidArgumentException",
    );
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {JSON}\r\nX-Amz-Target: Kinesis_20131202.PutRecord\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{{}}",
        17 * 1024 * 1024
    );
    expect(
        &raw(a, head.as_bytes()).unwrap_or_else(|e| panic!("{e}")),
        400,
        "SerializationException",
    );
    expect(
        &call_json(
            a,
            "PutRecord",
            &json!({"StreamName": "s", "PartitionKey": "", "Data": "AA=="}),
        ),
        400,
        "ValidationException",
    );
    expect(
        &call_json(
            a,
            "PutRecord",
            &json!({"StreamName": "s", "PartitionKey": "k".repeat(257), "Data": "AA=="}),
        ),
        400,
        "ValidationException",
    );

    // Deeply nested documents.
    let deep = "[".repeat(100_000);
    expect(
        &send("PutRecord", deep.as_bytes()),
        400,
        "SerializationException",
    );

    // Random garbage in both encodings, to every action: never a 500.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let actions = freshet_server_actions();
    for i in 0..300 {
        let len = (i * 7) % 200;
        let body: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let ct = if i % 2 == 0 {
            JSON
        } else {
            "application/x-amz-cbor-1.1"
        };
        let action = actions[i % actions.len()];
        let r = call(a, action, ct, &body).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            r.status == 400 || r.status == 200,
            "{action} garbage gave {}",
            r.status
        );
    }
    // The server is still healthy.
    assert_eq!(call_json(a, "ListStreams", &json!({})).status, 200);
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

fn freshet_server_actions() -> Vec<&'static str> {
    vec![
        "CreateStream",
        "DeleteStream",
        "DescribeStream",
        "DescribeStreamSummary",
        "ListStreams",
        "ListShards",
        "PutRecord",
        "PutRecords",
        "GetShardIterator",
        "GetRecords",
        "SplitShard",
        "MergeShards",
        "UpdateShardCount",
        "IncreaseStreamRetentionPeriod",
        "AddTagsToStream",
        "ListTagsForStream",
        "TagResource",
        "UpdateStreamMode",
        "StartStreamEncryption",
        "EnableEnhancedMonitoring",
    ]
}

#[test]
fn foreign_tampered_and_expired_iterators_are_refused() {
    let one = Server::start(&["--iterator-ttl-ms", "300"]);
    let two = Server::start(&[]);
    for s in [&one, &two] {
        assert_eq!(
            call_json(
                s.addr,
                "CreateStream",
                &json!({"StreamName": "s", "ShardCount": 1})
            )
            .status,
            200
        );
    }
    let it = iterator(one.addr, "s");
    // Valid on its own server.
    assert_eq!(
        call_json(one.addr, "GetRecords", &json!({"ShardIterator": it})).status,
        200
    );
    // Foreign: issued by another server with another key.
    expect(
        &call_json(two.addr, "GetRecords", &json!({"ShardIterator": it})),
        400,
        "InvalidArgumentException",
    );
    // Tampered: one character changed.
    let mut t = it.clone().into_bytes();
    let i = t.len() / 2;
    t[i] = if t[i] == b'A' { b'B' } else { b'A' };
    let t = String::from_utf8(t).unwrap_or_default();
    expect(
        &call_json(one.addr, "GetRecords", &json!({"ShardIterator": t})),
        400,
        "InvalidArgumentException",
    );
    expect(
        &call_json(one.addr, "GetRecords", &json!({"ShardIterator": "x"})),
        400,
        "InvalidArgumentException",
    );
    // Expired.
    std::thread::sleep(Duration::from_millis(600));
    let r = call_json(one.addr, "GetRecords", &json!({"ShardIterator": it}));
    expect(&r, 400, "ExpiredIteratorException");
    assert!(r.json()["message"]
        .as_str()
        .unwrap_or_default()
        .starts_with("Iterator expired."));
    // An iterator of a deleted and recreated stream no longer reads.
    let it2 = iterator(two.addr, "s");
    assert_eq!(
        call_json(two.addr, "DeleteStream", &json!({"StreamName": "s"})).status,
        200
    );
    expect(
        &call_json(two.addr, "GetRecords", &json!({"ShardIterator": it2})),
        400,
        "ResourceNotFoundException",
    );
    assert_eq!(
        call_json(
            two.addr,
            "CreateStream",
            &json!({"StreamName": "s", "ShardCount": 1})
        )
        .status,
        200
    );
    expect(
        &call_json(two.addr, "GetRecords", &json!({"ShardIterator": it2})),
        400,
        "ResourceNotFoundException",
    );
}
