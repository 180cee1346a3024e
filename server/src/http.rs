//! The HTTP front: `POST /` with `X-Amz-Target`, `GET /health`, `GET /metrics`, served
//! over HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on one port, with graceful
//! shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::actions::dispatch;
use crate::body::ReplyBody;
use crate::error::ApiError;
use crate::state::AppState;
use crate::value::{decode, encode, map, Encoding, Value};

/// Largest request body accepted (a full PutRecords call, base64-encoded, fits).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// The `X-Amz-Target` prefix of Kinesis.
pub const TARGET_PREFIX: &str = "Kinesis_20131202.";
/// How long graceful shutdown waits for in-flight requests.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

fn request_id() -> String {
    let v: u128 = rand::random();
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn reply(status: StatusCode, content_type: &str, id: &str, body: Vec<u8>) -> Response<ReplyBody> {
    let mut r = Response::new(ReplyBody::full(body));
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(id) {
        r.headers_mut().insert("x-amzn-RequestId", v);
    }
    r
}

fn error_reply(enc: Encoding, id: &str, e: &ApiError) -> Response<ReplyBody> {
    let body = encode(
        enc,
        &map([
            ("__type", Value::str(e.kind)),
            ("message", Value::str(&e.message)),
        ]),
    );
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = reply(status, enc.content_type(), id, body);
    if let Ok(v) = HeaderValue::from_str(e.kind) {
        r.headers_mut().insert("x-amzn-ErrorType", v);
    }
    r
}

/// Handles one HTTP request.
pub async fn handle(state: Arc<AppState>, req: Request<Incoming>) -> Response<ReplyBody> {
    let id = request_id();
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/health") | (&Method::GET, "/ping") => {
            return reply(
                StatusCode::OK,
                "application/json",
                &id,
                br#"{"status":"ok"}"#.to_vec(),
            )
        }
        (&Method::GET, "/metrics") => {
            return reply(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                &id,
                state.metrics.render().into_bytes(),
            )
        }
        (&Method::POST, _) => {}
        _ => {
            let e = ApiError::unknown_operation(
                "Only POST requests with an X-Amz-Target header are served here.",
            );
            let mut r = error_reply(Encoding::Json, &id, &e);
            *r.status_mut() = if req.method() == Method::GET {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::METHOD_NOT_ALLOWED
            };
            return r;
        }
    }
    let started = Instant::now();
    let enc = Encoding::from_content_type(
        req.headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    );
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        let e = ApiError::serialization(format!(
            "The request body exceeds the limit of {MAX_BODY_BYTES} bytes."
        ));
        state.metrics.request("-", e.kind);
        return error_reply(enc, &id, &e);
    }
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let msg = if e.is::<http_body_util::LengthLimitError>() {
                format!("The request body exceeds the limit of {MAX_BODY_BYTES} bytes.")
            } else {
                format!("The request body could not be read: {e}")
            };
            return error_reply(enc, &id, &ApiError::serialization(msg));
        }
    };
    let action = target
        .strip_prefix(TARGET_PREFIX)
        .map(str::to_string)
        .or_else(|| crate::actions::leases::action_of(&target));
    if state.cfg.auth.enabled {
        if let Err(e) = crate::auth::verify(
            &state.cfg.auth,
            parts.method.as_str(),
            &parts.uri,
            &parts.headers,
            &body,
            state.now_ms(),
        ) {
            state
                .metrics
                .request(action.as_deref().unwrap_or("-"), e.kind);
            tracing::debug!(request_id = %id, error = %e, "authentication failed");
            return error_reply(enc, &id, &e);
        }
    }
    if action.as_deref() == Some("SubscribeToShard") {
        return subscribe_reply(state, enc, &id, body).await;
    }
    let st = Arc::clone(&state);
    let act = action.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let Some(action) = act else {
            return Err(ApiError::unknown_operation(format!(
                "The X-Amz-Target header '{target}' does not name a Kinesis operation."
            )));
        };
        if !crate::actions::ACTIONS.contains(&action.as_str())
            && !crate::actions::leases::ACTIONS.contains(&action.as_str())
        {
            return Err(ApiError::unknown_operation(format!(
                "The action or operation {action} is not valid for this endpoint."
            )));
        }
        let doc = decode(enc, &body).map_err(|e| ApiError::serialization(e.0))?;
        dispatch(&st, &action, &doc).map(|v| encode(enc, &v))
    })
    .await
    .unwrap_or_else(|e| {
        Err(ApiError::internal(format!(
            "Internal service failure: the handler failed: {e}"
        )))
    });
    let action = action.unwrap_or_else(|| "-".into());
    let elapsed = started.elapsed();
    match outcome {
        Ok(bytes) => {
            state.metrics.request(&action, "ok");
            tracing::debug!(%action, request_id = %id, ?elapsed, "ok");
            reply(StatusCode::OK, enc.content_type(), &id, bytes)
        }
        Err(e) => {
            state.metrics.request(&action, e.kind);
            match e.kind {
                "InternalFailure" => {
                    tracing::error!(%action, request_id = %id, error = %e, "internal failure")
                }
                "SerializationException" | "UnknownOperationException" => {
                    tracing::warn!(%action, request_id = %id, error = %e, "malformed request")
                }
                _ => {
                    tracing::debug!(%action, request_id = %id, ?elapsed, error = %e, "client error")
                }
            }
            error_reply(enc, &id, &e)
        }
    }
}

/// SubscribeToShard: an event-stream reply, or an ordinary error reply when the request
/// is refused before the stream starts.
async fn subscribe_reply(
    state: Arc<AppState>,
    enc: Encoding,
    id: &str,
    body: Bytes,
) -> Response<ReplyBody> {
    match crate::subscribe::open(Arc::clone(&state), enc, body).await {
        Ok(rx) => {
            state.metrics.request("SubscribeToShard", "ok");
            tracing::debug!(request_id = %id, "subscription started");
            let mut r = Response::new(ReplyBody::Stream(rx));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(crate::eventstream::CONTENT_TYPE),
            );
            if let Ok(v) = HeaderValue::from_str(id) {
                r.headers_mut().insert("x-amzn-RequestId", v);
            }
            r
        }
        Err(e) => {
            state.metrics.request("SubscribeToShard", e.kind);
            tracing::debug!(request_id = %id, error = %e, "subscription refused");
            error_reply(enc, id, &e)
        }
    }
}

/// Serves connections from `listener` until `shutdown` completes, then stops accepting,
/// lets in-flight requests finish (up to [`DRAIN_TIMEOUT`]) and returns.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) {
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let st = Arc::clone(&state);
                let svc = hyper::service::service_fn(move |req| {
                    let st = Arc::clone(&st);
                    async move { Ok::<_, Infallible>(handle(st, req).await) }
                });
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection closed with an error");
                    }
                });
            }
            _ = &mut shutdown => {
                tracing::info!("shutting down: no new connections; draining in-flight requests");
                state.subscriptions.shut_down();
                break;
            }
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("gave up waiting for connections to close"),
    }
}
