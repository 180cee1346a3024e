//! The one error type of the client crate.

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a client call or a producer can fail with. The service's error types are
/// mapped onto the variants a caller acts on; the in-process engine client maps engine
/// errors onto the same variants, so callers handle both alike.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `ResourceNotFoundException`: the stream or shard does not exist.
    #[error("ResourceNotFoundException: {0}")]
    ResourceNotFound(String),
    /// `ResourceInUseException`: the stream exists or is not in a usable state.
    #[error("ResourceInUseException: {0}")]
    ResourceInUse(String),
    /// `InvalidArgumentException` or `ValidationException`: the request was wrong.
    #[error("InvalidArgumentException: {0}")]
    InvalidArgument(String),
    /// `LimitExceededException`.
    #[error("LimitExceededException: {0}")]
    LimitExceeded(String),
    /// `ProvisionedThroughputExceededException` (or `ThrottlingException`).
    #[error("ProvisionedThroughputExceededException: {0}")]
    Throttled(String),
    /// `ExpiredIteratorException`: get a new shard iterator.
    #[error("ExpiredIteratorException: {0}")]
    ExpiredIterator(String),
    /// Any other error the service returned.
    #[error("{code} (HTTP {status}): {message}")]
    Service {
        /// The AWS error type, such as `InternalFailure`.
        code: String,
        /// The service's message.
        message: String,
        /// The HTTP status.
        status: u16,
    },
    /// The request could not be sent or its answer not received.
    #[error("transport error: {0}")]
    Transport(String),
    /// No answer within the configured timeout.
    #[error("request timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// The answer could not be understood.
    #[error("cannot decode the answer: {0}")]
    Decode(String),
    /// Signing the request failed.
    #[error("cannot sign the request: {0}")]
    Signing(String),
    /// A record of a `PutRecords` call failed (the producer reports the last failure
    /// of a record it gave up on).
    #[error("record failed with {code}: {message}")]
    RecordFailed {
        /// `InternalFailure` or `ProvisionedThroughputExceededException`.
        code: String,
        /// The service's message.
        message: String,
    },
    /// The producer dropped a record that stayed buffered past its time to live.
    #[error("record expired after {attempts} attempt(s); last error: {last_error}")]
    RecordExpired {
        /// How many times it was sent.
        attempts: u32,
        /// The last failure seen, or `none`.
        last_error: String,
    },
    /// `try_put_record` on a producer whose buffer is full.
    #[error("the producer buffer is full")]
    Full,
    /// The producer is shut down (or shutting down) and takes no more records.
    #[error("the producer is shut down")]
    ShutDown,
    /// The in-process engine failed in a way with no Kinesis error type.
    #[error("InternalFailure: {0}")]
    Internal(String),
}

impl Error {
    /// Whether sending the same request again later may succeed: throttling, server
    /// errors (5xx), transport failures and timeouts.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Throttled(_) | Error::Transport(_) | Error::Timeout(_) | Error::Internal(_) => {
                true
            }
            Error::Service { status, code, .. } => {
                *status >= 500
                    || code == "ThrottlingException"
                    || code == "KMSThrottlingException"
                    || code == "RequestTimeout"
            }
            _ => false,
        }
    }

    /// Maps an AWS error type (the part after `#` in `__type`) and message to a
    /// variant.
    pub fn from_service(code: &str, message: String, status: u16) -> Error {
        match code {
            "ResourceNotFoundException" => Error::ResourceNotFound(message),
            "ResourceInUseException" => Error::ResourceInUse(message),
            "InvalidArgumentException" | "ValidationException" => Error::InvalidArgument(message),
            "LimitExceededException" => Error::LimitExceeded(message),
            "ProvisionedThroughputExceededException" | "ThrottlingException" => {
                Error::Throttled(message)
            }
            "ExpiredIteratorException" => Error::ExpiredIterator(message),
            _ => Error::Service {
                code: code.to_string(),
                message,
                status,
            },
        }
    }
}

#[cfg(feature = "engine")]
impl From<freshet_storage::Error> for Error {
    fn from(e: freshet_storage::Error) -> Self {
        use freshet_storage::ErrorCategory as C;
        let message = e.to_string();
        match e.category() {
            C::NotFound => Error::ResourceNotFound(message),
            C::InUse => Error::ResourceInUse(message),
            C::InvalidArgument => Error::InvalidArgument(message),
            C::LimitExceeded => Error::LimitExceeded(message),
            _ => Error::Internal(message),
        }
    }
}
