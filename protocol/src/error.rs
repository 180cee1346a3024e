//! Errors as AWS's APIs report them: an exception type, a message and an HTTP
//! status (400 for every client error, 500 only for internal failures).

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
    /// A 400 error of the given type.
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
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
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for ApiError {}

/// Result of an action.
pub type ApiResult<T> = Result<T, ApiError>;
