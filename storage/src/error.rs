//! The one error type of the storage engine.

use std::path::PathBuf;

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
    /// An argument broke a rule; the message says which and why.
    #[error("{0}")]
    InvalidArgument(String),
    /// The stream is not in a state that allows the operation (for example a closed
    /// shard cannot be split, or the stream is still being created).
    #[error("{0}")]
    ResourceInUse(String),
    /// A configured limit would be exceeded.
    #[error("{0}")]
    LimitExceeded(String),
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

    /// Builds an [`Error::InvalidArgument`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidArgument(message.into())
    }

    /// Whether the caller may retry the same request later with a chance of success.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Io { .. } | Error::ResourceInUse(_) | Error::DiskFull { .. }
        )
    }
}

#[cfg(feature = "engine")]
impl From<rocksdb::Error> for Error {
    fn from(e: rocksdb::Error) -> Self {
        Error::Catalog(e.into_string())
    }
}
