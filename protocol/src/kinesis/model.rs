//! The input of every Kinesis action, as AWS's model declares it, for
//! [`validate`](crate::validate::validate).
//!
//! Members are listed in the order AWS reports their violations: the order kinesalite
//! recorded from Kinesis for the members it knows, then the members added since
//! (StreamARN, StreamModeDetails, ...) in the order of AWS's published model. Rules
//! follow AWS's current model. Enum values are listed in the order AWS's messages list
//! them (a Java hash set's order: the values' `String.hashCode()` modulo 16, ties in
//! model order), as kinesalite recorded for shard iterator types.
//!
//! ```
//! use freshet_protocol::kinesis::model;
//! use freshet_protocol::validate::validate;
//! use freshet_protocol::value::{map, Value};
//!
//! let shape = model::input("CreateStream").unwrap();
//! let req = map([("StreamName", Value::str("ab cd")), ("ShardCount", Value::Int(0))]);
//! assert_eq!(
//!     validate(shape, &req).unwrap_err().message,
//!     "2 validation errors detected: \
//!      Value '0' at 'shardCount' failed to satisfy constraint: \
//!      Member must have value greater than or equal to 1; \
//!      Value 'ab cd' at 'streamName' failed to satisfy constraint: \
//!      Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
//! );
//! ```

use super::rules::{
    CONSUMER_ARN, CONSUMER_NAME, DATA, EXPLICIT_HASH_KEY, GET_RECORDS_LIMIT, HASH_KEY_RULES,
    MAX_PUT_RECORDS, NEXT_TOKEN, PARTITION_KEY, RESOURCE_ARN, SEQUENCE_NUMBER, SHARD_ID,
    SHARD_ITERATOR, SHARD_ITERATOR_TYPES, STREAM_ARN, STREAM_NAME, TAGS, TAG_KEY, TAG_KEYS,
};
use crate::validate::{Member, Rule, Shape, Type};

/// Stream modes.
pub const STREAM_MODES: &[&str] = &["PROVISIONED", "ON_DEMAND"];
/// Encryption types.
pub const ENCRYPTION_TYPES: &[&str] = &["KMS", "NONE"];
/// Shard filter types.
pub const SHARD_FILTER_TYPES: &[&str] = &[
    "FROM_TIMESTAMP",
    "FROM_TRIM_HORIZON",
    "AT_LATEST",
    "AT_TRIM_HORIZON",
    "AT_TIMESTAMP",
    "AFTER_SHARD_ID",
];
/// Shard-level metrics names (EnableEnhancedMonitoring).
pub const METRICS_NAMES: &[&str] = &[
    "ALL",
    "WriteProvisionedThroughputExceeded",
    "IteratorAgeMilliseconds",
    "IncomingBytes",
    "OutgoingRecords",
    "ReadProvisionedThroughputExceeded",
    "IncomingRecords",
    "OutgoingBytes",
];

const fn shape(members: &'static [Member]) -> Shape {
    Shape {
        members,
        shown_as: "",
    }
}

const STREAM_NAME_REQUIRED: Member = STREAM_NAME.required();
const LIMIT_10K: &[Rule] = &[Rule::Min(1), Rule::Max(10_000)];
const TIMESTAMP: Member = Member::new("Timestamp", Type::Timestamp);
const RETENTION_HOURS: Member = Member::new("RetentionPeriodHours", Type::Integer).required();

static STREAM_MODE_DETAILS_SHAPE: Shape = shape(&[Member::new("StreamMode", Type::String)
    .required()
    .with(&[Rule::Enum(STREAM_MODES)])]);
const STREAM_MODE_DETAILS: Member = Member::new(
    "StreamModeDetails",
    Type::Structure(&STREAM_MODE_DETAILS_SHAPE),
);

static PUT_RECORDS_ENTRY: Shape = Shape {
    members: &[PARTITION_KEY, EXPLICIT_HASH_KEY, DATA],
    shown_as: "com.amazonaws.kinesis.v20131202.PutRecordsRequestEntry@c965e310",
};
const PUT_RECORDS_ENTRY_MEMBER: Member = Member::new("member", Type::Structure(&PUT_RECORDS_ENTRY));
/// PutRecords' Records.
pub const RECORDS: Member = Member::new("Records", Type::List(&PUT_RECORDS_ENTRY_MEMBER))
    .required()
    .with(&[Rule::MinLen(1), Rule::MaxLen(MAX_PUT_RECORDS as u64)]);

static SHARD_FILTER_SHAPE: Shape = shape(&[
    Member::new("Type", Type::String)
        .required()
        .with(&[Rule::Enum(SHARD_FILTER_TYPES)]),
    SHARD_ID,
    TIMESTAMP,
]);

static STARTING_POSITION_SHAPE: Shape = shape(&[
    Member::new("Type", Type::String)
        .required()
        .with(&[Rule::Enum(SHARD_ITERATOR_TYPES)]),
    SEQUENCE_NUMBER,
    TIMESTAMP,
]);

const METRICS_NAME: Member = Member::new("member", Type::String).with(&[Rule::Enum(METRICS_NAMES)]);
const SHARD_LEVEL_METRICS: Member = Member::new("ShardLevelMetrics", Type::List(&METRICS_NAME))
    .required()
    .with(&[Rule::MinLen(1), Rule::MaxLen(7)]);

static BILLING_COMMITMENT_SHAPE: Shape = shape(&[Member::new("Status", Type::String)
    .required()
    .with(&[Rule::Enum(&["ENABLED", "DISABLED"])])]);

static ADD_TAGS_TO_STREAM: Shape = shape(&[TAGS.required(), STREAM_NAME, STREAM_ARN]);
static CREATE_STREAM: Shape = shape(&[
    Member::new("ShardCount", Type::Integer).with(&[Rule::Min(1)]),
    STREAM_NAME_REQUIRED,
    STREAM_MODE_DETAILS,
    TAGS,
]);
static RETENTION: Shape = shape(&[RETENTION_HOURS, STREAM_NAME, STREAM_ARN]);
static DELETE_STREAM: Shape = shape(&[
    STREAM_NAME,
    Member::new("EnforceConsumerDeletion", Type::Boolean),
    STREAM_ARN,
]);
static CONSUMER_BY_ARN_OR_NAME: Shape = shape(&[STREAM_ARN, CONSUMER_NAME, CONSUMER_ARN]);
static NOTHING: Shape = shape(&[]);
static DESCRIBE_STREAM: Shape = shape(&[
    Member::new("Limit", Type::Integer).with(LIMIT_10K),
    SHARD_ID.named("ExclusiveStartShardId"),
    STREAM_NAME,
    STREAM_ARN,
]);
static STREAM_ONLY: Shape = shape(&[STREAM_NAME, STREAM_ARN]);
static MONITORING: Shape = shape(&[SHARD_LEVEL_METRICS, STREAM_NAME, STREAM_ARN]);
static GET_RECORDS: Shape = shape(&[GET_RECORDS_LIMIT, SHARD_ITERATOR, STREAM_ARN]);
static GET_SHARD_ITERATOR: Shape = shape(&[
    SHARD_ID.required(),
    Member::new("ShardIteratorType", Type::String)
        .required()
        .with(&[Rule::Enum(SHARD_ITERATOR_TYPES)]),
    SEQUENCE_NUMBER.named("StartingSequenceNumber"),
    STREAM_NAME,
    TIMESTAMP,
    STREAM_ARN,
]);
static LIST_SHARDS: Shape = shape(&[
    SHARD_ID.named("ExclusiveStartShardId"),
    Member::new("MaxResults", Type::Integer).with(LIMIT_10K),
    NEXT_TOKEN,
    TIMESTAMP.named("StreamCreationTimestamp"),
    STREAM_NAME,
    Member::new("ShardFilter", Type::Structure(&SHARD_FILTER_SHAPE)),
    STREAM_ARN,
]);
static LIST_STREAM_CONSUMERS: Shape = shape(&[
    STREAM_ARN.required(),
    NEXT_TOKEN,
    Member::new("MaxResults", Type::Integer).with(LIMIT_10K),
    TIMESTAMP.named("StreamCreationTimestamp"),
]);
static LIST_STREAMS: Shape = shape(&[
    Member::new("Limit", Type::Integer).with(LIMIT_10K),
    STREAM_NAME.named("ExclusiveStartStreamName"),
    NEXT_TOKEN,
]);
static RESOURCE_ONLY: Shape = shape(&[RESOURCE_ARN.required()]);
static PUT_RESOURCE_POLICY: Shape = shape(&[
    RESOURCE_ARN.required(),
    Member::new("Policy", Type::String).required(),
]);
static LIST_TAGS_FOR_STREAM: Shape = shape(&[
    Member::new("Limit", Type::Integer).with(&[Rule::Min(1), Rule::Max(50)]),
    TAG_KEY.named("ExclusiveStartTagKey"),
    STREAM_NAME,
    STREAM_ARN,
]);
static MERGE_SHARDS: Shape = shape(&[
    SHARD_ID.named("ShardToMerge").required(),
    SHARD_ID.named("AdjacentShardToMerge").required(),
    STREAM_NAME,
    STREAM_ARN,
]);
static PUT_RECORD: Shape = shape(&[
    SEQUENCE_NUMBER.named("SequenceNumberForOrdering"),
    PARTITION_KEY,
    EXPLICIT_HASH_KEY,
    DATA,
    STREAM_NAME,
    STREAM_ARN,
]);
static PUT_RECORDS: Shape = shape(&[RECORDS, STREAM_NAME, STREAM_ARN]);
static REGISTER_STREAM_CONSUMER: Shape =
    shape(&[STREAM_ARN.required(), CONSUMER_NAME.required(), TAGS]);
static REMOVE_TAGS_FROM_STREAM: Shape = shape(&[TAG_KEYS, STREAM_NAME, STREAM_ARN]);
static SPLIT_SHARD: Shape = shape(&[
    Member::new("NewStartingHashKey", Type::String)
        .required()
        .with(HASH_KEY_RULES),
    STREAM_NAME,
    SHARD_ID.named("ShardToSplit").required(),
    STREAM_ARN,
]);
static ENCRYPTION: Shape = shape(&[
    STREAM_NAME,
    Member::new("EncryptionType", Type::String)
        .required()
        .with(&[Rule::Enum(ENCRYPTION_TYPES)]),
    Member::new("KeyId", Type::String)
        .required()
        .with(&[Rule::MinLen(1), Rule::MaxLen(2048)]),
    STREAM_ARN,
]);
static SUBSCRIBE_TO_SHARD: Shape = shape(&[
    CONSUMER_ARN.required(),
    SHARD_ID.required(),
    Member::new(
        "StartingPosition",
        Type::Structure(&STARTING_POSITION_SHAPE),
    )
    .required(),
]);
static TAG_RESOURCE: Shape = shape(&[TAGS.required(), RESOURCE_ARN.required()]);
static UNTAG_RESOURCE: Shape = shape(&[TAG_KEYS, RESOURCE_ARN.required()]);
static UPDATE_ACCOUNT_SETTINGS: Shape = shape(&[Member::new(
    "MinimumThroughputBillingCommitment",
    Type::Structure(&BILLING_COMMITMENT_SHAPE),
)
.required()]);
static UPDATE_SHARD_COUNT: Shape = shape(&[
    STREAM_NAME,
    Member::new("TargetShardCount", Type::Integer)
        .required()
        .with(&[Rule::Min(1)]),
    Member::new("ScalingType", Type::String)
        .required()
        .with(&[Rule::Enum(&["UNIFORM_SCALING"])]),
    STREAM_ARN,
]);
static UPDATE_STREAM_MODE: Shape = shape(&[STREAM_ARN.required(), STREAM_MODE_DETAILS.required()]);

/// The input shape of a Kinesis action (by its `X-Amz-Target` suffix), or `None` for
/// an action Kinesis does not have.
pub fn input(action: &str) -> Option<&'static Shape> {
    Some(match action {
        "AddTagsToStream" => &ADD_TAGS_TO_STREAM,
        "CreateStream" => &CREATE_STREAM,
        "DecreaseStreamRetentionPeriod" | "IncreaseStreamRetentionPeriod" => &RETENTION,
        "DeleteStream" => &DELETE_STREAM,
        "DeregisterStreamConsumer" | "DescribeStreamConsumer" => &CONSUMER_BY_ARN_OR_NAME,
        "DescribeAccountSettings" | "DescribeLimits" => &NOTHING,
        "DescribeStream" => &DESCRIBE_STREAM,
        "DescribeStreamSummary" => &STREAM_ONLY,
        "DisableEnhancedMonitoring" | "EnableEnhancedMonitoring" => &MONITORING,
        "GetRecords" => &GET_RECORDS,
        "GetShardIterator" => &GET_SHARD_ITERATOR,
        "ListShards" => &LIST_SHARDS,
        "ListStreamConsumers" => &LIST_STREAM_CONSUMERS,
        "ListStreams" => &LIST_STREAMS,
        "ListTagsForResource" | "GetResourcePolicy" | "DeleteResourcePolicy" => &RESOURCE_ONLY,
        "PutResourcePolicy" => &PUT_RESOURCE_POLICY,
        "ListTagsForStream" => &LIST_TAGS_FOR_STREAM,
        "MergeShards" => &MERGE_SHARDS,
        "PutRecord" => &PUT_RECORD,
        "PutRecords" => &PUT_RECORDS,
        "RegisterStreamConsumer" => &REGISTER_STREAM_CONSUMER,
        "RemoveTagsFromStream" => &REMOVE_TAGS_FROM_STREAM,
        "SplitShard" => &SPLIT_SHARD,
        "StartStreamEncryption" | "StopStreamEncryption" => &ENCRYPTION,
        "SubscribeToShard" => &SUBSCRIBE_TO_SHARD,
        "TagResource" => &TAG_RESOURCE,
        "UntagResource" => &UNTAG_RESOURCE,
        "UpdateAccountSettings" => &UPDATE_ACCOUNT_SETTINGS,
        "UpdateShardCount" => &UPDATE_SHARD_COUNT,
        "UpdateStreamMode" => &UPDATE_STREAM_MODE,
        _ => return None,
    })
}
