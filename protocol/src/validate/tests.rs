use super::*;
use crate::kinesis::model;
use crate::value::{map, Value};

fn check(action: &str, doc: Value) -> Result<Value, ApiError> {
    let shape = model::input(action).ok_or_else(|| ApiError::internal("no such action"))?;
    validate(shape, &doc)
}

fn message(action: &str, doc: Value) -> (String, String) {
    match check(action, doc) {
        Ok(v) => ("ok".into(), format!("{v:?}")),
        Err(e) => (e.kind.to_string(), e.message),
    }
}

fn s(v: &str) -> Value {
    Value::str(v)
}

#[test]
fn wrong_types_are_serialization_errors_in_aws_words() {
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "CreateStream",
            map([("ShardCount", s("23")), ("StreamName", s("a"))]),
            "class java.lang.String can not be converted to an Integer",
        ),
        (
            "CreateStream",
            map([("ShardCount", Value::Bool(true))]),
            "class java.lang.Boolean can not be converted to an Integer",
        ),
        (
            "DescribeStream",
            map([("StreamName", Value::Int(5))]),
            "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String",
        ),
        (
            "DescribeStream",
            map([("StreamName", Value::List(vec![]))]),
            "Start of list found where not expected",
        ),
        (
            "DescribeStream",
            map([("StreamName", map([]))]),
            "Start of structure or map found where not expected.",
        ),
        (
            "PutRecords",
            map([("Records", s("x"))]),
            "Expected list or null",
        ),
        (
            "PutRecords",
            map([("Records", Value::List(vec![Value::Int(1)]))]),
            "Expected null",
        ),
        (
            "PutRecords",
            map([("Records", Value::List(vec![Value::List(vec![])]))]),
            "Start of list found where not expected",
        ),
        (
            "AddTagsToStream",
            map([("Tags", Value::List(vec![]))]),
            "Start of list found where not expected",
        ),
        (
            "AddTagsToStream",
            map([("Tags", Value::Int(1))]),
            "Expected map or null",
        ),
        (
            "AddTagsToStream",
            map([("Tags", map([("a", Value::Bool(false))]))]),
            "class java.lang.Boolean can not be converted to an String",
        ),
        (
            "DeleteStream",
            map([("EnforceConsumerDeletion", s("yes"))]),
            "'YES' can not be converted to an Boolean",
        ),
        (
            "PutRecord",
            map([("Data", s("23456"))]),
            "'23456' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: 5",
        ),
        (
            "PutRecord",
            map([("Data", s("=+/="))]),
            "'=+/=' can not be converted to a Blob: Invalid Base64 character: '='",
        ),
        (
            "PutRecord",
            map([("Data", s("+/+="))]),
            "'+/+=' can not be converted to a Blob: Invalid last non-pad Base64 character dectected",
        ),
        (
            "GetShardIterator",
            map([("Timestamp", s("23"))]),
            "class java.lang.String can not be converted to milliseconds since epoch",
        ),
    ];
    for (action, doc, want) in cases {
        assert_eq!(
            message(action, doc),
            ("SerializationException".into(), want.to_string()),
            "{action}"
        );
    }
}

#[test]
fn a_type_error_comes_before_every_rule() {
    // StreamName breaks its pattern and ShardCount has the wrong type: only the type.
    assert_eq!(
        message(
            "CreateStream",
            map([("StreamName", s("a b")), ("ShardCount", s("1"))])
        )
        .0,
        "SerializationException"
    );
}

#[test]
fn every_broken_rule_is_reported_in_model_order() {
    assert_eq!(
        message("PutRecords", map([])).1,
        "1 validation error detected: Value null at 'records' failed to satisfy constraint: Member must not be null"
    );
    assert_eq!(
        message(
            "PutRecords",
            map([
                ("StreamName", s("")),
                (
                    "Records",
                    Value::List(vec![map([
                        ("PartitionKey", s("")),
                        ("Data", s("")),
                        ("ExplicitHashKey", s("")),
                    ])])
                ),
            ])
        )
        .1,
        "4 validation errors detected: \
         Value '' at 'records.1.member.partitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1; \
         Value '' at 'records.1.member.explicitHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38}); \
         Value '' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; \
         Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1"
    );
    assert_eq!(
        message(
            "CreateStream",
            map([("StreamName", s("ab cd")), ("ShardCount", Value::Int(0))])
        )
        .1,
        "2 validation errors detected: \
         Value '0' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1; \
         Value 'ab cd' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
    );
}

#[test]
fn values_are_printed_as_aws_prints_them() {
    let data = Value::str(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        vec![0u8; 1_048_577],
    ));
    let (_, m) = message(
        "PutRecord",
        map([
            ("StreamName", s("s")),
            ("PartitionKey", s("k")),
            ("Data", data),
        ]),
    );
    assert_eq!(m, "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]' at 'data' failed to satisfy constraint: Member must have length less than or equal to 1048576");
    let records = Value::List(
        (0..501)
            .map(|_| map([("PartitionKey", s("k")), ("Data", s(""))]))
            .collect(),
    );
    let (_, m) = message(
        "PutRecords",
        map([("StreamName", s("s")), ("Records", records)]),
    );
    let entry = "com.amazonaws.kinesis.v20131202.PutRecordsRequestEntry@c965e310";
    assert_eq!(
        m,
        format!(
            "1 validation error detected: Value '[{}]' at 'records' failed to satisfy constraint: Member must have length less than or equal to 500",
            vec![entry; 501].join(", ")
        )
    );
    let (_, m) = message(
        "AddTagsToStream",
        map([
            ("StreamName", s("s")),
            ("Tags", map([("a", s("1")), ("", s("2"))])),
        ]),
    );
    assert_eq!(m, "1 validation error detected: Value '{a=1, =2}' at 'tags' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]");
    let (_, m) = message(
        "EnableEnhancedMonitoring",
        map([
            ("StreamName", s("s")),
            ("ShardLevelMetrics", Value::List(vec![s("Nope")])),
        ]),
    );
    assert_eq!(m, "1 validation error detected: Value '[Nope]' at 'shardLevelMetrics' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [ALL, WriteProvisionedThroughputExceeded, IteratorAgeMilliseconds, IncomingBytes, OutgoingRecords, ReadProvisionedThroughputExceeded, IncomingRecords, OutgoingBytes]]");
    let (_, m) = message(
        "CreateStream",
        map([
            ("StreamName", s("s")),
            ("StreamModeDetails", map([("StreamMode", s("FAST"))])),
        ]),
    );
    assert_eq!(m, "1 validation error detected: Value 'FAST' at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]");
}

#[test]
fn at_most_ten_violations() {
    let records = Value::List(
        (0..501)
            .map(|_| map([("PartitionKey", s("")), ("Data", s(""))]))
            .collect(),
    );
    let (_, m) = message(
        "PutRecords",
        map([("StreamName", s("")), ("Records", records)]),
    );
    assert!(m.starts_with("10 validation errors detected: "), "{m}");
    assert!(m.contains("records.9.member.partitionKey"), "{m}");
    assert!(!m.contains("records.10.member"), "{m}");
}

#[test]
fn lengths_count_utf16_code_units() {
    let ok = "é".repeat(256);
    let long = "😀".repeat(129);
    assert_eq!(
        check(
            "PutRecord",
            map([
                ("StreamName", s("s")),
                ("PartitionKey", s(&ok)),
                ("Data", s(""))
            ])
        )
        .map(|_| ()),
        Ok(())
    );
    let (kind, m) = message(
        "PutRecord",
        map([
            ("StreamName", s("s")),
            ("PartitionKey", s(&long)),
            ("Data", s("")),
        ]),
    );
    assert_eq!(kind, "ValidationException");
    assert!(
        m.ends_with("Member must have length less than or equal to 256"),
        "{m}"
    );
}

#[test]
fn what_passes_comes_back_normalized() {
    let doc = map([
        ("StreamName", s("s")),
        ("Unknown", Value::Int(1)),
        (
            "Records",
            Value::List(vec![map([
                ("PartitionKey", s("k")),
                ("Data", s("aGk=")),
                ("Extra", Value::Null),
            ])]),
        ),
        ("StreamARN", Value::Null),
    ]);
    let v = check("PutRecords", doc).unwrap_or(Value::Null);
    assert_eq!(
        v,
        map([
            (
                "Records",
                Value::List(vec![map([
                    ("PartitionKey", s("k")),
                    ("Data", Value::Bytes(bytes::Bytes::from_static(b"hi"))),
                ])])
            ),
            ("StreamName", s("s")),
        ])
    );
    // Fractions are cut and integers clamped to their type; seconds become ms.
    let v = check(
        "GetShardIterator",
        map([
            ("StreamName", s("s")),
            ("ShardId", s("shardId-0")),
            ("ShardIteratorType", s("AT_TIMESTAMP")),
            ("Timestamp", Value::Float(1.5)),
        ]),
    )
    .unwrap_or(Value::Null);
    assert_eq!(v.get("Timestamp"), Some(&Value::Timestamp(1500)));
    let v = check(
        "GetRecords",
        map([("ShardIterator", s("x")), ("Limit", Value::Float(9.9))]),
    )
    .unwrap_or(Value::Null);
    assert_eq!(v.get("Limit"), Some(&Value::Int(9)));
    let (_, m) = message(
        "GetRecords",
        map([("ShardIterator", s("x")), ("Limit", Value::Int(1 << 40))]),
    );
    assert!(
        m.starts_with("1 validation error detected: Value '2147483647' at 'limit'"),
        "{m}"
    );
}

#[test]
fn every_kinesis_action_has_a_shape_and_bodies_must_be_structures() {
    for action in [
        "AddTagsToStream",
        "CreateStream",
        "DescribeLimits",
        "UpdateStreamMode",
        "SubscribeToShard",
    ] {
        assert_eq!(
            message(action, Value::List(vec![])).0,
            "SerializationException",
            "{action}"
        );
    }
    assert!(model::input("NoSuchAction").is_none());
}
