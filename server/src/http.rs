//! The front door: `GET /health`, `GET /metrics`, and every service's requests, served
//! over HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on one port (or both
//! over TLS: [`serve_with`], [`crate::tls`]), with admission, SigV4, request metrics
//! and graceful shutdown shared by all services.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use freshet_protocol::service::{Call, Held, Reply};
use freshet_protocol::value::{encode, map, Encoding, Value};
use freshet_protocol::ApiError;

use crate::admission::{Admission, BytesPermit, ResourceLimits};
use crate::auth::AuthConfig;
use crate::body::ReplyBody;
use crate::metrics::Metrics;
use crate::router::Router;
use crate::tls::TlsAcceptor;

pub use crate::request_body::MAX_BODY_BYTES;
/// Concurrent HTTP/2 streams per connection (each may hold a request body).
pub const MAX_STREAMS_PER_CONNECTION: u32 = 100;
/// How long graceful shutdown waits for in-flight requests.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What every request shares: the services, the budgets, the keys and the metrics.
#[derive(Debug)]
pub struct FrontDoor {
    /// The services by route.
    pub router: Router,
    /// Connection and in-flight byte budgets.
    pub admission: Admission,
    /// SigV4 verification.
    pub auth: AuthConfig,
    /// Request counts.
    pub metrics: Metrics,
    /// The web console, once `freshet serve` installs it ([`crate::console`]).
    pub console: std::sync::OnceLock<Arc<crate::console::Console>>,
}

impl FrontDoor {
    /// A front door over `router`.
    pub fn new(router: Router, limits: ResourceLimits, auth: AuthConfig) -> Arc<Self> {
        Arc::new(FrontDoor {
            router,
            admission: Admission::new(limits),
            auth,
            metrics: Metrics::default(),
            console: std::sync::OnceLock::new(),
        })
    }

    /// The Prometheus text of the front door and of every service.
    pub fn render_metrics(&self) -> String {
        let mut out = String::new();
        for s in self.router.services() {
            s.render_metrics(&mut out);
        }
        self.metrics.render(&mut out);
        out
    }
}

fn request_id() -> String {
    let h = format!("{:032x}", rand::random::<u128>());
    let part = |r: std::ops::Range<usize>| h.get(r).unwrap_or_default().to_string();
    format!(
        "{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    )
}

fn reply(
    status: StatusCode,
    content_type: &str,
    id: &str,
    body: impl Into<bytes::Bytes>,
) -> Response<ReplyBody> {
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

/// How a request's errors are written: AWS JSON/CBOR (`__type`, `message`), or the
/// Query protocol's XML `ErrorResponse` (IAM, STS).
#[derive(Debug, Clone, Copy)]
enum Wire {
    Json(Encoding),
    Query,
}

fn error_reply(wire: Wire, id: &str, e: &ApiError) -> Response<ReplyBody> {
    service_error_reply(wire, id, e, Vec::new())
}

/// An error reply with the members a service adds to its JSON errors.
fn service_error_reply(
    wire: Wire,
    id: &str,
    e: &ApiError,
    members: Vec<(&'static str, String)>,
) -> Response<ReplyBody> {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = match wire {
        Wire::Json(enc) => {
            let mut doc = map([
                ("__type", Value::str(e.kind)),
                ("message", Value::str(&e.message)),
            ]);
            if let Value::Map(m) = &mut doc {
                m.extend(
                    members
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), Value::str(v))),
                );
            }
            let body = encode(enc, &doc);
            reply(status, enc.content_type(), id, body)
        }
        Wire::Query => reply(status, "text/xml", id, query_error_xml(id, e)),
    };
    if let Ok(v) = HeaderValue::from_str(e.kind) {
        r.headers_mut().insert("x-amzn-ErrorType", v);
    }
    r
}

/// The Query protocol's error document, as IAM and STS write it.
fn query_error_xml(id: &str, e: &ApiError) -> String {
    let side = if e.status >= 500 {
        "Receiver"
    } else {
        "Sender"
    };
    format!(
        "<ErrorResponse><Error><Type>{side}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        quick_xml::escape::escape(e.kind),
        quick_xml::escape::escape(e.message.as_str()),
        quick_xml::escape::escape(id)
    )
}

/// An authentication error as the Query services (IAM, STS) name it: 403, with their
/// codes for a wrong signature, an unknown key and a missing one.
fn query_auth_error(e: &mut ApiError) {
    e.kind = match e.kind {
        "InvalidSignatureException" => "SignatureDoesNotMatch",
        "UnrecognizedClientException" => "InvalidClientTokenId",
        "MissingAuthenticationTokenException" => "MissingAuthenticationToken",
        "IncompleteSignatureException" => "IncompleteSignature",
        other => other,
    };
    if e.status == 400 {
        e.status = 403;
    }
}

fn wire_of(req: &Request<Incoming>) -> Wire {
    if is_query(req) {
        Wire::Query
    } else {
        Wire::Json(Encoding::from_content_type(
            req.headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        ))
    }
}

/// Whether a request is in the AWS Query protocol: no `X-Amz-Target`, and either a
/// form-encoded POST or a GET whose query names an `Action`.
fn is_query(req: &Request<Incoming>) -> bool {
    if req.headers().contains_key("x-amz-target") {
        return false;
    }
    let form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    match *req.method() {
        Method::POST => form,
        Method::GET => query_param(req.uri().query().unwrap_or_default(), "Action").is_some(),
        _ => false,
    }
}

/// The first value of `name` in a form-encoded string.
fn query_param(form: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(form.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The service of a SigV4 credential scope (`AKID/20261130/us-east-1/iam/aws4_request`),
/// from the `Authorization` header or a presigned URL's `X-Amz-Credential`.
fn signing_name(parts: &http::request::Parts) -> Option<String> {
    let credential = match parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(auth) => auth
            .split([' ', ','])
            .find_map(|p| p.trim().strip_prefix("Credential="))
            .map(str::to_string),
        None => query_param(parts.uri.query().unwrap_or_default(), "X-Amz-Credential"),
    }?;
    credential.split('/').nth(3).map(str::to_string)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Handles one HTTP request, answering 503 `ServiceUnavailable` when it takes longer
/// than the request timeout. What the request reserved stays reserved until the
/// service's work ends, even past the timeout.
pub async fn handle(door: Arc<FrontDoor>, req: Request<Incoming>) -> Response<ReplyBody> {
    let id = request_id();
    let limit = door.admission.limits().request_timeout;
    let deadline = Instant::now() + limit;
    let wire = wire_of(&req);
    match tokio::time::timeout(limit, handle_request(Arc::clone(&door), req, &id, deadline)).await {
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
            door.metrics.request("-", "-", e.kind);
            tracing::warn!(request_id = %id, "request timed out");
            error_reply(wire, &id, &e)
        }
    }
}

async fn handle_request(
    door: Arc<FrontDoor>,
    req: Request<Incoming>,
    id: &str,
    deadline: Instant,
) -> Response<ReplyBody> {
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(page) = crate::console::answer(&door, &req) {
        return page;
    }
    match (req.method(), req.uri().path(), &target) {
        (&Method::GET, "/health" | "/ping", None) => {
            return reply(
                StatusCode::OK,
                "application/json",
                id,
                &br#"{"status":"ok"}"#[..],
            )
        }
        (&Method::GET, "/metrics", None) => {
            return reply(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                id,
                door.render_metrics(),
            )
        }
        _ => {}
    }
    let wire = wire_of(&req);
    let enc = match wire {
        Wire::Json(enc) => enc,
        Wire::Query => Encoding::Json,
    };
    // Target routes are POSTs to any path (the SDKs post to `/`); REST routes by path;
    // Query routes once the body (which names the action) is read.
    let routed = match &target {
        _ if matches!(wire, Wire::Query) => None,
        Some(t) if req.method() == Method::POST => door
            .router
            .by_target(t)
            .map(|(s, route, op)| (Arc::clone(s), route, op.to_string())),
        Some(_) => None,
        None => door
            .router
            .by_path(req.uri().path())
            .map(|(s, route)| (Arc::clone(s), route, req.uri().path().to_string())),
    };
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (parts, body) = req.into_parts();
    let streamed = routed
        .as_ref()
        .is_some_and(|(service, route, op)| service.streams_request(route, op));
    let self_authenticated = routed
        .as_ref()
        .is_some_and(|(service, route, op)| service.authenticates_itself(route, op));
    let limit = routed
        .as_ref()
        .map_or(MAX_BODY_BYTES, |(service, _, _)| service.max_body_bytes());
    let (body, body_stream, held) = if streamed {
        let stream = crate::request_body::streamed(body);
        (bytes::Bytes::new(), Some(stream), BytesPermit::default())
    } else {
        match crate::request_body::read(&door.admission, body, declared, limit).await {
            Ok((body, held)) => (body, None, held),
            Err(e) => {
                door.metrics.request("-", "-", e.kind);
                tracing::debug!(request_id = %id, error = %e, "request body refused");
                return error_reply(wire, id, &e);
            }
        }
    };
    let verified = match (self_authenticated, streamed) {
        (true, _) => Ok(()),
        (false, true) => crate::auth::verify_streamed(&door.auth, &parts, now_ms()),
        (false, false) => crate::auth::verify(&door.auth, &parts, &body, now_ms()).await,
    };
    if let Err(mut e) = verified {
        if let Some((service, _, _)) = &routed {
            if e.status == 400 {
                e.status = service.auth_error_status();
            }
        }
        if matches!(wire, Wire::Query) {
            query_auth_error(&mut e);
        }
        door.metrics.request("-", "-", e.kind);
        tracing::debug!(request_id = %id, error = %e, "authentication failed");
        return error_reply(wire, id, &e);
    }
    let mut query_action = String::new();
    let routed = match (wire, routed) {
        (Wire::Query, _) => {
            let form = if parts.method == Method::POST {
                std::str::from_utf8(&body).unwrap_or_default().to_string()
            } else {
                parts.uri.query().unwrap_or_default().to_string()
            };
            let Some(action) = query_param(&form, "Action") else {
                let e = ApiError::custom(
                    "MissingAction",
                    "The request must contain the parameter Action.",
                    400,
                );
                door.metrics.request("-", "-", e.kind);
                return error_reply(wire, id, &e);
            };
            query_action.clone_from(&action);
            door.router
                .by_query(signing_name(&parts).as_deref(), &action)
                .map(|(s, route)| (Arc::clone(s), route, action))
        }
        (_, routed) => routed,
    };
    let Some((service, route, operation)) = routed else {
        let e = match (&target, &parts.method) {
            _ if matches!(wire, Wire::Query) => ApiError::custom(
                "InvalidAction",
                format!(
                    "The action {query_action} is not valid for this web service (no Query-protocol service here answers it{}).",
                    signing_name(&parts).map(|n| format!(" for the signing name {n}")).unwrap_or_default()
                ),
                400,
            ),
            (Some(t), &Method::POST) => ApiError::unknown_operation(format!(
                "The X-Amz-Target header '{t}' does not name an operation of any service here."
            )),
            (None, &Method::POST) => ApiError::unknown_operation(
                "POST requests need an X-Amz-Target header naming the operation.",
            ),
            _ => ApiError::custom(
                "UnknownOperationException",
                format!(
                    "No service here answers {} {}.",
                    parts.method,
                    parts.uri.path()
                ),
                if parts.method == Method::GET {
                    404
                } else {
                    405
                },
            ),
        };
        door.metrics.request("-", "-", e.kind);
        return error_reply(wire, id, &e);
    };
    let name = service.name();
    if !service.knows(&route, &operation) {
        let e = match wire {
            Wire::Query => ApiError::custom(
                "InvalidAction",
                format!("The action {operation} is not valid for this web service."),
                400,
            ),
            Wire::Json(_) => ApiError::unknown_operation(format!(
                "The action or operation {operation} is not valid for this endpoint."
            )),
        };
        door.metrics.request(name, "-", e.kind);
        return service_error_reply(wire, id, &e, service.error_members(&e));
    }
    let started = Instant::now();
    let lease_seen = crate::console::LeaseSeen::of(&door, target.as_deref(), &body, enc);
    let call = Call {
        route,
        operation: operation.clone(),
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body,
        body_stream,
        encoding: enc,
        deadline,
        request_id: id.to_string(),
        held: Held(Box::new(held)),
    };
    let answer = service.call(call).await;
    let outcome = answer.outcome();
    if let Some(seen) = lease_seen {
        seen.confirm(outcome);
    }
    door.metrics.request(name, &operation, outcome);
    let elapsed = started.elapsed();
    match answer {
        Reply::Full {
            status,
            content_type,
            headers,
            body,
        } => {
            // The reply's bytes count in the in-flight budget until they are sent.
            let mut out_permit = BytesPermit::default();
            if door
                .admission
                .reserve(&mut out_permit, body.len())
                .await
                .is_err()
            {
                tracing::debug!(request_id = %id, bytes = body.len(), "reply held over budget");
            }
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut r = reply(status, content_type, id, body);
            *r.body_mut() = std::mem::take(r.body_mut()).holding(out_permit);
            for (k, v) in headers {
                if let Ok(v) = HeaderValue::from_str(&v) {
                    r.headers_mut().insert(k, v);
                }
            }
            tracing::debug!(service = name, %operation, request_id = %id, ?elapsed, "ok");
            r
        }
        Reply::Stream { content_type, body } => {
            tracing::debug!(service = name, %operation, request_id = %id, "stream started");
            let mut r = Response::new(ReplyBody::Stream(body));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            if let Ok(v) = HeaderValue::from_str(id) {
                r.headers_mut().insert("x-amzn-RequestId", v);
            }
            r
        }
        Reply::Error(e) => {
            match e.status {
                500 => {
                    tracing::error!(service = name, %operation, request_id = %id, error = %e, "internal failure")
                }
                501.. => {
                    tracing::warn!(service = name, %operation, request_id = %id, error = %e, "unavailable")
                }
                _ if e.kind == "SerializationException" => {
                    tracing::warn!(service = name, %operation, request_id = %id, error = %e, "malformed request")
                }
                _ => {
                    tracing::debug!(service = name, %operation, request_id = %id, ?elapsed, error = %e, "client error")
                }
            }
            service_error_reply(wire, id, &e, service.error_members(&e))
        }
    }
}

/// Serves connections from `listener` until `shutdown` completes, then stops accepting,
/// ends the services' long-lived replies, lets in-flight requests finish (up to
/// [`DRAIN_TIMEOUT`]) and returns. Plain HTTP/1.1 and h2c; see [`serve_with`] for TLS.
pub async fn serve(
    listener: TcpListener,
    door: Arc<FrontDoor>,
    shutdown: impl Future<Output = ()>,
) {
    serve_with(listener, door, None, shutdown).await
}

/// [`serve`], over TLS when `tls` is given (HTTP/1.1 or HTTP/2 as ALPN settles): each
/// admitted connection's handshake must end within the header read timeout.
pub async fn serve_with(
    listener: TcpListener,
    door: Arc<FrontDoor>,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let limits = *door.admission.limits();
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
    // Requests carry the listener they came through (the console is served per listener).
    let via = crate::console::Via(listener.local_addr().ok());
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
                let Some(slot) = door.admission.connection().await else {
                    door.metrics.request("-", "-", "ConnectionLimit");
                    if tls.is_some() {
                        // A 503 would need a handshake first (see `tls`): close.
                        tracing::debug!(%peer, "connection limit reached: closing");
                        drop(stream);
                    } else {
                        tracing::debug!(%peer, "connection limit reached: answering 503");
                        door.admission.reject(stream);
                    }
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let d = Arc::clone(&door);
                let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                    req.extensions_mut().insert(via);
                    let d = Arc::clone(&d);
                    async move { Ok::<_, Infallible>(handle(d, req).await) }
                });
                let d = Arc::clone(&door);
                let builder = builder.clone();
                let watcher = graceful.watcher();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    if !d.admission.await_first_bytes(&stream).await {
                        tracing::debug!(%peer, "connection closed: no request head in time");
                        return;
                    }
                    let outcome = match tls {
                        None => {
                            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                            watcher.watch(conn.into_owned()).await
                        }
                        Some(acceptor) => {
                            let stream = match crate::tls::handshake(&acceptor, stream, limits.header_read_timeout).await {
                                Ok(s) => s,
                                Err(e) => {
                                    tracing::debug!(%peer, error = %e, "connection closed");
                                    return;
                                }
                            };
                            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                            watcher.watch(conn.into_owned()).await
                        }
                    };
                    if let Err(e) = outcome {
                        tracing::debug!(%peer, error = %e, "connection closed with an error");
                    }
                });
            }
            _ = &mut shutdown => {
                tracing::info!("shutting down: no new connections; draining in-flight requests");
                for s in door.router.services() {
                    s.shut_down();
                }
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
