//! Invoke: `RequestResponse` (the function's reply, `X-Amz-Function-Error` when it
//! failed, `X-Amz-Log-Result` with `LogType: Tail`), `Event` (queued, 202) and
//! `DryRun` (204).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use freshet_protocol::error::ApiError;
use freshet_protocol::service::{Call, Reply};

use super::functions::{load, resolve_name, spec};
use super::{empty, query};
use crate::error::{bad_content, conflict, invalid, request_too_large, service, too_many_requests};
use crate::model::FunctionState;
use crate::runtime::{InvokeError, MAX_RESPONSE_BYTES};
use crate::service::Lambda;

/// A synchronous invocation's largest payload.
const MAX_SYNC_PAYLOAD: usize = 6_291_456;
/// An asynchronous invocation's largest payload.
const MAX_ASYNC_PAYLOAD: usize = 262_144;
/// Retries of a failed asynchronous invocation (AWS's default).
const ASYNC_RETRIES: u32 = 2;

fn header<'a>(call: &'a Call, name: &str) -> Option<&'a str> {
    call.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Invoke.
pub(crate) async fn invoke(
    l: &Arc<Lambda>,
    reference: &str,
    call: Call,
) -> Result<Reply, ApiError> {
    let name = resolve_name(l, reference)?;
    if let Some(q) = query(&call, "Qualifier").filter(|q| q != "$LATEST") {
        return Err(crate::error::function_not_found(&format!(
            "{}:{q}",
            crate::model::function_arn(&l.cfg.region, &l.cfg.account_id, &name)
        )));
    }
    let kind = header(&call, "x-amz-invocation-type").unwrap_or("RequestResponse");
    let tail = match header(&call, "x-amz-log-type").unwrap_or("None") {
        "None" => false,
        "Tail" => true,
        other => {
            return Err(crate::error::constraint(
                other,
                "logType",
                "Member must satisfy enum value set: [None, Tail]",
            ))
        }
    };
    let client_context = match header(&call, "x-amz-client-context") {
        Some(cc) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(cc)
                .map_err(|_| {
                    invalid("Client context must be a valid Base64-encoded JSON object.")
                })?;
            if serde_json::from_slice::<serde_json::Value>(&decoded).is_err() {
                return Err(invalid(
                    "Client context must be a valid Base64-encoded JSON object.",
                ));
            }
            Some(String::from_utf8_lossy(&decoded).into_owned())
        }
        None => None,
    };
    let payload = if call.body.is_empty() {
        Bytes::from_static(b"{}")
    } else {
        call.body.clone()
    };
    let limit = if kind == "Event" {
        MAX_ASYNC_PAYLOAD
    } else {
        MAX_SYNC_PAYLOAD
    };
    if payload.len() > limit {
        return Err(request_too_large(payload.len()));
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(&payload).is_err() {
        return Err(bad_content(
            "Could not parse request body into json: the payload is not valid JSON",
        ));
    }
    let f = load(l, &name).await?;
    if f.state == FunctionState::Failed {
        return Err(conflict(format!(
            "The operation cannot be performed at this time. The function is currently in the following state: Failed ({})",
            f.state_reason.as_deref().unwrap_or("")
        )));
    }
    let Some(spec) = spec(l, &f) else {
        return Err(service(format!(
            "the runtime {} cannot run here",
            f.runtime
        )));
    };
    match kind {
        "DryRun" => Ok(empty(204)),
        "Event" => {
            let runtimes = l.runtimes.clone();
            tokio::spawn(async move {
                for attempt in 0..=ASYNC_RETRIES {
                    if attempt > 0 {
                        tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                    }
                    match runtimes
                        .invoke(&spec, payload.clone(), true, false, None)
                        .await
                    {
                        Ok(o) if o.function_error.is_none() => return,
                        Ok(o) => {
                            tracing::debug!(function = %spec.name, request_id = %o.request_id, attempt, "asynchronous invocation failed")
                        }
                        Err(_) => return,
                    }
                }
            });
            Ok(Reply::Full {
                status: 202,
                content_type: "application/json",
                headers: vec![("X-Amz-Executed-Version", "$LATEST".into())],
                body: Bytes::new(),
            })
        }
        "RequestResponse" => {
            let outcome = l
                .runtimes
                .invoke(&spec, payload, false, tail, client_context)
                .await
                .map_err(|e| match e {
                    InvokeError::TooManyRequests => too_many_requests(),
                    InvokeError::ShuttingDown => service("The server is shutting down."),
                })?;
            let mut headers = vec![("X-Amz-Executed-Version", "$LATEST".to_string())];
            if let Some(fe) = outcome.function_error {
                headers.push(("X-Amz-Function-Error", fe.to_string()));
            }
            if let Some(t) = &outcome.log_tail {
                headers.push((
                    "X-Amz-Log-Result",
                    base64::engine::general_purpose::STANDARD.encode(t),
                ));
            }
            debug_assert!(outcome.payload.len() <= MAX_RESPONSE_BYTES + 1024);
            Ok(Reply::Full {
                status: 200,
                content_type: "application/json",
                headers,
                body: outcome.payload,
            })
        }
        other => Err(crate::error::constraint(
            other,
            "invocationType",
            "Member must satisfy enum value set: [Event, RequestResponse, DryRun]",
        )),
    }
}
