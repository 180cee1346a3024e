//! IAM's and STS's error codes with the HTTP statuses AWS answers them with. The
//! front door writes them as the Query protocol's `<ErrorResponse>`.

use freshet_protocol::error::ApiError;

/// `NoSuchEntity` (404): the role, policy or attachment does not exist.
pub fn no_such_entity(message: impl Into<String>) -> ApiError {
    ApiError::custom("NoSuchEntity", message, 404)
}

/// `EntityAlreadyExists` (409): a role or policy of that name exists.
pub fn already_exists(message: impl Into<String>) -> ApiError {
    ApiError::custom("EntityAlreadyExists", message, 409)
}

/// `DeleteConflict` (409): the entity is still in use.
pub fn delete_conflict(message: impl Into<String>) -> ApiError {
    ApiError::custom("DeleteConflict", message, 409)
}

/// `ValidationError` (400): a parameter broke a constraint of the API's model.
pub fn validation(message: impl Into<String>) -> ApiError {
    ApiError::custom("ValidationError", message, 400)
}

/// `MalformedPolicyDocument` (400): a policy document that is not a policy.
pub fn malformed_policy(message: impl Into<String>) -> ApiError {
    ApiError::custom("MalformedPolicyDocument", message, 400)
}

/// `LimitExceeded` (409): an account or entity quota would be exceeded.
pub fn limit_exceeded(message: impl Into<String>) -> ApiError {
    ApiError::custom("LimitExceeded", message, 409)
}

/// `InvalidInput` (400): a parameter that is well formed but not acceptable.
pub fn invalid_input(message: impl Into<String>) -> ApiError {
    ApiError::custom("InvalidInput", message, 400)
}

/// `ServiceFailure` (500): the catalog failed.
pub fn service_failure(message: impl Into<String>) -> ApiError {
    ApiError::custom("ServiceFailure", message, 500)
}

/// A catalog error, as `ServiceFailure`.
pub fn storage(e: freshet_storage::Error) -> ApiError {
    service_failure(format!("the catalog failed: {e}"))
}

/// A value as error messages quote it: control characters (which XML 1.0 cannot carry)
/// replaced, very long values cut.
pub fn shown(value: &str) -> String {
    const MAX: usize = 512;
    let mut out: String = value
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    if value.chars().count() > MAX {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_are_aws() {
        assert_eq!(
            (no_such_entity("x").kind, no_such_entity("x").status),
            ("NoSuchEntity", 404)
        );
        assert_eq!(already_exists("x").status, 409);
        assert_eq!(delete_conflict("x").status, 409);
        assert_eq!(limit_exceeded("x").status, 409);
        assert_eq!(validation("x").status, 400);
        assert_eq!(malformed_policy("x").status, 400);
        assert_eq!(invalid_input("x").status, 400);
        assert_eq!(service_failure("x").status, 500);
    }

    #[test]
    fn shown_values_carry_no_control_characters() {
        assert_eq!(shown("a\u{1}b"), "a\u{FFFD}b");
        assert!(shown(&"x".repeat(2000)).ends_with("..."));
    }
}
