//! Public request and response types of the engine.

use std::collections::BTreeMap;

use bytes::Bytes;
pub use bytestring::ByteString;

use crate::catalog::{Encryption, StreamMode};
use crate::hash_key::HashKeyRange;
use crate::sequence::SequenceNumber;

/// Largest data blob of a record: 1 MiB (Kinesis' rule, from `freshet-protocol`).
pub const MAX_DATA_BYTES: usize = freshet_protocol::kinesis::rules::MAX_DATA_BYTES;
/// Longest partition key, in Unicode characters (Kinesis' rule).
pub const MAX_PARTITION_KEY_CHARS: usize = freshet_protocol::kinesis::rules::MAX_PARTITION_KEY_LEN;
/// Most records in one `put_records` call (Kinesis' rule).
pub const MAX_PUT_RECORDS: usize = freshet_protocol::kinesis::rules::MAX_PUT_RECORDS;
/// Most records one read returns.
pub const MAX_READ_RECORDS: usize = 10_000;
/// Most bytes one read returns.
pub const MAX_READ_BYTES: usize = 10 * 1024 * 1024;
/// Shortest retention, hours.
pub const MIN_RETENTION_HOURS: u32 = 24;
/// Longest retention, hours.
pub const MAX_RETENTION_HOURS: u32 = 8760;

/// The shard-level metrics of enhanced monitoring (`ALL` stands for every one).
pub const SHARD_LEVEL_METRICS: [&str; 7] = [
    "IncomingBytes",
    "IncomingRecords",
    "OutgoingBytes",
    "OutgoingRecords",
    "WriteProvisionedThroughputExceeded",
    "ReadProvisionedThroughputExceeded",
    "IteratorAgeMilliseconds",
];

/// The text form of a shard id: `shardId-000000000007`.
pub fn shard_id(index: u64) -> String {
    format!("shardId-{index:012}")
}

/// Parses a shard id (`shardId-` followed by digits).
pub fn parse_shard_id(id: &str) -> Option<u64> {
    let digits = id.strip_prefix("shardId-")?;
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Options of `create_stream`.
#[derive(Debug, Clone)]
pub struct CreateStream {
    /// Stream name.
    pub name: String,
    /// Number of shards.
    pub shard_count: u32,
    /// Capacity mode.
    pub mode: StreamMode,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// How long the stream stays CREATING, ms.
    pub activation_delay_ms: i64,
}

impl CreateStream {
    /// A provisioned stream with `shard_count` shards, active at once.
    pub fn new(name: impl Into<String>, shard_count: u32) -> Self {
        CreateStream {
            name: name.into(),
            shard_count,
            mode: StreamMode::Provisioned,
            tags: BTreeMap::new(),
            activation_delay_ms: 0,
        }
    }
}

/// A stream's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStatus {
    /// Being created.
    Creating,
    /// Usable.
    Active,
    /// Being resharded.
    Updating,
    /// Being deleted.
    Deleting,
}

impl StreamStatus {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamStatus::Creating => "CREATING",
            StreamStatus::Active => "ACTIVE",
            StreamStatus::Updating => "UPDATING",
            StreamStatus::Deleting => "DELETING",
        }
    }
}

/// A shard as described to callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardDescription {
    /// `shardId-...`.
    pub shard_id: String,
    /// Index in the stream.
    pub index: u64,
    /// Hash keys it owns.
    pub range: HashKeyRange,
    /// Parent, after a split or merge.
    pub parent_shard_id: Option<String>,
    /// Other parent, after a merge.
    pub adjacent_parent_shard_id: Option<String>,
    /// First possible sequence number.
    pub starting_sequence_number: SequenceNumber,
    /// Last sequence number, for a closed shard.
    pub ending_sequence_number: Option<SequenceNumber>,
    /// Creation time, ms.
    pub created_ms: i64,
    /// When a reshard closed it, ms.
    pub closed_ms: Option<i64>,
}

impl ShardDescription {
    /// Whether the shard is closed.
    pub fn is_closed(&self) -> bool {
        self.ending_sequence_number.is_some()
    }
}

/// A stream as described to callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDescription {
    /// Name.
    pub name: String,
    /// Incarnation id.
    pub uid: u64,
    /// Status.
    pub status: StreamStatus,
    /// Creation time, ms.
    pub created_ms: i64,
    /// Retention, hours.
    pub retention_hours: u32,
    /// Capacity mode.
    pub mode: StreamMode,
    /// Encryption settings.
    pub encryption: Option<Encryption>,
    /// Enhanced monitoring.
    pub shard_level_metrics: Vec<String>,
    /// Retained shards (open and closed), by index.
    pub shards: Vec<ShardDescription>,
}

impl StreamDescription {
    /// Number of open shards.
    pub fn open_shard_count(&self) -> usize {
        self.shards.iter().filter(|s| !s.is_closed()).count()
    }
}

/// A stream's settings and state without its shard list: what a put reply or a
/// DescribeStreamSummary needs, at a cost independent of the number of shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSummary {
    /// Name.
    pub name: String,
    /// Incarnation id.
    pub uid: u64,
    /// Status.
    pub status: StreamStatus,
    /// Creation time, ms.
    pub created_ms: i64,
    /// Retention, hours.
    pub retention_hours: u32,
    /// Capacity mode.
    pub mode: StreamMode,
    /// Encryption settings.
    pub encryption: Option<Encryption>,
    /// Enhanced monitoring.
    pub shard_level_metrics: Vec<String>,
    /// Number of open shards.
    pub open_shard_count: usize,
}

/// One shard's state, looked up by id without touching the stream's other shards:
/// what a read needs to know about the shard it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardState {
    /// `shardId-...`.
    pub shard_id: String,
    /// Index in the stream.
    pub index: u64,
    /// Hash keys it owns (owned, while it was open).
    pub range: HashKeyRange,
    /// Parent, after a split or merge.
    pub parent_shard_id: Option<String>,
    /// Other parent, after a merge.
    pub adjacent_parent_shard_id: Option<String>,
    /// For a closed shard, the offset after its last record (`None`: open).
    pub end_offset: Option<u64>,
    /// For a closed shard, its last sequence number.
    pub ending_sequence_number: Option<SequenceNumber>,
    /// When a reshard closed it, ms.
    pub closed_ms: Option<i64>,
    /// The shards a reshard made of it (empty while it is open).
    pub children: Vec<ChildShard>,
    /// Offset of the oldest retained record (the trim horizon).
    pub start_offset: u64,
    /// Offset after the newest readable record.
    pub next_offset: u64,
    /// Arrival time of the newest readable record, ms (`None`: nothing written yet).
    pub newest_arrival_ms: Option<i64>,
}

impl ShardState {
    /// Whether a reshard closed the shard.
    pub fn is_closed(&self) -> bool {
        self.end_offset.is_some()
    }

    /// Whether a read from `offset` has nothing left to read, ever: the shard is closed
    /// and `offset` is at or past its end.
    pub fn is_finished_at(&self, offset: u64) -> bool {
        self.end_offset.is_some_and(|end| offset >= end)
    }
}

/// One record to put. Its key and data may be slices of one buffer per request (no
/// allocation per record): both are reference-counted views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRecordInput {
    /// Partition key (1 to 256 characters).
    pub partition_key: ByteString,
    /// Hash key overriding the MD5 of the partition key.
    pub explicit_hash_key: Option<u128>,
    /// Data (up to 1 MiB).
    pub data: Bytes,
}

impl PutRecordInput {
    /// A record routed by its partition key.
    pub fn new(partition_key: impl Into<ByteString>, data: impl Into<Bytes>) -> Self {
        PutRecordInput {
            partition_key: partition_key.into(),
            explicit_hash_key: None,
            data: data.into(),
        }
    }
}

/// Where a put landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    /// The shard (shared by every record of a batch that landed there).
    pub shard_id: std::sync::Arc<str>,
    /// The record's sequence number.
    pub sequence_number: SequenceNumber,
}

/// Why one record of a `put_records` call failed (the others may have succeeded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFailure {
    /// `InternalFailure` or `ProvisionedThroughputExceededException`.
    pub error_code: String,
    /// What happened.
    pub message: String,
}

/// Where a read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    /// The oldest retained record.
    TrimHorizon,
    /// Just after the newest record.
    Latest,
    /// At a sequence number.
    AtSequenceNumber(SequenceNumber),
    /// Just after a sequence number.
    AfterSequenceNumber(SequenceNumber),
    /// The first record that arrived at or after a time (ms).
    AtTimestamp(i64),
}

/// A record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Sequence number.
    pub sequence_number: SequenceNumber,
    /// Approximate arrival time, ms.
    pub arrival_ms: i64,
    /// Partition key (UTF-8 bytes, zero-copy).
    pub partition_key: Bytes,
    /// Data (zero-copy slice of the log).
    pub data: Bytes,
}

impl Record {
    /// The partition key as text.
    pub fn partition_key_str(&self) -> &str {
        std::str::from_utf8(&self.partition_key).unwrap_or_default()
    }
}

/// A child of a closed shard, reported when a read reaches the end of its parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildShard {
    /// The child's id.
    pub shard_id: String,
    /// Its parents.
    pub parent_shards: Vec<String>,
    /// Its hash keys.
    pub range: HashKeyRange,
}

/// The result of a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Records in order.
    pub records: Vec<Record>,
    /// Offset to read from next.
    pub next_offset: u64,
    /// How far behind the newest record this read is, ms (0 when caught up).
    pub millis_behind_latest: u64,
    /// `Some` once a closed shard has been read to its end: its children.
    pub child_shards: Option<Vec<ChildShard>>,
}

/// What a retention pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Segment files deleted.
    pub segments_deleted: usize,
    /// Closed shards whose data all expired and that left the listings.
    pub shards_expired: usize,
}
