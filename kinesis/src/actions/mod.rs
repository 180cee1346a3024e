//! The Kinesis actions: request validation (AWS's, declared per action in
//! [`freshet_protocol::kinesis::model`]), engine calls and reply shapes.

mod admin;
pub(crate) mod consumers;
pub mod fast;
pub(crate) mod leases;
pub(crate) mod policies;
mod records;
mod replies;
pub(crate) use records::retained_shard;
mod shards;
mod streams;

use freshet_storage::{ChildShard, Record, ShardDescription, StreamMode};

use crate::state::KinesisState;
use freshet_protocol::kinesis::{model, rules};
use freshet_protocol::request::Req;
use freshet_protocol::validate::{validate, validation_error, Shape};
use freshet_protocol::value::{map, Value};
use freshet_protocol::writer::ValueWriter;
use freshet_protocol::{ApiError, ApiResult};

/// Every action the server knows, by its `X-Amz-Target` suffix.
pub const ACTIONS: &[&str] = &[
    "AddTagsToStream",
    "CreateStream",
    "DecreaseStreamRetentionPeriod",
    "DeleteResourcePolicy",
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
    "GetResourcePolicy",
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
    "PutResourcePolicy",
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

/// The input shape of an action: a Kinesis action's, or one of Freshet's lease
/// actions'.
pub(crate) fn input_shape(action: &str) -> Option<&'static Shape> {
    model::input(action).or_else(|| leases::input(action))
}

/// Runs one action on a decoded request: AWS's validation of its members first (see
/// [`freshet_protocol::validate`]), then the action on the normalized request. Blocks
/// (engine calls): run it on a blocking thread. Writes are not committed once
/// `deadline` has passed.
pub fn dispatch(
    state: &KinesisState,
    action: &str,
    body: &Value,
    deadline: std::time::Instant,
) -> ApiResult<Value> {
    let Some(shape) = input_shape(action) else {
        return Err(unknown_operation(action));
    };
    let doc = validate(shape, body)?;
    let req = Req::new(&doc);
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
        "PutResourcePolicy" => policies::put(state, req),
        "GetResourcePolicy" => policies::get(state, req),
        "DeleteResourcePolicy" => policies::delete(state, req),
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
        // SubscribeToShard replies with an event stream: the service runs it apart.
        other => Err(unknown_operation(other)),
    }
}

fn unknown_operation(action: &str) -> ApiError {
    ApiError::unknown_operation(format!(
        "The action or operation {action} is not valid for this endpoint."
    ))
}

/// The ResourceNotFoundException of a stream that does not exist.
pub(crate) fn stream_not_found(state: &KinesisState, name: &str) -> ApiError {
    ApiError::not_found(format!(
        "Stream {name} under account {} not found.",
        state.cfg.account_id
    ))
}

/// The stream an ARN's resource part names (`NAME`, or `NAME/consumer/...` for a
/// consumer's ARN); a resource that is no stream name names no stream.
fn stream_of_resource(state: &KinesisState, resource: &str) -> ApiResult<String> {
    let name = resource.split('/').next().unwrap_or_default();
    if rules::STREAM_NAME.accepts_str(name) {
        Ok(name.to_string())
    } else {
        Err(stream_not_found(state, resource))
    }
}

/// The stream a StreamARN names (its pattern already checked by validation).
pub(crate) fn name_from_stream_arn(state: &KinesisState, arn: &str) -> ApiResult<String> {
    match rules::stream_arn_resource(arn) {
        Some(resource) => stream_of_resource(state, resource),
        None => Err(validation_error(
            &rules::STREAM_ARN.violations(Some(&Value::str(arn)), "streamARN"),
        )),
    }
}

/// The stream a ResourceARN names (its pattern already checked by validation).
pub(crate) fn name_from_resource_arn(state: &KinesisState, arn: &str) -> ApiResult<String> {
    match rules::resource_arn_resource(arn) {
        Some(resource) => stream_of_resource(state, resource),
        None => Err(validation_error(
            &rules::RESOURCE_ARN.violations(Some(&Value::str(arn)), "resourceARN"),
        )),
    }
}

/// The stream a (validated) request names, by StreamName or StreamARN.
pub(crate) fn stream_name(state: &KinesisState, req: Req<'_>) -> ApiResult<String> {
    stream_name_of(state, req.opt_str("StreamName")?, req.opt_str("StreamARN")?)
}

/// The stream named by a StreamName and/or a StreamARN member whose rules hold: both
/// must name the same stream, and one must be given.
pub(crate) fn stream_name_of(
    state: &KinesisState,
    name: Option<&str>,
    arn: Option<&str>,
) -> ApiResult<String> {
    match (name, arn) {
        (Some(name), None) => Ok(name.to_string()),
        (None, Some(arn)) => name_from_stream_arn(state, arn),
        (Some(name), Some(arn)) => {
            let from_arn = name_from_stream_arn(state, arn)?;
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

/// Resolves a shard id as Kinesis does: by the number after its first `-` (or the
/// whole id without one), which must fit a Java `int`: `shardId-5`, `any-5` and `5`
/// all name `shardId-000000000005`. Anything else is AWS's "Could not find shard".
pub(crate) fn resolve_shard_id(
    state: &KinesisState,
    stream: &str,
    raw: &str,
) -> ApiResult<(String, u64)> {
    let digits = match raw.split('-').nth(1) {
        Some(d) if !d.is_empty() => d,
        _ => raw,
    };
    let index = (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse::<u64>().ok())
        .flatten()
        .filter(|&i| i <= i32::MAX as u64);
    match index {
        Some(i) => Ok((freshet_storage::shard_id(i), i)),
        None => Err(ApiError::not_found(format!(
            "Could not find shard {raw} in stream {stream} under account {}.",
            state.cfg.account_id
        ))),
    }
}

/// The API spelling of a stream mode.
pub(crate) fn mode_str(mode: StreamMode) -> &'static str {
    match mode {
        StreamMode::Provisioned => "PROVISIONED",
        StreamMode::OnDemand => "ON_DEMAND",
    }
}

/// Parses (validated) StreamModeDetails.
pub(crate) fn parse_mode(req: Req<'_>) -> ApiResult<Option<StreamMode>> {
    let Some(details) = req.opt_struct("StreamModeDetails")? else {
        return Ok(None);
    };
    Ok(match details.str("StreamMode")? {
        "ON_DEMAND" => Some(StreamMode::OnDemand),
        _ => Some(StreamMode::Provisioned),
    })
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

/// The EnhancedMonitoring list of a stream.
pub(crate) fn monitoring_value(shard_level_metrics: &[String]) -> Value {
    Value::List(vec![map([(
        "ShardLevelMetrics",
        Value::List(shard_level_metrics.iter().map(Value::str).collect()),
    )])])
}

/// EncryptionType and KeyId of a stream.
pub(crate) fn encryption_values(
    encryption: Option<&freshet_storage::Encryption>,
) -> (Value, Value) {
    match encryption {
        Some(e) => (Value::str(&e.encryption_type), Value::str(&e.key_id)),
        None => (Value::str("NONE"), Value::Null),
    }
}

/// StreamModeDetails of a description.
pub(crate) fn mode_value(mode: StreamMode) -> Value {
    map([("StreamMode", Value::str(mode_str(mode)))])
}

/// A Record structure (SubscribeToShardEvent), as GetRecords writes it.
pub(crate) fn record_value(r: &Record) -> Value {
    let mut w = ValueWriter::default();
    replies::record(&mut w, r);
    w.finish()
}

/// A ChildShards list (SubscribeToShardEvent), as GetRecords writes it.
pub(crate) fn child_shards_value(children: &[ChildShard]) -> Value {
    let mut w = ValueWriter::default();
    replies::child_shards(&mut w, children);
    w.finish()
}

/// The reply of an action that returns nothing.
pub(crate) fn empty() -> Value {
    Value::Map(Vec::new())
}
