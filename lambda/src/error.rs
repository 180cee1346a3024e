//! Lambda's errors, with AWS's types, HTTP codes and wording.

use freshet_protocol::error::ApiError;

/// What a Lambda action fails with.
pub type LambdaResult<T> = Result<T, ApiError>;

/// `ResourceNotFoundException` (404).
pub fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::custom("ResourceNotFoundException", message, 404)
}

/// A function that does not exist, as AWS words it.
pub fn function_not_found(arn: &str) -> ApiError {
    not_found(format!("Function not found: {arn}"))
}

/// A mapping that does not exist, as AWS words it.
pub fn mapping_not_found() -> ApiError {
    not_found("The resource you requested does not exist.")
}

/// `ResourceConflictException` (409).
pub fn conflict(message: impl Into<String>) -> ApiError {
    ApiError::custom("ResourceConflictException", message, 409)
}

/// `ResourceInUseException` (400).
pub fn in_use(message: impl Into<String>) -> ApiError {
    ApiError::custom("ResourceInUseException", message, 400)
}

/// `InvalidParameterValueException` (400).
pub fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::custom("InvalidParameterValueException", message, 400)
}

/// `InvalidRequestContentException` (400): a body that is not the JSON expected.
pub fn bad_content(message: impl Into<String>) -> ApiError {
    ApiError::custom("InvalidRequestContentException", message, 400)
}

/// A one-constraint `ValidationException` (400) in AWS's words.
pub fn constraint(value: &str, field: &str, rule: &str) -> ApiError {
    ApiError::custom(
        "ValidationException",
        format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {rule}"
        ),
        400,
    )
}

/// `TooManyRequestsException` (429): the function's concurrency is used up.
pub fn too_many_requests() -> ApiError {
    ApiError::custom("TooManyRequestsException", "Rate Exceeded.", 429)
}

/// `RequestTooLargeException` (413).
pub fn request_too_large(size: usize) -> ApiError {
    ApiError::custom(
        "RequestTooLargeException",
        format!("Request must be smaller than 6291456 bytes for the InvokeFunction operation (was {size})"),
        413,
    )
}

/// `ServiceException` (500): a failure of ours, not the caller's.
pub fn service(message: impl Into<String>) -> ApiError {
    ApiError::custom("ServiceException", message, 500)
}

/// A storage error as a Lambda error.
pub fn storage(e: freshet_storage::Error) -> ApiError {
    service(format!("storage: {e}"))
}

/// `PreconditionFailedException` (412): a RevisionId that is not the current one.
pub fn precondition() -> ApiError {
    ApiError::custom(
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        412,
    )
}
