//! `SubscribeToShard`: an enhanced fan-out subscription read as an async stream of
//! [`SubscribeToShardEvent`]s. The `application/vnd.amazon.eventstream` reply is
//! framed and checked (prelude and message CRC-32s) by `aws-smithy-eventstream`, the
//! AWS SDKs' own codec; the `initial-response` event is consumed before
//! [`KinesisClient::subscribe_to_shard`] returns; exception messages become typed
//! [`Error`]s. [`follow`] and [`KinesisClient::follow_shard`] re-subscribe from the
//! ContinuationSequenceNumber whenever a subscription ends (every 5 minutes), until the
//! shard's end.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::Message;
use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{json, Value};

use super::json::{self, error_of, subscribe_event};
use super::{KinesisClient, RetryPolicy, TARGET_PREFIX};
use crate::error::{Error, Result};
use crate::types::{StartingPosition, SubscribeToShardEvent};

/// The Content-Type of an event-stream reply.
const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";
/// Most bytes buffered for one event-stream message (the codec's own limit is 16 MiB).
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024 + 1024;

type BoxedEvents = Pin<Box<dyn Stream<Item = Result<SubscribeToShardEvent>> + Send>>;

/// The events of one subscription, in order. The stream ends after the subscription's
/// lifetime (5 minutes on Kinesis), after the event carrying a closed shard's
/// ChildShards, or after yielding an error (an exception message such as
/// [`Error::ResourceInUse`] when another subscription took over, a broken connection,
/// or [`Error::Timeout`] when nothing arrived for the client's timeout).
pub struct EventStream {
    inner: BoxedEvents,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

impl Stream for EventStream {
    type Item = Result<SubscribeToShardEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl EventStream {
    /// The next event; `None` once the stream has ended.
    pub async fn recv(&mut self) -> Option<Result<SubscribeToShardEvent>> {
        self.inner.next().await
    }
}

/// Reads event-stream messages off a reply body.
struct Reader {
    body: Incoming,
    buf: BytesMut,
    decoder: MessageFrameDecoder,
    /// Part of a message (possibly only its prelude) was read.
    mid_message: bool,
    idle: Duration,
    done: bool,
}

impl Reader {
    fn new(body: Incoming, idle: Duration) -> Self {
        Reader {
            body,
            buf: BytesMut::new(),
            decoder: MessageFrameDecoder::new(),
            mid_message: false,
            idle,
            done: false,
        }
    }

    /// The next message; `None` at a clean end of the body.
    async fn message(&mut self) -> Result<Option<Message>> {
        // Bounded: every turn either returns or reads one more body frame, and a
        // message is at most MAX_MESSAGE_BYTES.
        loop {
            let had_bytes = !self.buf.is_empty();
            match self
                .decoder
                .decode_frame(&mut self.buf)
                .map_err(|e| Error::Decode(format!("bad event-stream message: {e}")))?
            {
                DecodedFrame::Complete(m) => {
                    self.mid_message = false;
                    return Ok(Some(m));
                }
                DecodedFrame::Incomplete => self.mid_message |= had_bytes,
            }
            if self.buf.len() > MAX_MESSAGE_BYTES {
                return Err(Error::Decode("event-stream message too long".into()));
            }
            let frame = tokio::time::timeout(self.idle, self.body.frame())
                .await
                .map_err(|_| Error::Timeout(self.idle))?;
            match frame {
                None if self.mid_message || !self.buf.is_empty() => {
                    return Err(Error::Transport(
                        "the subscription ended inside an event-stream message".into(),
                    ))
                }
                None => return Ok(None),
                Some(Err(e)) => return Err(Error::Transport(e.to_string())),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    /// The next `SubscribeToShardEvent` (other events are skipped); `None` at the end.
    async fn event(&mut self) -> Option<Result<SubscribeToShardEvent>> {
        if self.done {
            return None;
        }
        // Bounded by the body: unknown event types are skipped one message at a time.
        loop {
            let outcome = match self.message().await {
                Ok(None) => None,
                Ok(Some(m)) => match classify(&m) {
                    Ok(Kind::Event(e)) => Some(Ok(e)),
                    Ok(Kind::Initial | Kind::Other) => continue,
                    Err(e) => Some(Err(e)),
                },
                Err(e) => Some(Err(e)),
            };
            let end = match &outcome {
                None | Some(Err(_)) => true,
                Some(Ok(e)) => e.child_shards.is_some(),
            };
            self.done = end;
            return outcome;
        }
    }
}

/// What a message is.
enum Kind {
    Initial,
    Event(SubscribeToShardEvent),
    Other,
}

fn header<'a>(m: &'a Message, name: &str) -> Option<&'a str> {
    m.headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| h.value().as_string().ok())
        .map(|s| s.as_str())
}

fn payload_json(m: &Message) -> Result<Value> {
    if m.payload().is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(m.payload())
        .map_err(|e| Error::Decode(format!("event payload is not JSON: {e}")))
}

fn classify(m: &Message) -> Result<Kind> {
    match header(m, ":message-type") {
        Some("event") => match header(m, ":event-type") {
            Some("initial-response") => Ok(Kind::Initial),
            Some("SubscribeToShardEvent") => Ok(Kind::Event(subscribe_event(&payload_json(m)?)?)),
            _ => Ok(Kind::Other),
        },
        Some("exception") => {
            let code = header(m, ":exception-type").unwrap_or("UnknownError");
            let status = if code.starts_with("InternalFailure") {
                500
            } else {
                400
            };
            Err(error_of(m.payload(), Some(code), status))
        }
        Some("error") => Err(Error::Service {
            code: header(m, ":error-code")
                .unwrap_or("UnknownError")
                .to_string(),
            message: header(m, ":error-message").unwrap_or_default().to_string(),
            status: 500,
        }),
        other => Err(Error::Decode(format!(
            "event-stream message of unknown type {other:?}"
        ))),
    }
}

impl KinesisClient {
    /// `SubscribeToShard`: subscribes the registered consumer `consumer_arn` to
    /// `shard_id` from `starting_position`. Returns once the service accepted the
    /// subscription (its `initial-response` is consumed here); refusals come back as
    /// typed errors ([`Error::ResourceInUse`] for a live subscription of the same
    /// consumer and shard, [`Error::ResourceNotFound`], ...). Transport failures and
    /// 5xx replies before the stream starts are retried like every call.
    pub async fn subscribe_to_shard(
        &self,
        consumer_arn: &str,
        shard_id: &str,
        starting_position: StartingPosition,
    ) -> Result<EventStream> {
        let body = json!({
            "ConsumerARN": consumer_arn,
            "ShardId": shard_id,
            "StartingPosition": json::starting_position(&starting_position),
        });
        let bytes = Bytes::from(
            serde_json::to_vec(&body).map_err(|e| Error::InvalidArgument(e.to_string()))?,
        );
        let mut attempt = 0u32;
        loop {
            match self.subscribe_once(bytes.clone()).await {
                Ok(s) => return Ok(s),
                Err(e) if e.is_retryable() && attempt + 1 < self.cfg.retry.max_attempts => {
                    tracing::debug!(shard_id, attempt, error = %e, "retrying SubscribeToShard");
                    tokio::time::sleep(self.cfg.retry.delay(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn subscribe_once(&self, body: Bytes) -> Result<EventStream> {
        let req = self
            .signed_request(&format!("{TARGET_PREFIX}SubscribeToShard"), body)
            .await?;
        let timeout = self.cfg.timeout;
        let start = async {
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|e| Error::Transport(format!("{e:?}")))?;
            let status = resp.status().as_u16();
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let content_type = header("content-type").unwrap_or_default();
            let error_type = header("x-amzn-errortype");
            if !(200..300).contains(&status) || !content_type.starts_with(EVENT_STREAM) {
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| Error::Transport(e.to_string()))?
                    .to_bytes();
                if (200..300).contains(&status) {
                    return Err(Error::Decode(format!(
                        "SubscribeToShard answered {content_type:?}, not {EVENT_STREAM}"
                    )));
                }
                return Err(error_of(&body, error_type.as_deref(), status));
            }
            let mut reader = Reader::new(resp.into_body(), timeout);
            // The first message must be the initial response (or an exception).
            match reader.message().await? {
                Some(m) => match classify(&m)? {
                    Kind::Initial => Ok(reader),
                    _ => Err(Error::Decode(
                        "the subscription did not open with an initial-response".into(),
                    )),
                },
                None => Err(Error::Transport(
                    "the subscription ended before its initial-response".into(),
                )),
            }
        };
        let reader = tokio::time::timeout(timeout, start)
            .await
            .map_err(|_| Error::Timeout(timeout))??;
        let events =
            futures_util::stream::unfold(
                reader,
                |mut r| async move { r.event().await.map(|e| (e, r)) },
            );
        Ok(EventStream {
            inner: Box::pin(events),
        })
    }

    /// Follows `shard_id` for `consumer_arn` from `start` to the shard's end across
    /// subscriptions: see [`follow`]. Uses this client's retry policy.
    pub fn follow_shard(
        &self,
        consumer_arn: &str,
        shard_id: &str,
        start: StartingPosition,
    ) -> FollowStream {
        let client = self.clone();
        let arn: Arc<str> = Arc::from(consumer_arn);
        let shard: Arc<str> = Arc::from(shard_id);
        let retry = self.cfg.retry;
        follow(
            move |position| {
                let client = client.clone();
                let arn = Arc::clone(&arn);
                let shard = Arc::clone(&shard);
                async move { client.subscribe_to_shard(&arn, &shard, position).await }
            },
            start,
            retry,
        )
    }
}

/// The events of a shard across subscriptions; see [`follow`].
pub struct FollowStream {
    inner: BoxedEvents,
    subscriptions: Arc<AtomicU64>,
}

impl std::fmt::Debug for FollowStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FollowStream")
            .field("subscriptions", &self.subscriptions())
            .finish_non_exhaustive()
    }
}

impl Stream for FollowStream {
    type Item = Result<SubscribeToShardEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl FollowStream {
    /// The next event; `None` after the shard's last event (the one with ChildShards)
    /// or after an error.
    pub async fn recv(&mut self) -> Option<Result<SubscribeToShardEvent>> {
        self.inner.next().await
    }

    /// Subscriptions opened so far.
    pub fn subscriptions(&self) -> u64 {
        self.subscriptions.load(Ordering::Relaxed)
    }
}

struct FollowState<F> {
    subscribe: F,
    position: StartingPosition,
    current: Option<EventStream>,
    /// Events of the current subscription.
    events: u64,
    /// Consecutive failed subscriptions.
    failures: u32,
    retry: RetryPolicy,
    done: bool,
    count: Arc<AtomicU64>,
}

/// Whether a refused subscription is worth retrying: the usual retryable errors, and
/// ResourceInUse (a previous subscription of the same consumer and shard, such as our
/// own just-ended one, is still registered for a few seconds).
fn resubscribable(e: &Error) -> bool {
    e.is_retryable() || matches!(e, Error::ResourceInUse(_))
}

impl<F, Fut> FollowState<F>
where
    F: FnMut(StartingPosition) -> Fut + Send,
    Fut: Future<Output = Result<EventStream>> + Send,
{
    /// Counts a failure; false when the retry budget is spent.
    async fn back_off(&mut self) -> bool {
        if self.failures + 1 >= self.retry.max_attempts {
            return false;
        }
        tokio::time::sleep(self.retry.delay(self.failures)).await;
        self.failures += 1;
        true
    }

    async fn step(&mut self) -> Option<Result<SubscribeToShardEvent>> {
        if self.done {
            return None;
        }
        // Bounded: each turn yields, or opens a subscription, or spends one of the
        // retry budget's attempts (reset only by a delivered event).
        loop {
            let Some(current) = self.current.as_mut() else {
                match (self.subscribe)(self.position.clone()).await {
                    Ok(s) => {
                        self.count.fetch_add(1, Ordering::Relaxed);
                        self.current = Some(s);
                        self.events = 0;
                    }
                    Err(e) if resubscribable(&e) && self.back_off().await => {
                        tracing::debug!(error = %e, "re-subscribing after a refusal");
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
                continue;
            };
            match current.recv().await {
                Some(Ok(ev)) => {
                    self.failures = 0;
                    self.events += 1;
                    self.position = StartingPosition::AfterSequenceNumber(
                        ev.continuation_sequence_number.clone(),
                    );
                    if ev.child_shards.is_some() {
                        self.done = true;
                        self.current = None;
                    }
                    return Some(Ok(ev));
                }
                Some(Err(e)) => {
                    self.current = None;
                    if !(e.is_retryable() && self.back_off().await) {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
                None => {
                    // The lifetime ended: go on from the continuation at once (a
                    // subscription that ended without any event counts as a failure).
                    self.current = None;
                    if self.events == 0 && !self.back_off().await {
                        self.done = true;
                        return Some(Err(Error::Transport(
                            "subscriptions keep ending without events".into(),
                        )));
                    }
                }
            }
        }
    }
}

/// Follows a shard from `start` to its end across subscriptions: `subscribe(position)`
/// opens one subscription (for example a [`KinesisClient::subscribe_to_shard`] call);
/// when it ends (the 5-minute lifetime) the next starts `AFTER_SEQUENCE_NUMBER` the
/// last ContinuationSequenceNumber, so no record is lost or repeated. Refusals with
/// ResourceInUse and retryable failures are retried with `retry`'s backoff (its
/// attempts count consecutive failures). The stream ends after the event carrying the
/// shard's ChildShards, or after yielding an error (retries spent, or not retryable,
/// such as ResourceInUse when another subscription took this one over).
pub fn follow<F, Fut>(subscribe: F, start: StartingPosition, retry: RetryPolicy) -> FollowStream
where
    F: FnMut(StartingPosition) -> Fut + Send + 'static,
    Fut: Future<Output = Result<EventStream>> + Send + 'static,
{
    let count = Arc::new(AtomicU64::new(0));
    let state = FollowState {
        subscribe,
        position: start,
        current: None,
        events: 0,
        failures: 0,
        retry,
        done: false,
        count: Arc::clone(&count),
    };
    let events =
        futures_util::stream::unfold(
            state,
            |mut st| async move { st.step().await.map(|e| (e, st)) },
        );
    FollowStream {
        inner: Box::pin(events),
        subscriptions: count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::{Header, HeaderValue};
    use std::sync::Mutex;

    fn message(headers: &[(&'static str, &str)], payload: &'static [u8]) -> Message {
        let mut m = Message::new(Bytes::from_static(payload));
        for (k, v) in headers {
            m = m.add_header(Header::new(*k, HeaderValue::String(v.to_string().into())));
        }
        // Round trip through the codec, as the reader does.
        let mut out = Vec::new();
        write_message_to(&m, &mut out).unwrap();
        let mut buf = BytesMut::from(&out[..]);
        match MessageFrameDecoder::new().decode_frame(&mut buf).unwrap() {
            DecodedFrame::Complete(m) => m,
            DecodedFrame::Incomplete => panic!("incomplete"),
        }
    }

    fn event(seq: &str, child_shards: bool) -> SubscribeToShardEvent {
        SubscribeToShardEvent {
            records: Vec::new(),
            continuation_sequence_number: seq.into(),
            millis_behind_latest: 0,
            child_shards: child_shards.then(Vec::new),
        }
    }

    fn stream_of(items: Vec<Result<SubscribeToShardEvent>>) -> EventStream {
        EventStream {
            inner: Box::pin(futures_util::stream::iter(items)),
        }
    }

    #[test]
    fn messages_are_classified() {
        let m = message(
            &[
                (":message-type", "event"),
                (":event-type", "initial-response"),
            ],
            b"{}",
        );
        assert!(matches!(classify(&m), Ok(Kind::Initial)));
        let m = message(
            &[
                (":message-type", "event"),
                (":event-type", "SubscribeToShardEvent"),
            ],
            br#"{"Records":[],"ContinuationSequenceNumber":"5","MillisBehindLatest":0}"#,
        );
        assert!(
            matches!(classify(&m), Ok(Kind::Event(e)) if e.continuation_sequence_number == "5")
        );
        let m = message(
            &[
                (":message-type", "exception"),
                (":exception-type", "ResourceInUseException"),
            ],
            br#"{"message":"taken over"}"#,
        );
        assert!(matches!(classify(&m), Err(Error::ResourceInUse(ref s)) if s == "taken over"));
        let m = message(
            &[
                (":message-type", "exception"),
                (":exception-type", "InternalFailureException"),
            ],
            br#"{"message":"boom"}"#,
        );
        assert!(matches!(classify(&m), Err(ref e) if e.is_retryable()));
        let m = message(&[(":message-type", "other")], b"");
        assert!(matches!(classify(&m), Err(Error::Decode(_))));
    }

    fn quick_retry() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        }
    }

    #[tokio::test]
    async fn follow_resumes_after_the_continuation_until_the_shard_end() {
        let positions = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&positions);
        let mut n = 0;
        let mut f = follow(
            move |p| {
                seen.lock().unwrap().push(p);
                n += 1;
                let items = match n {
                    1 => vec![Ok(event("1", false)), Ok(event("2", false))],
                    2 => vec![Err(Error::Throttled("slow down".into()))],
                    3 => vec![Ok(event("3", false))],
                    _ => vec![Ok(event("4", true)), Ok(event("never", false))],
                };
                async move {
                    if n == 4 {
                        return Err(Error::ResourceInUse("still there".into()));
                    }
                    Ok(stream_of(items))
                }
            },
            StartingPosition::TrimHorizon,
            quick_retry(),
        );
        let mut got = Vec::new();
        for _ in 0..10 {
            match f.recv().await {
                Some(Ok(e)) => got.push(e.continuation_sequence_number),
                Some(Err(e)) => panic!("{e}"),
                None => break,
            }
        }
        assert_eq!(got, ["1", "2", "3", "4"]);
        assert_eq!(f.subscriptions(), 4);
        let after = |s: &str| StartingPosition::AfterSequenceNumber(s.into());
        assert_eq!(
            *positions.lock().unwrap(),
            [
                StartingPosition::TrimHorizon,
                after("2"),
                after("2"),
                after("3"),
                after("3")
            ]
        );
    }

    #[tokio::test]
    async fn follow_gives_up_on_a_takeover_and_after_the_retry_budget() {
        let mut f = follow(
            |_| async {
                Ok(stream_of(vec![Err(Error::ResourceInUse(
                    "taken over".into(),
                ))]))
            },
            StartingPosition::Latest,
            quick_retry(),
        );
        assert!(matches!(f.recv().await, Some(Err(Error::ResourceInUse(_)))));
        assert!(f.recv().await.is_none());
        let mut f = follow(
            |_| async { Err(Error::Transport("refused".into())) },
            StartingPosition::Latest,
            quick_retry(),
        );
        assert!(matches!(f.recv().await, Some(Err(Error::Transport(_)))));
        assert!(f.recv().await.is_none());
        assert_eq!(f.subscriptions(), 0);
        let mut f = follow(
            |_| async { Ok(stream_of(Vec::new())) },
            StartingPosition::Latest,
            quick_retry(),
        );
        assert!(matches!(f.recv().await, Some(Err(Error::Transport(_)))));
    }
}
