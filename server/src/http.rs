//! The HTTP front: `POST /` with `X-Amz-Target`, `GET /health`, `GET /metrics`, served
//! over HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on one port, with graceful
//! shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::actions::dispatch;
use crate::body::ReplyBody;
use crate::error::ApiError;
use crate::state::AppState;
use crate::value::{decode, encode, map, Encoding, Value};

pub use crate::request_body::MAX_BODY_BYTES;
/// The `X-Amz-Target` prefix of Kinesis.
pub const TARGET_PREFIX: &str = "Kinesis_20131202.";
/// Concurrent HTTP/2 streams per connection (each may hold a request body).
pub const MAX_STREAMS_PER_CONNECTION: u32 = 100;
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

/// Handles one HTTP request, answering 503 `ServiceUnavailable` when it takes longer
/// than the request timeout.
pub async fn handle(state: Arc<AppState>, req: Request<Incoming>) -> Response<ReplyBody> {
    let id = request_id();
    let limit = state.admission.limits().request_timeout;
    let enc = Encoding::from_content_type(
        req.headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    );
    match tokio::time::timeout(limit, handle_request(Arc::clone(&state), req, &id)).await {
        Ok(r) => r,
        Err(_) => {
            let e = ApiError::custom(
                "ServiceUnavailable",
                format!(
                    "The request did not complete within {} ms; retry with back-off.",
                    limit.as_millis()
                ),
                503,
            );
            state.metrics.request("-", e.kind);
            tracing::warn!(request_id = %id, "request timed out");
            error_reply(enc, &id, &e)
        }
    }
}

async fn handle_request(
    state: Arc<AppState>,
    req: Request<Incoming>,
    id: &str,
) -> Response<ReplyBody> {
    let id = id.to_string();
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
    let (parts, body) = req.into_parts();
    let (body, _held) = match crate::request_body::read(&state.admission, body, declared).await {
        Ok(x) => x,
        Err(e) => {
            state.metrics.request("-", e.kind);
            tracing::debug!(request_id = %id, error = %e, "request body refused");
            return error_reply(enc, &id, &e);
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
        if enc == Encoding::Json {
            if let Some(done) = crate::actions::fast::try_dispatch(&st, &action, &body) {
                return done;
            }
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
    let limits = *state.admission.limits();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_read_timeout))
        .keep_alive_timeout(limits.header_read_timeout)
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION);
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
                let Some(slot) = state.admission.connection().await else {
                    tracing::debug!(%peer, "connection limit reached: answering 503");
                    state.metrics.request("-", "ConnectionLimit");
                    state.admission.reject(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let st = Arc::clone(&state);
                let svc = hyper::service::service_fn(move |req| {
                    let st = Arc::clone(&st);
                    async move { Ok::<_, Infallible>(handle(st, req).await) }
                });
                let st = Arc::clone(&state);
                let builder = builder.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let _slot = slot;
                    if !st.admission.await_first_bytes(&stream).await {
                        tracing::debug!(%peer, "connection closed: no request head in time");
                        return;
                    }
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                    if let Err(e) = watcher.watch(conn.into_owned()).await {
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
