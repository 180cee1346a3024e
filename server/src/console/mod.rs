//! The web console at `/console`: one page (HTML, CSS and plain JavaScript built into
//! the binary, no framework, nothing fetched from elsewhere) that shows streams, shards
//! and their lineage, live per-shard traffic, enhanced fan-out consumers, KCL
//! applications, functions and delivery streams, and browses records.
//!
//! The page reads the services' own APIs, same origin, as the AWS CLI and SDKs do
//! (Kinesis, Firehose and the lease actions in JSON 1.1, Lambda's REST API), signing
//! them with SigV4 in the browser when the server runs with `--auth`. What no API
//! offers comes from one endpoint of the console's own, `GET /console/live` ([`live`]):
//! a server-sent-events stream of one JSON document a second (per-shard rates computed
//! from the Kinesis service's counters, iterator ages, live SubscribeToShard
//! subscriptions, the KCL lease tables in use, delivery streams' freshness). It is a
//! [`Service`] behind the front door like the others, so it is authenticated, counted
//! and ended at shutdown the same way.
//!
//! Where it is served: on a listener whose address is a loopback one, or on the
//! listener of `--console-addr` (which serves the whole front door too, so the page's
//! same-origin calls work there); anywhere else `/console` answers 404. The static
//! files and `config.json` (whether to ask for keys) need no signature: they hold no
//! data.

pub mod live;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use freshet_protocol::service::{BoxFuture, Call, Reply, Route, Service};
use freshet_protocol::value::{decode, Encoding, Value};
use freshet_protocol::ApiError;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;

use crate::body::ReplyBody;
use crate::http::FrontDoor;

/// The console's path prefix.
pub const PREFIX: &str = "/console";
/// The live endpoint's path.
pub const LIVE_PATH: &str = "/console/live";
/// Lease tables remembered at most (the oldest seen is forgotten first).
const MAX_LEASE_TABLES: usize = 256;
/// The target prefix of the KCL lease actions.
const LEASE_TARGET_PREFIX: &str = "Freshet_20261126.";

/// The files of the page, by path under [`PREFIX`], with their content types.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "",
        "text/html; charset=utf-8",
        include_str!("assets/index.html"),
    ),
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("assets/index.html"),
    ),
    (
        "/app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    ),
    (
        "/api.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/api.js"),
    ),
    (
        "/kpl.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/kpl.js"),
    ),
    (
        "/graph.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/graph.js"),
    ),
];

/// The page may load only its own files and talk only to its own origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

/// The local address of the listener a request arrived on, put in each request's
/// extensions by [`crate::http::serve_with`]: the console is served per listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via(pub Option<SocketAddr>);

/// The KCL lease tables requests named since the server started, by (stream, table),
/// with when they were last used (epoch ms). The catalog has no index of tables, so the
/// console learns them from the lease actions that succeed (a running KCL application
/// renews its leases every few seconds).
#[derive(Debug, Default)]
pub struct LeaseTables {
    seen: Mutex<BTreeMap<(String, String), i64>>,
}

impl LeaseTables {
    /// Notes a table in use.
    pub fn note(&self, stream: String, table: String, now_ms: i64) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.insert((stream, table), now_ms);
        if seen.len() > MAX_LEASE_TABLES {
            if let Some(oldest) = seen
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(k, _)| k.clone())
            {
                seen.remove(&oldest);
            }
        }
    }

    /// Every table noted, as (stream, table, last used ms).
    pub fn list(&self) -> Vec<(String, String, i64)> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|((s, t), at)| (s.clone(), t.clone(), *at))
            .collect()
    }
}

/// The console: where it is served, the live figures, and what it remembers.
#[derive(Debug)]
pub struct Console {
    served_on: Mutex<Vec<SocketAddr>>,
    auth: bool,
    region: String,
    leases: Arc<LeaseTables>,
    live: Arc<live::Live>,
}

impl Console {
    /// A console over the Kinesis service's state and the other services (whose
    /// `render_metrics` feed the delivery streams' figures). Served nowhere until
    /// [`Console::serve_on`].
    pub fn new(
        kinesis: &Arc<freshet_kinesis::KinesisState>,
        services: &[Arc<dyn Service>],
        auth: bool,
        region: &str,
    ) -> Arc<Console> {
        let leases = Arc::new(LeaseTables::default());
        let live = live::Live::new(
            Arc::clone(kinesis),
            services.to_vec(),
            Arc::clone(&leases),
            live::TICK,
        );
        Arc::new(Console {
            served_on: Mutex::new(Vec::new()),
            auth,
            region: region.to_string(),
            leases,
            live,
        })
    }

    /// Serves the console on the listener bound to `local`.
    pub fn serve_on(&self, local: SocketAddr) {
        self.served_on
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(local);
    }

    /// Whether a request that arrived through `via` may see the console.
    pub fn served_via(&self, via: Option<&Via>) -> bool {
        let Some(Via(Some(local))) = via else {
            return false;
        };
        self.served_on
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(local)
    }

    /// The live figures.
    pub fn live(&self) -> &Arc<live::Live> {
        &self.live
    }

    /// The lease tables seen.
    pub fn lease_tables(&self) -> &Arc<LeaseTables> {
        &self.leases
    }

    fn config_json(&self) -> String {
        serde_json::json!({
            "auth": self.auth,
            "region": self.region,
            "liveIntervalMs": live::TICK.as_millis() as u64,
        })
        .to_string()
    }
}

fn is_console_path(path: &str) -> bool {
    path == PREFIX
        || path
            .strip_prefix(PREFIX)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn page_reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<ReplyBody> {
    let mut r = Response::new(ReplyBody::full(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    r
}

/// The front door's answer to a console request it handles itself: 404 where the
/// console is not served, the page's files, `config.json`. `None` for everything else
/// (the live endpoint goes through routing, authentication and metrics as a
/// [`Service`]; requests with an `X-Amz-Target` are API calls wherever they are
/// posted).
pub fn answer<B>(door: &FrontDoor, req: &Request<B>) -> Option<Response<ReplyBody>> {
    let path = req.uri().path();
    if !is_console_path(path) || req.headers().contains_key("x-amz-target") {
        return None;
    }
    let not_found = || {
        page_reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"Not found.\n"),
        )
    };
    let Some(console) = door
        .console
        .get()
        .filter(|c| c.served_via(req.extensions().get()))
    else {
        return Some(not_found());
    };
    if path == LIVE_PATH {
        return None;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Some(page_reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"The console's files are read with GET.\n"),
        ));
    }
    let rest = path.strip_prefix(PREFIX).unwrap_or_default();
    if rest == "/config.json" {
        return Some(page_reply(
            StatusCode::OK,
            "application/json",
            Bytes::from(console.config_json()),
        ));
    }
    Some(
        ASSETS
            .iter()
            .find(|(p, _, _)| *p == rest)
            .map_or_else(not_found, |(_, ct, body)| {
                page_reply(StatusCode::OK, ct, Bytes::from_static(body.as_bytes()))
            }),
    )
}

/// A KCL lease action seen on its way to the Kinesis service: its (stream, table),
/// remembered once the action succeeds ([`LeaseSeen::confirm`]).
#[derive(Debug)]
pub struct LeaseSeen {
    tables: Arc<LeaseTables>,
    stream: String,
    table: String,
}

impl LeaseSeen {
    /// The stream and table a request names, when it is a lease action and the console
    /// is on (decoding a lease request's small body; nothing for any other request).
    pub fn of(door: &FrontDoor, target: Option<&str>, body: &[u8], enc: Encoding) -> Option<Self> {
        if !target?.starts_with(LEASE_TARGET_PREFIX) {
            return None;
        }
        let console = door.console.get()?;
        let doc = decode(enc, body).ok()?;
        let text = |k: &str| match doc.get(k) {
            Some(Value::Str(s)) => Some(s.clone()),
            _ => None,
        };
        let stream = text("StreamName").or_else(|| {
            text("StreamARN").and_then(|arn| arn.rsplit_once("stream/").map(|(_, n)| n.to_string()))
        })?;
        Some(LeaseSeen {
            tables: Arc::clone(&console.leases),
            stream,
            table: text("TableName")?,
        })
    }

    /// Remembers the table when the action's outcome was `ok`.
    pub fn confirm(self, outcome: &str) {
        if outcome == "ok" {
            self.tables.note(self.stream, self.table, live::now_ms());
        }
    }
}

impl Service for Console {
    fn name(&self) -> &'static str {
        "console"
    }

    fn routes(&self) -> Vec<Route> {
        vec![Route::PathPrefix(LIVE_PATH)]
    }

    fn knows(&self, _route: &Route, operation: &str) -> bool {
        operation == LIVE_PATH
    }

    fn call(&self, call: Call) -> BoxFuture<'static, Reply> {
        let live = Arc::clone(&self.live);
        Box::pin(async move {
            if call.method != Method::GET {
                return Reply::Error(ApiError::custom(
                    "MethodNotAllowed",
                    "The live endpoint is read with GET.",
                    405,
                ));
            }
            Reply::Stream {
                content_type: "text/event-stream",
                body: live.subscribe(),
            }
        })
    }

    fn render_metrics(&self, out: &mut String) {
        self.live.render_metrics(out);
    }

    fn shut_down(&self) {
        self.live.shut_down();
    }
}

/// Whether an address is a loopback one (127.0.0.0/8, ::1).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// Decides where the console is served once the main listener is bound at `local`:
/// there when it is a loopback address and `enabled`; and, when `console_addr` is
/// given (and is not `local` itself), on a second listener bound here, returned to be
/// served with the same front door. Prints the console's address(es).
pub async fn listen(
    door: &Arc<FrontDoor>,
    console: Arc<Console>,
    enabled: bool,
    console_addr: Option<SocketAddr>,
    local: SocketAddr,
    scheme: &str,
) -> Result<Option<TcpListener>, String> {
    if !enabled {
        return Ok(None);
    }
    let mut second = None;
    if is_loopback(&local) || console_addr == Some(local) {
        console.serve_on(local);
        println!("freshet console on {scheme}://{local}{PREFIX}/");
    }
    if let Some(addr) = console_addr.filter(|a| *a != local) {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on --console-addr {addr}: {e}"))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        console.serve_on(bound);
        tracing::info!(addr = %bound, "console listening (with the whole API)");
        println!("freshet console on {scheme}://{bound}{PREFIX}/");
        second = Some(listener);
    } else if !is_loopback(&local) && console_addr.is_none() {
        tracing::info!(addr = %local, "console not served: the address is not a loopback one (use --console-addr)");
    }
    let _ = door.console.set(console);
    Ok(second)
}

/// Serves the front door on `main` and, when given, on the console's own listener,
/// both until `shutdown` completes.
pub async fn serve(
    main: TcpListener,
    second: Option<TcpListener>,
    door: Arc<FrontDoor>,
    tls: Option<crate::tls::TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let Some(second) = second else {
        return crate::http::serve_with(main, door, tls, shutdown).await;
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let main_done =
        crate::http::serve_with(main, Arc::clone(&door), tls.clone(), until(stopped.clone()));
    let second_done = crate::http::serve_with(second, door, tls, until(stopped));
    let signal = async move {
        shutdown.await;
        stop.send_replace(true);
    };
    tokio::join!(main_done, second_done, signal);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_paths() {
        assert!(is_console_path("/console"));
        assert!(is_console_path("/console/"));
        assert!(is_console_path("/console/app.js"));
        assert!(!is_console_path("/consoles"));
        assert!(!is_console_path("/"));
    }

    #[test]
    fn lease_tables_are_bounded() {
        let t = LeaseTables::default();
        for i in 0..(MAX_LEASE_TABLES + 10) {
            t.note("s".into(), format!("app-{i:04}"), i as i64);
        }
        let list = t.list();
        assert_eq!(list.len(), MAX_LEASE_TABLES);
        assert!(!list.iter().any(|(_, name, _)| name == "app-0000"));
    }

    #[test]
    fn every_asset_is_there() {
        for (path, ct, body) in ASSETS {
            assert!(!body.is_empty(), "{path}");
            assert!(ct.contains("charset=utf-8"));
        }
    }
}
