//! Errors as the Kinesis API reports them: an exception type, a message and an HTTP
//! status (400 for every client error, 500 only for internal failures).

use freshet_storage::Error as StorageError;

/// The sentence that closes AWS's shard-limit messages.
pub const LIMITS_PAGE: &str = "Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits and how to request higher limits.";

/// An error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The exception type, e.g. `ResourceNotFoundException`.
    pub kind: &'static str,
    /// The message.
    pub message: String,
    /// HTTP status.
    pub status: u16,
}

impl ApiError {
    fn new(kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            status: 400,
        }
    }

    /// An error of any type and status (authentication errors).
    pub fn custom(kind: &'static str, message: impl Into<String>, status: u16) -> Self {
        ApiError {
            kind,
            message: message.into(),
            status,
        }
    }

    /// `ResourceNotFoundException`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", message)
    }
    /// `ResourceInUseException`.
    pub fn in_use(message: impl Into<String>) -> Self {
        Self::new("ResourceInUseException", message)
    }
    /// `InvalidArgumentException`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidArgumentException", message)
    }
    /// `ValidationException`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }
    /// A one-constraint `ValidationException` in AWS's words.
    pub fn constraint(value: &str, field: &str, rule: &str) -> Self {
        Self::validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {rule}"
        ))
    }
    /// `SerializationException`.
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new("SerializationException", message)
    }
    /// `LimitExceededException`.
    pub fn limit(message: impl Into<String>) -> Self {
        Self::new("LimitExceededException", message)
    }
    /// `ExpiredIteratorException`.
    pub fn expired_iterator(message: impl Into<String>) -> Self {
        Self::new("ExpiredIteratorException", message)
    }
    /// `ExpiredNextTokenException`.
    pub fn expired_next_token(message: impl Into<String>) -> Self {
        Self::new("ExpiredNextTokenException", message)
    }
    /// `ProvisionedThroughputExceededException`.
    pub fn throughput(message: impl Into<String>) -> Self {
        Self::new("ProvisionedThroughputExceededException", message)
    }
    /// `UnknownOperationException`.
    pub fn unknown_operation(message: impl Into<String>) -> Self {
        Self::new("UnknownOperationException", message)
    }
    /// `InternalFailure` (HTTP 500).
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            kind: "InternalFailure",
            message: message.into(),
            status: 500,
        }
    }

    /// Maps an engine error, naming the account in stream messages as AWS does.
    pub fn from_storage(e: StorageError, account: &str) -> Self {
        let with_account =
            |m: &str| m.replace("under account ", &format!("under account {account} "));
        match e {
            StorageError::StreamNotFound { stream } => Self::not_found(format!(
                "Stream {stream} under account {account} not found."
            )),
            StorageError::StreamExists { stream } => Self::in_use(format!(
                "Stream {stream} under account {account} already exists."
            )),
            StorageError::ShardNotFound { stream, shard } => Self::not_found(format!(
                "Shard {shard} in stream {stream} under account {account} does not exist"
            )),
            StorageError::InvalidArgument(m) => {
                if m.starts_with("1 validation error") || m.contains("validation error detected") {
                    Self::validation(m)
                } else {
                    Self::invalid(with_account(&m))
                }
            }
            StorageError::ResourceInUse(m) => Self::in_use(with_account(&m)),
            StorageError::LimitExceeded(m) => Self::limit(with_account(&m)),
            // A 503 is what every AWS SDK backs off on and retries by itself.
            e @ StorageError::DiskFull { .. } => ApiError {
                kind: "ServiceUnavailable",
                message: e.to_string(),
                status: 503,
            },
            other => Self::internal(format!("Internal service failure: {other}")),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for ApiError {}

/// Result of an action.
pub type ApiResult<T> = Result<T, ApiError>;
