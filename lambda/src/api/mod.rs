//! Lambda's REST-JSON API: requests by method and path, JSON replies with AWS's
//! status codes, errors with `X-Amzn-ErrorType`.

pub(crate) mod functions;
mod invoke;
mod mappings;

use std::sync::Arc;

use bytes::Bytes;
use freshet_protocol::error::ApiError;
use freshet_protocol::service::{Call, Reply};
use http::Method;
use serde_json::Value;

use crate::error::{bad_content, LambdaResult};
use crate::service::Lambda;

/// A JSON reply.
pub(crate) fn json(status: u16, v: &Value) -> Reply {
    Reply::Full {
        status,
        content_type: "application/json",
        headers: Vec::new(),
        body: Bytes::from(v.to_string()),
    }
}

/// An empty reply (204 and friends).
pub(crate) fn empty(status: u16) -> Reply {
    Reply::Full {
        status,
        content_type: "application/json",
        headers: Vec::new(),
        body: Bytes::new(),
    }
}

/// The body as a JSON object (an empty body is an empty object).
pub(crate) fn body_json(call: &Call) -> LambdaResult<Value> {
    if call.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    let v: Value = serde_json::from_slice(&call.body)
        .map_err(|e| bad_content(format!("Could not parse request body into json: {e}")))?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(bad_content(
            "Could not parse request body into json: the body is not a JSON object",
        ))
    }
}

/// A query parameter, percent-decoded.
pub(crate) fn query(call: &Call, name: &str) -> Option<String> {
    call.uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (decode(k) == name).then(|| decode(v))
    })
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Answers one request.
pub(crate) async fn handle(l: Arc<Lambda>, call: Call) -> Reply {
    match route(l, call).await {
        Ok(r) => r,
        Err(e) => Reply::Error(e),
    }
}

async fn route(l: Arc<Lambda>, call: Call) -> Result<Reply, ApiError> {
    let path = call.uri.path().to_string();
    let segments: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let m = call.method.clone();
    match (m, segs.as_slice()) {
        (Method::POST, ["2015-03-31", "functions"]) => functions::create(&l, &call).await,
        (Method::GET, ["2015-03-31", "functions"]) => functions::list(&l, &call).await,
        (Method::GET, ["2015-03-31", "functions", f]) => functions::get(&l, f).await,
        (Method::DELETE, ["2015-03-31", "functions", f]) => functions::delete(&l, f).await,
        (Method::GET, ["2015-03-31", "functions", f, "configuration"]) => {
            functions::get_configuration(&l, f).await
        }
        (Method::PUT, ["2015-03-31", "functions", f, "configuration"]) => {
            functions::update_configuration(&l, f, &call).await
        }
        (Method::PUT, ["2015-03-31", "functions", f, "code"]) => {
            functions::update_code(&l, f, &call).await
        }
        (Method::GET, ["2015-03-31", "functions", f, "code.zip"]) => {
            functions::download(&l, f).await
        }
        (Method::POST, ["2015-03-31", "functions", f, "invocations"]) => {
            invoke::invoke(&l, f, call).await
        }
        (Method::PUT, ["2017-10-31", "functions", f, "concurrency"]) => {
            functions::put_concurrency(&l, f, &call).await
        }
        (Method::GET, ["2019-09-30", "functions", f, "concurrency"]) => {
            functions::get_concurrency(&l, f).await
        }
        (Method::DELETE, ["2017-10-31", "functions", f, "concurrency"]) => {
            functions::delete_concurrency(&l, f).await
        }
        (Method::POST, ["2015-03-31", "event-source-mappings"]) => {
            mappings::create(&l, &call).await
        }
        (Method::GET, ["2015-03-31", "event-source-mappings"]) => mappings::list(&l, &call).await,
        (Method::GET, ["2015-03-31", "event-source-mappings", id]) => mappings::get(&l, id).await,
        (Method::PUT, ["2015-03-31", "event-source-mappings", id]) => {
            mappings::update(&l, id, &call).await
        }
        (Method::DELETE, ["2015-03-31", "event-source-mappings", id]) => {
            mappings::delete(&l, id).await
        }
        (m, _) => Err(ApiError::custom(
            "UnknownOperationException",
            format!("No Lambda operation answers {m} {path}."),
            if m == Method::GET { 404 } else { 405 },
        )),
    }
}
