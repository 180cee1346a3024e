//! The one error type of the storage engine.

use std::path::PathBuf;

use crate::sequence::SequenceNumber;
use crate::types::{StartingPosition, StreamStatus};

/// Result alias used throughout the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the engine can fail with. Each variant is something a caller can act on;
/// the server maps them onto the Kinesis error types.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The named stream does not exist.
    #[error("Stream {stream} not found")]
    StreamNotFound {
        /// The stream name asked for.
        stream: String,
    },
    /// The stream a cursor was reading was deleted (or deleted and created again: the
    /// new stream is another incarnation, not read on).
    #[error("stream {stream} was deleted while it was being read")]
    StreamDeleted {
        /// The stream name.
        stream: String,
    },
    /// A stream with this name already exists.
    #[error("Stream {stream} already exists")]
    StreamExists {
        /// The stream name asked for.
        stream: String,
    },
    /// The shard does not exist in the stream (or its data has expired).
    #[error("Shard {shard} in stream {stream} not found")]
    ShardNotFound {
        /// The stream name.
        stream: String,
        /// The shard id asked for.
        shard: String,
    },
    /// The stream exists but is not usable yet (it is still being created).
    #[error("stream {stream} is {} and not usable yet", status.as_str())]
    StreamNotActive {
        /// The stream name.
        stream: String,
        /// Its status.
        status: StreamStatus,
    },
    /// A stream name broke a naming rule.
    #[error("invalid stream name '{name}': {rule}")]
    InvalidStreamName {
        /// The name given.
        name: String,
        /// The rule it broke.
        rule: StreamNameRule,
    },
    /// A stream was asked for with no shards.
    #[error("a stream needs at least 1 shard, not {requested}")]
    InvalidShardCount {
        /// The shard count asked for.
        requested: u32,
    },
    /// A partition key is empty or longer than 256 characters.
    #[error("a partition key has 1 to 256 characters, not {chars}")]
    PartitionKeyLength {
        /// The key given.
        key: String,
        /// Its length in characters.
        chars: usize,
    },
    /// A record's data is larger than a record may be.
    #[error("a record's data is at most {max} bytes, not {bytes}")]
    DataTooLarge {
        /// Bytes given.
        bytes: usize,
        /// The most allowed.
        max: usize,
    },
    /// A put of no records, or of more than one call takes.
    #[error("a put takes 1 to {max} records, not {count}")]
    RecordCount {
        /// Records given.
        count: usize,
        /// The most one call takes.
        max: usize,
    },
    /// A retention period outside the allowed range.
    #[error("retention must be {min} to {max} hours, not {hours}")]
    RetentionOutOfRange {
        /// Hours asked for.
        hours: u32,
        /// Shortest allowed.
        min: u32,
        /// Longest allowed.
        max: u32,
    },
    /// An increase of the retention period to less than it is now.
    #[error("stream {stream} keeps records {current} hours: an increase to {requested} hours would shorten that")]
    RetentionShorterThanCurrent {
        /// The stream name.
        stream: String,
        /// Hours asked for.
        requested: u32,
        /// Hours now.
        current: u32,
    },
    /// A decrease of the retention period to more than it is now.
    #[error("stream {stream} keeps records {current} hours: a decrease to {requested} hours would lengthen that")]
    RetentionLongerThanCurrent {
        /// The stream name.
        stream: String,
        /// Hours asked for.
        requested: u32,
        /// Hours now.
        current: u32,
    },
    /// A split at a hash key that does not lie strictly inside the shard's range.
    #[error("shard {shard} of stream {stream} cannot be split at hash key {key}: it must be greater than {start} + 1 and less than {end}")]
    InvalidSplitKey {
        /// The stream name.
        stream: String,
        /// The shard.
        shard: String,
        /// The hash key given.
        key: u128,
        /// The shard's first hash key.
        start: u128,
        /// The shard's last hash key.
        end: u128,
    },
    /// A merge of two shards whose hash-key ranges do not touch.
    #[error(
        "shards {shard} and {adjacent} of stream {stream} are not adjacent and cannot be merged"
    )]
    ShardsNotAdjacent {
        /// The stream name.
        stream: String,
        /// One shard.
        shard: String,
        /// The other.
        adjacent: String,
    },
    /// A sequence number used with a shard other than the one it belongs to.
    #[error("sequence number {sequence_number} belongs to another shard than {shard}")]
    SequenceNumberOfOtherShard {
        /// The shard it was used with.
        shard: String,
        /// The sequence number (it names its shard).
        sequence_number: SequenceNumber,
    },
    /// A sequence number past the newest record of its shard.
    #[error("sequence number {sequence_number} is past the newest record of shard {shard} of stream {stream}")]
    SequenceNumberBeyondEnd {
        /// The stream name.
        stream: String,
        /// The shard.
        shard: String,
        /// The sequence number.
        sequence_number: SequenceNumber,
    },
    /// A lease table name or lease key that is empty, too long or holds a '/'.
    #[error("{what} '{name}' must be 1 to 256 characters without '/'")]
    InvalidLeaseName {
        /// "lease table name" or "lease key".
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// A service namespace that is not 1 to 64 characters of `[a-z0-9-]`.
    #[error("service namespace '{name}' must be 1 to 64 characters of a-z, 0-9 and '-'")]
    InvalidServiceName {
        /// The name given.
        name: String,
    },
    /// A stream cursor asked to start at a sequence number (which names one shard).
    #[error("a stream cursor starts at TRIM_HORIZON, LATEST, a timestamp or per-shard positions, not at {position:?}")]
    InvalidCursorStart {
        /// The position given.
        position: StartingPosition,
    },
    /// The configured segment size is below the minimum.
    #[error("segment size {bytes} is below the minimum of {min} bytes")]
    SegmentTooSmall {
        /// Bytes configured.
        bytes: u64,
        /// The minimum.
        min: u64,
    },
    /// A task job was started outside a tokio runtime.
    #[error("job {job} is a task and needs a tokio runtime to run on")]
    NoRuntime {
        /// The job's name.
        job: String,
    },
    /// The shard was closed by a split or merge: it takes no more writes and cannot be
    /// split or merged again.
    #[error("shard {shard} of stream {stream} has already been merged or split: it is closed")]
    ShardClosed {
        /// The stream name.
        stream: String,
        /// The shard.
        shard: String,
    },
    /// A record kept meeting shards closed by concurrent reshards and was not written.
    /// Retryable.
    #[error("the shard was resharded while the record was written")]
    ReshardRace {
        /// The stream name.
        stream: String,
    },
    /// More open shards than the account limit allows.
    #[error("{requested} more open shards would pass the limit of {limit} (open now: {open})")]
    ShardLimitExceeded {
        /// Open shards across all streams now.
        open: usize,
        /// Open shards the request would add.
        requested: usize,
        /// The configured limit.
        limit: usize,
    },
    /// UpdateShardCount to more than double or less than half the open shards.
    #[error("stream {stream} has {current} open shards and can be scaled to between half and double that, not to {target}")]
    ScalingBeyondRange {
        /// The stream name.
        stream: String,
        /// Open shards now.
        current: usize,
        /// The target asked for.
        target: u32,
    },
    /// UpdateShardCount more often than allowed per rolling 24 hours.
    #[error("stream {stream} was scaled {recent} times in the last 24 hours; {max_per_day} is the most allowed")]
    ScalingRateExceeded {
        /// The stream name.
        stream: String,
        /// Scalings in the last 24 hours.
        recent: usize,
        /// The most allowed.
        max_per_day: usize,
    },
    /// More tags than a stream may have.
    #[error("stream {stream} would have {tags} tags, more than the {limit} allowed")]
    TagLimitExceeded {
        /// The stream name.
        stream: String,
        /// Tags it would have.
        tags: usize,
        /// The most allowed.
        limit: usize,
    },
    /// An invariant of the engine broke: a bug, not the caller's doing.
    #[error("internal error in the storage engine: {0}")]
    Internal(String),
    /// The shard log hit an fsync failure earlier; writes are refused until restart,
    /// durable data stays readable.
    #[error("shard {shard} is poisoned after an I/O failure and refuses writes: {cause}")]
    Poisoned {
        /// The shard id.
        shard: String,
        /// The original failure.
        cause: String,
    },
    /// Corruption in a sealed segment or an unreadable catalog entry: never skipped.
    #[error("corruption in {path} at byte {offset}: {reason}")]
    Corruption {
        /// The file.
        path: PathBuf,
        /// Byte position in the file.
        offset: u64,
        /// What check failed.
        reason: String,
    },
    /// Another process holds the data directory.
    #[error("data directory {path} is locked by another process")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// An operating-system I/O failure.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The RocksDB catalog failed.
    #[error("catalog error: {0}")]
    Catalog(String),
    /// A lease write found another counter than it expected (`None`: no lease).
    #[error("lease {key} changed meanwhile (counter now {found:?})")]
    LeaseConflict {
        /// The lease key.
        key: String,
        /// The counter found.
        found: Option<u64>,
    },
    /// The data directory's file system is below the free-space watermark: puts are
    /// refused until space returns. Retryable.
    #[error("the disk holding {path} has {available} bytes free, below the {watermark}-byte low watermark: writes are paused until space is freed")]
    DiskFull {
        /// The data directory.
        path: PathBuf,
        /// Bytes free when last checked.
        available: u64,
        /// The configured watermark.
        watermark: u64,
    },
    /// The engine has been shut down.
    #[error("the engine is shut down")]
    ShutDown,
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Whether the caller may retry the same request later with a chance of success.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Io { .. }
                | Error::DiskFull { .. }
                | Error::ReshardRace { .. }
                | Error::StreamNotActive { .. }
        )
    }

    /// The broad class of the error, for callers that map errors onto a coarser
    /// scheme (an API's exception types).
    pub fn category(&self) -> ErrorCategory {
        use Error::*;
        match self {
            StreamNotFound { .. }
            | StreamNotActive { .. }
            | StreamDeleted { .. }
            | ShardNotFound { .. } => ErrorCategory::NotFound,
            StreamExists { .. } | ShardClosed { .. } | ReshardRace { .. } => ErrorCategory::InUse,
            InvalidStreamName { .. }
            | InvalidShardCount { .. }
            | PartitionKeyLength { .. }
            | DataTooLarge { .. }
            | RecordCount { .. }
            | RetentionOutOfRange { .. }
            | RetentionShorterThanCurrent { .. }
            | RetentionLongerThanCurrent { .. }
            | InvalidSplitKey { .. }
            | ShardsNotAdjacent { .. }
            | SequenceNumberOfOtherShard { .. }
            | SequenceNumberBeyondEnd { .. }
            | InvalidLeaseName { .. }
            | InvalidServiceName { .. }
            | InvalidCursorStart { .. }
            | SegmentTooSmall { .. } => ErrorCategory::InvalidArgument,
            ShardLimitExceeded { .. }
            | ScalingBeyondRange { .. }
            | ScalingRateExceeded { .. }
            | TagLimitExceeded { .. } => ErrorCategory::LimitExceeded,
            LeaseConflict { .. } => ErrorCategory::Conflict,
            DiskFull { .. } | ShutDown | Locked { .. } => ErrorCategory::Unavailable,
            Poisoned { .. }
            | Corruption { .. }
            | Io { .. }
            | Catalog(_)
            | NoRuntime { .. }
            | Internal(_) => ErrorCategory::Failure,
        }
    }
}

/// The broad class of an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCategory {
    /// The stream or shard does not exist (or not any more, or not yet).
    NotFound,
    /// The resource is in a state that refuses the request (exists, closed, resharding).
    InUse,
    /// An argument broke a rule.
    InvalidArgument,
    /// A limit would be passed.
    LimitExceeded,
    /// A compare-and-set lost.
    Conflict,
    /// The engine cannot serve now (disk full, shut down, directory locked).
    Unavailable,
    /// A failure of the engine or its storage.
    Failure,
}

/// The naming rule a stream name broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamNameRule {
    /// 1 to 128 characters.
    Length,
    /// Only `a-z`, `A-Z`, `0-9`, `_`, `.` and `-`.
    Characters,
}

impl std::fmt::Display for StreamNameRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StreamNameRule::Length => "a stream name has 1 to 128 characters",
            StreamNameRule::Characters => {
                "a stream name has only the characters a-z, A-Z, 0-9, '_', '.' and '-'"
            }
        })
    }
}

#[cfg(feature = "engine")]
impl From<rocksdb::Error> for Error {
    fn from(e: rocksdb::Error) -> Self {
        Error::Catalog(e.into_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_errors_carry_facts_in_plain_english() {
        let e = Error::ShardLimitExceeded {
            open: 498,
            requested: 4,
            limit: 500,
        };
        assert_eq!(e.category(), ErrorCategory::LimitExceeded);
        assert_eq!(
            e.to_string(),
            "4 more open shards would pass the limit of 500 (open now: 498)"
        );
        let e = Error::InvalidStreamName {
            name: "a b".into(),
            rule: StreamNameRule::Characters,
        };
        assert_eq!(e.category(), ErrorCategory::InvalidArgument);
        assert!(!e.to_string().contains("validation error"), "{e}");
        assert!(Error::ReshardRace { stream: "s".into() }.is_retryable());
        assert!(Error::StreamNotActive {
            stream: "s".into(),
            status: StreamStatus::Creating
        }
        .is_retryable());
        assert!(!Error::ShardClosed {
            stream: "s".into(),
            shard: "shardId-000000000000".into()
        }
        .is_retryable());
        assert_eq!(
            Error::StreamDeleted { stream: "s".into() }.category(),
            ErrorCategory::NotFound
        );
    }
}
