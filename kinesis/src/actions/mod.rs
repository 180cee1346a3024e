//! The Kinesis actions: request decoding, engine calls and reply shapes.

mod admin;
pub(crate) mod consumers;
pub mod fast;
pub(crate) mod leases;
mod records;
mod shards;
mod streams;

use freshet_storage::{ChildShard, Record, ShardDescription, StreamDescription, StreamMode};

use crate::state::KinesisState;
use freshet_protocol::request::Req;
use freshet_protocol::value::{map, Value};
use freshet_protocol::{ApiError, ApiResult};

/// Every action the server knows, by its `X-Amz-Target` suffix.
pub const ACTIONS: &[&str] = &[
    "AddTagsToStream",
    "CreateStream",
    "DecreaseStreamRetentionPeriod",
    "DeleteStream",
    "DeregisterStreamConsumer",
    "DescribeAccountSettings",
    "DescribeLimits",
    "DescribeStream",
    "DescribeStreamConsumer",
    "DescribeStreamSummary",
    "DisableEnhancedMonitoring",
    "EnableEnhancedMonitoring",
    "GetRecords",
    "GetShardIterator",
    "IncreaseStreamRetentionPeriod",
    "ListShards",
    "ListStreamConsumers",
    "ListStreams",
    "ListTagsForResource",
    "ListTagsForStream",
    "MergeShards",
    "PutRecord",
    "PutRecords",
    "RegisterStreamConsumer",
    "RemoveTagsFromStream",
    "SplitShard",
    "StartStreamEncryption",
    "StopStreamEncryption",
    "SubscribeToShard",
    "TagResource",
    "UntagResource",
    "UpdateAccountSettings",
    "UpdateShardCount",
    "UpdateStreamMode",
];

/// Runs one action on a decoded request. Blocks (engine calls): run it on a blocking
/// thread. Writes are not committed once `deadline` has passed.
pub fn dispatch(
    state: &KinesisState,
    action: &str,
    body: &Value,
    deadline: std::time::Instant,
) -> ApiResult<Value> {
    let req = Req::new(body);
    match action {
        "CreateStream" => streams::create_stream(state, req),
        "DeleteStream" => streams::delete_stream(state, req),
        "DescribeStream" => streams::describe_stream(state, req),
        "DescribeStreamSummary" => streams::describe_stream_summary(state, req),
        "ListStreams" => streams::list_streams(state, req),
        "ListShards" => shards::list_shards(state, req),
        "PutRecord" => records::put_record(state, req, deadline),
        "PutRecords" => records::put_records(state, req, deadline),
        "GetShardIterator" => records::get_shard_iterator(state, req),
        "GetRecords" => records::get_records(state, req),
        "SplitShard" => shards::split_shard(state, req),
        "MergeShards" => shards::merge_shards(state, req),
        "UpdateShardCount" => shards::update_shard_count(state, req),
        "IncreaseStreamRetentionPeriod" => admin::retention(state, req, true),
        "DecreaseStreamRetentionPeriod" => admin::retention(state, req, false),
        "AddTagsToStream" => admin::add_tags_to_stream(state, req),
        "RemoveTagsFromStream" => admin::remove_tags_from_stream(state, req),
        "ListTagsForStream" => admin::list_tags_for_stream(state, req),
        "TagResource" => admin::tag_resource(state, req),
        "UntagResource" => admin::untag_resource(state, req),
        "ListTagsForResource" => admin::list_tags_for_resource(state, req),
        "UpdateStreamMode" => admin::update_stream_mode(state, req),
        "StartStreamEncryption" => admin::encryption(state, req, true),
        "StopStreamEncryption" => admin::encryption(state, req, false),
        "EnableEnhancedMonitoring" => admin::monitoring(state, req, true),
        "DisableEnhancedMonitoring" => admin::monitoring(state, req, false),
        "DescribeLimits" => admin::describe_limits(state),
        "RegisterStreamConsumer" => consumers::register(state, req),
        "DeregisterStreamConsumer" => consumers::deregister(state, req),
        "DescribeStreamConsumer" => consumers::describe(state, req),
        "ListStreamConsumers" => consumers::list(state, req),
        "DescribeAccountSettings" | "UpdateAccountSettings" => Ok(admin::account_settings()),
        a if leases::ACTIONS.contains(&a) => leases::dispatch(state, a, req),
        other => Err(ApiError::unknown_operation(format!(
            "The action or operation {other} is not valid for this endpoint."
        ))),
    }
}

/// Checks a stream name against AWS's rules.
pub(crate) fn check_stream_name(name: &str) -> ApiResult<()> {
    freshet_storage::validate::stream_name(name).map_err(|e| ApiError::validation(e.to_string()))
}

/// Parses `arn:aws:kinesis:REGION:ACCOUNT:stream/NAME` into the stream name.
pub(crate) fn name_from_arn(arn: &str, field: &str) -> ApiResult<String> {
    let bad = || {
        ApiError::constraint(
            arn,
            field,
            "Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+",
        )
    };
    if arn.is_empty() || arn.len() > 2048 {
        return Err(ApiError::constraint(
            arn,
            field,
            "Member must have length between 1 and 2048",
        ));
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [arn_lit, partition, service, _region, account, resource] = parts.as_slice() else {
        return Err(bad());
    };
    if *arn_lit != "arn" || !partition.starts_with("aws") || *service != "kinesis" {
        return Err(bad());
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let name = resource.strip_prefix("stream/").ok_or_else(bad)?;
    // A consumer ARN (stream/NAME/consumer/...) names its stream first.
    let name = name.split('/').next().unwrap_or_default();
    check_stream_name(name)?;
    Ok(name.to_string())
}

/// The stream a request names, by StreamName or StreamARN.
pub(crate) fn stream_name(req: Req<'_>) -> ApiResult<String> {
    let name = req.opt_str("StreamName")?;
    let arn = req.opt_str("StreamARN")?;
    stream_name_of(name, arn)
}

/// The stream named by a StreamName and/or a StreamARN member, checked.
pub(crate) fn stream_name_of(name: Option<&str>, arn: Option<&str>) -> ApiResult<String> {
    match (name, arn) {
        (Some(name), None) => {
            check_stream_name(name)?;
            Ok(name.to_string())
        }
        (None, Some(arn)) => name_from_arn(arn, "streamARN"),
        (Some(name), Some(arn)) => {
            check_stream_name(name)?;
            let from_arn = name_from_arn(arn, "streamARN")?;
            if from_arn != name {
                return Err(ApiError::invalid(format!(
                    "StreamARN {arn} and StreamName {name} do not name the same stream."
                )));
            }
            Ok(from_arn)
        }
        (None, None) => Err(ApiError::invalid(
            "Either StreamName or StreamARN should be provided.",
        )),
    }
}

/// The API spelling of a stream mode.
pub(crate) fn mode_str(mode: StreamMode) -> &'static str {
    match mode {
        StreamMode::Provisioned => "PROVISIONED",
        StreamMode::OnDemand => "ON_DEMAND",
    }
}

/// Parses StreamModeDetails.
pub(crate) fn parse_mode(req: Req<'_>) -> ApiResult<Option<StreamMode>> {
    let Some(details) = req.opt_struct("StreamModeDetails")? else {
        return Ok(None);
    };
    match details.str("StreamMode")? {
        "PROVISIONED" => Ok(Some(StreamMode::Provisioned)),
        "ON_DEMAND" => Ok(Some(StreamMode::OnDemand)),
        other => Err(ApiError::constraint(
            other,
            "streamModeDetails.streamMode",
            "Member must satisfy enum value set: [ON_DEMAND, PROVISIONED]",
        )),
    }
}

/// A Shard structure.
pub(crate) fn shard_value(s: &ShardDescription) -> Value {
    map([
        ("ShardId", Value::str(&s.shard_id)),
        ("ParentShardId", Value::opt_str(s.parent_shard_id.clone())),
        (
            "AdjacentParentShardId",
            Value::opt_str(s.adjacent_parent_shard_id.clone()),
        ),
        (
            "HashKeyRange",
            map([
                ("StartingHashKey", Value::str(s.range.start.to_string())),
                ("EndingHashKey", Value::str(s.range.end.to_string())),
            ]),
        ),
        (
            "SequenceNumberRange",
            map([
                (
                    "StartingSequenceNumber",
                    Value::str(s.starting_sequence_number.to_string()),
                ),
                (
                    "EndingSequenceNumber",
                    Value::opt_str(s.ending_sequence_number.map(|n| n.to_string())),
                ),
            ]),
        ),
    ])
}

/// The EnhancedMonitoring list of a description.
pub(crate) fn monitoring_value(d: &StreamDescription) -> Value {
    Value::List(vec![map([(
        "ShardLevelMetrics",
        Value::List(d.shard_level_metrics.iter().map(Value::str).collect()),
    )])])
}

/// EncryptionType and KeyId of a description.
pub(crate) fn encryption_values(d: &StreamDescription) -> (Value, Value) {
    match &d.encryption {
        Some(e) => (Value::str(&e.encryption_type), Value::str(&e.key_id)),
        None => (Value::str("NONE"), Value::Null),
    }
}

/// StreamModeDetails of a description.
pub(crate) fn mode_value(mode: StreamMode) -> Value {
    map([("StreamMode", Value::str(mode_str(mode)))])
}

/// A Record structure (GetRecords, SubscribeToShardEvent).
pub(crate) fn record_value(r: &Record) -> Value {
    map([
        ("SequenceNumber", Value::str(r.sequence_number.to_string())),
        (
            "ApproximateArrivalTimestamp",
            Value::Timestamp(r.arrival_ms),
        ),
        ("Data", Value::Bytes(r.data.clone())),
        (
            "PartitionKey",
            Value::str(String::from_utf8_lossy(&r.partition_key)),
        ),
    ])
}

/// A ChildShards list (GetRecords, SubscribeToShardEvent).
pub(crate) fn child_shards_value(children: &[ChildShard]) -> Value {
    Value::List(
        children
            .iter()
            .map(|c| {
                map([
                    ("ShardId", Value::str(&c.shard_id)),
                    (
                        "ParentShards",
                        Value::List(c.parent_shards.iter().map(Value::str).collect()),
                    ),
                    (
                        "HashKeyRange",
                        map([
                            ("StartingHashKey", Value::str(c.range.start.to_string())),
                            ("EndingHashKey", Value::str(c.range.end.to_string())),
                        ]),
                    ),
                ])
            })
            .collect(),
    )
}

/// The reply of an action that returns nothing.
pub(crate) fn empty() -> Value {
    Value::Map(Vec::new())
}
