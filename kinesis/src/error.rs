//! How the Kinesis service words the engine's errors: AWS's exception types and
//! messages.

use freshet_protocol::ApiError;
use freshet_storage::Error as StorageError;

/// The sentence that closes AWS's shard-limit messages.
pub const LIMITS_PAGE: &str = "Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits and how to request higher limits.";

/// Maps an engine error, naming the account in stream messages as AWS does.
pub fn from_storage(e: StorageError, account: &str) -> ApiError {
    let with_account = |m: &str| m.replace("under account ", &format!("under account {account} "));
    match e {
        StorageError::StreamNotFound { stream } => ApiError::not_found(format!(
            "Stream {stream} under account {account} not found."
        )),
        StorageError::StreamExists { stream } => ApiError::in_use(format!(
            "Stream {stream} under account {account} already exists."
        )),
        StorageError::ShardNotFound { stream, shard } => ApiError::not_found(format!(
            "Shard {shard} in stream {stream} under account {account} does not exist"
        )),
        StorageError::InvalidArgument(m) => {
            if m.starts_with("1 validation error") || m.contains("validation error detected") {
                ApiError::validation(m)
            } else {
                ApiError::invalid(with_account(&m))
            }
        }
        StorageError::ResourceInUse(m) => ApiError::in_use(with_account(&m)),
        StorageError::LimitExceeded(m) => ApiError::limit(with_account(&m)),
        // A 503 is what every AWS SDK backs off on and retries by itself.
        e @ StorageError::DiskFull { .. } => ApiError {
            kind: "ServiceUnavailable",
            message: e.to_string(),
            status: 503,
        },
        other => ApiError::internal(format!("Internal service failure: {other}")),
    }
}
