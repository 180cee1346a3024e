//! EBML, the binary format under Matroska: element ids and sizes as variable-length
//! integers, read without panicking on any input, and written back.

/// The size of an element whose end is not known (all value bits set).
pub const UNKNOWN_SIZE: u64 = u64::MAX;

/// Element ids this crate reads or writes.
pub mod id {
    /// EBML header.
    pub const EBML: u32 = 0x1A45_DFA3;
    /// EBMLVersion.
    pub const EBML_VERSION: u32 = 0x4286;
    /// EBMLReadVersion.
    pub const EBML_READ_VERSION: u32 = 0x42F7;
    /// EBMLMaxIDLength.
    pub const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
    /// EBMLMaxSizeLength.
    pub const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
    /// DocType.
    pub const DOC_TYPE: u32 = 0x4282;
    /// DocTypeVersion.
    pub const DOC_TYPE_VERSION: u32 = 0x4287;
    /// DocTypeReadVersion.
    pub const DOC_TYPE_READ_VERSION: u32 = 0x4285;
    /// Segment.
    pub const SEGMENT: u32 = 0x1853_8067;
    /// SeekHead.
    pub const SEEK_HEAD: u32 = 0x114D_9B74;
    /// Info.
    pub const INFO: u32 = 0x1549_A966;
    /// TimestampScale.
    pub const TIMECODE_SCALE: u32 = 0x2AD7B1;
    /// MuxingApp.
    pub const MUXING_APP: u32 = 0x4D80;
    /// WritingApp.
    pub const WRITING_APP: u32 = 0x5741;
    /// Tracks.
    pub const TRACKS: u32 = 0x1654_AE6B;
    /// TrackEntry.
    pub const TRACK_ENTRY: u32 = 0xAE;
    /// TrackNumber.
    pub const TRACK_NUMBER: u32 = 0xD7;
    /// TrackType.
    pub const TRACK_TYPE: u32 = 0x83;
    /// CodecID.
    pub const CODEC_ID: u32 = 0x86;
    /// CodecPrivate.
    pub const CODEC_PRIVATE: u32 = 0x63A2;
    /// DefaultDuration (ns).
    pub const DEFAULT_DURATION: u32 = 0x23E383;
    /// Video.
    pub const VIDEO: u32 = 0xE0;
    /// PixelWidth.
    pub const PIXEL_WIDTH: u32 = 0xB0;
    /// PixelHeight.
    pub const PIXEL_HEIGHT: u32 = 0xBA;
    /// Cluster.
    pub const CLUSTER: u32 = 0x1F43_B675;
    /// Cluster Timestamp.
    pub const TIMECODE: u32 = 0xE7;
    /// SimpleBlock.
    pub const SIMPLE_BLOCK: u32 = 0xA3;
    /// BlockGroup.
    pub const BLOCK_GROUP: u32 = 0xA0;
    /// Block.
    pub const BLOCK: u32 = 0xA1;
    /// BlockDuration.
    pub const BLOCK_DURATION: u32 = 0x9B;
    /// ReferenceBlock.
    pub const REFERENCE_BLOCK: u32 = 0xFB;
    /// Cues.
    pub const CUES: u32 = 0x1C53_BB6B;
    /// Chapters.
    pub const CHAPTERS: u32 = 0x1043_A770;
    /// Attachments.
    pub const ATTACHMENTS: u32 = 0x1941_A469;
    /// Tags.
    pub const TAGS: u32 = 0x1254_C367;
    /// Tag.
    pub const TAG: u32 = 0x7373;
    /// Targets.
    pub const TARGETS: u32 = 0x63C0;
    /// SimpleTag.
    pub const SIMPLE_TAG: u32 = 0x67C8;
    /// TagName.
    pub const TAG_NAME: u32 = 0x45A3;
    /// TagString.
    pub const TAG_STRING: u32 = 0x4487;
}

/// An element header: its id, its size (or [`UNKNOWN_SIZE`]) and how many bytes the
/// header took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The id, marker bits included (as ids are written).
    pub id: u32,
    /// The data size, or [`UNKNOWN_SIZE`].
    pub size: u64,
    /// Bytes of id and size.
    pub len: usize,
}

/// Why bytes are not an element header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// More bytes are needed.
    Incomplete,
    /// Not EBML.
    Invalid,
}

/// Reads the id at the start of `b` (1 to 4 bytes, marker kept): (id, length).
pub fn read_id(b: &[u8]) -> Result<(u32, usize), HeaderError> {
    let first = *b.first().ok_or(HeaderError::Incomplete)?;
    let len = first.leading_zeros() as usize + 1;
    if len > 4 {
        return Err(HeaderError::Invalid);
    }
    let bytes = b.get(..len).ok_or(HeaderError::Incomplete)?;
    let id = bytes.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x));
    Ok((id, len))
}

/// Reads a variable-length integer at the start of `b` (1 to 8 bytes, marker removed):
/// (value, length); all value bits set reads as [`UNKNOWN_SIZE`].
pub fn read_vint(b: &[u8]) -> Result<(u64, usize), HeaderError> {
    let first = *b.first().ok_or(HeaderError::Incomplete)?;
    if first == 0 {
        return Err(HeaderError::Invalid);
    }
    let len = first.leading_zeros() as usize + 1;
    let bytes = b.get(..len).ok_or(HeaderError::Incomplete)?;
    let mask = if len >= 8 { 0 } else { 0xFFu8 >> len };
    let mut v = u64::from(first & mask);
    let mut all_ones = (first & mask) == mask;
    for &x in bytes.iter().skip(1) {
        v = (v << 8) | u64::from(x);
        all_ones &= x == 0xFF;
    }
    Ok((if all_ones { UNKNOWN_SIZE } else { v }, len))
}

/// Reads an element header at the start of `b`.
pub fn read_header(b: &[u8]) -> Result<Header, HeaderError> {
    let (id, il) = read_id(b)?;
    let (size, sl) = read_vint(b.get(il..).unwrap_or_default())?;
    Ok(Header {
        id,
        size,
        len: il + sl,
    })
}

/// Reads an unsigned integer element's data (0 to 8 bytes, big-endian).
pub fn read_uint(b: &[u8]) -> Option<u64> {
    if b.len() > 8 {
        return None;
    }
    Some(b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
}

/// The children of a master element's data, each as (id, data); stops at the first
/// malformed or unknown-size child (`None` in its place).
pub fn children(mut b: &[u8]) -> impl Iterator<Item = Option<(u32, &[u8])>> {
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || b.is_empty() {
            return None;
        }
        let h = match read_header(b) {
            Ok(h) if h.size != UNKNOWN_SIZE => h,
            _ => {
                failed = true;
                return Some(None);
            }
        };
        let end = usize::try_from(h.size)
            .ok()
            .and_then(|s| h.len.checked_add(s));
        match end.and_then(|e| b.get(h.len..e).map(|d| (d, e))) {
            Some((data, e)) => {
                b = b.get(e..).unwrap_or_default();
                Some(Some((h.id, data)))
            }
            None => {
                failed = true;
                Some(None)
            }
        }
    })
}

/// Appends an element id.
pub fn put_id(out: &mut Vec<u8>, id: u32) {
    let bytes = id.to_be_bytes();
    let skip = (id.leading_zeros() / 8) as usize;
    out.extend_from_slice(bytes.get(skip.min(3)..).unwrap_or(&bytes));
}

/// Appends a size as an 8-byte variable-length integer ([`UNKNOWN_SIZE`] as such).
pub fn put_size(out: &mut Vec<u8>, size: u64) {
    if size == UNKNOWN_SIZE || size >= (1 << 56) - 1 {
        out.extend_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        return;
    }
    let mut bytes = size.to_be_bytes();
    bytes[0] = 0x01;
    out.extend_from_slice(&bytes);
}

/// Appends an element with `data`.
pub fn put_element(out: &mut Vec<u8>, id: u32, data: &[u8]) {
    put_id(out, id);
    put_size(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// Appends an unsigned integer element (8 bytes).
pub fn put_uint(out: &mut Vec<u8>, id: u32, v: u64) {
    put_element(out, id, &v.to_be_bytes());
}

/// Appends a string element.
pub fn put_str(out: &mut Vec<u8>, id: u32, s: &str) {
    put_element(out, id, s.as_bytes());
}

/// Appends a master element whose children `fill` writes.
pub fn put_master(out: &mut Vec<u8>, id: u32, fill: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    fill(&mut inner);
    put_element(out, id, &inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_writes() {
        let mut out = Vec::new();
        put_uint(&mut out, id::TIMECODE_SCALE, 1_000_000);
        let h = read_header(&out).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(h.id, id::TIMECODE_SCALE);
        assert_eq!(h.size, 8);
        assert_eq!(read_uint(&out[h.len..]), Some(1_000_000));
        let mut u = Vec::new();
        put_size(&mut u, UNKNOWN_SIZE);
        assert_eq!(read_vint(&u), Ok((UNKNOWN_SIZE, 8)));
        assert_eq!(read_vint(&[0x81]), Ok((1, 1)));
        assert_eq!(read_vint(&[0xFF]), Ok((UNKNOWN_SIZE, 1)));
        assert_eq!(read_vint(&[0x40]), Err(HeaderError::Incomplete));
        assert_eq!(read_vint(&[0x00]), Err(HeaderError::Invalid));
    }
}
