//! A function as the catalog keeps it, and its `FunctionConfiguration` shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::time_fmt::lambda_timestamp;

/// The runtimes Freshet runs, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    /// `provided.al2023`, `provided.al2`, `provided`: the zip holds `bootstrap`.
    Provided,
    /// `python3.x`: `python -m awslambdaric <Handler>` in the unpacked code.
    Python,
}

/// The runtime identifiers accepted, as AWS lists them.
pub const RUNTIMES: &[&str] = &[
    "provided.al2023",
    "provided.al2",
    "provided",
    "python3.8",
    "python3.9",
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
];

/// How a runtime identifier runs, or `None` when Freshet does not run it.
pub fn runtime_kind(runtime: &str) -> Option<RuntimeKind> {
    if runtime.starts_with("provided") && RUNTIMES.contains(&runtime) {
        Some(RuntimeKind::Provided)
    } else if runtime.starts_with("python3.") && RUNTIMES.contains(&runtime) {
        Some(RuntimeKind::Python)
    } else {
        None
    }
}

/// A function's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FunctionState {
    /// Ready to invoke.
    Active,
    /// Its code cannot run (a missing handler or `bootstrap`); `state_reason` says why.
    Failed,
}

/// A function ($LATEST), as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionRecord {
    /// Name.
    pub name: String,
    /// Runtime identifier.
    pub runtime: String,
    /// Handler (`module.function` for Python).
    pub handler: String,
    /// Role ARN, kept as given.
    pub role: String,
    /// Description.
    pub description: String,
    /// Seconds an invocation may run (1 to 900).
    pub timeout: u32,
    /// MB (128 to 10,240).
    pub memory_size: u32,
    /// The user's environment variables.
    pub environment: BTreeMap<String, String>,
    /// base64 SHA-256 of the zip.
    pub code_sha256: String,
    /// Bytes of the zip.
    pub code_size: u64,
    /// Last change, ms since the epoch.
    pub last_modified_ms: i64,
    /// Changes with every update.
    pub revision_id: String,
    /// Active or Failed.
    pub state: FunctionState,
    /// Why it is Failed.
    pub state_reason: Option<String>,
    /// AWS's code for the reason.
    pub state_reason_code: Option<String>,
    /// Instances that may run at once (`PutFunctionConcurrency`), when reserved.
    pub reserved_concurrency: Option<u32>,
    /// Architectures, as given (`x86_64` by default).
    pub architectures: Vec<String>,
    /// Ephemeral storage MB, as given (512 by default).
    pub ephemeral_storage: u32,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

impl FunctionRecord {
    /// `arn:aws:lambda:{region}:{account}:function:{name}`.
    pub fn arn(&self, region: &str, account: &str) -> String {
        function_arn(region, account, &self.name)
    }

    /// AWS's `FunctionConfiguration`.
    pub fn configuration(&self, region: &str, account: &str) -> Value {
        let mut c = json!({
            "FunctionName": self.name,
            "FunctionArn": self.arn(region, account),
            "Runtime": self.runtime,
            "Role": self.role,
            "Handler": self.handler,
            "CodeSize": self.code_size,
            "Description": self.description,
            "Timeout": self.timeout,
            "MemorySize": self.memory_size,
            "LastModified": lambda_timestamp(self.last_modified_ms),
            "CodeSha256": self.code_sha256,
            "Version": "$LATEST",
            "TracingConfig": {"Mode": "PassThrough"},
            "RevisionId": self.revision_id,
            "State": match self.state { FunctionState::Active => "Active", FunctionState::Failed => "Failed" },
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Architectures": self.architectures,
            "EphemeralStorage": {"Size": self.ephemeral_storage},
            "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
            "LoggingConfig": {"LogFormat": "Text", "LogGroup": format!("/aws/lambda/{}", self.name)},
        });
        if let Some(obj) = c.as_object_mut() {
            if !self.environment.is_empty() {
                obj.insert("Environment".into(), json!({"Variables": self.environment}));
            }
            if let Some(r) = &self.state_reason {
                obj.insert("StateReason".into(), json!(r));
            }
            if let Some(r) = &self.state_reason_code {
                obj.insert("StateReasonCode".into(), json!(r));
            }
        }
        c
    }
}

/// `arn:aws:lambda:{region}:{account}:function:{name}`.
pub fn function_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{account}:function:{name}")
}

/// A function reference as AWS accepts it (name, `account:function:name` partial ARN or
/// full ARN, each with an optional `:qualifier`): the name and the qualifier.
pub fn parse_function_ref(reference: &str) -> Option<(String, Option<String>)> {
    let parts: Vec<&str> = reference.split(':').collect();
    let (name, qualifier) = match parts.as_slice() {
        [name] => (*name, None),
        [name, q] => (*name, Some(*q)),
        [_, "function", name] => (*name, None),
        [_, "function", name, q] => (*name, Some(*q)),
        ["arn", _, "lambda", _, _, "function", name] => (*name, None),
        ["arn", _, "lambda", _, _, "function", name, q] => (*name, Some(*q)),
        _ => return None,
    };
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| (name.to_string(), qualifier.map(str::to_string)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_references_take_every_form_aws_accepts() {
        assert_eq!(parse_function_ref("f"), Some(("f".into(), None)));
        assert_eq!(
            parse_function_ref("f:$LATEST"),
            Some(("f".into(), Some("$LATEST".into())))
        );
        assert_eq!(
            parse_function_ref("123456789012:function:f"),
            Some(("f".into(), None))
        );
        assert_eq!(
            parse_function_ref("arn:aws:lambda:us-east-1:123456789012:function:f:1"),
            Some(("f".into(), Some("1".into())))
        );
        assert_eq!(parse_function_ref("a b"), None);
        assert_eq!(parse_function_ref(""), None);
        assert_eq!(parse_function_ref(&"x".repeat(65)), None);
    }
}
