//! Matroska as PutMedia receives it: an incremental demuxer that takes the body's
//! chunks as they come and yields whole clusters (one fragment each) with the segment's
//! timestamp scale and tracks; and the block and track parsing playback needs.
//!
//! It never panics: every length is checked against the bytes present, and a cluster
//! (known or unknown size) may grow only up to a limit.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};

use crate::ebml::{self, id, HeaderError, UNKNOWN_SIZE};

/// The largest EBML header, Info or Tracks element taken whole.
const MAX_HEADER_ELEMENT: u64 = 1 << 20;

/// The timestamp scale when the Info element names none (1 ms).
pub const DEFAULT_SCALE: u64 = 1_000_000;

/// One track of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    /// TrackNumber.
    pub number: u64,
    /// TrackType (1 video, 2 audio).
    pub kind: u64,
    /// CodecID (`V_MPEG4/ISO/AVC`).
    pub codec_id: String,
    /// CodecPrivate (for H.264, the AVCDecoderConfigurationRecord).
    pub codec_private: Option<Bytes>,
    /// DefaultDuration, ns.
    pub default_duration: Option<u64>,
    /// PixelWidth and PixelHeight.
    pub size: Option<(u32, u32)>,
}

/// A segment's header as fragments carry it: the timestamp scale and the Tracks
/// element (raw, written back as is) with its tracks parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentHeader {
    /// TimestampScale, ns per tick.
    pub scale: u64,
    /// The whole Tracks element, header included.
    pub tracks_raw: Bytes,
    /// Its tracks.
    pub tracks: Vec<Track>,
}

/// One cluster read from the stream.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The segment header in force.
    pub header: Arc<SegmentHeader>,
    /// The cluster's Timestamp, in ticks of the scale.
    pub timecode: u64,
    /// Its SimpleBlock and BlockGroup elements, raw and in order.
    pub blocks: Bytes,
    /// Its bytes as received.
    pub size: usize,
}

/// Why the stream is not Matroska PutMedia can take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemuxError {
    /// Not valid Matroska (ErrorId 4006).
    Invalid(String),
    /// A cluster above the fragment size limit (ErrorId 4001).
    TooLarge,
}

enum State {
    /// Between top-level elements.
    Top,
    /// Skipping this many bytes of an element.
    Skip(u64),
    /// Inside a cluster.
    Cluster(ClusterAcc),
}

struct ClusterAcc {
    /// Bytes of its data still to come, or `None` for an unknown size.
    remaining: Option<u64>,
    timecode: Option<u64>,
    blocks: BytesMut,
    size: usize,
}

/// The incremental demuxer.
pub struct Demuxer {
    buf: BytesMut,
    state: State,
    scale: u64,
    header: Option<Arc<SegmentHeader>>,
    limit: usize,
}

fn invalid(what: impl Into<String>) -> DemuxError {
    DemuxError::Invalid(what.into())
}

fn is_top_level(id: u32) -> bool {
    matches!(
        id,
        id::EBML
            | id::SEGMENT
            | id::SEEK_HEAD
            | id::INFO
            | id::TRACKS
            | id::CLUSTER
            | id::CUES
            | id::CHAPTERS
            | id::ATTACHMENTS
            | id::TAGS
    )
}

impl Demuxer {
    /// A demuxer taking clusters of at most `limit` bytes.
    pub fn new(limit: usize) -> Demuxer {
        Demuxer {
            buf: BytesMut::new(),
            state: State::Top,
            scale: DEFAULT_SCALE,
            header: None,
            limit,
        }
    }

    /// Adds received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes held, waiting for the rest of an element.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Whether a cluster has begun and not ended.
    pub fn in_cluster(&self) -> bool {
        matches!(self.state, State::Cluster(_))
    }

    /// The next whole cluster, `Ok(None)` when more bytes are needed.
    pub fn next_cluster(&mut self) -> Result<Option<Cluster>, DemuxError> {
        loop {
            match std::mem::replace(&mut self.state, State::Top) {
                State::Skip(n) => {
                    let take = usize::try_from(n).unwrap_or(usize::MAX).min(self.buf.len());
                    self.buf.advance(take);
                    let left = n - take as u64;
                    if left > 0 {
                        self.state = State::Skip(left);
                        return Ok(None);
                    }
                }
                State::Cluster(acc) => match self.cluster_step(acc)? {
                    Step::More(acc) => {
                        self.state = State::Cluster(acc);
                        return Ok(None);
                    }
                    Step::Continue(acc) => self.state = State::Cluster(acc),
                    Step::Done(c) => return Ok(Some(c)),
                },
                State::Top => {
                    if !self.top_step()? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Ends the stream: an unknown-size cluster in progress is complete; anything else
    /// half received is dropped.
    pub fn finish(&mut self) -> Result<Option<Cluster>, DemuxError> {
        match std::mem::replace(&mut self.state, State::Top) {
            State::Cluster(acc) if acc.remaining.is_none() && self.buf.is_empty() => {
                self.complete(acc).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn header_at_start(&self) -> Result<Option<ebml::Header>, DemuxError> {
        match ebml::read_header(&self.buf) {
            Ok(h) => Ok(Some(h)),
            Err(HeaderError::Incomplete) => Ok(None),
            Err(HeaderError::Invalid) => Err(invalid("an element header is not valid EBML")),
        }
    }

    /// Takes a whole element of at most `max` bytes: `None` until it is all here.
    fn take_whole(&mut self, h: &ebml::Header, max: u64) -> Result<Option<Bytes>, DemuxError> {
        if h.size == UNKNOWN_SIZE || h.size > max {
            return Err(invalid(format!(
                "element 0x{:X} has an unknown or too large size",
                h.id
            )));
        }
        let total = h.len + h.size as usize;
        if self.buf.len() < total {
            return Ok(None);
        }
        Ok(Some(self.buf.split_to(total).freeze()))
    }

    /// One top-level step; `false` when more bytes are needed.
    fn top_step(&mut self) -> Result<bool, DemuxError> {
        let Some(h) = self.header_at_start()? else {
            return Ok(false);
        };
        match h.id {
            id::SEGMENT => {
                self.buf.advance(h.len);
                self.scale = DEFAULT_SCALE;
            }
            id::EBML => {
                let Some(el) = self.take_whole(&h, 4096)? else {
                    return Ok(false);
                };
                check_ebml_header(el.get(h.len..).unwrap_or_default())?;
            }
            id::INFO => {
                let Some(el) = self.take_whole(&h, MAX_HEADER_ELEMENT)? else {
                    return Ok(false);
                };
                for child in ebml::children(el.get(h.len..).unwrap_or_default()) {
                    let (cid, data) = child.ok_or_else(|| invalid("a malformed Info element"))?;
                    if cid == id::TIMECODE_SCALE {
                        self.scale = ebml::read_uint(data)
                            .filter(|s| *s > 0)
                            .ok_or_else(|| invalid("TimestampScale is not a positive integer"))?;
                    }
                }
            }
            id::TRACKS => {
                let Some(el) = self.take_whole(&h, MAX_HEADER_ELEMENT)? else {
                    return Ok(false);
                };
                let tracks = parse_tracks(el.get(h.len..).unwrap_or_default())?;
                self.header = Some(Arc::new(SegmentHeader {
                    scale: self.scale,
                    tracks_raw: el,
                    tracks,
                }));
            }
            id::CLUSTER => {
                if self.header.is_none() {
                    return Err(invalid("a Cluster came before the Tracks element"));
                }
                self.buf.advance(h.len);
                self.state = State::Cluster(ClusterAcc {
                    remaining: (h.size != UNKNOWN_SIZE).then_some(h.size),
                    timecode: None,
                    blocks: BytesMut::new(),
                    size: h.len,
                });
            }
            _ if h.size == UNKNOWN_SIZE => {
                return Err(invalid(format!(
                    "element 0x{:X} of unknown size where a top-level element belongs",
                    h.id
                )));
            }
            _ => {
                self.buf.advance(h.len);
                self.state = State::Skip(h.size);
            }
        }
        Ok(true)
    }

    fn cluster_step(&mut self, mut acc: ClusterAcc) -> Result<Step, DemuxError> {
        if acc.remaining == Some(0) {
            return self.complete(acc).map(Step::Done);
        }
        let Some(h) = self.header_at_start()? else {
            return Ok(Step::More(acc));
        };
        if acc.remaining.is_none() && is_top_level(h.id) {
            return self.complete(acc).map(Step::Done);
        }
        if h.size == UNKNOWN_SIZE {
            return Err(invalid("a Cluster child of unknown size"));
        }
        let total = (h.len as u64).saturating_add(h.size);
        if let Some(r) = acc.remaining {
            if total > r {
                return Err(invalid("a Cluster child runs past the Cluster's end"));
            }
        }
        if (acc.size as u64).saturating_add(total) > self.limit as u64 {
            return Err(DemuxError::TooLarge);
        }
        if (self.buf.len() as u64) < total {
            return Ok(Step::More(acc));
        }
        let el = self.buf.split_to(total as usize);
        acc.size += el.len();
        if let Some(r) = acc.remaining.as_mut() {
            *r -= total;
        }
        let data = el.get(h.len..).unwrap_or_default();
        match h.id {
            id::TIMECODE => {
                acc.timecode = Some(
                    ebml::read_uint(data)
                        .ok_or_else(|| invalid("a malformed Cluster Timestamp"))?,
                );
            }
            id::SIMPLE_BLOCK | id::BLOCK_GROUP => {
                if acc.timecode.is_none() {
                    return Err(invalid("a block came before the Cluster's Timestamp"));
                }
                let block = Block::parse_element(h.id, data)
                    .ok_or_else(|| invalid("a malformed SimpleBlock or BlockGroup"))?;
                if acc.blocks.is_empty() && !block.key {
                    return Err(invalid("the Cluster does not start with a key frame"));
                }
                acc.blocks.extend_from_slice(&el);
            }
            _ => {}
        }
        Ok(Step::Continue(acc))
    }

    fn complete(&mut self, acc: ClusterAcc) -> Result<Cluster, DemuxError> {
        let header = self
            .header
            .clone()
            .ok_or_else(|| invalid("a Cluster came before the Tracks element"))?;
        let timecode = acc
            .timecode
            .ok_or_else(|| invalid("a Cluster without a Timestamp"))?;
        Ok(Cluster {
            header,
            timecode,
            blocks: acc.blocks.freeze(),
            size: acc.size,
        })
    }
}

enum Step {
    More(ClusterAcc),
    Continue(ClusterAcc),
    Done(Cluster),
}

fn check_ebml_header(data: &[u8]) -> Result<(), DemuxError> {
    for child in ebml::children(data) {
        let (cid, v) = child.ok_or_else(|| invalid("a malformed EBML header"))?;
        if cid == id::DOC_TYPE {
            let doc = std::str::from_utf8(v)
                .unwrap_or_default()
                .trim_end_matches('\0');
            if doc != "matroska" && doc != "webm" {
                return Err(invalid(format!(
                    "DocType {doc:?} is neither matroska nor webm"
                )));
            }
        }
    }
    Ok(())
}

/// Parses the data of a Tracks element.
pub fn parse_tracks(data: &[u8]) -> Result<Vec<Track>, DemuxError> {
    let mut tracks = Vec::new();
    for child in ebml::children(data) {
        let (cid, entry) = child.ok_or_else(|| invalid("a malformed Tracks element"))?;
        if cid != id::TRACK_ENTRY {
            continue;
        }
        let mut t = Track {
            number: 0,
            kind: 0,
            codec_id: String::new(),
            codec_private: None,
            default_duration: None,
            size: None,
        };
        for field in ebml::children(entry) {
            let (fid, v) = field.ok_or_else(|| invalid("a malformed TrackEntry"))?;
            match fid {
                id::TRACK_NUMBER => t.number = ebml::read_uint(v).unwrap_or(0),
                id::TRACK_TYPE => t.kind = ebml::read_uint(v).unwrap_or(0),
                id::CODEC_ID => t.codec_id = String::from_utf8_lossy(v).into_owned(),
                id::CODEC_PRIVATE => t.codec_private = Some(Bytes::copy_from_slice(v)),
                id::DEFAULT_DURATION => t.default_duration = ebml::read_uint(v),
                id::VIDEO => {
                    let (mut w, mut h) = (0u32, 0u32);
                    for p in ebml::children(v).flatten() {
                        let n = ebml::read_uint(p.1).unwrap_or(0).min(u64::from(u32::MAX)) as u32;
                        match p.0 {
                            id::PIXEL_WIDTH => w = n,
                            id::PIXEL_HEIGHT => h = n,
                            _ => {}
                        }
                    }
                    t.size = Some((w, h));
                }
                _ => {}
            }
        }
        if t.number == 0 {
            return Err(invalid("a TrackEntry without a TrackNumber"));
        }
        tracks.push(t);
    }
    if tracks.is_empty() {
        return Err(invalid("the Tracks element holds no TrackEntry"));
    }
    Ok(tracks)
}

/// One block of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Its track.
    pub track: u64,
    /// Its timestamp relative to the cluster's, in ticks.
    pub timecode: i16,
    /// Whether it is a key frame.
    pub key: bool,
    /// Whether its frames are laced.
    pub laced: bool,
    /// BlockDuration, ticks.
    pub duration: Option<u64>,
    /// The frame data (after the block header).
    pub frame: Bytes,
}

impl Block {
    /// Parses a SimpleBlock's or BlockGroup's data.
    pub fn parse_element(element: u32, data: &[u8]) -> Option<Block> {
        match element {
            id::SIMPLE_BLOCK => Block::parse_body(data, true),
            id::BLOCK_GROUP => {
                let mut block = None;
                let mut referenced = false;
                let mut duration = None;
                for child in ebml::children(data) {
                    let (cid, v) = child?;
                    match cid {
                        id::BLOCK => block = Block::parse_body(v, false),
                        id::REFERENCE_BLOCK => referenced = true,
                        id::BLOCK_DURATION => duration = ebml::read_uint(v),
                        _ => {}
                    }
                }
                let mut b = block?;
                b.key = !referenced;
                b.duration = duration;
                Some(b)
            }
            _ => None,
        }
    }

    fn parse_body(data: &[u8], simple: bool) -> Option<Block> {
        let (track, n) = ebml::read_vint(data).ok()?;
        if track == UNKNOWN_SIZE {
            return None;
        }
        let rest = data.get(n..)?;
        let tc = i16::from_be_bytes([*rest.first()?, *rest.get(1)?]);
        let flags = *rest.get(2)?;
        Some(Block {
            track,
            timecode: tc,
            key: simple && flags & 0x80 != 0,
            laced: flags & 0x06 != 0,
            duration: None,
            frame: Bytes::copy_from_slice(rest.get(3..)?),
        })
    }
}

/// The blocks of raw SimpleBlock/BlockGroup elements (as a fragment stores them).
pub fn blocks(raw: &[u8]) -> impl Iterator<Item = Option<Block>> + '_ {
    ebml::children(raw).map(|c| c.and_then(|(cid, data)| Block::parse_element(cid, data)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebml::{put_element, put_master, put_str, put_uint};

    fn sample(cluster_tc: u64, unknown_cluster: bool) -> Vec<u8> {
        let mut out = Vec::new();
        put_master(&mut out, id::EBML, |o| put_str(o, id::DOC_TYPE, "matroska"));
        ebml::put_id(&mut out, id::SEGMENT);
        ebml::put_size(&mut out, UNKNOWN_SIZE);
        put_master(&mut out, id::INFO, |o| {
            put_uint(o, id::TIMECODE_SCALE, 1_000_000)
        });
        put_master(&mut out, id::TRACKS, |o| {
            put_master(o, id::TRACK_ENTRY, |t| {
                put_uint(t, id::TRACK_NUMBER, 1);
                put_str(t, id::CODEC_ID, "V_MPEG4/ISO/AVC");
            })
        });
        let mut body = Vec::new();
        put_uint(&mut body, id::TIMECODE, cluster_tc);
        put_element(&mut body, id::SIMPLE_BLOCK, &[0x81, 0, 0, 0x80, 1, 2, 3]);
        put_element(&mut body, id::SIMPLE_BLOCK, &[0x81, 0, 33, 0x00, 4, 5]);
        if unknown_cluster {
            ebml::put_id(&mut out, id::CLUSTER);
            ebml::put_size(&mut out, UNKNOWN_SIZE);
            out.extend_from_slice(&body);
        } else {
            put_element(&mut out, id::CLUSTER, &body);
        }
        out
    }

    #[test]
    fn byte_by_byte_gives_the_cluster() {
        for unknown in [false, true] {
            let bytes = sample(1000, unknown);
            let mut d = Demuxer::new(1 << 20);
            let mut got = Vec::new();
            for b in &bytes {
                d.push(&[*b]);
                while let Some(c) = d.next_cluster().unwrap_or_else(|e| panic!("{e:?}")) {
                    got.push(c);
                }
            }
            if let Some(c) = d.finish().unwrap_or_else(|e| panic!("{e:?}")) {
                got.push(c);
            }
            assert_eq!(got.len(), 1, "unknown size {unknown}");
            assert_eq!(got[0].timecode, 1000);
            let blocks: Vec<_> = blocks(&got[0].blocks).flatten().collect();
            assert_eq!(blocks.len(), 2);
            assert!(blocks[0].key && !blocks[1].key);
            assert_eq!(blocks[1].timecode, 33);
        }
    }

    #[test]
    fn garbage_is_invalid_not_a_panic() {
        let mut d = Demuxer::new(1 << 20);
        d.push(b"\x00this is not matroska");
        assert!(matches!(d.next_cluster(), Err(DemuxError::Invalid(_))));
    }

    #[test]
    fn a_cluster_above_the_limit_is_too_large() {
        let mut d = Demuxer::new(20);
        d.push(&sample(0, false));
        assert_eq!(d.next_cluster().err(), Some(DemuxError::TooLarge));
    }
}
