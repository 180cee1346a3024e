//! MP4 from stored H.264 fragments, without re-encoding: Matroska's `V_MPEG4/ISO/AVC`
//! frames are already length-prefixed NAL units and its CodecPrivate is the
//! AVCDecoderConfigurationRecord, so both go into MP4 boxes as they are. Fragmented MP4
//! (an init segment, then `moof`+`mdat` per fragment) for HLS; a plain MP4 (one `moov`
//! with the sample tables, one `mdat`) for GetClip.
//!
//! Frames are taken in block order as decoding order, which holds for streams without
//! B-frames (what Kinesis Video's producers send by default).

use bytes::Bytes;
use freshet_protocol::error::ApiError;

use crate::error;
use crate::fragment::Stored;
use crate::mkv::{self, Track};

/// The media timescale (ticks per second).
pub const TIMESCALE: u32 = 90_000;

/// H.264 in Matroska.
pub const AVC: &str = "V_MPEG4/ISO/AVC";

/// One frame.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Presentation time, [`TIMESCALE`] ticks since the epoch.
    pub time: u64,
    /// Duration, ticks.
    pub duration: u32,
    /// Whether it is a key frame.
    pub key: bool,
    /// The frame.
    pub data: Bytes,
}

/// The H.264 video track of a fragment, checked as Kinesis Video does for playback.
pub fn video_track(f: &Stored) -> Result<Track, ApiError> {
    let data = f
        .meta
        .tracks
        .get(crate::ebml::read_header(&f.meta.tracks).map_or(0, |h| h.len)..)
        .unwrap_or_default();
    let tracks = mkv::parse_tracks(data).map_err(|_| {
        error::invalid_codec_private("The Tracks element of the stream's fragments is not valid.")
    })?;
    let track = tracks
        .into_iter()
        .find(|t| t.kind == 1 || t.codec_id.starts_with("V_"))
        .ok_or_else(|| error::unsupported_media("The stream has no video track."))?;
    if track.codec_id != AVC {
        return Err(error::unsupported_media(format!(
            "The codec {} is not supported for playback: only H.264 ({AVC}) is.",
            track.codec_id
        )));
    }
    let cp = track
        .codec_private
        .as_ref()
        .ok_or_else(error::missing_codec_private)?;
    if cp.len() < 7 || cp.first() != Some(&1) {
        return Err(error::invalid_codec_private(
            "The codec private data is not an AVCDecoderConfigurationRecord (AVCC format).",
        ));
    }
    Ok(track)
}

/// The RFC 6381 codec string (`avc1.42C01E`).
pub fn codec_string(track: &Track) -> String {
    let cp = track.codec_private.as_deref().unwrap_or_default();
    match (cp.get(1), cp.get(2), cp.get(3)) {
        (Some(p), Some(c), Some(l)) => format!("avc1.{p:02X}{c:02X}{l:02X}"),
        _ => "avc1".into(),
    }
}

fn to_ticks(ns: u128) -> u64 {
    (ns * u128::from(TIMESCALE) / 1_000_000_000) as u64
}

/// The frames of `track` in a fragment.
pub fn samples(f: &Stored, track: &Track) -> Result<Vec<Sample>, ApiError> {
    let scale = u128::from(f.meta.scale);
    let mut out: Vec<Sample> = Vec::new();
    for b in mkv::blocks(&f.blocks) {
        let b = b.ok_or_else(|| error::invalid_frame("A block of the fragment is not valid."))?;
        if b.track != track.number {
            continue;
        }
        if b.laced {
            return Err(error::invalid_frame(
                "Laced frames are not supported for playback.",
            ));
        }
        let ticks = i128::from(f.meta.cluster_timecode) + i128::from(b.timecode);
        let time = to_ticks(ticks.max(0) as u128 * scale);
        out.push(Sample {
            time,
            duration: 0,
            key: b.key,
            data: b.frame,
        });
    }
    let default = track
        .default_duration
        .map(|d| to_ticks(u128::from(d)) as u32)
        .unwrap_or(TIMESCALE / 30);
    let n = out.len();
    for i in 0..n {
        let next = out.get(i + 1).map(|s| s.time);
        if let Some(s) = out.get_mut(i) {
            s.duration = match next {
                Some(t) if t > s.time => (t - s.time).min(u64::from(u32::MAX)) as u32,
                _ => default,
            };
        }
    }
    Ok(out)
}

fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(&((body.len() + 8) as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
    out
}

fn full(kind: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(body.len() + 4);
    b.push(version);
    b.extend_from_slice(&flags.to_be_bytes()[1..]);
    b.extend_from_slice(body);
    boxed(kind, &b)
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

fn be32s(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_be_bytes()).collect()
}

fn mvhd(duration_ms: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(be32s(&[0, 0, 1000, duration_ms, 0x0001_0000]));
    b.extend_from_slice(&0x0100u16.to_be_bytes());
    b.extend_from_slice(&[0; 10]);
    b.extend(be32s(&MATRIX));
    b.extend_from_slice(&[0; 24]);
    b.extend(be32s(&[2]));
    full(b"mvhd", 0, 0, &b)
}

fn avc1(track: &Track) -> Vec<u8> {
    let (w, h) = track.size.unwrap_or((0, 0));
    let mut b = vec![0u8; 6];
    b.extend_from_slice(&1u16.to_be_bytes());
    b.extend_from_slice(&[0; 16]);
    b.extend_from_slice(&(w.min(0xFFFF) as u16).to_be_bytes());
    b.extend_from_slice(&(h.min(0xFFFF) as u16).to_be_bytes());
    b.extend(be32s(&[0x0048_0000, 0x0048_0000, 0]));
    b.extend_from_slice(&1u16.to_be_bytes());
    b.extend_from_slice(&[0; 32]);
    b.extend_from_slice(&0x0018u16.to_be_bytes());
    b.extend_from_slice(&(-1i16).to_be_bytes());
    b.extend(boxed(
        b"avcC",
        track.codec_private.as_deref().unwrap_or_default(),
    ));
    boxed(b"avc1", &b)
}

/// The sample tables of a plain MP4, or empty ones for fragmented MP4.
struct Tables<'a> {
    samples: &'a [Sample],
    chunk_offset: u64,
}

fn trak(track: &Track, duration: u64, tables: Option<&Tables<'_>>) -> Vec<u8> {
    let (w, h) = track.size.unwrap_or((0, 0));
    let duration_ms = (duration * 1000 / u64::from(TIMESCALE)).min(u64::from(u32::MAX)) as u32;
    let mut tkhd = Vec::new();
    tkhd.extend(be32s(&[0, 0, 1, 0, duration_ms]));
    tkhd.extend_from_slice(&[0; 8]);
    tkhd.extend_from_slice(&[0; 8]);
    tkhd.extend(be32s(&MATRIX));
    tkhd.extend(be32s(&[w << 16, h << 16]));
    let mut mdhd = Vec::new();
    mdhd.extend(be32s(&[
        0,
        0,
        TIMESCALE,
        duration.min(u64::from(u32::MAX)) as u32,
    ]));
    mdhd.extend_from_slice(&0x55C4u16.to_be_bytes());
    mdhd.extend_from_slice(&[0; 2]);
    let mut hdlr = vec![0u8; 4];
    hdlr.extend_from_slice(b"vide");
    hdlr.extend_from_slice(&[0; 12]);
    hdlr.extend_from_slice(b"VideoHandler\0");
    let stsd = full(b"stsd", 0, 0, &cat(&[be32s(&[1]), avc1(track)]));
    let stbl = match tables {
        None => cat(&[
            stsd,
            full(b"stts", 0, 0, &be32s(&[0])),
            full(b"stsc", 0, 0, &be32s(&[0])),
            full(b"stsz", 0, 0, &be32s(&[0, 0])),
            full(b"stco", 0, 0, &be32s(&[0])),
        ]),
        Some(t) => {
            let mut runs: Vec<(u32, u32)> = Vec::new();
            for s in t.samples {
                match runs.last_mut() {
                    Some((n, d)) if *d == s.duration => *n += 1,
                    _ => runs.push((1, s.duration)),
                }
            }
            let mut stts = be32s(&[runs.len() as u32]);
            for (n, d) in runs {
                stts.extend(be32s(&[n, d]));
            }
            let keys: Vec<u32> = t
                .samples
                .iter()
                .enumerate()
                .filter(|(_, s)| s.key)
                .map(|(i, _)| i as u32 + 1)
                .collect();
            let mut stss = be32s(&[keys.len() as u32]);
            stss.extend(be32s(&keys));
            let n = t.samples.len() as u32;
            let mut stsz = be32s(&[0, n]);
            stsz.extend(be32s(
                &t.samples
                    .iter()
                    .map(|s| s.data.len() as u32)
                    .collect::<Vec<_>>(),
            ));
            let mut co64 = be32s(&[1]);
            co64.extend_from_slice(&t.chunk_offset.to_be_bytes());
            cat(&[
                stsd,
                full(b"stts", 0, 0, &stts),
                full(b"stss", 0, 0, &stss),
                full(b"stsc", 0, 0, &be32s(&[1, 1, n, 1])),
                full(b"stsz", 0, 0, &stsz),
                full(b"co64", 0, 0, &co64),
            ])
        }
    };
    let dref = full(
        b"dref",
        0,
        0,
        &cat(&[be32s(&[1]), full(b"url ", 0, 1, &[])]),
    );
    let minf = boxed(
        b"minf",
        &cat(&[
            full(b"vmhd", 0, 1, &[0; 8]),
            boxed(b"dinf", &dref),
            boxed(b"stbl", &stbl),
        ]),
    );
    let mdia = boxed(
        b"mdia",
        &cat(&[full(b"mdhd", 0, 0, &mdhd), full(b"hdlr", 0, 0, &hdlr), minf]),
    );
    boxed(b"trak", &cat(&[full(b"tkhd", 0, 3, &tkhd), mdia]))
}

/// The init segment of fragmented MP4 for `track`.
pub fn init_segment(track: &Track) -> Vec<u8> {
    let ftyp = boxed(b"ftyp", b"iso5\0\0\x02\0iso5iso6mp41");
    let trex = full(b"trex", 0, 0, &be32s(&[1, 1, 0, 0, 0]));
    let moov = boxed(
        b"moov",
        &cat(&[mvhd(0), trak(track, 0, None), boxed(b"mvex", &trex)]),
    );
    cat(&[ftyp, moov])
}

/// One media segment (`moof` + `mdat`) of fragmented MP4.
pub fn media_segment(sequence: u32, samples: &[Sample]) -> Vec<u8> {
    let base = samples.first().map_or(0, |s| s.time);
    let moof_of = |data_offset: u32| {
        let mut trun = be32s(&[samples.len() as u32, data_offset]);
        for s in samples {
            let flags = if s.key { 0x0200_0000 } else { 0x0101_0000 };
            trun.extend(be32s(&[s.duration, s.data.len() as u32, flags]));
        }
        let traf = boxed(
            b"traf",
            &cat(&[
                full(b"tfhd", 0, 0x02_0000, &be32s(&[1])),
                full(b"tfdt", 1, 0, &base.to_be_bytes()),
                full(b"trun", 0, 0x0701, &trun),
            ]),
        );
        boxed(
            b"moof",
            &cat(&[full(b"mfhd", 0, 0, &be32s(&[sequence])), traf]),
        )
    };
    let size = moof_of(0).len() as u32;
    let moof = moof_of(size + 8);
    let data: Vec<u8> = samples
        .iter()
        .flat_map(|s| s.data.iter().copied())
        .collect();
    cat(&[moof, boxed(b"mdat", &data)])
}

/// A plain MP4 of `samples`.
pub fn plain(track: &Track, samples: &[Sample]) -> Vec<u8> {
    let ftyp = boxed(b"ftyp", b"isom\0\0\x02\0isomiso2avc1mp41");
    let duration: u64 = samples.iter().map(|s| u64::from(s.duration)).sum();
    let duration_ms = (duration * 1000 / u64::from(TIMESCALE)).min(u64::from(u32::MAX)) as u32;
    let moov_of = |offset: u64| {
        let t = Tables {
            samples,
            chunk_offset: offset,
        };
        boxed(
            b"moov",
            &cat(&[mvhd(duration_ms), trak(track, duration, Some(&t))]),
        )
    };
    let moov_len = moov_of(0).len() as u64;
    let moov = moov_of(ftyp.len() as u64 + moov_len + 8);
    let data: Vec<u8> = samples
        .iter()
        .flat_map(|s| s.data.iter().copied())
        .collect();
    cat(&[ftyp, moov, boxed(b"mdat", &data)])
}
