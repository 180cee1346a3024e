//! Resource policies of streams and consumers: PutResourcePolicy, GetResourcePolicy,
//! DeleteResourcePolicy.
//!
//! Policies are stored as given (after checking they are JSON objects), in the
//! service's catalog namespace under `policy/{stream}/{arn}` with the stream's uid, so a
//! stream deleted and created again under the same name starts without one. They are
//! recorded, not enforced, as every permission here.

use freshet_protocol::request::Req;
use freshet_protocol::value::{map, Value};
use freshet_protocol::{ApiError, ApiResult};
use freshet_storage::ServiceState;

use super::consumers::by_arn;
use super::{empty, name_from_resource_arn};
use crate::state::{KinesisState, SERVICE_NAMESPACE};
use freshet_protocol::kinesis::rules;

/// The longest policy document AWS takes for a resource-based policy (20 KiB).
pub const MAX_POLICY_CHARS: usize = 20_480;

/// What a policy is attached to: the catalog key and the stream's uid.
struct Target {
    key: String,
    uid: u64,
}

fn store(state: &KinesisState) -> ApiResult<ServiceState> {
    state
        .engine
        .service_state(SERVICE_NAMESPACE)
        .map_err(|e| state.err(e))
}

/// The stream or consumer `arn` names, which must exist.
fn target(state: &KinesisState, arn: &str) -> ApiResult<Target> {
    let stream = name_from_resource_arn(state, arn)?;
    let not_found = || {
        ApiError::not_found(format!(
            "Resource {arn} under account {} not found.",
            state.cfg.account_id
        ))
    };
    if rules::consumer_arn(arn).is_some() {
        by_arn(state, arn).map_err(|_| not_found())?;
    } else if arn != state.stream_arn(&stream) {
        return Err(not_found());
    }
    let uid = state
        .engine
        .stream_summary(&stream)
        .map_err(|_| not_found())?
        .uid;
    Ok(Target {
        key: format!("policy/{stream}/{arn}"),
        uid,
    })
}

/// The policy stored for `target`, if it belongs to the stream as it is now.
fn stored(state: &KinesisState, target: &Target) -> ApiResult<Option<String>> {
    let Some(raw) = store(state)?.get(&target.key).map_err(|e| state.err(e))? else {
        return Ok(None);
    };
    let v: serde_json::Value = serde_json::from_slice(&raw)
        .map_err(|e| ApiError::internal(format!("stored resource policy is corrupt: {e}")))?;
    if v["uid"].as_u64() != Some(target.uid) {
        return Ok(None);
    }
    Ok(v["policy"].as_str().map(str::to_string))
}

/// Checks a policy document as AWS does before storing it: a JSON object with a
/// `Statement`, within the size limit.
fn check_policy(policy: &str) -> ApiResult<()> {
    if policy.chars().count() > MAX_POLICY_CHARS {
        return Err(ApiError::invalid(format!(
            "Policy has {} characters, more than the {MAX_POLICY_CHARS} a resource policy may have.",
            policy.chars().count()
        )));
    }
    let doc: serde_json::Value = serde_json::from_str(policy)
        .map_err(|e| ApiError::invalid(format!("Policy is not a valid JSON document: {e}.")))?;
    let Some(doc) = doc.as_object() else {
        return Err(ApiError::invalid("Policy must be a JSON object."));
    };
    match doc.get("Statement") {
        Some(serde_json::Value::Array(a)) if !a.is_empty() => Ok(()),
        Some(serde_json::Value::Object(_)) => Ok(()),
        _ => Err(ApiError::invalid(
            "Policy must have a Statement: an object or a non-empty list of them.",
        )),
    }
}

/// PutResourcePolicy.
pub fn put(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let arn = req.str("ResourceARN")?;
    let policy = req.str("Policy")?;
    let target = target(state, arn)?;
    check_policy(policy)?;
    let value = serde_json::json!({ "uid": target.uid, "policy": policy });
    store(state)?
        .put(&target.key, value.to_string().as_bytes())
        .map_err(|e| state.err(e))?;
    Ok(empty())
}

/// GetResourcePolicy: `{}` when the resource has none, as AWS answers.
pub fn get(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let arn = req.str("ResourceARN")?;
    let target = target(state, arn)?;
    let policy = stored(state, &target)?.unwrap_or_else(|| "{}".to_string());
    Ok(map([("Policy", Value::str(policy))]))
}

/// DeleteResourcePolicy: ResourceNotFoundException when there is none.
pub fn delete(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let arn = req.str("ResourceARN")?;
    let target = target(state, arn)?;
    if stored(state, &target)?.is_none() {
        return Err(ApiError::not_found(format!(
            "No resource policy found for resource ARN {arn}."
        )));
    }
    store(state)?
        .delete(&target.key)
        .map_err(|e| state.err(e))?;
    Ok(empty())
}

/// Forgets the policies of a deleted stream and its consumers.
pub fn forget_stream(state: &KinesisState, stream: &str) {
    let Ok(store) = store(state) else { return };
    let prefix = format!("policy/{stream}/");
    let keys = match store.scan(&prefix) {
        Ok(kv) => kv.into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
        Err(e) => {
            tracing::warn!(%stream, error = %e, "resource policies of a deleted stream not listed");
            return;
        }
    };
    if keys.is_empty() {
        return;
    }
    let changes = keys
        .into_iter()
        .map(freshet_storage::StateChange::Delete)
        .collect();
    if let Err(e) = store.write(changes) {
        tracing::warn!(%stream, error = %e, "resource policies of a deleted stream not removed");
    }
}

#[cfg(test)]
mod tests {
    use super::check_policy;

    #[test]
    fn policies_must_be_objects_with_statements() {
        assert!(
            check_policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}"#).is_ok()
        );
        assert!(check_policy(r#"{"Statement":{"Effect":"Allow"}}"#).is_ok());
        for bad in [
            "",
            "[]",
            "nope",
            r#"{"Version":"2012-10-17"}"#,
            r#"{"Statement":[]}"#,
        ] {
            assert!(check_policy(bad).is_err(), "{bad}");
        }
        let huge = format!(r#"{{"Statement":{{"Sid":"{}"}}}}"#, "x".repeat(20_480));
        assert!(check_policy(&huge).is_err());
    }
}
