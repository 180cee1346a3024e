//! Kinesis Video's errors, as AWS names and words them (HTTP status from its models).

use freshet_protocol::error::ApiError;

/// `InvalidArgumentException` (400).
pub fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::custom("InvalidArgumentException", message, 400)
}

/// `ResourceNotFoundException` (404) for a stream that is not there.
pub fn no_stream() -> ApiError {
    not_found("The requested stream is not found or not active.")
}

/// `ResourceNotFoundException` (404).
pub fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::custom("ResourceNotFoundException", message, 404)
}

/// `ResourceInUseException` (400).
pub fn in_use(message: impl Into<String>) -> ApiError {
    ApiError::custom("ResourceInUseException", message, 400)
}

/// `VersionMismatchException` (400).
pub fn version_mismatch() -> ApiError {
    ApiError::custom(
        "VersionMismatchException",
        "The version of the stream that you have specified is not the latest version.",
        400,
    )
}

/// `TagsPerResourceExceededLimitException` (400).
pub fn too_many_tags() -> ApiError {
    ApiError::custom(
        "TagsPerResourceExceededLimitException",
        "The stream has exceeded the limit of tags (50 per resource).",
        400,
    )
}

/// `NoDataRetentionException` (400).
pub fn no_retention() -> ApiError {
    ApiError::custom(
        "NoDataRetentionException",
        "The stream has no data retention: nothing is stored to play back.",
        400,
    )
}

/// `UnsupportedStreamMediaTypeException` (400).
pub fn unsupported_media(message: impl Into<String>) -> ApiError {
    ApiError::custom("UnsupportedStreamMediaTypeException", message, 400)
}

/// `MissingCodecPrivateDataException` (400).
pub fn missing_codec_private() -> ApiError {
    ApiError::custom(
        "MissingCodecPrivateDataException",
        "No codec private data was found in at least one of the tracks of the video stream.",
        400,
    )
}

/// `InvalidCodecPrivateDataException` (400).
pub fn invalid_codec_private(message: impl Into<String>) -> ApiError {
    ApiError::custom("InvalidCodecPrivateDataException", message, 400)
}

/// `InvalidMediaFrameException` (400).
pub fn invalid_frame(message: impl Into<String>) -> ApiError {
    ApiError::custom("InvalidMediaFrameException", message, 400)
}

/// `NotAuthorizedException` (401): a bad or expired session token.
pub fn not_authorized(message: impl Into<String>) -> ApiError {
    ApiError::custom("NotAuthorizedException", message, 401)
}

/// `ClientLimitExceededException` (400).
pub fn client_limit(message: impl Into<String>) -> ApiError {
    ApiError::custom("ClientLimitExceededException", message, 400)
}

/// A failure of ours (500).
pub fn internal(message: impl Into<String>) -> ApiError {
    ApiError::custom("InternalFailure", message, 500)
}
