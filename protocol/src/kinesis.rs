//! Request and response types of the Kinesis API, shared by the client's
//! `KinesisApi` implementations, the KPL format and the Kinesis service; the input
//! rules ([`rules`]) and every action's input shape ([`model`]).

pub mod model;
pub mod rules;

pub use crate::hash_key::HashKeyRange;
use bytes::Bytes;

/// Most entries of one `PutRecords` call.
pub const MAX_PUT_RECORDS_ENTRIES: usize = 500;
/// Most bytes (data plus partition keys) of one `PutRecords` call: 5 MiB.
pub const MAX_PUT_RECORDS_BYTES: usize = 5 * 1024 * 1024;
/// Most bytes (data plus partition key) of one Kinesis record: 1 MiB.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// A stream's status.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamStatus {
    /// Being created.
    Creating,
    /// Usable.
    Active,
    /// Being resharded or updated.
    Updating,
    /// Being deleted.
    Deleting,
    /// A status this client does not know.
    Other(String),
}

impl StreamStatus {
    /// Parses the API spelling.
    pub fn parse(s: &str) -> StreamStatus {
        match s {
            "CREATING" => StreamStatus::Creating,
            "ACTIVE" => StreamStatus::Active,
            "UPDATING" => StreamStatus::Updating,
            "DELETING" => StreamStatus::Deleting,
            other => StreamStatus::Other(other.to_string()),
        }
    }
}

/// What `DescribeStreamSummary` returns.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSummary {
    /// Name.
    pub stream_name: String,
    /// ARN (empty for the in-process engine).
    pub stream_arn: String,
    /// Status.
    pub stream_status: StreamStatus,
    /// Retention, hours.
    pub retention_period_hours: u32,
    /// Open shards.
    pub open_shard_count: u32,
    /// Creation time, ms since the epoch.
    pub creation_ms: i64,
    /// `PROVISIONED` or `ON_DEMAND`.
    pub stream_mode: String,
    /// `NONE` or `KMS`.
    pub encryption_type: String,
}

/// A shard, as `ListShards` and `DescribeStream` list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// `shardId-...`.
    pub shard_id: String,
    /// Parent, after a split or merge.
    pub parent_shard_id: Option<String>,
    /// Other parent, after a merge.
    pub adjacent_parent_shard_id: Option<String>,
    /// Hash keys it owns.
    pub hash_key_range: HashKeyRange,
    /// First sequence number.
    pub starting_sequence_number: String,
    /// Last sequence number, once closed.
    pub ending_sequence_number: Option<String>,
}

impl Shard {
    /// Whether the shard is open (takes writes).
    pub fn is_open(&self) -> bool {
        self.ending_sequence_number.is_none()
    }
}

/// One record to put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRecordsEntry {
    /// Partition key (1 to 256 characters).
    pub partition_key: String,
    /// Hash key overriding the MD5 of the partition key.
    pub explicit_hash_key: Option<u128>,
    /// Data (up to 1 MiB with the partition key).
    pub data: Bytes,
}

impl PutRecordsEntry {
    /// A record routed by its partition key.
    pub fn new(partition_key: impl Into<String>, data: impl Into<Bytes>) -> Self {
        PutRecordsEntry {
            partition_key: partition_key.into(),
            explicit_hash_key: None,
            data: data.into(),
        }
    }

    /// Sets the explicit hash key.
    pub fn with_explicit_hash_key(mut self, key: u128) -> Self {
        self.explicit_hash_key = Some(key);
        self
    }

    /// Bytes this entry counts against the request limits: data plus partition key.
    pub fn billed_len(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// Where a put landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRecordOutput {
    /// The shard.
    pub shard_id: String,
    /// The record's sequence number.
    pub sequence_number: String,
}

/// Why one entry of a `PutRecords` call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// `ProvisionedThroughputExceededException` or `InternalFailure`.
    pub error_code: String,
    /// The service's message.
    pub error_message: String,
}

impl RecordError {
    /// Whether the entry failed on throttling.
    pub fn is_throttling(&self) -> bool {
        self.error_code == "ProvisionedThroughputExceededException"
            || self.error_code == "ThrottlingException"
    }
}

/// What `PutRecords` returns: one result per entry, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRecordsOutput {
    /// Entries that failed.
    pub failed_record_count: usize,
    /// Results, in request order.
    pub records: Vec<Result<PutRecordOutput, RecordError>>,
}

/// Where a shard iterator starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardIteratorType {
    /// The oldest retained record.
    TrimHorizon,
    /// Just after the newest record.
    Latest,
    /// At a sequence number.
    AtSequenceNumber(String),
    /// Just after a sequence number.
    AfterSequenceNumber(String),
    /// The first record that arrived at or after a time, ms since the epoch.
    AtTimestamp(i64),
}

/// A record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Sequence number.
    pub sequence_number: String,
    /// Approximate arrival time, ms since the epoch.
    pub approximate_arrival_ms: Option<i64>,
    /// Partition key.
    pub partition_key: String,
    /// Data.
    pub data: Bytes,
}

/// A child of a closed shard, reported when a read reaches its parent's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildShard {
    /// The child's id.
    pub shard_id: String,
    /// Its parents.
    pub parent_shards: Vec<String>,
    /// Its hash keys.
    pub hash_key_range: HashKeyRange,
}

/// What `GetRecords` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetRecordsOutput {
    /// Records, in order.
    pub records: Vec<Record>,
    /// Iterator for the next call; `None` once a closed shard is read to its end.
    pub next_shard_iterator: Option<String>,
    /// How far behind the newest record this read is, ms.
    pub millis_behind_latest: Option<u64>,
    /// The children, once a closed shard is read to its end.
    pub child_shards: Option<Vec<ChildShard>>,
}

/// What `UpdateShardCount` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateShardCountOutput {
    /// Open shards before.
    pub current_shard_count: u32,
    /// Open shards after.
    pub target_shard_count: u32,
}

/// Where a `SubscribeToShard` subscription starts: the same five positions as a shard
/// iterator (`AFTER_SEQUENCE_NUMBER` with a ContinuationSequenceNumber resumes a
/// subscription where the previous one ended).
pub type StartingPosition = ShardIteratorType;

/// A registered stream consumer's status.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsumerStatus {
    /// Registered, not yet usable by `SubscribeToShard`.
    Creating,
    /// Usable.
    Active,
    /// Deregistered, not yet gone.
    Deleting,
    /// A status this client does not know.
    Other(String),
}

impl ConsumerStatus {
    /// Parses the API spelling.
    pub fn parse(s: &str) -> ConsumerStatus {
        match s {
            "CREATING" => ConsumerStatus::Creating,
            "ACTIVE" => ConsumerStatus::Active,
            "DELETING" => ConsumerStatus::Deleting,
            other => ConsumerStatus::Other(other.to_string()),
        }
    }
}

/// A registered stream consumer (enhanced fan-out), as `RegisterStreamConsumer`,
/// `DescribeStreamConsumer` and `ListStreamConsumers` return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerDescription {
    /// The consumer's name, unique in its stream.
    pub consumer_name: String,
    /// Its ARN, which `SubscribeToShard` takes.
    pub consumer_arn: String,
    /// Its status.
    pub consumer_status: ConsumerStatus,
    /// Registration time, ms since the epoch.
    pub creation_ms: i64,
    /// The ARN of its stream.
    pub stream_arn: String,
}

/// One `SubscribeToShardEvent` of an enhanced fan-out subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeToShardEvent {
    /// Records, in order (possibly none: a keep-alive or the shard's end).
    pub records: Vec<Record>,
    /// Resume after this sequence number (`AFTER_SEQUENCE_NUMBER`) to continue where
    /// this event leaves off.
    pub continuation_sequence_number: String,
    /// How far behind the newest record of the shard this event is, ms.
    pub millis_behind_latest: u64,
    /// The children, in the last event of a closed shard read to its end.
    pub child_shards: Option<Vec<ChildShard>>,
}
