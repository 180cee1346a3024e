//! The HTTP endpoint destination: Firehose's request format, retries and responses.
//!
//! One buffer of records goes to the endpoint as one `POST` of AWS's request format
//! ("Appendix - HTTP Endpoint Delivery Request and Response Specifications"):
//!
//! ```text
//! POST <Url as configured>
//! Content-Type: application/json
//! Content-Encoding: gzip                      (only with ContentEncoding GZIP)
//! User-Agent: Amazon Kinesis Data Firehose Agent/1.0
//! X-Amz-Firehose-Protocol-Version: 1.0
//! X-Amz-Firehose-Request-Id: <GUID, the same on every attempt>
//! X-Amz-Firehose-Access-Key: <AccessKey verbatim>    (when configured)
//! X-Amz-Firehose-Common-Attributes: {"commonAttributes":{"name":"value",...}}
//! X-Amz-Firehose-Source-Arn: <the delivery stream's ARN>  (when given)
//!
//! {"requestId":"<GUID>","timestamp":<ms>,"records":[{"data":"<base64>"},...]}
//! ```
//!
//! Only a `200` whose JSON body (`application/json`, not content-encoded, at most
//! 1 MiB) carries the request's `requestId` and a numeric `timestamp` delivers the
//! records. A `413` is a permanent failure: not retried and, as AWS documents, not
//! written to the error bucket ([`HttpOutcome::PayloadTooLarge`]). Every other
//! outcome is retried with AWS's back-off: 1 s before the first retry, doubling, at
//! most 2 minutes, each with ±15 % jitter, for as long as `RetryOptions.DurationInSeconds`
//! allows. As in AWS, that duration starts when the first attempt fails and does not
//! count the time spent waiting for responses (each attempt has its own timeout, 3
//! minutes by default), so it is spent only by the pauses between attempts; a pause is
//! cut short to what is left of it, and a duration of 0 means one attempt.
//!
//! Differences from AWS, on purpose: AWS only accepts `https://` URLs on port 443;
//! Freshet also accepts `http://` URLs and any port (a local receiver, a test). Whether
//! `https://` works depends on the `reqwest` client handed to [`HttpEndpoint::deliver`]
//! having a TLS backend.

use crate::pipeline::now_ms;
use std::time::Duration;

use bytes::Bytes;
use freshet_storage::StopSignal;
use reqwest::header::{HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use serde_json::{json, Map as JsonMap, Value as Json};

use crate::compress::{try_compress, Compression};

/// The `User-Agent` of Firehose's requests.
pub const FIREHOSE_USER_AGENT: &str = "Amazon Kinesis Data Firehose Agent/1.0";
/// The value of `X-Amz-Firehose-Protocol-Version`.
pub const PROTOCOL_VERSION: &str = "1.0";
/// How long one attempt may wait for its whole response: 3 minutes, as AWS.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(180);
/// Most records in one request (AWS's request schema: `maxItems: 10000`). A buffer
/// with more is sent as consecutive requests; cut buffers here to keep one buffer one
/// request.
pub const MAX_RECORDS_PER_REQUEST: usize = 10_000;
/// Most bytes of a response body AWS accepts: 1 MiB.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// The folder (under the error output prefix) of records that could not be delivered,
/// which is also the `!{firehose:error-output-type}` of this destination.
pub const ERROR_OUTPUT_TYPE: &str = "http-endpoint-failed";

/// The pause before the first retry.
const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// The longest pause between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(120);
/// The jitter of a pause: a factor in `1 ± BACKOFF_JITTER`.
const BACKOFF_JITTER: f64 = 0.15;
/// How much of a response body an error message quotes.
const QUOTED_BODY_CHARS: usize = 4096;

/// AWS's error codes of HTTP endpoint delivery (CloudWatch logs and error records).
pub mod error_code {
    /// The endpoint answered with a status other than 200.
    pub const DESTINATION_EXCEPTION: &str = "HttpEndpoint.DestinationException";
    /// A 200 whose body or headers break the response format.
    pub const INVALID_RESPONSE: &str = "HttpEndpoint.InvalidResponseFromDestination";
    /// No whole response within the attempt's timeout.
    pub const REQUEST_TIMEOUT: &str = "HttpEndpoint.RequestTimeout";
    /// A response body over 1 MiB.
    pub const RESPONSE_TOO_LARGE: &str = "HttpEndpoint.ResponseTooLarge";
    /// No connection could be established.
    pub const CONNECTION_FAILED: &str = "HttpEndpoint.ConnectionFailed";
    /// The connection was reset or closed before a whole response arrived.
    pub const CONNECTION_RESET: &str = "HttpEndpoint.ConnectionReset";
    /// Freshet's own: the request body could not be GZIP-encoded (an in-memory
    /// encoder does not fail; kept so that no path panics).
    pub const REQUEST_ENCODING_FAILED: &str = "HttpEndpoint.RequestEncodingFailed";
}

/// An HTTP endpoint destination, from its `HttpEndpointDestinationConfiguration`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpEndpoint {
    url: String,
    name: Option<String>,
    access_key: Option<String>,
    size_in_mbs: u32,
    interval_in_seconds: u32,
    gzip: bool,
    common_attributes: Vec<(String, String)>,
    common_attributes_header: String,
    retry_duration: Duration,
    all_data_backed_up: bool,
    attempt_timeout: Duration,
    source_arn: Option<String>,
}

/// How the delivery of one buffer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpOutcome {
    /// The endpoint accepted every record; `attempts` requests were made (more than one
    /// only after failures, or for a buffer of more than [`MAX_RECORDS_PER_REQUEST`]).
    Delivered {
        /// Requests made.
        attempts: u32,
    },
    /// Retries ran out (or the retry duration was 0): back the records up under
    /// [`ERROR_OUTPUT_TYPE`] with [`failed_line`].
    Failed {
        /// Attempts of the request that failed.
        attempts: u32,
        /// AWS's error code of the last attempt (see [`error_code`]).
        error_code: &'static str,
        /// The last attempt's error, as AWS words it.
        message: String,
    },
    /// The endpoint answered 413 (payload too large): a permanent failure, not
    /// retried and, as AWS documents, not written to the error bucket. AWS logs it as
    /// [`error_code::DESTINATION_EXCEPTION`].
    PayloadTooLarge {
        /// Attempts of the request that was refused.
        attempts: u32,
        /// The endpoint's answer, as AWS words it.
        message: String,
    },
    /// The stop signal came before the records were delivered.
    Stopped,
}

/// Why one attempt did not deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AttemptError {
    /// Worth another attempt.
    Retriable { code: &'static str, message: String },
    /// A 413.
    TooLarge { message: String },
}

impl HttpEndpoint {
    /// From the `HttpEndpointDestinationConfiguration` JSON (AWS member names). Errors
    /// are the messages of AWS-style `InvalidArgumentException`s. The `S3Configuration`
    /// (the backup bucket) is not read here.
    pub fn from_config(config: &Json) -> Result<HttpEndpoint, String> {
        const AT: &str = "HttpEndpointDestinationConfiguration";
        if !config.is_object() {
            return Err(format!("{AT} must be a structure."));
        }
        let endpoint = member_struct(config, AT, "EndpointConfiguration")?
            .ok_or_else(|| format!("{AT}.EndpointConfiguration must be specified."))?;
        let at = format!("{AT}.EndpointConfiguration");
        let url = member_str(endpoint, &at, "Url")?
            .ok_or_else(|| format!("{at}.Url must be specified."))?;
        check_url(url, &format!("{at}.Url"))?;
        let name = member_str(endpoint, &at, "Name")?;
        if let Some(n) = name {
            if n.chars().count() > 256 || n.trim().is_empty() {
                return Err(format!(
                    "{at}.Name must be 1 to 256 characters, not all whitespace."
                ));
            }
        }
        let access_key = member_str(endpoint, &at, "AccessKey")?;
        if let Some(k) = access_key {
            if k.chars().count() > 4096 {
                return Err(format!("{at}.AccessKey must be at most 4096 characters."));
            }
            if HeaderValue::from_str(k).is_err() {
                return Err(format!(
                    "{at}.AccessKey must be printable ASCII: it is sent verbatim in the \
                     X-Amz-Firehose-Access-Key header."
                ));
            }
        }

        let (mut size_in_mbs, mut interval_in_seconds) = (5, 300);
        if let Some(hints) = member_struct(config, AT, "BufferingHints")? {
            let at = format!("{AT}.BufferingHints");
            if let Some(s) = member_int(hints, &at, "SizeInMBs", 1, 64)? {
                size_in_mbs = s;
            }
            if let Some(i) = member_int(hints, &at, "IntervalInSeconds", 0, 900)? {
                interval_in_seconds = i;
            }
        }

        let mut gzip = false;
        let mut common_attributes = Vec::new();
        if let Some(request) = member_struct(config, AT, "RequestConfiguration")? {
            let at = format!("{AT}.RequestConfiguration");
            gzip = match member_str(request, &at, "ContentEncoding")? {
                None | Some("NONE") => false,
                Some("GZIP") => true,
                Some(other) => {
                    return Err(format!(
                        "{at}.ContentEncoding must be NONE or GZIP, not '{other}'."
                    ))
                }
            };
            common_attributes = read_common_attributes(request, &at)?;
        }

        let mut retry_seconds = 300;
        if let Some(retry) = member_struct(config, AT, "RetryOptions")? {
            let at = format!("{AT}.RetryOptions");
            if let Some(d) = member_int(retry, &at, "DurationInSeconds", 0, 7200)? {
                retry_seconds = d;
            }
        }

        let all_data_backed_up = match member_str(config, AT, "S3BackupMode")? {
            None | Some("FailedDataOnly") => false,
            Some("AllData") => true,
            Some(other) => {
                return Err(format!(
                    "{AT}.S3BackupMode must be FailedDataOnly or AllData, not '{other}'."
                ))
            }
        };

        let header: JsonMap<String, Json> = common_attributes
            .iter()
            .map(|(k, v)| (k.clone(), Json::String(v.clone())))
            .collect();
        let common_attributes_header = json!({ "commonAttributes": header }).to_string();
        Ok(HttpEndpoint {
            url: url.to_string(),
            name: name.map(str::to_string),
            access_key: access_key.map(str::to_string),
            size_in_mbs,
            interval_in_seconds,
            gzip,
            common_attributes,
            common_attributes_header,
            retry_duration: Duration::from_secs(u64::from(retry_seconds)),
            all_data_backed_up,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            source_arn: None,
        })
    }

    /// The same destination with another timeout per attempt (AWS: 3 minutes).
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> HttpEndpoint {
        self.attempt_timeout = timeout;
        self
    }

    /// The same destination sending `X-Amz-Firehose-Source-Arn: arn` (the delivery
    /// stream's ARN), as AWS does.
    pub fn with_source_arn(mut self, arn: impl Into<String>) -> HttpEndpoint {
        self.source_arn = Some(arn.into());
        self
    }

    /// `BufferingHints.SizeInMBs` (default 5).
    pub fn size_in_mbs(&self) -> u32 {
        self.size_in_mbs
    }

    /// `BufferingHints.IntervalInSeconds` (default 300).
    pub fn interval_in_seconds(&self) -> u32 {
        self.interval_in_seconds
    }

    /// `RetryOptions.DurationInSeconds` (default 300 s).
    pub fn retry_duration(&self) -> Duration {
        self.retry_duration
    }

    /// The timeout of one attempt.
    pub fn attempt_timeout(&self) -> Duration {
        self.attempt_timeout
    }

    /// `EndpointConfiguration.Url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `EndpointConfiguration.Name`, when given.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether bodies are GZIP-compressed (`ContentEncoding: GZIP`).
    pub fn gzip(&self) -> bool {
        self.gzip
    }

    /// `RequestConfiguration.CommonAttributes` as configured, in order.
    pub fn common_attributes(&self) -> &[(String, String)] {
        &self.common_attributes
    }

    /// Whether `S3BackupMode` is `AllData` (every record also goes to the bucket)
    /// rather than `FailedDataOnly`.
    pub fn all_data_backed_up(&self) -> bool {
        self.all_data_backed_up
    }

    /// Delivers `records` as one request (consecutive requests of at most
    /// [`MAX_RECORDS_PER_REQUEST`] records each when there are more), retrying as AWS
    /// does (see the module's documentation) until delivered, refused with a 413, out
    /// of retry time, or `stop` is given (which also abandons an attempt in flight).
    /// Every attempt of one request carries the same request id. No records: no
    /// request, `Delivered { attempts: 0 }`. When a later request of a split buffer
    /// fails, the earlier ones were delivered all the same: cut buffers at
    /// [`MAX_RECORDS_PER_REQUEST`] records so that one buffer is one request.
    pub async fn deliver(
        &self,
        client: &reqwest::Client,
        records: &[Bytes],
        stop: &StopSignal,
    ) -> HttpOutcome {
        let mut attempts = 0;
        for chunk in records.chunks(MAX_RECORDS_PER_REQUEST) {
            match self.deliver_request(client, chunk, stop).await {
                HttpOutcome::Delivered { attempts: n } => attempts += n,
                other => return other,
            }
        }
        HttpOutcome::Delivered { attempts }
    }

    /// Delivers one request's records with retries.
    async fn deliver_request(
        &self,
        client: &reqwest::Client,
        records: &[Bytes],
        stop: &StopSignal,
    ) -> HttpOutcome {
        let request_id = uuid::Uuid::new_v4().to_string();
        let json = request_body(&request_id, now_ms(), records);
        let body = if self.gzip {
            match try_compress(Compression::Gzip, &[Bytes::from(json)], "") {
                Ok(b) => Bytes::from(b),
                Err(e) => {
                    return HttpOutcome::Failed {
                        attempts: 0,
                        error_code: error_code::REQUEST_ENCODING_FAILED,
                        message: format!("The request body could not be GZIP-encoded: {e}"),
                    }
                }
            }
        } else {
            Bytes::from(json)
        };
        let mut attempts = 0;
        let mut retry_time_spent = Duration::ZERO;
        loop {
            if stop.is_stopped() {
                return HttpOutcome::Stopped;
            }
            attempts += 1;
            let result = tokio::select! {
                r = self.attempt(client, &request_id, body.clone()) => r,
                _ = stop.stopped() => return HttpOutcome::Stopped,
            };
            let (code, message) = match result {
                Ok(()) => return HttpOutcome::Delivered { attempts },
                Err(AttemptError::TooLarge { message }) => {
                    return HttpOutcome::PayloadTooLarge { attempts, message }
                }
                Err(AttemptError::Retriable { code, message }) => (code, message),
            };
            let left = self.retry_duration.saturating_sub(retry_time_spent);
            if left.is_zero() {
                return HttpOutcome::Failed {
                    attempts,
                    error_code: code,
                    message,
                };
            }
            tracing::debug!(
                url = %self.url,
                request_id = %request_id,
                attempts,
                error_code = code,
                %message,
                "HTTP endpoint delivery attempt failed; retrying"
            );
            let pause = backoff(attempts - 1, jitter()).min(left);
            if stop.sleep(pause).await {
                return HttpOutcome::Stopped;
            }
            retry_time_spent += pause;
        }
    }

    /// One attempt: the request, and the response judged.
    async fn attempt(
        &self,
        client: &reqwest::Client,
        request_id: &str,
        body: Bytes,
    ) -> Result<(), AttemptError> {
        let mut request = client
            .post(&self.url)
            .timeout(self.attempt_timeout)
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, FIREHOSE_USER_AGENT)
            .header("X-Amz-Firehose-Protocol-Version", PROTOCOL_VERSION)
            .header("X-Amz-Firehose-Request-Id", request_id);
        if let Ok(v) = HeaderValue::from_bytes(self.common_attributes_header.as_bytes()) {
            request = request.header("X-Amz-Firehose-Common-Attributes", v);
        }
        if let Some(key) = &self.access_key {
            request = request.header("X-Amz-Firehose-Access-Key", key.as_str());
        }
        if let Some(arn) = &self.source_arn {
            request = request.header("X-Amz-Firehose-Source-Arn", arn.as_str());
        }
        if self.gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        let mut response = request
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status().as_u16();
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let content_type = header(CONTENT_TYPE);
        let content_encoding = header(CONTENT_ENCODING);
        let mut raw = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(&e))?
        {
            raw.extend_from_slice(&chunk);
            if raw.len() > MAX_RESPONSE_BYTES {
                return Err(AttemptError::Retriable {
                    code: error_code::RESPONSE_TOO_LARGE,
                    message: format!(
                        "The response received from the endpoint is too large: the \
                         response to request {request_id} is over 1 MiB. Contact the \
                         owner of the endpoint to resolve the issue."
                    ),
                });
            }
        }
        judge_response(
            status,
            content_type.as_deref(),
            content_encoding.as_deref(),
            &raw,
            request_id,
        )
    }

    /// An error of the transport (no whole response) as AWS's error.
    fn transport_error(&self, e: &reqwest::Error) -> AttemptError {
        let detail = error_chain(e);
        if e.is_timeout() {
            AttemptError::Retriable {
                code: error_code::REQUEST_TIMEOUT,
                message: format!(
                    "The endpoint did not respond within {} seconds. ({detail})",
                    self.attempt_timeout.as_secs_f64()
                ),
            }
        } else if e.is_connect() || e.is_builder() {
            AttemptError::Retriable {
                code: error_code::CONNECTION_FAILED,
                message: format!("Unable to connect to the endpoint {}. ({detail})", self.url),
            }
        } else {
            AttemptError::Retriable {
                code: error_code::CONNECTION_RESET,
                message: format!(
                    "The connection to the endpoint was reset or closed before a whole \
                     response arrived. ({detail})"
                ),
            }
        }
    }
}

/// A `reqwest::Client` fit for [`HttpEndpoint::deliver`]: it follows no redirects (AWS
/// does not: a 3xx is a failure) and uses no proxy.
pub fn new_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot build the HTTP endpoint client: {e}"))
}

/// The JSON line AWS writes, in the error output (`http-endpoint-failed/...`), for a
/// record that could not be delivered: `attemptsMade`, `arrivalTimestamp`,
/// `errorCode`, `errorMessage`, `attemptEndingTimestamp`, `rawData` (base64),
/// `subsequenceNumber` and `dataId` (the record's id, when known). Ends with `\n`.
pub fn failed_line(
    data: &[u8],
    arrival_ms: i64,
    attempts: u32,
    error_code: &str,
    message: &str,
    ended_ms: i64,
    data_id: Option<&str>,
) -> Vec<u8> {
    let mut fields = vec![
        ("attemptsMade", json!(attempts)),
        ("arrivalTimestamp", json!(arrival_ms)),
        ("errorCode", json!(error_code)),
        ("errorMessage", json!(message)),
        ("attemptEndingTimestamp", json!(ended_ms)),
        (
            "rawData",
            json!(base64_simd::STANDARD.encode_to_string(data)),
        ),
        ("subsequenceNumber", json!(0)),
    ];
    if let Some(id) = data_id {
        fields.push(("dataId", json!(id)));
    }
    // Written by hand to keep AWS's order of the members (serde_json sorts a map's).
    let mut out = Vec::with_capacity(data.len() * 4 / 3 + message.len() + 200);
    out.push(b'{');
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        out.extend_from_slice(value.to_string().as_bytes());
    }
    out.extend_from_slice(b"}\n");
    out
}

/// The request body: `{"requestId":…,"timestamp":…,"records":[{"data":"<base64>"},…]}`.
fn request_body(request_id: &str, timestamp_ms: i64, records: &[Bytes]) -> Vec<u8> {
    let encoded: usize = records
        .iter()
        .map(|r| base64_simd::STANDARD.encoded_length(r.len()) + 12)
        .sum();
    let mut out = Vec::with_capacity(encoded + request_id.len() + 64);
    out.extend_from_slice(b"{\"requestId\":");
    out.extend_from_slice(Json::String(request_id.to_string()).to_string().as_bytes());
    out.extend_from_slice(b",\"timestamp\":");
    out.extend_from_slice(itoa::Buffer::new().format(timestamp_ms).as_bytes());
    out.extend_from_slice(b",\"records\":[");
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"data\":\"");
        base64_simd::STANDARD.encode_append(r, &mut out);
        out.extend_from_slice(b"\"}");
    }
    out.extend_from_slice(b"]}");
    out
}

/// Whether a whole response delivers the request, as AWS judges it.
fn judge_response(
    status: u16,
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    raw: &[u8],
    request_id: &str,
) -> Result<(), AttemptError> {
    let quoted = quote_body(raw);
    if status == 413 {
        return Err(AttemptError::TooLarge {
            message: format!(
                "The following response was received from the endpoint destination. \
                 {status}: {quoted}"
            ),
        });
    }
    if status != 200 {
        return Err(AttemptError::Retriable {
            code: error_code::DESTINATION_EXCEPTION,
            message: format!(
                "The following response was received from the endpoint destination. \
                 {status}: {quoted}"
            ),
        });
    }
    let invalid = |why: String| AttemptError::Retriable {
        code: error_code::INVALID_RESPONSE,
        message: format!(
            "The response received from the specified endpoint is invalid. Contact the \
             owner of the endpoint to resolve the issue. Response for request \
             {request_id} {why}. Raw response received: {status} {quoted}"
        ),
    };
    if let Some(enc) = content_encoding.filter(|e| !e.trim().eq_ignore_ascii_case("identity")) {
        return Err(invalid(format!(
            "is content-encoded ({enc}); the body must be uncompressed"
        )));
    }
    let media_type = content_type
        .and_then(|t| t.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(invalid(match content_type {
            Some(t) => format!("has the content type '{t}', not application/json"),
            None => "has no content-type: application/json header".to_string(),
        }));
    }
    let Ok(Json::Object(body)) = serde_json::from_slice::<Json>(raw) else {
        return Err(invalid(
            "is not recognized as valid JSON or has unexpected fields".to_string(),
        ));
    };
    match body.get("requestId") {
        Some(Json::String(id)) if id == request_id => {}
        Some(Json::String(id)) => {
            return Err(invalid(format!(
                "has the requestId '{id}', which does not match the request's"
            )))
        }
        Some(_) => return Err(invalid("has a requestId that is not a string".to_string())),
        None => return Err(invalid("has no requestId".to_string())),
    }
    match body.get("timestamp") {
        Some(Json::Number(_)) => {}
        Some(_) => return Err(invalid("has a timestamp that is not a number".to_string())),
        None => return Err(invalid("has no timestamp".to_string())),
    }
    if body
        .get("errorMessage")
        .is_some_and(|m| !m.is_string() && !m.is_null())
    {
        return Err(invalid(
            "has an errorMessage that is not a string".to_string(),
        ));
    }
    Ok(())
}

/// A response body as text for an error message, cut at [`QUOTED_BODY_CHARS`].
fn quote_body(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    match text.char_indices().nth(QUOTED_BODY_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.into_owned(),
    }
}

/// An error with its causes, `a: b: c`.
fn error_chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        source = s.source();
    }
    out
}

/// The pause before retry number `retry` (0 for the first): `1 s × 2^retry × jitter`,
/// at most 2 minutes.
fn backoff(retry: u32, jitter: f64) -> Duration {
    let factor = f64::from(1u32 << retry.min(16)) * jitter;
    INITIAL_BACKOFF.mul_f64(factor).min(MAX_BACKOFF)
}

/// A jitter factor, uniform in `1 ± BACKOFF_JITTER`.
fn jitter() -> f64 {
    let r = (uuid::Uuid::new_v4().as_u128() >> 64) as u64;
    let unit = r as f64 / u64::MAX as f64;
    1.0 - BACKOFF_JITTER + 2.0 * BACKOFF_JITTER * unit
}

/// Checks the endpoint URL: an absolute `https://` (AWS) or `http://` (Freshet) URL
/// with a host, at most 1000 characters.
fn check_url(url: &str, at: &str) -> Result<(), String> {
    if url.is_empty() || url.chars().count() > 1000 {
        return Err(format!("{at} must be 1 to 1000 characters."));
    }
    let lower = url.to_ascii_lowercase();
    if !lower.starts_with("https://") && !lower.starts_with("http://") {
        return Err(format!(
            "{at} must be an https:// URL (Freshet also accepts http://), not '{url}'."
        ));
    }
    match reqwest::Url::parse(url) {
        Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        Ok(_) => Err(format!("{at} '{url}' has no host.")),
        Err(e) => Err(format!("{at} '{url}' is not a valid URL: {e}.")),
    }
}

/// `RequestConfiguration.CommonAttributes`: at most 50 `{AttributeName, AttributeValue}`.
fn read_common_attributes(request: &Json, at: &str) -> Result<Vec<(String, String)>, String> {
    let list = match request.get("CommonAttributes") {
        None | Some(Json::Null) => return Ok(Vec::new()),
        Some(Json::Array(list)) => list,
        Some(_) => return Err(format!("{at}.CommonAttributes must be a list.")),
    };
    if list.len() > 50 {
        return Err(format!(
            "{at}.CommonAttributes may hold at most 50 attributes, not {}.",
            list.len()
        ));
    }
    let mut out: Vec<(String, String)> = Vec::with_capacity(list.len());
    for (i, attribute) in list.iter().enumerate() {
        let at = format!("{at}.CommonAttributes[{i}]");
        if !attribute.is_object() {
            return Err(format!("{at} must be a structure."));
        }
        let name = member_str(attribute, &at, "AttributeName")?
            .ok_or_else(|| format!("{at}.AttributeName must be specified."))?;
        if name.chars().count() > 256 || name.trim().is_empty() {
            return Err(format!(
                "{at}.AttributeName must be 1 to 256 characters, not all whitespace."
            ));
        }
        let value = member_str(attribute, &at, "AttributeValue")?
            .ok_or_else(|| format!("{at}.AttributeValue must be specified."))?;
        if value.chars().count() > 1024 {
            return Err(format!(
                "{at}.AttributeValue must be at most 1024 characters."
            ));
        }
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

/// A structure member, `None` when absent or null.
fn member_struct<'a>(v: &'a Json, at: &str, key: &str) -> Result<Option<&'a Json>, String> {
    match v.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(s @ Json::Object(_)) => Ok(Some(s)),
        Some(_) => Err(format!("{at}.{key} must be a structure.")),
    }
}

/// A string member, `None` when absent or null.
fn member_str<'a>(v: &'a Json, at: &str, key: &str) -> Result<Option<&'a str>, String> {
    match v.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{at}.{key} must be a string.")),
    }
}

/// An integer member in `min..=max`, `None` when absent or null.
fn member_int(v: &Json, at: &str, key: &str, min: u32, max: u32) -> Result<Option<u32>, String> {
    match v.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Number(n)) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(format!(
                "{at}.{key} must be between {min} and {max}, not {n}."
            )),
        },
        Some(_) => Err(format!("{at}.{key} must be an integer.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use std::io::Read as _;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// A request the test server received.
    #[derive(Debug, Clone)]
    struct Seen {
        request_line: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }

        fn request_id(&self) -> String {
            self.header("x-amz-firehose-request-id")
                .unwrap_or_default()
                .to_string()
        }

        /// The body as JSON, gunzipped when the request says so.
        fn json(&self) -> Json {
            let plain = if self.header("content-encoding") == Some("gzip") {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&self.body[..])
                    .read_to_end(&mut out)
                    .unwrap();
                out
            } else {
                self.body.clone()
            };
            serde_json::from_slice(&plain).unwrap()
        }

        /// The records' data, decoded, in order.
        fn records(&self) -> Vec<Vec<u8>> {
            self.json()["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    base64::engine::general_purpose::STANDARD
                        .decode(r["data"].as_str().unwrap())
                        .unwrap()
                })
                .collect()
        }
    }

    /// How the test server answers one request.
    enum Reply {
        /// 200 with the request's id.
        Ok,
        /// This status, content type and body.
        Raw(u16, &'static str, String),
        /// Never answers (until the client gives up).
        Hang,
        /// Closes the connection without a response.
        Close,
    }

    struct TestServer {
        url: String,
        seen: Arc<Mutex<Vec<Seen>>>,
    }

    impl TestServer {
        fn seen(&self) -> Vec<Seen> {
            self.seen.lock().unwrap().clone()
        }
    }

    /// A one-request-per-connection HTTP/1.1 server on 127.0.0.1 answering the
    /// `n`-th request (from 0) with `script(n, request)`.
    async fn serve(script: impl Fn(usize, &Seen) -> Reply + Send + Sync + 'static) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/ingest/v1?key=a%20b",
            listener.local_addr().unwrap()
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(script);
        let all = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (seen, script) = (all.clone(), script.clone());
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut sock).await else {
                        return;
                    };
                    let n = {
                        let mut s = seen.lock().unwrap();
                        s.push(request.clone());
                        s.len() - 1
                    };
                    let (status, content_type, body) = match script(n, &request) {
                        Reply::Ok => (
                            200,
                            "application/json",
                            json!({"requestId": request.request_id(), "timestamp": now_ms()})
                                .to_string(),
                        ),
                        Reply::Raw(s, t, b) => (s, t, b),
                        Reply::Hang => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            return;
                        }
                        Reply::Close => return,
                    };
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(body.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        TestServer { url, seen }
    }

    async fn read_request(sock: &mut TcpStream) -> Option<Seen> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let n = sock.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let request_line = lines.next()?.to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = buf[head_end + 4..].to_vec();
        while body.len() < len {
            let n = sock.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        Some(Seen {
            request_line,
            headers,
            body,
        })
    }

    fn endpoint(url: &str, extra: Json) -> HttpEndpoint {
        let mut config = json!({
            "EndpointConfiguration": {"Url": url, "Name": "test", "AccessKey": "k3y"},
            "RequestConfiguration": {"CommonAttributes": [
                {"AttributeName": "env", "AttributeValue": "test"},
                {"AttributeName": "team", "AttributeValue": "données"}
            ]},
            "RetryOptions": {"DurationInSeconds": 0},
            "S3Configuration": {"RoleARN": "arn:aws:iam::000000000000:role/r",
                                "BucketARN": "arn:aws:s3:::b"}
        });
        if let (Json::Object(c), Json::Object(e)) = (&mut config, extra) {
            for (k, v) in e {
                c.insert(k, v);
            }
        }
        HttpEndpoint::from_config(&config).unwrap()
    }

    fn records(items: &[&str]) -> Vec<Bytes> {
        items.iter().map(|s| Bytes::from(s.to_string())).collect()
    }

    fn client() -> reqwest::Client {
        new_client().unwrap()
    }

    #[tokio::test]
    async fn delivers_one_request_in_firehose_format() {
        let server = serve(|_, _| Reply::Ok).await;
        let ep = endpoint(&server.url, json!({}))
            .with_source_arn("arn:aws:firehose:us-east-1:000000000000:deliverystream/s");
        let sent = records(&["hello", "", "wörld\n", "{\"a\":1}"]);
        let before = now_ms();
        let outcome = ep.deliver(&client(), &sent, &StopSignal::new()).await;
        assert_eq!(outcome, HttpOutcome::Delivered { attempts: 1 });
        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        let r = &seen[0];
        assert_eq!(r.request_line, "POST /ingest/v1?key=a%20b HTTP/1.1");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("content-encoding"), None);
        assert_eq!(r.header("user-agent"), Some(FIREHOSE_USER_AGENT));
        assert_eq!(r.header("x-amz-firehose-protocol-version"), Some("1.0"));
        assert_eq!(r.header("x-amz-firehose-access-key"), Some("k3y"));
        assert_eq!(
            r.header("x-amz-firehose-source-arn"),
            Some("arn:aws:firehose:us-east-1:000000000000:deliverystream/s")
        );
        assert_eq!(
            r.header("content-length"),
            Some(r.body.len().to_string().as_str())
        );
        let attributes: Json =
            serde_json::from_str(r.header("x-amz-firehose-common-attributes").unwrap()).unwrap();
        assert_eq!(
            attributes,
            json!({"commonAttributes": {"env": "test", "team": "données"}})
        );
        let id = r.request_id();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        let body = r.json();
        assert_eq!(body["requestId"], json!(id));
        let ts = body["timestamp"].as_i64().unwrap();
        assert!(ts >= before && ts <= now_ms(), "{ts}");
        assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
        let got = r.records();
        let want: Vec<Vec<u8>> = sent.iter().map(|b| b.to_vec()).collect();
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn gzip_compresses_the_body() {
        let server = serve(|_, _| Reply::Ok).await;
        let ep = endpoint(
            &server.url,
            json!({"RequestConfiguration": {"ContentEncoding": "GZIP"}}),
        );
        assert!(ep.gzip());
        let sent: Vec<Bytes> = (0..500)
            .map(|i| Bytes::from(format!("record {i} {}\n", "x".repeat(100))))
            .collect();
        let outcome = ep.deliver(&client(), &sent, &StopSignal::new()).await;
        assert_eq!(outcome, HttpOutcome::Delivered { attempts: 1 });
        let r = &server.seen()[0];
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(&r.body[..2], &[0x1f, 0x8b]);
        assert!(r.body.len() < 500 * 100 / 4, "{}", r.body.len());
        // Without common attributes configured the header still comes, empty.
        assert_eq!(
            r.header("x-amz-firehose-common-attributes"),
            Some(r#"{"commonAttributes":{}}"#)
        );
        let want: Vec<Vec<u8>> = sent.iter().map(|b| b.to_vec()).collect();
        assert_eq!(r.records(), want);
    }

    #[tokio::test]
    async fn a_500_is_retried_with_the_same_request_id() {
        let server = serve(|n, _| {
            if n == 0 {
                Reply::Raw(500, "application/json", r#"{"errorMessage":"busy"}"#.into())
            } else {
                Reply::Ok
            }
        })
        .await;
        let ep = endpoint(
            &server.url,
            json!({"RetryOptions": {"DurationInSeconds": 60}}),
        );
        let start = Instant::now();
        let outcome = ep
            .deliver(&client(), &records(&["a", "b"]), &StopSignal::new())
            .await;
        assert_eq!(outcome, HttpOutcome::Delivered { attempts: 2 });
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(850) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].request_id(), seen[1].request_id());
        assert_eq!(
            seen[0].body, seen[1].body,
            "the same request, byte for byte"
        );
    }

    #[tokio::test]
    async fn a_413_is_permanent() {
        let server = serve(|_, _| {
            Reply::Raw(
                413,
                "application/json",
                r#"{"errorMessage":"Payload too large"}"#.into(),
            )
        })
        .await;
        let ep = endpoint(
            &server.url,
            json!({"RetryOptions": {"DurationInSeconds": 60}}),
        );
        let outcome = ep
            .deliver(&client(), &records(&["a"]), &StopSignal::new())
            .await;
        let HttpOutcome::PayloadTooLarge { attempts, message } = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(attempts, 1);
        assert!(
            message.starts_with(
                "The following response was received from the endpoint destination. 413: "
            ) && message.contains("Payload too large"),
            "{message}"
        );
        assert_eq!(server.seen().len(), 1);
    }

    #[tokio::test]
    async fn a_wrong_request_id_is_an_invalid_response() {
        let server = serve(|_, _| {
            Reply::Raw(
                200,
                "application/json",
                json!({"requestId": "someone-else", "timestamp": 1}).to_string(),
            )
        })
        .await;
        let ep = endpoint(&server.url, json!({}));
        let outcome = ep
            .deliver(&client(), &records(&["a"]), &StopSignal::new())
            .await;
        let HttpOutcome::Failed {
            attempts,
            error_code,
            message,
        } = outcome
        else {
            panic!("{outcome:?}");
        };
        assert_eq!((attempts, error_code), (1, error_code::INVALID_RESPONSE));
        assert!(message.contains("someone-else"), "{message}");
    }

    #[tokio::test]
    async fn a_200_must_follow_the_response_format() {
        let cases: Vec<(&'static str, String, &'static str)> = vec![
            (
                "text/plain",
                r#"{"requestId":"ID","timestamp":1}"#.into(),
                "content type",
            ),
            ("application/json", "not json".into(), "valid JSON"),
            (
                "application/json",
                r#"{"timestamp":1}"#.into(),
                "no requestId",
            ),
            (
                "application/json",
                r#"{"requestId":"ID"}"#.into(),
                "no timestamp",
            ),
            (
                "application/json",
                r#"{"requestId":"ID","timestamp":"1"}"#.into(),
                "not a number",
            ),
            ("application/json", String::new(), "valid JSON"),
        ];
        for (content_type, body, why) in cases {
            let server = serve(move |_, req| {
                Reply::Raw(200, content_type, body.replace("ID", &req.request_id()))
            })
            .await;
            let outcome = endpoint(&server.url, json!({}))
                .deliver(&client(), &records(&["a"]), &StopSignal::new())
                .await;
            let HttpOutcome::Failed {
                error_code,
                message,
                ..
            } = outcome
            else {
                panic!("{outcome:?}");
            };
            assert_eq!(error_code, error_code::INVALID_RESPONSE, "{why}");
            assert!(message.contains(why), "{why}: {message}");
        }
        // A charset parameter and an errorMessage are fine.
        let server = serve(|_, req| {
            Reply::Raw(
                200,
                "application/json; charset=utf-8",
                json!({"requestId": req.request_id(), "timestamp": 5, "errorMessage": ""})
                    .to_string(),
            )
        })
        .await;
        let outcome = endpoint(&server.url, json!({}))
            .deliver(&client(), &records(&["a"]), &StopSignal::new())
            .await;
        assert_eq!(outcome, HttpOutcome::Delivered { attempts: 1 });
    }

    #[tokio::test]
    async fn a_retry_duration_of_zero_makes_one_attempt() {
        let server = serve(|_, _| Reply::Raw(500, "application/json", "{}".into())).await;
        let ep = endpoint(
            &server.url,
            json!({"RetryOptions": {"DurationInSeconds": 0}}),
        );
        let start = Instant::now();
        let outcome = ep
            .deliver(&client(), &records(&["a"]), &StopSignal::new())
            .await;
        assert_eq!(
            outcome,
            HttpOutcome::Failed {
                attempts: 1,
                error_code: error_code::DESTINATION_EXCEPTION,
                message:
                    "The following response was received from the endpoint destination. 500: {}"
                        .into(),
            }
        );
        assert!(start.elapsed() < Duration::from_millis(800));
        assert_eq!(server.seen().len(), 1);
    }

    #[tokio::test]
    async fn retries_spend_the_retry_duration_on_pauses() {
        // 2 s of retries: a pause of ~1 s, then what is left of the 2 s, then none.
        let server = serve(|_, _| Reply::Raw(503, "application/json", "{}".into())).await;
        let ep = endpoint(
            &server.url,
            json!({"RetryOptions": {"DurationInSeconds": 2}}),
        );
        let start = Instant::now();
        let outcome = ep
            .deliver(&client(), &records(&["a"]), &StopSignal::new())
            .await;
        let waited = start.elapsed();
        let HttpOutcome::Failed {
            attempts,
            error_code,
            ..
        } = outcome
        else {
            panic!("{outcome:?}");
        };
        assert_eq!(
            (attempts, error_code),
            (3, error_code::DESTINATION_EXCEPTION)
        );
        assert!(
            waited >= Duration::from_millis(1950) && waited < Duration::from_secs(4),
            "{waited:?}"
        );
        let seen = server.seen();
        assert_eq!(seen.len(), 3);
        assert!(seen.iter().all(|s| s.request_id() == seen[0].request_id()));
    }

    #[tokio::test]
    async fn stop_ends_the_retries() {
        let server = serve(|_, _| Reply::Raw(500, "application/json", "{}".into())).await;
        let ep = endpoint(
            &server.url,
            json!({"RetryOptions": {"DurationInSeconds": 3600}}),
        );
        let stop = StopSignal::new();
        let stopper = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            stopper.stop();
        });
        let start = Instant::now();
        let outcome = ep.deliver(&client(), &records(&["a"]), &stop).await;
        assert_eq!(outcome, HttpOutcome::Stopped);
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(server.seen().len(), 2, "attempts at 0 s and ~1 s");

        // Given before: no request at all.
        let outcome = ep.deliver(&client(), &records(&["a"]), &stop).await;
        assert_eq!(outcome, HttpOutcome::Stopped);
        assert_eq!(server.seen().len(), 2);
    }

    #[tokio::test]
    async fn stop_abandons_an_attempt_in_flight() {
        let server = serve(|_, _| Reply::Hang).await;
        let ep = endpoint(&server.url, json!({}));
        let stop = StopSignal::new();
        let stopper = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            stopper.stop();
        });
        let start = Instant::now();
        assert_eq!(
            ep.deliver(&client(), &records(&["a"]), &stop).await,
            HttpOutcome::Stopped
        );
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_hung_endpoint_times_out() {
        let server = serve(|_, _| Reply::Hang).await;
        let ep = endpoint(&server.url, json!({})).with_attempt_timeout(Duration::from_millis(300));
        assert_eq!(ep.attempt_timeout(), Duration::from_millis(300));
        let start = Instant::now();
        let outcome = ep
            .deliver(&client(), &records(&["a"]), &StopSignal::new())
            .await;
        let HttpOutcome::Failed { error_code, .. } = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(error_code, error_code::REQUEST_TIMEOUT);
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn a_closed_connection_is_a_reset_and_no_listener_a_connection_failure() {
        let server = serve(|_, _| Reply::Close).await;
        let outcome = endpoint(&server.url, json!({}))
            .deliver(&client(), &records(&["a"]), &StopSignal::new())
            .await;
        let HttpOutcome::Failed { error_code, .. } = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(error_code, error_code::CONNECTION_RESET);

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        let outcome = endpoint(&url, json!({}))
            .deliver(&client(), &records(&["a"]), &StopSignal::new())
            .await;
        let HttpOutcome::Failed {
            error_code,
            message,
            ..
        } = outcome
        else {
            panic!("{outcome:?}");
        };
        assert_eq!(error_code, error_code::CONNECTION_FAILED, "{message}");
    }

    #[tokio::test]
    async fn a_response_over_1_mib_is_too_large() {
        let server = serve(|_, req| {
            Reply::Raw(
                200,
                "application/json",
                json!({"requestId": req.request_id(), "timestamp": 1,
                       "errorMessage": "x".repeat(MAX_RESPONSE_BYTES)})
                .to_string(),
            )
        })
        .await;
        let outcome = endpoint(&server.url, json!({}))
            .deliver(&client(), &records(&["a"]), &StopSignal::new())
            .await;
        let HttpOutcome::Failed { error_code, .. } = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(error_code, error_code::RESPONSE_TOO_LARGE);
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed() {
        let server = serve(|_, _| Reply::Raw(302, "application/json", "{}".into())).await;
        let outcome = endpoint(&server.url, json!({}))
            .deliver(&client(), &records(&["a"]), &StopSignal::new())
            .await;
        let HttpOutcome::Failed {
            error_code,
            message,
            ..
        } = outcome
        else {
            panic!("{outcome:?}");
        };
        assert_eq!(error_code, error_code::DESTINATION_EXCEPTION);
        assert!(message.contains("302"), "{message}");
        assert_eq!(server.seen().len(), 1);
    }

    #[tokio::test]
    async fn more_than_10000_records_go_as_consecutive_requests() {
        let server = serve(|_, _| Reply::Ok).await;
        let sent: Vec<Bytes> = (0..MAX_RECORDS_PER_REQUEST + 5)
            .map(|i| Bytes::from(i.to_string()))
            .collect();
        let outcome = endpoint(&server.url, json!({}))
            .deliver(&client(), &sent, &StopSignal::new())
            .await;
        assert_eq!(outcome, HttpOutcome::Delivered { attempts: 2 });
        let seen = server.seen();
        assert_eq!(seen[0].records().len(), MAX_RECORDS_PER_REQUEST);
        assert_eq!(
            seen[1].records(),
            vec![
                b"10000".to_vec(),
                b"10001".to_vec(),
                b"10002".to_vec(),
                b"10003".to_vec(),
                b"10004".to_vec()
            ]
        );
        assert_ne!(seen[0].request_id(), seen[1].request_id());

        // No records: no request.
        let outcome = endpoint(&server.url, json!({}))
            .deliver(&client(), &[], &StopSignal::new())
            .await;
        assert_eq!(outcome, HttpOutcome::Delivered { attempts: 0 });
        assert_eq!(server.seen().len(), 2);
    }

    #[test]
    fn config_defaults_and_members() {
        let ep = HttpEndpoint::from_config(&json!({
            "EndpointConfiguration": {"Url": "https://example.com/x"},
            "S3Configuration": {}
        }))
        .unwrap();
        assert_eq!(ep.url(), "https://example.com/x");
        assert_eq!((ep.size_in_mbs(), ep.interval_in_seconds()), (5, 300));
        assert_eq!(ep.retry_duration(), Duration::from_secs(300));
        assert_eq!(ep.attempt_timeout(), DEFAULT_ATTEMPT_TIMEOUT);
        assert_eq!(ep.name(), None);
        assert!(!ep.gzip() && !ep.all_data_backed_up());
        assert!(ep.common_attributes().is_empty());

        let ep = HttpEndpoint::from_config(&json!({
            "EndpointConfiguration": {"Url": "http://127.0.0.1:9000", "Name": "local", "AccessKey": ""},
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 0},
            "RequestConfiguration": {"ContentEncoding": "NONE", "CommonAttributes": [
                {"AttributeName": "a", "AttributeValue": ""}]},
            "RetryOptions": {"DurationInSeconds": 7200},
            "S3BackupMode": "AllData"
        }))
        .unwrap();
        assert_eq!((ep.size_in_mbs(), ep.interval_in_seconds()), (64, 0));
        assert_eq!(ep.retry_duration(), Duration::from_secs(7200));
        assert_eq!(ep.name(), Some("local"));
        assert!(ep.all_data_backed_up());
        assert_eq!(ep.common_attributes(), &[("a".to_string(), String::new())]);
    }

    #[test]
    fn bad_configs_say_what_is_wrong() {
        let bad = |config: Json, want: &str| {
            let e = HttpEndpoint::from_config(&config).unwrap_err();
            assert!(e.contains(want), "{config}: {e}");
        };
        let url = |u: &str| json!({"EndpointConfiguration": {"Url": u}});
        bad(json!({}), "EndpointConfiguration must be specified");
        bad(
            json!({"EndpointConfiguration": {}}),
            "Url must be specified",
        );
        bad(url(""), "1 to 1000 characters");
        bad(
            url(&format!("https://x/{}", "a".repeat(1000))),
            "1 to 1000 characters",
        );
        bad(url("ftp://example.com"), "must be an https:// URL");
        bad(url("example.com"), "must be an https:// URL");
        bad(url("https://"), "https://");
        bad(url("http://exa mple.com/"), "not a valid URL");
        bad(
            json!({"EndpointConfiguration": {"Url": 5}}),
            "Url must be a string",
        );
        bad(
            json!({"EndpointConfiguration": {"Url": "https://x", "Name": " "}}),
            "Name must be 1 to 256",
        );
        bad(
            json!({"EndpointConfiguration": {"Url": "https://x", "AccessKey": "a\nb"}}),
            "AccessKey must be printable",
        );
        bad(
            json!({"EndpointConfiguration": {"Url": "https://x", "AccessKey": "k".repeat(4097)}}),
            "at most 4096",
        );
        let with = |k: &str, v: Json| {
            let mut c = url("https://x");
            c[k] = v;
            c
        };
        bad(
            with("BufferingHints", json!({"SizeInMBs": 0})),
            "SizeInMBs must be between 1 and 64, not 0",
        );
        bad(
            with("BufferingHints", json!({"SizeInMBs": 65})),
            "between 1 and 64",
        );
        bad(
            with("BufferingHints", json!({"IntervalInSeconds": 901})),
            "IntervalInSeconds must be between 0 and 900",
        );
        bad(
            with("BufferingHints", json!({"IntervalInSeconds": "1"})),
            "must be an integer",
        );
        bad(
            with("BufferingHints", json!(3)),
            "BufferingHints must be a structure",
        );
        bad(
            with("RequestConfiguration", json!({"ContentEncoding": "ZSTD"})),
            "NONE or GZIP, not 'ZSTD'",
        );
        bad(
            with(
                "RequestConfiguration",
                json!({"CommonAttributes": [{"AttributeValue": "v"}]}),
            ),
            "CommonAttributes[0].AttributeName must be specified",
        );
        bad(
            with(
                "RequestConfiguration",
                json!({"CommonAttributes": [{"AttributeName": "n"}]}),
            ),
            "AttributeValue must be specified",
        );
        bad(
            with(
                "RequestConfiguration",
                json!({"CommonAttributes": [{"AttributeName": "n", "AttributeValue": "v".repeat(1025)}]}),
            ),
            "at most 1024",
        );
        let many: Vec<Json> = (0..51)
            .map(|i| json!({"AttributeName": format!("n{i}"), "AttributeValue": ""}))
            .collect();
        bad(
            with("RequestConfiguration", json!({"CommonAttributes": many})),
            "at most 50 attributes, not 51",
        );
        bad(
            with("RetryOptions", json!({"DurationInSeconds": 7201})),
            "between 0 and 7200",
        );
        bad(
            with("RetryOptions", json!({"DurationInSeconds": -1})),
            "between 0 and 7200",
        );
        bad(
            with("S3BackupMode", json!("Enabled")),
            "FailedDataOnly or AllData",
        );
        bad(json!("x"), "must be a structure");
    }

    #[test]
    fn backoff_doubles_from_1s_up_to_2_minutes_with_15_percent_jitter() {
        assert_eq!(backoff(0, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(1, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(5, 1.0), Duration::from_secs(32));
        assert_eq!(backoff(6, 1.0), Duration::from_secs(64));
        assert_eq!(backoff(7, 1.0), Duration::from_secs(120));
        assert_eq!(backoff(40, 1.15), Duration::from_secs(120));
        assert_eq!(backoff(0, 0.85), Duration::from_millis(850));
        for _ in 0..1000 {
            let j = jitter();
            assert!((0.85..=1.15).contains(&j), "{j}");
        }
    }

    #[test]
    fn failed_lines_are_awss_error_records() {
        let line = failed_line(b"sample raw data", 1594265943615, 5, error_code::DESTINATION_EXCEPTION,
            "The following response was received from the endpoint destination. 401: {\"errorMessage\": \"Unauthorized\"}",
            1594266081318, Some("49607357361271740811418664280693044274821622880012337186.0"));
        assert_eq!(line.last(), Some(&b'\n'));
        let text = std::str::from_utf8(&line).unwrap();
        assert!(text.starts_with(r#"{"attemptsMade":5,"arrivalTimestamp":1594265943615,"errorCode":"HttpEndpoint.DestinationException","errorMessage":"#), "{text}");
        let v: Json = serde_json::from_str(text).unwrap();
        assert_eq!(v["rawData"], json!("c2FtcGxlIHJhdyBkYXRh"));
        assert_eq!(v["attemptEndingTimestamp"], json!(1594266081318i64));
        assert_eq!(v["subsequenceNumber"], json!(0));
        assert_eq!(
            v["dataId"],
            json!("49607357361271740811418664280693044274821622880012337186.0")
        );
        assert_eq!(text.matches('\n').count(), 1);
        let v: Json = serde_json::from_slice(&failed_line(b"", 1, 1, "c", "m", 2, None)).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 7);
        assert_eq!(v["rawData"], json!(""));
    }
}
