//! HLS and clips: GetHLSStreamingSessionURL hands out a URL whose session token (signed
//! with the service's key, kept in the catalog) names the stream, the playback mode and
//! the range; the master playlist, media playlist, init segment and media segments it
//! leads to are GETs the service authenticates by that token. GetClip answers a plain
//! MP4 of a time range.

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use freshet_protocol::error::ApiError;
use freshet_protocol::service::{Call, Reply};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::archive::{selector, By, Range};
use crate::error::{self, invalid};
use crate::fragment::{fragment_number, parse_fragment_number};
use crate::mp4;
use crate::params::{opt_i64, opt_str};
use crate::service::Ctx;
use crate::store::{now_ms, Entry, VStream};

/// Where the HLS endpoints live.
pub const PREFIX: &str = "/hls/v1/";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The largest clip, bytes (Kinesis Video's GetClip limit, 100 MB).
const MAX_CLIP_BYTES: u64 = 100 * 1024 * 1024;

/// The most fragments in a clip.
const MAX_CLIP_FRAGMENTS: usize = 200;

/// What a session token carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Session {
    /// Stream name.
    s: String,
    /// Its uid (a stream deleted and created again is another stream).
    u: u64,
    /// LIVE, LIVE_REPLAY or ON_DEMAND.
    m: String,
    /// Selects on producer timestamps.
    p: bool,
    /// Range start and end, ms.
    a: Option<i64>,
    b: Option<i64>,
    /// Expiry, ms.
    x: i64,
    /// Most fragments in a media playlist.
    n: usize,
}

fn sign(key: &[u8], payload: &str) -> String {
    let mac = Hmac::<Sha256>::new_from_slice(key).map(|mut m| {
        m.update(payload.as_bytes());
        m.finalize().into_bytes().to_vec()
    });
    B64.encode(mac.unwrap_or_default())
}

fn token(ctx: &Ctx, s: &Session) -> Result<String, ApiError> {
    let payload = B64.encode(serde_json::to_vec(s).map_err(|e| error::internal(e.to_string()))?);
    let key = ctx.store.session_key()?;
    Ok(format!("{payload}.{}", sign(&key, &payload)))
}

fn session_of(ctx: &Ctx, token: &str) -> Result<Session, ApiError> {
    let bad = || error::not_authorized("The SessionToken is not valid.");
    let (payload, sig) = token.split_once('.').ok_or_else(bad)?;
    let key = ctx.store.session_key()?;
    let want = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| bad())?;
    let mut want = want;
    want.update(payload.as_bytes());
    let sig = B64.decode(sig).map_err(|_| bad())?;
    want.verify_slice(&sig).map_err(|_| bad())?;
    let s: Session = B64
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(bad)?;
    if s.x < now_ms() {
        return Err(error::not_authorized("The SessionToken has expired."));
    }
    Ok(s)
}

fn no_fragments() -> ApiError {
    error::not_found("No fragments found in the stream for the streaming request.")
}

fn pick(s: &VStream, sess: &Session) -> (Vec<(usize, Entry)>, bool) {
    let all = s.retained(now_ms());
    let first_index = s
        .index
        .read()
        .ok()
        .map(|i| i.len().saturating_sub(all.len()))
        .unwrap_or(0);
    let ts = |e: &Entry| if sess.p { e.producer_ms } else { e.server_ms };
    let numbered = all
        .into_iter()
        .enumerate()
        .map(|(i, e)| (first_index + i, e));
    match sess.m.as_str() {
        "LIVE" => {
            let v: Vec<_> = numbered.collect();
            let from = v.len().saturating_sub(sess.n);
            (v.get(from..).unwrap_or_default().to_vec(), false)
        }
        _ => {
            let v: Vec<_> = numbered
                .filter(|(_, e)| sess.a.is_none_or(|a| ts(e) >= a))
                .filter(|(_, e)| sess.b.is_none_or(|b| ts(e) <= b))
                .take(sess.n)
                .collect();
            let ended = sess.m == "ON_DEMAND" || sess.b.is_some_and(|b| b <= now_ms());
            (v, ended)
        }
    }
}

fn stream_of(ctx: &Ctx, sess: &Session) -> Result<std::sync::Arc<VStream>, ApiError> {
    ctx.store
        .get(&sess.s)
        .filter(|s| s.meta().uid == sess.u)
        .ok_or_else(error::no_stream)
}

/// Answers GetHLSStreamingSessionURL.
pub fn session_url(ctx: &Ctx, body: &[u8], host: &str) -> Result<Value, ApiError> {
    let v = crate::params::body(body)?;
    let mode = opt_str(&v, "PlaybackMode")?.unwrap_or("LIVE");
    if !["LIVE", "LIVE_REPLAY", "ON_DEMAND"].contains(&mode) {
        return Err(invalid(format!(
            "1 validation error detected: Value '{mode}' at 'playbackMode' failed to satisfy constraint: Member must satisfy enum value set: [LIVE, LIVE_REPLAY, ON_DEMAND]"
        )));
    }
    match opt_str(&v, "ContainerFormat")? {
        None | Some("FRAGMENTED_MP4") => {}
        Some("MPEG_TS") => {
            return Err(invalid(
                "The MPEG_TS container format is not supported here; use FRAGMENTED_MP4.",
            ))
        }
        Some(other) => {
            return Err(invalid(format!(
                "1 validation error detected: Value '{other}' at 'containerFormat' failed to satisfy constraint: Member must satisfy enum value set: [FRAGMENTED_MP4, MPEG_TS]"
            )))
        }
    }
    let expires = opt_i64(&v, "Expires")?.unwrap_or(300);
    if !(300..=43_200).contains(&expires) {
        return Err(invalid(format!(
            "1 validation error detected: Value '{expires}' at 'expires' failed to satisfy constraint: Member must have value between 300 and 43200"
        )));
    }
    let max = opt_i64(&v, "MaxMediaPlaylistFragmentResults")?.unwrap_or(if mode == "ON_DEMAND" {
        1000
    } else {
        5
    });
    if !(1..=5000).contains(&max) {
        return Err(invalid(format!(
            "1 validation error detected: Value '{max}' at 'maxMediaPlaylistFragmentResults' failed to satisfy constraint: Member must have value between 1 and 5000"
        )));
    }
    let sel: Option<Range> = selector(v.get("HLSFragmentSelector"), "hLSFragmentSelector", false)?;
    let (by, a, b) = sel.unwrap_or((By::Server, None, None));
    let by = if v
        .get("HLSFragmentSelector")
        .and_then(|s| s.get("FragmentSelectorType"))
        .is_none()
    {
        By::Server
    } else {
        by
    };
    match mode {
        "LIVE" if a.is_some() || b.is_some() => {
            return Err(invalid(
                "The TimestampRange must not be set when the PlaybackMode is LIVE.",
            ))
        }
        "LIVE_REPLAY" if a.is_none() => {
            return Err(invalid(
                "The StartTimestamp is required when the PlaybackMode is LIVE_REPLAY.",
            ))
        }
        "ON_DEMAND" if a.is_none() || b.is_none() => return Err(invalid(
            "The StartTimestamp and EndTimestamp are required when the PlaybackMode is ON_DEMAND.",
        )),
        _ => {}
    }
    let s = crate::control::resolve(ctx, &v)?;
    let meta = s.meta();
    if meta.retention_hours == 0 {
        return Err(error::no_retention());
    }
    let sess = Session {
        s: meta.name.clone(),
        u: meta.uid,
        m: mode.to_string(),
        p: by == By::Producer,
        a,
        b,
        x: now_ms() + expires * 1000,
        n: max as usize,
    };
    let (picked, _) = pick(&s, &sess);
    let last = picked
        .last()
        .map(|(_, e)| e.offset)
        .ok_or_else(no_fragments)?;
    let f = ctx
        .store
        .read_fragment(&s.log, last)?
        .ok_or_else(no_fragments)?;
    mp4::video_track(&f)?;
    Ok(json!({
        "HLSStreamingSessionURL": format!(
            "{}://{host}{PREFIX}getHLSMasterPlaylist.m3u8?SessionToken={}",
            ctx.cfg.scheme,
            token(ctx, &sess)?
        )
    }))
}

fn query(call: &Call) -> BTreeMap<String, String> {
    call.uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The operations under [`PREFIX`].
pub const ENDPOINTS: &[&str] = &[
    "getHLSMasterPlaylist.m3u8",
    "getHLSMediaPlaylist.m3u8",
    "getMP4InitFragment.mp4",
    "getMP4MediaFragment.mp4",
];

/// The video track of a picked fragment (the master playlist reads the newest, the
/// init segment the oldest); `ResourceNotFoundException` when none was picked.
fn track_of(
    ctx: &Ctx,
    s: &VStream,
    picked: Option<&(usize, Entry)>,
) -> Result<crate::mkv::Track, ApiError> {
    let offset = picked.map(|(_, e)| e.offset).ok_or_else(no_fragments)?;
    let f = ctx
        .store
        .read_fragment(&s.log, offset)?
        .ok_or_else(no_fragments)?;
    mp4::video_track(&f)
}

/// Answers one HLS endpoint (blocking: reads fragments).
pub fn endpoint(ctx: &Ctx, call: &Call) -> Result<Reply, ApiError> {
    let q = query(call);
    let token = q
        .get("SessionToken")
        .ok_or_else(|| invalid("The SessionToken parameter is required."))?;
    let sess = session_of(ctx, token)?;
    let s = stream_of(ctx, &sess)?;
    let name = call.operation.strip_prefix(PREFIX).unwrap_or_default();
    let tq = format!("SessionToken={token}");
    match name {
        "getHLSMasterPlaylist.m3u8" => {
            let (picked, _) = pick(&s, &sess);
            let track = track_of(ctx, &s, picked.last())?;
            let bw = picked
                .iter()
                .map(|(_, e)| e.size * 8 * 1000 / e.duration_ms.max(1))
                .max()
                .unwrap_or(1);
            let res = track
                .size
                .map(|(w, h)| format!(",RESOLUTION={w}x{h}"))
                .unwrap_or_default();
            let body = format!(
                "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH={bw},CODECS=\"{}\"{res}\ngetHLSMediaPlaylist.m3u8?{tq}\n",
                mp4::codec_string(&track)
            );
            Ok(Reply::ok("application/vnd.apple.mpegurl", body))
        }
        "getHLSMediaPlaylist.m3u8" => {
            let (picked, ended) = pick(&s, &sess);
            let target = picked
                .iter()
                .map(|(_, e)| e.duration_ms.div_ceil(1000))
                .max()
                .unwrap_or(1)
                .max(1);
            let seq = picked.first().map_or(0, |(i, _)| *i);
            let mut body = format!(
                "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{seq}\n"
            );
            if sess.m == "ON_DEMAND" {
                body.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
            }
            body.push_str(&format!("#EXT-X-MAP:URI=\"getMP4InitFragment.mp4?{tq}\"\n"));
            for (_, e) in &picked {
                body.push_str(&format!(
                    "#EXTINF:{}.{:03},\ngetMP4MediaFragment.mp4?FragmentNumber={}&{tq}\n",
                    e.duration_ms / 1000,
                    e.duration_ms % 1000,
                    fragment_number(e.offset)
                ));
            }
            if ended {
                body.push_str("#EXT-X-ENDLIST\n");
            }
            Ok(Reply::ok("application/vnd.apple.mpegurl", body))
        }
        "getMP4InitFragment.mp4" => {
            let (picked, _) = pick(&s, &sess);
            let track = track_of(ctx, &s, picked.first())?;
            Ok(Reply::ok("video/mp4", mp4::init_segment(&track)))
        }
        "getMP4MediaFragment.mp4" => {
            let n = q
                .get("FragmentNumber")
                .ok_or_else(|| invalid("The FragmentNumber parameter is required."))?;
            let e = parse_fragment_number(n)
                .and_then(|o| s.entry(o))
                .ok_or_else(|| {
                    error::not_found(format!("The requested fragment {n} is not found."))
                })?;
            let f = ctx.store.read_fragment(&s.log, e.offset)?.ok_or_else(|| {
                error::not_found(format!("The requested fragment {n} is not found."))
            })?;
            let track = mp4::video_track(&f)?;
            let samples = mp4::samples(&f, &track)?;
            let seq = s
                .index
                .read()
                .ok()
                .and_then(|i| i.binary_search_by_key(&e.offset, |x| x.offset).ok())
                .unwrap_or(0) as u32;
            Ok(Reply::ok(
                "video/mp4",
                mp4::media_segment(seq.wrapping_add(1), &samples),
            ))
        }
        _ => Err(ApiError::custom(
            "UnknownOperationException",
            format!("No HLS endpoint {name}."),
            404,
        )),
    }
}

/// Answers GetClip.
pub fn clip(ctx: &Ctx, body: &[u8]) -> Result<Bytes, ApiError> {
    let v = crate::params::body(body)?;
    let sel = selector(v.get("ClipFragmentSelector"), "clipFragmentSelector", true)?;
    let Some((by, Some(a), Some(b))) = sel else {
        return Err(invalid(
            "The ClipFragmentSelector needs a TimestampRange with StartTimestamp and EndTimestamp.",
        ));
    };
    let s = crate::control::resolve(ctx, &v)?;
    if s.meta().retention_hours == 0 {
        return Err(error::no_retention());
    }
    let picked = crate::archive::select(&s, Some((by, Some(a), Some(b))));
    if picked.is_empty() {
        return Err(no_fragments());
    }
    if picked.len() > MAX_CLIP_FRAGMENTS
        || picked.iter().map(|e| e.size).sum::<u64>() > MAX_CLIP_BYTES
    {
        return Err(invalid(format!(
            "The clip would be larger than {MAX_CLIP_FRAGMENTS} fragments or 100 MB: choose a shorter range."
        )));
    }
    let mut track = None;
    let mut samples = Vec::new();
    for e in &picked {
        let Some(f) = ctx.store.read_fragment(&s.log, e.offset)? else {
            continue;
        };
        let t = mp4::video_track(&f)?;
        samples.extend(mp4::samples(&f, &t)?);
        track.get_or_insert(t);
    }
    let track = track.ok_or_else(no_fragments)?;
    // Across fragments each frame lasts until the next one starts.
    for i in 1..samples.len() {
        let next = samples[i].time;
        let s = &mut samples[i - 1];
        if next > s.time {
            s.duration = (next - s.time).min(u64::from(u32::MAX)) as u32;
        }
    }
    Ok(Bytes::from(mp4::plain(&track, &samples)))
}
