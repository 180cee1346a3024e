//! A real HTTP endpoint for Firehose's HTTP endpoint destination: the receiving side of
//! AWS's "HTTP Endpoint Delivery Request and Response Specifications", on a free
//! 127.0.0.1 port, for the tests.
//!
//! It validates every request as a Firehose endpoint may expect it (`POST`,
//! `X-Amz-Firehose-Protocol-Version: 1.0`, `X-Amz-Firehose-Request-Id` equal to the
//! body's `requestId`, `Content-Type: application/json`, `Content-Encoding` absent or
//! `gzip`, the `X-Amz-Firehose-Common-Attributes` JSON, the access key when one is
//! configured, a body of 1 to 10,000 base64 records), answers `200 {"requestId": <the
//! same>, "timestamp": <ms>}`, and records every record it accepted with its request's
//! id and common attributes. A request that breaks the format is answered `400` and
//! its reason kept ([`Receiver::rejections`]: a correct sender leaves it empty).
//!
//! It fails on purpose when told to ([`Failure`]): a rate of requests, failing in ways
//! picked by a seeded random generator (a `500`, a `200` with a wrong `requestId`, a
//! hang past the sender's timeout, a closed connection), every request until told
//! otherwise, or a fixed status such as `413`.
//!
//! Plain threads and blocking sockets, so that it serves a `#[test]` and a
//! `#[tokio::test]` alike. HTTP/1.1 with `Content-Length` bodies and keep-alive.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{json, Value as Json};

/// How long an idle connection's read waits before checking for shutdown.
const POLL: Duration = Duration::from_millis(200);
/// Most bytes of a request head.
const MAX_HEAD: usize = 64 * 1024;
/// Most bytes of a request body (64 MiB of records, base64, and room).
const MAX_BODY: usize = 100 * 1024 * 1024;
/// Most records of one request (AWS's request schema).
const MAX_RECORDS: usize = 10_000;

/// A way to fail one request on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// `500` with an `errorMessage`.
    ServerError,
    /// `200` with a `requestId` other than the request's.
    WrongRequestId,
    /// No answer for [`ReceiverConfig::hang`], then the connection closes.
    Hang,
    /// The connection closes without an answer.
    Close,
}

impl FailureKind {
    /// Every kind.
    pub const ALL: [FailureKind; 4] = [
        FailureKind::ServerError,
        FailureKind::WrongRequestId,
        FailureKind::Hang,
        FailureKind::Close,
    ];
    /// The kinds a sender notices at once (not [`FailureKind::Hang`], which costs it a
    /// whole attempt timeout: 3 minutes in AWS).
    pub const QUICK: [FailureKind; 3] = [
        FailureKind::ServerError,
        FailureKind::WrongRequestId,
        FailureKind::Close,
    ];
}

/// When requests fail on purpose.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Never.
    None,
    /// Each request with probability `rate` (in `[0, 1]`), in one of `kinds` picked at
    /// random (seeded by [`ReceiverConfig::seed`]).
    Rate {
        /// The probability of failing a request.
        rate: f64,
        /// The ways to fail, picked from uniformly.
        kinds: Vec<FailureKind>,
    },
    /// Every request, in one of these kinds picked at random, until
    /// [`Receiver::set_failure`] says otherwise.
    All(Vec<FailureKind>),
    /// Every request answered with this status (and an `errorMessage` body).
    Status(u16),
}

impl Failure {
    /// A rate of requests failing in every way but hanging ([`FailureKind::QUICK`]).
    pub fn rate(rate: f64) -> Failure {
        Failure::Rate {
            rate,
            kinds: FailureKind::QUICK.to_vec(),
        }
    }
}

/// How a [`Receiver`] behaves.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// The `X-Amz-Firehose-Access-Key` requests must carry (otherwise `401`); `None`
    /// accepts any.
    pub access_key: Option<String>,
    /// How requests fail on purpose (changed later with [`Receiver::set_failure`]).
    pub failure: Failure,
    /// The seed of the random choices of [`Failure::Rate`] and [`Failure::All`].
    pub seed: u64,
    /// How long a [`FailureKind::Hang`] holds a request.
    pub hang: Duration,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            access_key: None,
            failure: Failure::None,
            seed: 1,
            hang: Duration::from_secs(10),
        }
    }
}

/// A request the receiver accepted (answered 200 with its `requestId`).
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedRequest {
    /// `X-Amz-Firehose-Request-Id` (the body's `requestId`).
    pub request_id: String,
    /// The body's `timestamp`.
    pub timestamp: i64,
    /// The request target: path and query.
    pub target: String,
    /// Every header, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// Whether the body came GZIP-encoded.
    pub gzip: bool,
    /// `X-Amz-Firehose-Common-Attributes`' `commonAttributes`.
    pub common_attributes: BTreeMap<String, String>,
    /// The records' data, decoded, in order.
    pub records: Vec<Vec<u8>>,
}

impl ReceivedRequest {
    /// A header's value (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A record of an accepted request.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedRecord {
    /// Its request's id.
    pub request_id: String,
    /// Its place in its request (from 0).
    pub index: usize,
    /// Its data, decoded.
    pub data: Vec<u8>,
    /// Its request's common attributes.
    pub common_attributes: BTreeMap<String, String>,
}

/// What the connections share.
#[derive(Debug)]
struct Shared {
    config: ReceiverConfig,
    failure: Mutex<Failure>,
    rng: Mutex<u64>,
    accepted: Mutex<Vec<ReceivedRequest>>,
    attempts: Mutex<BTreeMap<String, u32>>,
    rejections: Mutex<Vec<String>>,
    requests: AtomicU64,
    shutdown: AtomicBool,
}

/// A running receiver; stops when dropped.
#[derive(Debug)]
pub struct Receiver {
    /// `http://127.0.0.1:PORT/firehose`, where it receives.
    pub url: String,
    shared: Arc<Shared>,
    addr: std::net::SocketAddr,
    accept: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Starts a receiver on a free 127.0.0.1 port.
    pub fn start(config: ReceiverConfig) -> Receiver {
        let listener =
            TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("receiver bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("receiver address: {e}"));
        let shared = Arc::new(Shared {
            failure: Mutex::new(config.failure.clone()),
            rng: Mutex::new(config.seed),
            config,
            accepted: Mutex::new(Vec::new()),
            attempts: Mutex::new(BTreeMap::new()),
            rejections: Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
        });
        let accept_shared = shared.clone();
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.shutdown.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = accept_shared.clone();
                std::thread::spawn(move || serve_connection(stream, &shared));
            }
        });
        Receiver {
            url: format!("http://{addr}/firehose"),
            shared,
            addr,
            accept: Some(accept),
        }
    }

    /// Every record of every accepted request, in the order accepted (a request the
    /// sender retried after a lost answer appears again).
    pub fn records(&self) -> Vec<ReceivedRecord> {
        lock(&self.shared.accepted)
            .iter()
            .flat_map(|r| {
                r.records
                    .iter()
                    .enumerate()
                    .map(|(index, data)| ReceivedRecord {
                        request_id: r.request_id.clone(),
                        index,
                        data: data.clone(),
                        common_attributes: r.common_attributes.clone(),
                    })
            })
            .collect()
    }

    /// Every accepted request, in order.
    pub fn accepted(&self) -> Vec<ReceivedRequest> {
        lock(&self.shared.accepted).clone()
    }

    /// How many requests arrived (accepted, failed on purpose and rejected).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// How many requests arrived with this request id.
    pub fn attempts(&self, request_id: &str) -> u32 {
        lock(&self.shared.attempts)
            .get(request_id)
            .copied()
            .unwrap_or(0)
    }

    /// How many requests arrived with each request id.
    pub fn attempts_by_request_id(&self) -> BTreeMap<String, u32> {
        lock(&self.shared.attempts).clone()
    }

    /// Why requests that broke the request format (or lacked the access key) were
    /// answered 400 (401): empty for a correct sender.
    pub fn rejections(&self) -> Vec<String> {
        lock(&self.shared.rejections).clone()
    }

    /// Changes how requests fail on purpose, from the next request on.
    pub fn set_failure(&self, failure: Failure) {
        *lock(&self.shared.failure) = failure;
    }

    /// Waits until at least `n` records were accepted; returns whether they were
    /// within `timeout`.
    pub fn wait_for_records(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, || self.records().len() >= n)
    }

    /// Waits until at least `n` requests arrived; returns whether they did within
    /// `timeout`.
    pub fn wait_for_requests(&self, n: u64, timeout: Duration) -> bool {
        self.wait_until(timeout, || self.requests() >= n)
    }

    fn wait_until(&self, timeout: Duration, done: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A request as read off the wire.
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"))
    }
}

/// Serves one connection's requests until it closes, fails or the receiver stops.
fn serve_connection(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(POLL));
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::new();
    loop {
        let request = match read_request(&mut stream, &mut buf, shared) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(why) => {
                lock(&shared.rejections).push(why.clone());
                let _ = respond(&mut stream, 400, &json!({ "errorMessage": why }), true);
                return;
            }
        };
        if !handle(&mut stream, request, shared) {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Answers one request; returns whether the connection stays open.
fn handle(stream: &mut TcpStream, request: Request, shared: &Shared) -> bool {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let request_id = request
        .header("x-amz-firehose-request-id")
        .unwrap_or_default()
        .to_string();
    *lock(&shared.attempts)
        .entry(request_id.clone())
        .or_insert(0) += 1;
    let keep = !request.wants_close();

    match pick_failure(shared) {
        None => {}
        Some(Planned::Status(status)) => {
            let body = json!({"requestId": request_id, "timestamp": now_ms(),
                              "errorMessage": format!("failing with {status} on purpose")});
            return respond(stream, status, &body, !keep).is_ok() && keep;
        }
        Some(Planned::Kind(FailureKind::ServerError)) => {
            let body = json!({"requestId": request_id, "timestamp": now_ms(),
                              "errorMessage": "failing on purpose"});
            return respond(stream, 500, &body, !keep).is_ok() && keep;
        }
        Some(Planned::Kind(FailureKind::WrongRequestId)) => {
            let body = json!({"requestId": format!("not-{request_id}"), "timestamp": now_ms()});
            return respond(stream, 200, &body, !keep).is_ok() && keep;
        }
        Some(Planned::Kind(FailureKind::Hang)) => {
            let until = Instant::now() + shared.config.hang;
            while Instant::now() < until && !shared.shutdown.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            return false;
        }
        Some(Planned::Kind(FailureKind::Close)) => return false,
    }

    if let Some(want) = &shared.config.access_key {
        if request.header("x-amz-firehose-access-key") != Some(want.as_str()) {
            let why = format!("request {request_id}: missing or wrong access key");
            lock(&shared.rejections).push(why.clone());
            let body = json!({"requestId": request_id, "timestamp": now_ms(), "errorMessage": why});
            return respond(stream, 401, &body, !keep).is_ok() && keep;
        }
    }
    match validate(&request) {
        Ok(accepted) => {
            let body = json!({"requestId": accepted.request_id, "timestamp": now_ms()});
            lock(&shared.accepted).push(accepted);
            respond(stream, 200, &body, !keep).is_ok() && keep
        }
        Err(why) => {
            let why = format!("request {request_id}: {why}");
            lock(&shared.rejections).push(why.clone());
            let body = json!({"requestId": request_id, "timestamp": now_ms(), "errorMessage": why});
            respond(stream, 400, &body, !keep).is_ok() && keep
        }
    }
}

/// A failure decided for one request.
enum Planned {
    Status(u16),
    Kind(FailureKind),
}

/// Whether (and how) the next request fails on purpose.
fn pick_failure(shared: &Shared) -> Option<Planned> {
    let failure = lock(&shared.failure).clone();
    let mut rng = lock(&shared.rng);
    let pick = |rng: &mut u64, kinds: &[FailureKind]| {
        if kinds.is_empty() {
            return None;
        }
        let i = (next_u64(rng) % kinds.len() as u64) as usize;
        Some(Planned::Kind(kinds[i]))
    };
    match failure {
        Failure::None => None,
        Failure::Status(s) => Some(Planned::Status(s)),
        Failure::All(kinds) => pick(&mut rng, &kinds),
        Failure::Rate { rate, kinds } => {
            let unit = (next_u64(&mut rng) >> 11) as f64 / (1u64 << 53) as f64;
            if unit < rate {
                pick(&mut rng, &kinds)
            } else {
                None
            }
        }
    }
}

/// SplitMix64: a small seeded generator.
fn next_u64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Checks a request against Firehose's request format.
fn validate(request: &Request) -> Result<ReceivedRequest, String> {
    if request.method != "POST" {
        return Err(format!("method {}, not POST", request.method));
    }
    let header = |name: &str| {
        request
            .header(name)
            .ok_or_else(|| format!("no {name} header"))
    };
    let version = header("x-amz-firehose-protocol-version")?;
    if version != "1.0" {
        return Err(format!(
            "X-Amz-Firehose-Protocol-Version {version}, not 1.0"
        ));
    }
    let request_id = header("x-amz-firehose-request-id")?.to_string();
    if request_id.is_empty() {
        return Err("an empty X-Amz-Firehose-Request-Id".into());
    }
    let content_type = header("content-type")?;
    if content_type != "application/json" {
        return Err(format!("Content-Type {content_type}, not application/json"));
    }
    header("user-agent")?;
    let gzip = match request.header("content-encoding") {
        None => false,
        Some("gzip") => true,
        Some(other) => return Err(format!("Content-Encoding {other}, not gzip")),
    };
    let common_attributes = match request.header("x-amz-firehose-common-attributes") {
        None => BTreeMap::new(),
        Some(h) => parse_common_attributes(h)?,
    };
    let plain = if gzip {
        gunzip(&request.body)?
    } else {
        request.body.clone()
    };
    let body: Json =
        serde_json::from_slice(&plain).map_err(|e| format!("the body is not JSON: {e}"))?;
    let Some(fields) = body.as_object() else {
        return Err("the body is not a JSON object".into());
    };
    if let Some(extra) = fields
        .keys()
        .find(|k| !["requestId", "timestamp", "records"].contains(&k.as_str()))
    {
        return Err(format!("the body has the unknown member {extra}"));
    }
    if body["requestId"].as_str() != Some(request_id.as_str()) {
        return Err(format!(
            "the body's requestId {} is not the header's {request_id}",
            body["requestId"]
        ));
    }
    let Some(timestamp) = body["timestamp"].as_i64() else {
        return Err(format!(
            "the body's timestamp {} is not an integer",
            body["timestamp"]
        ));
    };
    let Some(list) = body["records"].as_array() else {
        return Err("the body has no records array".into());
    };
    if list.is_empty() || list.len() > MAX_RECORDS {
        return Err(format!("{} records, not 1 to {MAX_RECORDS}", list.len()));
    }
    let mut records = Vec::with_capacity(list.len());
    for (i, r) in list.iter().enumerate() {
        let data = r
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.get("data"))
            .and_then(Json::as_str)
            .ok_or_else(|| format!("record {i} is not {{\"data\": <string>}}: {r}"))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| format!("record {i}'s data is not base64: {e}"))?;
        records.push(decoded);
    }
    Ok(ReceivedRequest {
        request_id,
        timestamp,
        target: request.target.clone(),
        headers: request.headers.clone(),
        gzip,
        common_attributes,
        records,
    })
}

/// The `commonAttributes` of an `X-Amz-Firehose-Common-Attributes` header.
fn parse_common_attributes(header: &str) -> Result<BTreeMap<String, String>, String> {
    let v: Json = serde_json::from_str(header)
        .map_err(|e| format!("X-Amz-Firehose-Common-Attributes is not JSON: {e}"))?;
    let Some(m) = v.get("commonAttributes").and_then(Json::as_object) else {
        return Err(format!(
            "X-Amz-Firehose-Common-Attributes has no commonAttributes object: {header}"
        ));
    };
    m.iter()
        .map(|(k, v)| match v {
            Json::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(format!("the common attribute {k} is not a string: {v}")),
        })
        .collect()
}

/// Decodes a (single-member) gzip body. The tests crate's library has no gzip decoder
/// of its own, but `zip`'s inflater checks a deflate stream against its CRC-32 and
/// size, which gzip's trailer carries: the stream is read as the one entry of a zip
/// local file header built from them.
fn gunzip(gz: &[u8]) -> Result<Vec<u8>, String> {
    let bad = |why: &str| format!("the body is not gzip: {why}");
    if gz.len() < 18 || gz[0] != 0x1f || gz[1] != 0x8b || gz[2] != 8 {
        return Err(bad("no gzip header"));
    }
    let flags = gz[3];
    let mut pos = 10;
    if flags & 0x04 != 0 {
        let xlen = usize::from(u16::from_le_bytes([gz[pos], gz[pos + 1]]));
        pos += 2 + xlen;
    }
    for flag in [0x08, 0x10] {
        if flags & flag != 0 {
            let end = gz[pos.min(gz.len())..]
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| bad("an unterminated header field"))?;
            pos += end + 1;
        }
    }
    if flags & 0x02 != 0 {
        pos += 2;
    }
    let trailer = gz.len() - 8;
    if pos > trailer {
        return Err(bad("a truncated header"));
    }
    let deflate = &gz[pos..trailer];
    let crc = &gz[trailer..trailer + 4];
    let size = &gz[trailer + 4..];
    let compressed = u32::try_from(deflate.len()).map_err(|_| bad("over 4 GiB"))?;
    let mut entry = Vec::with_capacity(deflate.len() + 31);
    entry.extend_from_slice(&0x0403_4b50u32.to_le_bytes()); // local file header
    entry.extend_from_slice(&20u16.to_le_bytes()); // version needed
    entry.extend_from_slice(&0u16.to_le_bytes()); // flags
    entry.extend_from_slice(&8u16.to_le_bytes()); // deflate
    entry.extend_from_slice(&0u16.to_le_bytes()); // time
    entry.extend_from_slice(&0x21u16.to_le_bytes()); // date: 1980-01-01
    entry.extend_from_slice(crc);
    entry.extend_from_slice(&compressed.to_le_bytes());
    entry.extend_from_slice(size);
    entry.extend_from_slice(&1u16.to_le_bytes()); // name length
    entry.extend_from_slice(&0u16.to_le_bytes()); // extra length
    entry.push(b'x');
    entry.extend_from_slice(deflate);
    let mut reader = &entry[..];
    let mut file = zip::read::read_zipfile_from_stream(&mut reader)
        .map_err(|e| bad(&e.to_string()))?
        .ok_or_else(|| bad("no entry"))?;
    let mut out = Vec::new();
    file.read_to_end(&mut out)
        .map_err(|e| bad(&e.to_string()))?;
    Ok(out)
}

/// Reads the next request of a connection: `Ok(None)` when it closed (or the receiver
/// stopped) between requests.
fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    shared: &Shared,
) -> Result<Option<Request>, String> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err("a request head over 64 KiB".into());
        }
        match fill(stream, buf, shared) {
            Ok(true) => {}
            Ok(false) if buf.is_empty() => return Ok(None),
            Ok(false) => return Err("the connection closed inside a request head".into()),
            Err(_) => return Ok(None),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("a malformed request line: {request_line}"));
    };
    if version != "HTTP/1.1" {
        return Err(format!("{version}, not HTTP/1.1"));
    }
    let mut headers = Vec::new();
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            return Err(format!("a malformed header line: {line}"));
        };
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let request = Request {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        body: Vec::new(),
    };
    if request.header("transfer-encoding").is_some() {
        return Err("a chunked body; Firehose sends Content-Length".into());
    }
    let length: usize = match request.header("content-length") {
        Some(v) => v
            .parse()
            .map_err(|_| format!("a bad Content-Length: {v}"))?,
        None => return Err("no Content-Length".into()),
    };
    if length > MAX_BODY {
        return Err(format!("a body of {length} bytes"));
    }
    buf.drain(..head_end + 4);
    while buf.len() < length {
        match fill(stream, buf, shared) {
            Ok(true) => {}
            Ok(false) | Err(_) => return Err("the connection closed inside a body".into()),
        }
    }
    let body: Vec<u8> = buf.drain(..length).collect();
    Ok(Some(Request { body, ..request }))
}

/// Reads more bytes into `buf`: `Ok(false)` at the end of the stream, `Err` when the
/// receiver stops or the read fails.
fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, shared: &Shared) -> std::io::Result<bool> {
    let mut chunk = [0u8; 64 * 1024];
    loop {
        if shared.shutdown.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("receiver stopped"));
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(true);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Writes a JSON response.
fn respond(stream: &mut TcpStream, status: u16, body: &Json, close: bool) -> std::io::Result<()> {
    let body = body.to_string();
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        _ => "Status",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}\r\n",
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(body.as_bytes());
    stream.write_all(&out)?;
    stream.flush()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::RawResponse;

    /// POSTs a Firehose-style request and reads the answer (one request, then close).
    fn post(receiver: &Receiver, headers: &[(&str, &str)], body: &[u8]) -> Option<RawResponse> {
        let addr = receiver.url.trim_start_matches("http://");
        let (host, _) = addr.split_once('/').unwrap_or((addr, ""));
        let mut s = TcpStream::connect(host).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut req = format!(
            "POST /firehose HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&raw[..end]).to_string();
        let status = head.split(' ').nth(1)?.parse().ok()?;
        let headers = head
            .split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Some(RawResponse {
            status,
            headers,
            body: raw[end + 4..].to_vec(),
        })
    }

    fn firehose_request(id: &str, records: &[&[u8]]) -> (Vec<(String, String)>, Vec<u8>) {
        let b64 = base64::engine::general_purpose::STANDARD;
        let body = json!({"requestId": id, "timestamp": 1_700_000_000_000i64,
            "records": records.iter().map(|r| json!({"data": b64.encode(r)})).collect::<Vec<_>>()});
        let headers = vec![
            ("Content-Type".into(), "application/json".into()),
            (
                "User-Agent".into(),
                "Amazon Kinesis Data Firehose Agent/1.0".into(),
            ),
            ("X-Amz-Firehose-Protocol-Version".into(), "1.0".into()),
            ("X-Amz-Firehose-Request-Id".into(), id.into()),
            ("X-Amz-Firehose-Access-Key".into(), "k".into()),
            (
                "X-Amz-Firehose-Common-Attributes".into(),
                r#"{"commonAttributes":{"a":"1"}}"#.into(),
            ),
        ];
        (headers, body.to_string().into_bytes())
    }

    fn send(receiver: &Receiver, id: &str, records: &[&[u8]]) -> Option<RawResponse> {
        let (headers, body) = firehose_request(id, records);
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        post(receiver, &headers, &body)
    }

    #[test]
    fn accepts_firehose_requests_and_records_them() {
        let r = Receiver::start(ReceiverConfig {
            access_key: Some("k".into()),
            ..Default::default()
        });
        let resp = send(&r, "id-1", &[b"hello", b"", b"\x00\xff"]).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("content-type"), Some("application/json"));
        assert_eq!(resp.json()["requestId"], json!("id-1"));
        assert!(resp.json()["timestamp"].is_i64());
        let records = r.records();
        assert_eq!(records.len(), 3);
        assert_eq!(records[2].data, b"\x00\xff");
        assert_eq!(records[2].index, 2);
        assert_eq!(
            records[0].common_attributes.get("a").map(String::as_str),
            Some("1")
        );
        assert_eq!(r.requests(), 1);
        assert_eq!(r.attempts("id-1"), 1);
        assert!(r.rejections().is_empty());
        let accepted = &r.accepted()[0];
        assert_eq!(accepted.target, "/firehose");
        assert_eq!(
            accepted.header("user-agent"),
            Some("Amazon Kinesis Data Firehose Agent/1.0")
        );
        assert!(!accepted.gzip);
    }

    #[test]
    fn rejects_what_breaks_the_request_format() {
        let r = Receiver::start(ReceiverConfig {
            access_key: Some("k".into()),
            ..Default::default()
        });
        let (headers, body) = firehose_request("id-2", &[b"x"]);
        let without = |name: &str| -> Vec<(&str, &str)> {
            headers
                .iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case(name))
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        };
        for missing in [
            "X-Amz-Firehose-Protocol-Version",
            "Content-Type",
            "User-Agent",
        ] {
            assert_eq!(
                post(&r, &without(missing), &body).unwrap().status,
                400,
                "{missing}"
            );
        }
        assert_eq!(
            post(&r, &without("X-Amz-Firehose-Access-Key"), &body)
                .unwrap()
                .status,
            401
        );
        let all = without("none");
        assert_eq!(
            post(
                &r,
                &all,
                b"{\"requestId\":\"other\",\"timestamp\":1,\"records\":[{\"data\":\"eA==\"}]}"
            )
            .unwrap()
            .status,
            400
        );
        assert_eq!(
            post(
                &r,
                &all,
                b"{\"requestId\":\"id-2\",\"timestamp\":1,\"records\":[]}"
            )
            .unwrap()
            .status,
            400
        );
        assert_eq!(
            post(
                &r,
                &all,
                b"{\"requestId\":\"id-2\",\"timestamp\":1,\"records\":[{\"data\":\"!!\"}]}"
            )
            .unwrap()
            .status,
            400
        );
        assert_eq!(r.rejections().len(), 7, "{:?}", r.rejections());
        assert!(r.records().is_empty());
        assert_eq!(r.attempts("id-2"), 7);
    }

    #[test]
    fn decodes_gzip_bodies() {
        // A gzip member holding one stored deflate block, with the FNAME flag set.
        let mut gz = vec![0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 0xff];
        gz.extend_from_slice(b"a.txt\0");
        // Deflate a stored block: BFINAL=1, BTYPE=00, LEN, NLEN, data.
        let data = b"{\"requestId\":\"gz\",\"timestamp\":1,\"records\":[{\"data\":\"aGk=\"}]}";
        gz.push(0x01);
        gz.extend_from_slice(&(data.len() as u16).to_le_bytes());
        gz.extend_from_slice(&(!(data.len() as u16)).to_le_bytes());
        gz.extend_from_slice(data);
        gz.extend_from_slice(&crc32(data).to_le_bytes());
        gz.extend_from_slice(&(data.len() as u32).to_le_bytes());
        assert_eq!(gunzip(&gz).unwrap(), data);

        let r = Receiver::start(ReceiverConfig::default());
        let (mut headers, _) = firehose_request("gz", &[]);
        headers.push(("Content-Encoding".into(), "gzip".into()));
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            post(&r, &headers, &gz).unwrap().status,
            200,
            "{:?}",
            r.rejections()
        );
        assert_eq!(r.records()[0].data, b"hi");
        assert!(r.accepted()[0].gzip);

        // A broken CRC is caught.
        let n = gz.len();
        gz[n - 8] ^= 1;
        assert!(gunzip(&gz).is_err());
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn fails_on_purpose_when_told() {
        let r = Receiver::start(ReceiverConfig {
            failure: Failure::Status(413),
            hang: Duration::from_millis(300),
            ..Default::default()
        });
        assert_eq!(send(&r, "a", &[b"x"]).unwrap().status, 413);
        r.set_failure(Failure::All(vec![FailureKind::ServerError]));
        assert_eq!(send(&r, "a", &[b"x"]).unwrap().status, 500);
        r.set_failure(Failure::All(vec![FailureKind::WrongRequestId]));
        let resp = send(&r, "a", &[b"x"]).unwrap();
        assert_eq!(
            (resp.status, resp.json()["requestId"].clone()),
            (200, json!("not-a"))
        );
        r.set_failure(Failure::All(vec![FailureKind::Close]));
        assert!(send(&r, "a", &[b"x"]).is_none());
        r.set_failure(Failure::All(vec![FailureKind::Hang]));
        let start = Instant::now();
        assert!(send(&r, "a", &[b"x"]).is_none());
        assert!(start.elapsed() >= Duration::from_millis(300));
        assert!(r.records().is_empty());
        r.set_failure(Failure::None);
        assert_eq!(send(&r, "a", &[b"x"]).unwrap().status, 200);
        assert_eq!(r.attempts("a"), 6);
        assert_eq!(r.requests(), 6);
        assert_eq!(r.records().len(), 1);
    }

    #[test]
    fn a_failure_rate_is_seeded() {
        let outcomes = |seed| {
            let r = Receiver::start(ReceiverConfig {
                failure: Failure::rate(0.5),
                seed,
                ..Default::default()
            });
            (0..40)
                .map(|i| {
                    send(&r, &format!("r{i}"), &[b"x"])
                        .map(|resp| {
                            resp.status == 200 && resp.json()["requestId"] == json!(format!("r{i}"))
                        })
                        .unwrap_or(false)
                })
                .collect::<Vec<bool>>()
        };
        let a = outcomes(7);
        assert_eq!(a, outcomes(7));
        let ok = a.iter().filter(|&&ok| ok).count();
        assert!(
            (10..=30).contains(&ok),
            "{ok} of 40 succeeded at a rate of 0.5"
        );
    }

    #[test]
    fn keeps_connections_alive() {
        let r = Receiver::start(ReceiverConfig::default());
        let host = r
            .url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let mut s = TcpStream::connect(&host).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for id in ["k1", "k2"] {
            let (headers, body) = firehose_request(id, &[id.as_bytes()]);
            let mut req = format!(
                "POST /firehose HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n",
                body.len()
            );
            for (k, v) in &headers {
                req.push_str(&format!("{k}: {v}\r\n"));
            }
            req.push_str("\r\n");
            s.write_all(req.as_bytes()).unwrap();
            s.write_all(&body).unwrap();
            let mut got = Vec::new();
            let mut chunk = [0u8; 4096];
            while !String::from_utf8_lossy(&got).contains(&format!("\"{id}\"")) {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0, "closed");
                got.extend_from_slice(&chunk[..n]);
            }
            assert!(got.starts_with(b"HTTP/1.1 200"));
        }
        assert_eq!(r.records().len(), 2);
    }
}
