//! Reading request members, with CloudWatch Logs' validation wording
//! (`InvalidParameterException`, "1 validation error detected: ...").

use freshet_protocol::error::ApiError;
use serde_json::{json, Map, Value};

/// The JSON content type of replies.
pub const JSON: &str = "application/x-amz-json-1.1";

/// Log group names: `[\.\-_/#A-Za-z0-9]+`, 1 to 512 characters.
pub const GROUP_PATTERN: &str = r"[\.\-_/#A-Za-z0-9]+";

/// Log stream names: `[^:*]*`, 1 to 512 characters.
pub const STREAM_PATTERN: &str = r"[^:*]*";

/// The retention periods AWS accepts, days.
pub const RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// `InvalidParameterException` with `message`.
pub fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::custom("InvalidParameterException", message, 400)
}

/// A broken model rule, as AWS words it.
pub fn constraint(value: &str, member: &str, rule: &str) -> ApiError {
    invalid(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {rule}"
    ))
}

/// `ResourceNotFoundException` with `message`.
pub fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::custom("ResourceNotFoundException", message, 400)
}

/// `ResourceAlreadyExistsException` with `message`.
pub fn exists(message: impl Into<String>) -> ApiError {
    ApiError::custom("ResourceAlreadyExistsException", message, 400)
}

/// A failure of ours (storage) as the service's 500.
pub fn unavailable(message: impl Into<String>) -> ApiError {
    ApiError::custom("ServiceUnavailableException", message, 500)
}

/// The group-not-found error.
pub fn no_group() -> ApiError {
    not_found("The specified log group does not exist.")
}

/// The stream-not-found error.
pub fn no_stream() -> ApiError {
    not_found("The specified log stream does not exist.")
}

/// The request body as a JSON object (`{}` when empty).
pub fn body(raw: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if raw.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(raw) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::serialization(
            "Start of structure or map found where not expected.",
        )),
        Err(e) => Err(ApiError::serialization(format!(
            "The request body is not valid JSON: {e}"
        ))),
    }
}

/// Typed member access over a request body.
pub struct Req<'a>(pub &'a Map<String, Value>);

impl Req<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// An optional string member.
    pub fn opt_str(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::serialization(format!(
                "STRING_VALUE can not be converted to a String: {name}"
            ))),
        }
    }

    /// A required string member.
    pub fn str(&self, name: &str) -> Result<&str, ApiError> {
        self.opt_str(name)?.ok_or_else(|| {
            invalid(format!(
                "1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"
            ))
        })
    }

    /// An optional integer member.
    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match v.as_i64() {
                Some(n) => Ok(Some(n)),
                None => Err(ApiError::serialization(format!(
                    "NUMBER_VALUE can not be converted to a Long: {name}"
                ))),
            },
        }
    }

    /// An optional boolean member.
    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::serialization(format!(
                "Cannot convert the value of {name} to a Boolean"
            ))),
        }
    }

    /// An optional list of strings.
    pub fn opt_strings(&self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| ApiError::serialization(format!("{name} must hold strings")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(ApiError::serialization(format!("{name} must be a list"))),
        }
    }

    /// An optional map of strings (tags).
    pub fn opt_tags(&self, name: &str) -> Result<Option<Vec<(String, String)>>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v.as_str() {
                    Some(s) => Ok((k.clone(), s.to_string())),
                    None => Err(ApiError::serialization(format!(
                        "the values of {name} must be strings"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(ApiError::serialization(format!("{name} must be a map"))),
        }
    }

    /// `limit` within `1..=max`, `default` when absent.
    pub fn limit(&self, max: i64, default: usize) -> Result<usize, ApiError> {
        match self.opt_i64("limit")? {
            None => Ok(default),
            Some(n) if n < 1 => Err(constraint(
                &n.to_string(),
                "limit",
                "Member must have value greater than or equal to 1",
            )),
            Some(n) if n > max => Err(constraint(
                &n.to_string(),
                "limit",
                &format!("Member must have value less than or equal to {max}"),
            )),
            Some(n) => Ok(n as usize),
        }
    }
}

/// Checks that a group or stream name has 1 to 512 bytes; `member` names it.
fn check_name_length(name: &str, member: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 512 {
        return Err(constraint(
            name,
            member,
            if name.is_empty() {
                "Member must have length greater than or equal to 1"
            } else {
                "Member must have length less than or equal to 512"
            },
        ));
    }
    Ok(())
}

/// Checks a log group name (length and pattern); `member` names it in the error.
pub fn check_group_name(name: &str, member: &str) -> Result<(), ApiError> {
    check_name_length(name, member)?;
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b))
    {
        return Err(constraint(
            name,
            member,
            &format!("Member must satisfy regular expression pattern: {GROUP_PATTERN}"),
        ));
    }
    Ok(())
}

/// Checks a log stream name.
pub fn check_stream_name(name: &str, member: &str) -> Result<(), ApiError> {
    check_name_length(name, member)?;
    if name.contains([':', '*']) {
        return Err(constraint(
            name,
            member,
            &format!("Member must satisfy regular expression pattern: {STREAM_PATTERN}"),
        ));
    }
    Ok(())
}

/// The log group a request names: `logGroupName`, or `logGroupIdentifier` (a name or
/// an ARN).
pub fn group_of(r: &Req<'_>) -> Result<String, ApiError> {
    if let Some(name) = r.opt_str("logGroupName")? {
        if r.opt_str("logGroupIdentifier")?.is_some() {
            return Err(invalid(
                "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
            ));
        }
        check_group_name(name, "logGroupName")?;
        return Ok(name.to_string());
    }
    if let Some(id) = r.opt_str("logGroupIdentifier")? {
        let name = match id.strip_prefix("arn:") {
            Some(_) => group_of_arn(id)?,
            None => id.to_string(),
        };
        check_group_name(&name, "logGroupIdentifier")?;
        return Ok(name);
    }
    Err(invalid(
        "Should provide either name or identifier of the log group.",
    ))
}

/// The log group an ARN names (`arn:aws:logs:R:A:log-group:NAME[:*]`).
pub fn group_of_arn(arn: &str) -> Result<String, ApiError> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    match parts.as_slice() {
        ["arn", _, "logs", _, _, "log-group", rest] => {
            let name = rest.strip_suffix(":*").unwrap_or(rest);
            if name.is_empty() {
                return Err(invalid(format!("Invalid ARN: {arn}")));
            }
            Ok(name.to_string())
        }
        _ => Err(invalid(format!(
            "The specified ARN {arn} is not a log group ARN."
        ))),
    }
}

/// Checks tags: at most 50, keys 1..128, values up to 256 characters.
pub fn check_tags(tags: &[(String, String)]) -> Result<(), ApiError> {
    if tags.len() > 50 {
        return Err(invalid("A resource can have no more than 50 tags."));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(constraint(
                k,
                "tags",
                "Map keys must have length between 1 and 128",
            ));
        }
        if k.starts_with("aws:") {
            return Err(invalid("Tag keys must not start with 'aws:'."));
        }
        if v.chars().count() > 256 {
            return Err(constraint(
                v,
                "tags",
                "Map values must have length less than or equal to 256",
            ));
        }
    }
    Ok(())
}

/// An empty `{}` reply body.
pub fn empty() -> Value {
    json!({})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_arns() {
        assert!(check_group_name("/aws/lambda/f-1_x.y#", "logGroupName").is_ok());
        assert!(check_group_name("bad name", "logGroupName").is_err());
        assert!(check_group_name("", "logGroupName").is_err());
        assert!(check_stream_name("2024/01/01/[$LATEST]abc", "logStreamName").is_ok());
        assert!(check_stream_name("a:b", "logStreamName").is_err());
        assert_eq!(
            group_of_arn("arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/f:*")
                .ok()
                .as_deref(),
            Some("/aws/lambda/f")
        );
        assert_eq!(
            group_of_arn("arn:aws:logs:us-east-1:000000000000:log-group:g")
                .ok()
                .as_deref(),
            Some("g")
        );
        assert!(group_of_arn("arn:aws:s3:::bucket").is_err());
    }
}
