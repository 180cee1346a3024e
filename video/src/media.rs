//! GetMedia: fragments from a start selector on, each a self-contained Matroska chunk
//! (EBML header, Segment, Info, Tracks, Tags, Cluster, Tags) carrying the
//! `AWS_KINESISVIDEO_*` tags; once caught up it waits on the engine's watch of the
//! stream's shard, and ends after a quiet spell with the continuation token in the
//! last chunk's tags.

use std::sync::Arc;

use bytes::Bytes;
use freshet_protocol::error::ApiError;
use freshet_protocol::service::{Call, Reply};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::ebml::{self, id, put_master, put_str, put_uint};
use crate::error::{self, invalid};
use crate::fragment::{fragment_number, parse_fragment_number, Stored};
use crate::params::{opt_str, opt_ts};
use crate::service::Ctx;
use crate::store::{now_ms, Store, VStream, SHARD};

/// The Content-Type of Matroska replies.
pub const MKV: &str = "video/webm";

/// Chunks waiting for a slow reader.
const QUEUE: usize = 4;

/// Seconds with milliseconds, as the tags write timestamps.
fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

fn simple_tags(out: &mut Vec<u8>, tags: &[(&str, String)]) {
    put_master(out, id::TAGS, |o| {
        put_master(o, id::TAG, |t| {
            put_master(t, id::TARGETS, |_| {});
            for (name, value) in tags {
                put_master(t, id::SIMPLE_TAG, |st| {
                    put_str(st, id::TAG_NAME, name);
                    put_str(st, id::TAG_STRING, value);
                });
            }
        })
    });
}

/// The EBML header of the chunks.
pub fn ebml_header(out: &mut Vec<u8>) {
    put_master(out, id::EBML, |o| {
        put_uint(o, id::EBML_VERSION, 1);
        put_uint(o, id::EBML_READ_VERSION, 1);
        put_uint(o, id::EBML_MAX_ID_LENGTH, 4);
        put_uint(o, id::EBML_MAX_SIZE_LENGTH, 8);
        put_str(o, id::DOC_TYPE, "matroska");
        put_uint(o, id::DOC_TYPE_VERSION, 4);
        put_uint(o, id::DOC_TYPE_READ_VERSION, 2);
    });
}

/// One fragment as a Matroska chunk; `tail` adds the trailing tags (millis behind now
/// and the continuation token) GetMedia writes.
pub fn chunk(f: &Stored, tail: Option<(i64, &str)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(f.blocks.len() + f.meta.tracks.len() + 512);
    ebml_header(&mut out);
    ebml::put_id(&mut out, id::SEGMENT);
    ebml::put_size(&mut out, ebml::UNKNOWN_SIZE);
    put_master(&mut out, id::INFO, |o| {
        put_uint(o, id::TIMECODE_SCALE, f.meta.scale);
        put_str(o, id::MUXING_APP, "Freshet");
        put_str(o, id::WRITING_APP, "Freshet");
    });
    out.extend_from_slice(&f.meta.tracks);
    simple_tags(
        &mut out,
        &[
            (
                "AWS_KINESISVIDEO_FRAGMENT_NUMBER",
                fragment_number(f.offset),
            ),
            ("AWS_KINESISVIDEO_SERVER_TIMESTAMP", secs(f.server_ms)),
            (
                "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP",
                secs(f.meta.producer_ms),
            ),
        ],
    );
    let mut tc = Vec::new();
    put_uint(&mut tc, id::TIMECODE, f.meta.cluster_timecode);
    ebml::put_id(&mut out, id::CLUSTER);
    ebml::put_size(&mut out, (tc.len() + f.blocks.len()) as u64);
    out.extend_from_slice(&tc);
    out.extend_from_slice(&f.blocks);
    if let Some((behind, token)) = tail {
        simple_tags(
            &mut out,
            &[
                ("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", behind.to_string()),
                ("AWS_KINESISVIDEO_CONTINUATION_TOKEN", token.to_string()),
            ],
        );
    }
    out
}

/// What reading at an offset found.
pub enum At {
    /// A whole fragment.
    Fragment(Stored),
    /// No fragment starts here: go on from this offset.
    Skip(u64),
    /// Nothing readable yet.
    End,
}

/// Reads at `offset` of a stream's log.
pub fn read_at(store: &Store, s: &VStream, offset: u64) -> Result<At, ApiError> {
    if let Some(f) = store.read_fragment(&s.log, offset)? {
        return Ok(At::Fragment(f));
    }
    let got = store
        .engine
        .read(&s.log, SHARD, offset, 1, 1)
        .map_err(|e| error::internal(format!("storage: {e}")))?;
    Ok(match got.records.first() {
        Some(r) if r.sequence_number.offset > offset => At::Skip(r.sequence_number.offset),
        Some(_) => At::Skip(offset + 1),
        None => At::End,
    })
}

/// Where a GetMedia starts: a log offset.
fn start(ctx: &Ctx, s: &VStream, sel: &Value) -> Result<u64, ApiError> {
    let kind = opt_str(sel, "StartSelectorType")?.ok_or_else(|| {
        invalid("1 validation error detected: Value null at 'startSelector.startSelectorType' failed to satisfy constraint: Member must not be null")
    })?;
    let now = now_ms();
    let end = ctx.store.log_end(&s.log)?;
    let retained = s.retained(now);
    let first_where = |f: &dyn Fn(&crate::store::Entry) -> bool| {
        retained.iter().find(|e| f(e)).map_or(end, |e| e.offset)
    };
    match kind {
        "NOW" => Ok(end),
        "EARLIEST" => Ok(retained.first().map_or(end, |e| e.offset)),
        "FRAGMENT_NUMBER" => {
            let n = opt_str(sel, "AfterFragmentNumber")?.ok_or_else(|| {
                invalid("AfterFragmentNumber is required when the StartSelectorType is FRAGMENT_NUMBER.")
            })?;
            let off = parse_fragment_number(n)
                .filter(|o| retained.iter().any(|e| e.offset == *o))
                .ok_or_else(|| error::not_found(format!("The fragment {n} is not found.")))?;
            Ok(off)
        }
        "CONTINUATION_TOKEN" => {
            let t = opt_str(sel, "ContinuationToken")?.ok_or_else(|| {
                invalid("ContinuationToken is required when the StartSelectorType is CONTINUATION_TOKEN.")
            })?;
            let off = parse_fragment_number(t)
                .ok_or_else(|| invalid(format!("The continuation token {t} is not valid.")))?;
            Ok(first_where(&|e| e.offset > off).max(off.saturating_add(1).min(end)))
        }
        "SERVER_TIMESTAMP" | "PRODUCER_TIMESTAMP" => {
            let ts = opt_ts(sel, "StartTimestamp")?.ok_or_else(|| {
                invalid(format!(
                    "StartTimestamp is required when the StartSelectorType is {kind}."
                ))
            })?;
            if kind == "SERVER_TIMESTAMP" {
                Ok(first_where(&|e| e.server_ms >= ts))
            } else {
                Ok(first_where(&|e| {
                    e.producer_ms.saturating_add(e.duration_ms as i64) > ts
                }))
            }
        }
        other => Err(invalid(format!(
            "1 validation error detected: Value '{other}' at 'startSelector.startSelectorType' failed to satisfy constraint: Member must satisfy enum value set: [FRAGMENT_NUMBER, SERVER_TIMESTAMP, PRODUCER_TIMESTAMP, NOW, EARLIEST, CONTINUATION_TOKEN]"
        ))),
    }
}

/// Answers GetMedia.
pub async fn get_media(ctx: Ctx, call: Call) -> Reply {
    let prepared = (|| {
        let v = crate::params::body(&call.body)?;
        let s = crate::control::resolve(&ctx, &v)?;
        let sel = v
            .get("StartSelector")
            .filter(|x| x.is_object())
            .ok_or_else(|| {
                invalid("1 validation error detected: Value null at 'startSelector' failed to satisfy constraint: Member must not be null")
            })?;
        let at = start(&ctx, &s, sel)?;
        Ok::<_, ApiError>((s, at))
    })();
    let (s, at) = match prepared {
        Ok(x) => x,
        Err(e) => return Reply::Error(e),
    };
    let watch = match ctx.store.engine.watch_shard(&s.log, SHARD) {
        Ok(w) => w,
        Err(e) => return Reply::Error(error::internal(format!("storage: {e}"))),
    };
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(async move {
        let _held = call;
        tail(ctx, s, at, watch, tx).await;
    });
    Reply::Stream {
        content_type: MKV,
        body: Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)),
    }
}

async fn tail(
    ctx: Ctx,
    s: Arc<VStream>,
    mut at: u64,
    mut watch: tokio::sync::watch::Receiver<u64>,
    tx: mpsc::Sender<Bytes>,
) {
    loop {
        if s.deleted.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        // Mark the watch seen before reading: a put landing after the read wakes us.
        watch.borrow_and_update();
        match read_at(&ctx.store, &s, at) {
            Ok(At::Fragment(f)) => {
                let newest = s
                    .index
                    .read()
                    .ok()
                    .and_then(|i| i.last().map(|e| e.server_ms))
                    .unwrap_or(f.server_ms);
                let behind = (newest - f.server_ms).max(0);
                let token = fragment_number(f.offset);
                let bytes = chunk(&f, Some((behind, &token)));
                at = f.offset + u64::from(f.parts);
                if tx.send(Bytes::from(bytes)).await.is_err() {
                    return;
                }
            }
            Ok(At::Skip(next)) => at = next,
            Ok(At::End) => {
                match tokio::time::timeout(ctx.cfg.get_media_idle, watch.changed()).await {
                    Ok(Ok(())) => {}
                    // Quiet for a while, or the stream is gone: end the reply.
                    Ok(Err(_)) | Err(_) => return,
                }
            }
            Err(e) => {
                tracing::warn!(stream = %s.log, error = %e.message, "GetMedia: a read failed");
                return;
            }
        }
    }
}
