//! The Runtime API one instance speaks to: `GET /2018-06-01/runtime/invocation/next`
//! (a long poll for the next event), `POST .../invocation/{id}/response`,
//! `POST .../invocation/{id}/error` and `POST .../init/error`. Posts answer 202 at
//! once (awslambdaric waits 100 ms at most).

use crate::lock;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use super::MAX_RESPONSE_BYTES;

/// One event handed to the instance.
#[derive(Debug)]
pub(crate) struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: String,
    /// The event.
    pub payload: Bytes,
    /// `Lambda-Runtime-Deadline-Ms`.
    pub deadline_ms: i64,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub function_arn: String,
    /// `Lambda-Runtime-Trace-Id`.
    pub trace_id: String,
    /// `Lambda-Runtime-Client-Context`, when the caller sent one.
    pub client_context: Option<String>,
    /// Where the outcome goes.
    pub reply: oneshot::Sender<RuntimeReply>,
}

/// What the runtime posted for an invocation.
#[derive(Debug)]
pub(crate) enum RuntimeReply {
    /// `/response`.
    Response(Bytes),
    /// `/error`: the body (errorMessage, errorType, stackTrace) and the
    /// `Lambda-Runtime-Function-Error-Type` header.
    Error(Bytes),
    /// A response over the payload limit.
    TooLarge(usize),
}

/// The instance's side of its Runtime API.
pub(crate) struct RuntimeApi {
    /// `127.0.0.1:port`, for `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    /// Events for the instance.
    pub invocations: mpsc::Sender<Invocation>,
    /// Fires when the runtime first asks for an event (initialisation done), or posts
    /// `/init/error` (with its body).
    pub ready: oneshot::Receiver<Result<(), Bytes>>,
    /// Stops the listener.
    pub stop: tokio::task::AbortHandle,
}

struct Shared {
    invocations: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    pending: Mutex<Option<(String, oneshot::Sender<RuntimeReply>)>>,
    ready: Mutex<Option<oneshot::Sender<Result<(), Bytes>>>>,
}

/// Binds a loopback listener and serves the Runtime API on it.
pub(crate) async fn start() -> std::io::Result<RuntimeApi> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    let (tx, rx) = mpsc::channel(1);
    let (ready_tx, ready_rx) = oneshot::channel();
    let shared = Arc::new(Shared {
        invocations: tokio::sync::Mutex::new(rx),
        pending: Mutex::new(None),
        ready: Mutex::new(Some(ready_tx)),
    });
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let shared = Arc::clone(&shared);
            connections.spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let shared = Arc::clone(&shared);
                    async move { Ok::<_, Infallible>(handle(&shared, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
            while connections.try_join_next().is_some() {}
        }
    });
    Ok(RuntimeApi {
        address,
        invocations: tx,
        ready: ready_rx,
        stop: task.abort_handle(),
    })
}

fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn accepted() -> Response<Full<Bytes>> {
    reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else {
        return reply(StatusCode::NOT_FOUND, r#"{"errorMessage":"unknown path"}"#);
    };
    match (req.method(), rest) {
        (&Method::GET, "invocation/next") => next(shared).await,
        (&Method::POST, "init/error") => {
            let body = read(req).await.unwrap_or_default();
            if let Some(tx) = lock(&shared.ready).take() {
                let _ = tx.send(Err(body));
            }
            accepted()
        }
        (&Method::POST, rest) => {
            let Some((id, kind)) = rest
                .strip_prefix("invocation/")
                .and_then(|r| r.rsplit_once('/'))
            else {
                return reply(StatusCode::NOT_FOUND, r#"{"errorMessage":"unknown path"}"#);
            };
            let (id, kind) = (id.to_string(), kind.to_string());
            if kind != "response" && kind != "error" {
                return reply(StatusCode::NOT_FOUND, r#"{"errorMessage":"unknown path"}"#);
            }
            let body = read(req).await;
            let waiting = {
                let mut pending = lock(&shared.pending);
                match pending.as_ref() {
                    Some((current, _)) if *current == id => pending.take(),
                    _ => None,
                }
            };
            let Some((_, tx)) = waiting else {
                return reply(
                    StatusCode::BAD_REQUEST,
                    r#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#,
                );
            };
            let (outcome, too_large) = match (kind.as_str(), body) {
                (_, Err(size)) => (RuntimeReply::TooLarge(size), true),
                ("response", Ok(b)) => (RuntimeReply::Response(b), false),
                (_, Ok(b)) => (RuntimeReply::Error(b), false),
            };
            let _ = tx.send(outcome);
            if too_large {
                reply(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    r#"{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}"#,
                )
            } else {
                accepted()
            }
        }
        _ => reply(StatusCode::NOT_FOUND, r#"{"errorMessage":"unknown path"}"#),
    }
}

async fn next(shared: &Shared) -> Response<Full<Bytes>> {
    if let Some(tx) = lock(&shared.ready).take() {
        let _ = tx.send(Ok(()));
    }
    let invocation = shared.invocations.lock().await.recv().await;
    let Some(inv) = invocation else {
        return reply(StatusCode::GONE, r#"{"errorMessage":"instance stopping"}"#);
    };
    let mut r = Response::new(Full::new(inv.payload));
    let h = r.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = hyper::header::HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set("content-type", "application/json");
    set("lambda-runtime-aws-request-id", &inv.request_id);
    set("lambda-runtime-deadline-ms", &inv.deadline_ms.to_string());
    set("lambda-runtime-invoked-function-arn", &inv.function_arn);
    set("lambda-runtime-trace-id", &inv.trace_id);
    if let Some(cc) = &inv.client_context {
        set("lambda-runtime-client-context", cc);
    }
    *lock(&shared.pending) = Some((inv.request_id, inv.reply));
    r
}

/// A body of at most the payload limit; `Err(size)` past it.
async fn read(req: Request<Incoming>) -> Result<Bytes, usize> {
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(n) = declared.filter(|n| *n > MAX_RESPONSE_BYTES) {
        return Err(n);
    }
    match Limited::new(req.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
    {
        Ok(c) => Ok(c.to_bytes()),
        Err(_) => Err(declared.unwrap_or(MAX_RESPONSE_BYTES + 1)),
    }
}
