//! The crate's error type.

/// What can go wrong in SQL over streams.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A statement Freshet parses itself (CREATE TABLE ... WITH, CREATE STREAM, jobs)
    /// is malformed.
    #[error("syntax error at position {position}: {message}")]
    Syntax {
        /// 1-based character position in the statement.
        position: usize,
        /// What was wrong.
        message: String,
    },
    /// A statement was understood but cannot be carried out.
    #[error("{0}")]
    Invalid(String),
    /// A table, stream or job that does not exist.
    #[error("{kind} \"{name}\" does not exist")]
    NotFound {
        /// `table`, `stream` or `job`.
        kind: &'static str,
        /// The name asked for.
        name: String,
    },
    /// A query would read more than the scan limit.
    #[error("{0}")]
    ScanLimit(String),
    /// The engine refused.
    #[error("{0}")]
    Engine(#[from] freshet_storage::Error),
    /// DataFusion refused (planning, execution).
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Arrow refused (decoding).
    #[error("{0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// A stored definition does not decode.
    #[error("stored SQL state is unreadable: {0}")]
    State(#[from] serde_json::Error),
}

impl Error {
    /// Wraps this error as a DataFusion error (for table providers and UDFs).
    pub fn into_datafusion(self) -> datafusion::error::DataFusionError {
        match self {
            Error::DataFusion(e) => e,
            Error::ScanLimit(m) => datafusion::error::DataFusionError::Plan(m),
            other => datafusion::error::DataFusionError::External(Box::new(other)),
        }
    }
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
