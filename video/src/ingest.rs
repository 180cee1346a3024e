//! PutMedia: the body's Matroska is demuxed as it arrives; each cluster becomes one
//! fragment, written to the engine in one put, and acknowledged on the reply's stream
//! of newline-separated JSON events: BUFFERING and RECEIVED once the cluster is whole,
//! PERSISTED once the engine has synced it (when the stream keeps data), ERROR with
//! Kinesis Video's ErrorId (the connection then ends), IDLE while no bytes come.
//!
//! The reader (here) receives, parses and checks clusters while earlier fragments are
//! being made durable by the connection's writer ([`crate::persist`]), which puts them
//! in order. Buffering is bounded: the writer's queue is bounded in fragments and
//! bytes, and a cluster may hold at most [`MAX_FRAGMENT_BYTES`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use freshet_protocol::error::ApiError;
use freshet_protocol::service::{BodyStream, Call, Reply};
use tokio::sync::mpsc;
use tokio_stream::StreamExt as _;

use crate::error::invalid;
use crate::fragment::{fragment_number, Meta};
use crate::mkv::{self, Cluster, DemuxError, Demuxer};
use crate::persist::{self, Job, Pending, Queue};
use crate::service::Ctx;
use crate::store::{Store, VStream};

/// The largest fragment (Kinesis Video's limit, 50 MB).
pub const MAX_FRAGMENT_BYTES: usize = 50 * 1024 * 1024;

/// The longest fragment, ms (Kinesis Video's limit, 20 s).
pub const MAX_FRAGMENT_MS: u64 = 20_000;

/// How long without a byte before an IDLE event.
const IDLE_EVERY: Duration = Duration::from_secs(2);

/// How long without a byte before the connection is ended.
const IDLE_END: Duration = Duration::from_secs(30);

/// Acknowledgements waiting for the client to read them.
const ACK_QUEUE: usize = 64;

/// Kinesis Video's PutMedia error ids and codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckError {
    /// 4001: a fragment above 50 MB.
    TooLarge,
    /// 4002: a fragment longer than 20 s.
    TooLong,
    /// 4004: a fragment timecode lower than the previous one.
    TimecodeLower,
    /// 4006: not valid Matroska.
    InvalidMkv,
    /// 4008: the stream was deleted.
    StreamNotActive,
    /// 4010: a block of a track the Tracks element does not have.
    TrackMismatch,
    /// 5001: the fragment could not be stored.
    Archival,
}

impl AckError {
    /// ErrorId.
    pub fn id(self) -> u32 {
        match self {
            AckError::TooLarge => 4001,
            AckError::TooLong => 4002,
            AckError::TimecodeLower => 4004,
            AckError::InvalidMkv => 4006,
            AckError::StreamNotActive => 4008,
            AckError::TrackMismatch => 4010,
            AckError::Archival => 5001,
        }
    }

    /// ErrorCode, as the producer SDKs name it.
    pub fn code(self) -> &'static str {
        match self {
            AckError::TooLarge => "MAX_FRAGMENT_SIZE_REACHED",
            AckError::TooLong => "MAX_FRAGMENT_DURATION_REACHED",
            AckError::TimecodeLower => "FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS",
            AckError::InvalidMkv => "INVALID_MKV_DATA",
            AckError::StreamNotActive => "STREAM_NOT_ACTIVE",
            AckError::TrackMismatch => "TRACK_NUMBER_MISMATCH",
            AckError::Archival => "ARCHIVAL_ERROR",
        }
    }
}

/// One acknowledgement line.
pub fn ack(
    kind: &str,
    timecode: Option<u64>,
    number: Option<&str>,
    err: Option<AckError>,
) -> Bytes {
    let mut o = serde_json::Map::new();
    o.insert("EventType".into(), kind.into());
    if let Some(t) = timecode {
        o.insert("FragmentTimecode".into(), t.into());
    }
    if let Some(n) = number {
        o.insert("FragmentNumber".into(), n.into());
    }
    if let Some(e) = err {
        o.insert("ErrorId".into(), e.id().into());
        o.insert("ErrorCode".into(), e.code().into());
    }
    let mut line = serde_json::Value::Object(o).to_string();
    line.push('\n');
    Bytes::from(line)
}

/// How the producer's timecodes map to producer timestamps.
#[derive(Debug, Clone, Copy)]
struct Timing {
    relative: bool,
    start_ms: i64,
}

fn header<'a>(call: &'a Call, name: &str) -> Option<&'a str> {
    call.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Answers PutMedia: checks the headers and the stream, then acknowledges in a task
/// that consumes the body.
pub async fn put_media(ctx: Ctx, mut call: Call) -> Reply {
    let stream = match crate::control::resolve_by(
        &ctx,
        header(&call, "x-amzn-stream-name"),
        header(&call, "x-amzn-stream-arn"),
    ) {
        Ok(s) => s,
        Err(e) => return Reply::Error(e),
    };
    let timing = match timing(&call) {
        Ok(t) => t,
        Err(e) => return Reply::Error(e),
    };
    let body: BodyStream = match call.body_stream.take() {
        Some(b) => b,
        None => {
            let whole = std::mem::take(&mut call.body);
            Box::pin(tokio_stream::iter([Ok(whole)]))
        }
    };
    let (tx, rx) = mpsc::channel(ACK_QUEUE);
    tokio::spawn(async move {
        let _held = call;
        run(ctx, stream, timing, body, tx).await;
    });
    Reply::Stream {
        content_type: crate::params::JSON,
        body: Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)),
    }
}

fn timing(call: &Call) -> Result<Timing, ApiError> {
    let relative = match header(call, "x-amzn-fragment-timecode-type") {
        Some("ABSOLUTE") => false,
        Some("RELATIVE") => true,
        Some(other) => {
            return Err(invalid(format!(
                "1 validation error detected: Value '{other}' at 'fragmentTimecodeType' failed to satisfy constraint: Member must satisfy enum value set: [ABSOLUTE, RELATIVE]"
            )))
        }
        None => {
            return Err(invalid(
                "1 validation error detected: Value null at 'fragmentTimecodeType' failed to satisfy constraint: Member must not be null",
            ))
        }
    };
    let start_ms = match header(call, "x-amzn-producer-start-timestamp") {
        Some(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| (v * 1000.0).round() as i64)
            .ok_or_else(|| {
                invalid(format!(
                    "The producer start timestamp '{s}' is not a timestamp in seconds."
                ))
            })?,
        None => crate::store::now_ms(),
    };
    Ok(Timing { relative, start_ms })
}

struct Session {
    ctx: Ctx,
    stream: Arc<VStream>,
    timing: Timing,
    tx: mpsc::Sender<Bytes>,
    queue: Queue,
    last_tc_ms: Option<u64>,
    /// The offset after the fragments queued so far (predicts fragment numbers).
    next_offset: Option<u64>,
}

async fn run(
    ctx: Ctx,
    stream: Arc<VStream>,
    timing: Timing,
    mut body: BodyStream,
    tx: mpsc::Sender<Bytes>,
) {
    let (queue, writer) = persist::start(ctx.clone(), Arc::clone(&stream), tx.clone());
    let mut s = Session {
        ctx,
        stream,
        timing,
        tx,
        queue,
        last_tc_ms: None,
        next_offset: None,
    };
    s.read(&mut body).await;
    // The writer puts what was queued, then ends (and with it the reply).
    drop(s);
    let _ = writer.await;
}

fn demux_error(e: &DemuxError) -> AckError {
    match e {
        DemuxError::TooLarge => AckError::TooLarge,
        DemuxError::Invalid(_) => AckError::InvalidMkv,
    }
}

/// What a cluster's blocks say: its length (ms) or why it is refused.
fn duration_ms(c: &Cluster) -> Result<u64, AckError> {
    let scale = c.header.scale;
    let (mut lo, mut hi, mut last_dur) = (i64::MAX, i64::MIN, 0u64);
    for b in mkv::blocks(&c.blocks) {
        let b = b.ok_or(AckError::InvalidMkv)?;
        let track = c
            .header
            .tracks
            .iter()
            .find(|t| t.number == b.track)
            .ok_or(AckError::TrackMismatch)?;
        let tc = i64::from(b.timecode);
        lo = lo.min(tc);
        if tc >= hi {
            hi = tc;
            last_dur = b
                .duration
                .map(|d| d.saturating_mul(scale))
                .or(track.default_duration)
                .unwrap_or(0);
        }
    }
    if lo > hi {
        return Ok(0);
    }
    let span_ns = ((hi - lo) as u64)
        .saturating_mul(scale)
        .saturating_add(last_dur);
    Ok(span_ns / 1_000_000)
}

impl Session {
    /// Reads the body until it ends, fails, idles out or the writer ends.
    async fn read(&mut self, body: &mut BodyStream) {
        let mut demux = Demuxer::new(MAX_FRAGMENT_BYTES);
        let mut idle = Duration::ZERO;
        loop {
            let next = tokio::select! {
                biased;
                () = self.queue.closed() => return,
                next = tokio::time::timeout(IDLE_EVERY, body.next()) => next,
            };
            let chunk = match next {
                Err(_) => {
                    idle += IDLE_EVERY;
                    if idle >= IDLE_END || self.send(ack("IDLE", None, None, None)).await.is_err() {
                        return;
                    }
                    continue;
                }
                // The connection failed: a fragment half received is dropped.
                Ok(Some(Err(_))) => return,
                Ok(None) => {
                    match demux.finish() {
                        Ok(Some(c)) => {
                            let _ = self.fragment(c).await;
                        }
                        Ok(None) => {}
                        Err(e) => self.fail(None, demux_error(&e)).await,
                    }
                    return;
                }
                Ok(Some(Ok(chunk))) => chunk,
            };
            idle = Duration::ZERO;
            demux.push(&chunk);
            loop {
                match demux.next_cluster() {
                    Ok(Some(c)) => {
                        if self.fragment(c).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(error = ?e, "PutMedia: the body is not valid Matroska");
                        self.fail(None, demux_error(&e)).await;
                        return;
                    }
                }
            }
        }
    }

    async fn send(&self, line: Bytes) -> Result<(), ()> {
        self.tx.send(line).await.map_err(|_| ())
    }

    /// Ends the connection with an ERROR event, after the fragments queued before it.
    async fn fail(&self, tc: Option<u64>, e: AckError) {
        let _ = self.queue.send(Job::Fail(tc, e)).await;
    }

    /// Checks one cluster and queues it as a fragment; `Err` ends the connection.
    async fn fragment(&mut self, c: Cluster) -> Result<(), ()> {
        let scale = c.header.scale;
        let tc = c.timecode;
        let tc_ms = (u128::from(tc) * u128::from(scale) / 1_000_000) as u64;
        if self.last_tc_ms.is_some_and(|l| tc_ms < l) {
            self.fail(Some(tc), AckError::TimecodeLower).await;
            return Err(());
        }
        let duration_ms = match duration_ms(&c) {
            Ok(d) if d > MAX_FRAGMENT_MS => Err(AckError::TooLong),
            other => other,
        };
        let duration_ms = match duration_ms {
            Ok(d) => d,
            Err(e) => {
                self.fail(Some(tc), e).await;
                return Err(());
            }
        };
        self.last_tc_ms = Some(tc_ms);
        let producer_ms = if self.timing.relative {
            self.timing.start_ms.saturating_add(tc_ms as i64)
        } else {
            tc_ms as i64
        };
        let cluster_timecode =
            (i128::from(producer_ms.max(0)) * 1_000_000 / i128::from(scale)) as u64;
        let meta = Meta {
            producer_ms,
            fragment_timecode: tc,
            cluster_timecode,
            duration_ms,
            scale,
            tracks: c.header.tracks_raw.clone(),
        };
        let Ok(parts) = Store::encode_fragment(&meta, &c.blocks) else {
            self.fail(Some(tc), AckError::Archival).await;
            return Err(());
        };
        let size = c.blocks.len();
        let budget = self.queue.room(size).await.ok_or(())?;
        if self.queue.is_closed() {
            return Err(());
        }
        if self
            .stream
            .deleted
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            self.fail(Some(tc), AckError::StreamNotActive).await;
            return Err(());
        }
        let predicted = self.predict(parts.len());
        self.send(ack("BUFFERING", Some(tc), predicted.as_deref(), None))
            .await?;
        self.send(ack("RECEIVED", Some(tc), predicted.as_deref(), None))
            .await?;
        self.queue
            .send(Job::Put(Pending {
                timecode: tc,
                meta,
                parts,
                size: size as u64,
                budget,
            }))
            .await
    }

    /// The number the next fragment (of `parts` records) will likely get: after the
    /// log's end and after the fragments queued before it.
    fn predict(&mut self, parts: usize) -> Option<String> {
        let end = self.ctx.store.log_end(&self.stream.log).ok();
        let at = match (end, self.next_offset) {
            (Some(e), Some(n)) => Some(e.max(n)),
            (e, n) => e.or(n),
        };
        self.next_offset = at.map(|a| a + parts as u64);
        at.map(fragment_number)
    }
}
