//! The one error type of the KCL crate.

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a lease store, a checkpointer or a scheduler can fail with.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A compare-and-set on a lease found another counter (someone else wrote it, or
    /// it was created or deleted meanwhile).
    #[error("lease {key} changed meanwhile")]
    LeaseConflict {
        /// The lease key (shard id).
        key: String,
    },
    /// This worker no longer holds the lease: a checkpoint cannot be written.
    #[error("lease {key} is no longer held by this worker")]
    LeaseLost {
        /// The lease key (shard id).
        key: String,
    },
    /// A checkpoint outside `last checkpoint <= new <= largest delivered`, or a
    /// commit without a prepared checkpoint.
    #[error("invalid checkpoint: {0}")]
    InvalidCheckpoint(String),
    /// A Kinesis call failed.
    #[error("kinesis: {0}")]
    Kinesis(#[from] freshet_client::Error),
    /// The lease store failed in a way that is not a conflict.
    #[error("lease store: {0}")]
    Store(String),
    /// A stored lease could not be decoded.
    #[error("cannot decode lease {key}: {message}")]
    Decode {
        /// The lease key.
        key: String,
        /// What was wrong.
        message: String,
    },
    /// The scheduler was shut down.
    #[error("the scheduler is shut down")]
    ShutDown,
}
