//! How the Kinesis service words the engine's errors: AWS's exception types and
//! messages.

use freshet_protocol::ApiError;
use freshet_storage::Error as StorageError;

/// The sentence that closes AWS's shard-limit messages.
pub const LIMITS_PAGE: &str = "Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits and how to request higher limits.";

/// Maps an engine error onto AWS's exception types and messages, naming the account in
/// stream messages as AWS does. The engine's errors carry facts; the wording is here.
pub fn from_storage(e: StorageError, account: &str) -> ApiError {
    use freshet_storage::StreamNameRule;
    use StorageError as E;
    match e {
        E::StreamNotFound { stream }
        | E::StreamNotActive { stream, .. }
        | E::StreamDeleted { stream } => ApiError::not_found(format!(
            "Stream {stream} under account {account} not found."
        )),
        E::StreamExists { stream } => ApiError::in_use(format!(
            "Stream {stream} under account {account} already exists."
        )),
        E::ShardNotFound { stream, shard } => ApiError::not_found(format!(
            "Shard {shard} in stream {stream} under account {account} does not exist"
        )),
        E::InvalidStreamName { name, rule } => ApiError::validation(format!(
            "1 validation error detected: Value '{name}' at 'streamName' failed to satisfy constraint: {}",
            match rule {
                StreamNameRule::Length => "Member must have length between 1 and 128",
                StreamNameRule::Characters => {
                    "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
                }
            }
        )),
        E::InvalidShardCount { requested } => ApiError::validation(format!(
            "1 validation error detected: Value '{requested}' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1"
        )),
        E::PartitionKeyLength { key, .. } => ApiError::validation(format!(
            "1 validation error detected: Value '{key}' at 'partitionKey' failed to satisfy constraint: Member must have length between 1 and 256"
        )),
        E::DataTooLarge { max, .. } => ApiError::validation(format!(
            "1 validation error detected: Value at 'data' failed to satisfy constraint: Member must have length less than or equal to {max}"
        )),
        E::RecordCount { count, max } => ApiError::validation(format!(
            "1 validation error detected: Value '{count}' at 'records' failed to satisfy constraint: Member must have length between 1 and {max}"
        )),
        E::RetentionOutOfRange { hours, min, max } => ApiError::invalid(format!(
            "Minimum allowed retention period is {min} hours. Maximum allowed retention period is {max} hours. Requested retention period ({hours} hours) is {}.",
            if hours < min { "too short" } else { "too long" }
        )),
        E::RetentionShorterThanCurrent {
            stream,
            requested,
            current,
        } => ApiError::invalid(format!(
            "Requested retention period ({requested} hours) for stream {stream} can not be shorter than existing retention period ({current} hours). Use DecreaseRetentionPeriod API."
        )),
        E::RetentionLongerThanCurrent {
            stream,
            requested,
            current,
        } => ApiError::invalid(format!(
            "Requested retention period ({requested} hours) for stream {stream} can not be longer than existing retention period ({current} hours). Use IncreaseRetentionPeriod API."
        )),
        E::InvalidSplitKey {
            stream,
            shard,
            key,
            start,
            end,
        } => ApiError::invalid(format!(
            "NewStartingHashKey {key} used in SplitShard() on shard {shard} in stream {stream} under account {account} is not both greater than one plus the shard's StartingHashKey {start} and less than the shard's EndingHashKey {end}."
        )),
        E::ShardsNotAdjacent {
            stream,
            shard,
            adjacent,
        } => ApiError::invalid(format!(
            "Shards {shard} and {adjacent} in stream {stream} under account {account} are not an adjacent pair of shards eligible for merging"
        )),
        E::SequenceNumberOfOtherShard {
            shard,
            sequence_number,
        } => ApiError::invalid(format!(
            "Invalid StartingSequenceNumber. It encodes {}, while it was used in a call to a shard with {shard}",
            freshet_storage::shard_id(sequence_number.shard_index)
        )),
        E::SequenceNumberBeyondEnd {
            stream,
            shard,
            sequence_number,
        } => ApiError::invalid(format!(
            "StartingSequenceNumber {sequence_number} used in GetShardIterator on shard {shard} in stream {stream} is greater than the last sequence number of the shard"
        )),
        E::InvalidLeaseName { what, name } => ApiError::invalid(format!(
            "{what} must be 1 to 256 characters without '/': '{name}'"
        )),
        E::InvalidServiceName { name } => ApiError::invalid(format!(
            "a service namespace is 1 to 64 characters of [a-z0-9-], not '{name}'"
        )),
        E::SegmentTooSmall { min, .. } => {
            ApiError::invalid(format!("segment size must be at least {min} bytes"))
        }
        e @ E::InvalidCursorStart { .. } => ApiError::invalid(e.to_string()),
        E::ShardClosed { stream, shard } => ApiError::in_use(format!(
            "Shard {shard} in stream {stream} under account {account} has already been merged or split, and thus is not eligible for merging or splitting."
        )),
        e @ E::ReshardRace { .. } => ApiError::in_use(e.to_string()),
        E::ShardLimitExceeded {
            open,
            requested,
            limit,
        } => ApiError::limit(format!(
            "This request would exceed the shard limit for the account. Current shard count for the account: {open}. Limit: {limit}. Number of additional shards that would have resulted from this request: {requested}."
        )),
        E::ScalingBeyondRange {
            current, target, ..
        } => ApiError::limit(if usize::try_from(target).unwrap_or(usize::MAX) > current {
            format!("UpdateShardCount cannot scale up over double your current open shard count. Current open shard count: {current}, Target shard count: {target}")
        } else {
            format!("UpdateShardCount cannot scale down below half your current open shard count. Current open shard count: {current}, Target shard count: {target}")
        }),
        E::ScalingRateExceeded {
            stream,
            recent,
            max_per_day,
        } => ApiError::limit(format!(
            "Stream {stream} under account {account} has already been scaled {recent} times in the last 24 hours. UpdateShardCount can scale a stream at most {max_per_day} times per rolling 24-hour period."
        )),
        E::TagLimitExceeded { stream, limit, .. } => ApiError::limit(format!(
            "Failed to add tags to stream {stream} under account: a stream can have at most {limit} tags"
        )),
        // A 503 is what every AWS SDK backs off on and retries by itself.
        e @ E::DiskFull { .. } => ApiError {
            kind: "ServiceUnavailable",
            message: e.to_string(),
            status: 503,
        },
        other => ApiError::internal(format!("Internal service failure: {other}")),
    }
}
