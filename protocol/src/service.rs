//! The interface between the front door and the services behind it.
//!
//! The front door (`freshet-server`) owns what every service shares: HTTP/1.1 and h2c,
//! admission (connections, in-flight bytes, timeouts), SigV4, request metrics and
//! shutdown. It reads a request whole, finds the [`Service`] whose [`Route`] matches it,
//! and hands it a [`Call`]; the service answers with a [`Reply`]. Services never import
//! each other: what one offers another goes through an interface the front door wires.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use bytes::Bytes;

use crate::error::ApiError;
use crate::value::Encoding;

/// A boxed future, as services return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A stream of body chunks (an event stream): ends when it yields `None`.
pub type ChunkStream = Pin<Box<dyn futures_core::Stream<Item = Bytes> + Send>>;

/// A request body handed over as it arrives (PutMedia): its chunks, or the error that
/// ended it (the client's connection failing).
pub type BodyStream =
    Pin<Box<dyn futures_core::Stream<Item = std::io::Result<Bytes>> + Send + Sync>>;

/// The request body limit of a service that does not name its own (16 MiB: above
/// Kinesis' 10 MiB PutRecords, base64 included).
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How a service claims requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// AWS JSON/CBOR protocols: `POST /` whose `X-Amz-Target` starts with this prefix
    /// (for example `Kinesis_20131202.`); the rest of the header is the operation.
    TargetPrefix(&'static str),
    /// REST protocols: requests whose path starts with this prefix (for example
    /// `/2015-03-31/functions`).
    PathPrefix(&'static str),
    /// AWS Query protocol (IAM, STS): form-encoded requests without `X-Amz-Target`,
    /// claimed by the SigV4 signing name of their credential scope (`iam`, `sts`); the
    /// operation is the `Action` parameter. Unsigned requests go to the first service
    /// of this kind that knows the action. Errors are written as Query XML.
    Query(&'static str),
}

/// One request, read whole (or streamed) and authenticated, as a service receives it.
pub struct Call {
    /// The route that matched.
    pub route: Route,
    /// The operation: what follows the matched target prefix (`PutRecords`), for a
    /// path route the request path, for a Query route the `Action`.
    pub operation: String,
    /// The HTTP method.
    pub method: http::Method,
    /// The request URI (path and query).
    pub uri: http::Uri,
    /// The request headers.
    pub headers: http::HeaderMap,
    /// The body (empty when it is streamed).
    pub body: Bytes,
    /// The body as it arrives, for the operations the service
    /// [streams](Service::streams_request); `None` for the rest.
    pub body_stream: Option<BodyStream>,
    /// The body's encoding, from `Content-Type`.
    pub encoding: Encoding,
    /// When the front door gives up on the request (503): work that would commit a
    /// change checks it first and refuses instead of committing after the client left.
    pub deadline: Instant,
    /// The request id sent back in `x-amzn-RequestId`.
    pub request_id: String,
    /// What the front door reserved for the request (its body's bytes in the in-flight
    /// budget), released when dropped: a service keeps the call alive until its work
    /// ends, so a request that timed out still counts while it runs.
    pub held: Held,
}

/// Resources reserved for a request; released when dropped.
pub struct Held(pub Box<dyn Send + Sync>);

impl Held {
    /// Nothing held.
    pub fn none() -> Held {
        Held(Box::new(()))
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Held")
    }
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("route", &self.route)
            .field("operation", &self.operation)
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("body_len", &self.body.len())
            .field("body_streamed", &self.body_stream.is_some())
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl Call {
    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

/// A service's answer.
pub enum Reply {
    /// A whole body.
    Full {
        /// HTTP status.
        status: u16,
        /// `Content-Type`.
        content_type: &'static str,
        /// Extra headers.
        headers: Vec<(&'static str, String)>,
        /// The body.
        body: Bytes,
    },
    /// A streamed body (an event stream), sent as the chunks come.
    Stream {
        /// `Content-Type`.
        content_type: &'static str,
        /// The chunks.
        body: ChunkStream,
    },
    /// An error, encoded by the front door in the request's encoding.
    Error(ApiError),
}

impl Reply {
    /// A 200 reply with a whole body.
    pub fn ok(content_type: &'static str, body: impl Into<Bytes>) -> Reply {
        Reply::Full {
            status: 200,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// The outcome label for metrics: `ok` or the error type.
    pub fn outcome(&self) -> &'static str {
        match self {
            Reply::Full { status, .. } if *status >= 400 => "error",
            Reply::Full { .. } | Reply::Stream { .. } => "ok",
            Reply::Error(e) => e.kind,
        }
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Full { status, body, .. } => f
                .debug_struct("Full")
                .field("status", status)
                .field("len", &body.len())
                .finish(),
            Reply::Stream { content_type, .. } => f
                .debug_struct("Stream")
                .field("content_type", content_type)
                .finish(),
            Reply::Error(e) => f.debug_tuple("Error").field(e).finish(),
        }
    }
}

/// A service behind the front door.
pub trait Service: Send + Sync + 'static {
    /// A short name for logs and metrics (`kinesis`).
    fn name(&self) -> &'static str;

    /// The requests it owns.
    fn routes(&self) -> Vec<Route>;

    /// Whether `operation` (after `route`'s target prefix) is one it knows; the front
    /// door answers `UnknownOperationException` for the rest without calling it.
    fn knows(&self, route: &Route, operation: &str) -> bool;

    /// Answers one request.
    fn call(&self, call: Call) -> BoxFuture<'static, Reply>;

    /// Whether `operation`'s body is handed over as it arrives (`Call::body_stream`,
    /// for long uploads such as PutMedia) instead of read whole first. Its SigV4
    /// signature then covers the headers and the declared payload hash
    /// (`x-amz-content-sha256`, `UNSIGNED-PAYLOAD` when absent), and the front door's
    /// request timeout covers only the time to the reply's start: the service bounds its
    /// own buffering and idle time.
    fn streams_request(&self, _route: &Route, _operation: &str) -> bool {
        false
    }

    /// Whether the service authenticates `operation` itself (an HLS playlist or media
    /// segment fetched with the session token of its URL): the front door skips SigV4
    /// for it.
    fn authenticates_itself(&self, _route: &Route, _operation: &str) -> bool {
        false
    }

    /// The HTTP status of its authentication errors (`InvalidSignatureException`,
    /// `UnrecognizedClientException`, ...): 400 for the JSON protocols, 403 for REST
    /// services such as Lambda, as AWS answers.
    fn auth_error_status(&self) -> u16 {
        400
    }

    /// Members its JSON error bodies carry besides `__type` and `message` (Lambda's
    /// `"Type": "User"`/`"Service"`), as AWS writes them.
    fn error_members(&self, _error: &ApiError) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// The largest request body it takes (AWS's limit for its API): larger bodies are
    /// refused before they are read.
    fn max_body_bytes(&self) -> usize {
        DEFAULT_MAX_BODY_BYTES
    }

    /// Appends its metrics in the Prometheus text format.
    fn render_metrics(&self, _out: &mut String) {}

    /// Stops its long-lived work (subscriptions, pollers) when the server shuts down.
    fn shut_down(&self) {}
}

/// What one function invocation through [`Functions`] returned.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// The function's reply (its error document when it failed).
    pub payload: Bytes,
    /// `Some("Unhandled")` or `Some("Handled")` when the function failed, as Lambda's
    /// `X-Amz-Function-Error`.
    pub function_error: Option<String>,
}

/// The functions service as other services call it (Firehose's data transformation):
/// the server wires the Lambda service in, so neither imports the other.
pub trait Functions: Send + Sync + 'static {
    /// Invokes `function` (a name or ARN, optionally qualified with `$LATEST`)
    /// synchronously with `payload`, waiting for a free instance. `Err` is a message
    /// saying why it could not run (no such function, a runtime that cannot start,
    /// shutdown); a function that ran and failed is `Ok` with `function_error` set.
    fn invoke(&self, function: &str, payload: Bytes)
        -> BoxFuture<'static, Result<Invoked, String>>;
}

/// One log event as a [`LogSink`] takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// When it happened, ms since the epoch.
    pub timestamp: i64,
    /// The line, without its trailing newline.
    pub message: String,
}

/// The logs service as other services write into it (Lambda's function output into
/// `/aws/lambda/<function>`): the server wires the logs service in, so neither imports
/// the other.
pub trait LogSink: Send + Sync + 'static {
    /// Queues `events` (in order) for log stream `stream` of log group `group`, both
    /// created when missing, and returns at once: writes are batched and made in the
    /// background. Fire-and-forget: a failed write is logged, not reported.
    fn put(&self, group: &str, stream: &str, events: Vec<LogEvent>);
}
