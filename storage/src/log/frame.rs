//! Batch frames: the unit written to a segment (see `storage/FORMAT.md`).
//!
//! ```text
//! 0   u32 LE  length   bytes of the frame after the crc field (24 + records)
//! 4   u32 LE  crc32    CRC-32 (IEEE, crc32fast) over those bytes
//! 8   u64 LE  base_offset
//! 16  u32 LE  record_count (>= 1)
//! 20  u32 LE  flags (0)
//! 24  i64 LE  arrival_ms
//! 32  records: u32 LE data_len, u16 LE key_len, key bytes (UTF-8), data bytes
//! ```

/// Bytes of the frame header, up to the first record.
pub const FRAME_HEADER: usize = 32;
/// Bytes of a record's own header.
pub const RECORD_HEADER: usize = 6;

/// One record as the writer hands it over.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    /// Partition key, UTF-8.
    pub partition_key: &'a str,
    /// Data blob.
    pub data: &'a [u8],
}

/// Bytes a record occupies in a frame.
pub fn record_size(r: &RecordRef<'_>) -> usize {
    RECORD_HEADER + r.partition_key.len() + r.data.len()
}

/// Encodes a frame into `out` (cleared first). `records` must not be empty and every
/// length must fit its field; the engine validates both before calling.
pub fn encode(out: &mut Vec<u8>, base_offset: u64, arrival_ms: i64, records: &[RecordRef<'_>]) {
    out.clear();
    let body: usize = records.iter().map(record_size).sum();
    out.reserve(FRAME_HEADER + body);
    out.extend_from_slice(&((FRAME_HEADER - 8 + body) as u32).to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&base_offset.to_le_bytes());
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&arrival_ms.to_le_bytes());
    for r in records {
        out.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(r.partition_key.len() as u16).to_le_bytes());
        out.extend_from_slice(r.partition_key.as_bytes());
        out.extend_from_slice(r.data);
    }
    let crc = crc32fast::hash(&out[8..]);
    out[4..8].copy_from_slice(&crc.to_le_bytes());
}

/// A validated frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Offset of the first record.
    pub base_offset: u64,
    /// Number of records.
    pub count: u32,
    /// Arrival time of every record of the batch.
    pub arrival_ms: i64,
    /// Total bytes of the frame, header included.
    pub total_len: usize,
}

impl FrameHeader {
    /// Offset after the last record of the frame.
    pub fn next_offset(&self) -> u64 {
        self.base_offset + u64::from(self.count)
    }
}

/// What lies at a position of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// A complete frame whose CRC and record layout check out.
    Frame(FrameHeader),
    /// Zeros or the end of the bytes: no frame was ever written here.
    End,
    /// Something that is not a valid frame; the reason says what failed.
    Invalid(&'static str),
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// Decodes and fully validates (length bounds, CRC, record layout) the frame starting
/// at the beginning of `buf`. Never panics, whatever the bytes.
pub fn decode(buf: &[u8]) -> Decoded {
    if buf.len() < 8 {
        return if buf.iter().all(|&b| b == 0) {
            Decoded::End
        } else {
            Decoded::Invalid("truncated frame header")
        };
    }
    let len = u32_at(buf, 0) as usize;
    let crc = u32_at(buf, 4);
    if len == 0 && crc == 0 {
        return Decoded::End;
    }
    if len < FRAME_HEADER - 8 {
        return Decoded::Invalid("frame length below the header size");
    }
    let total = match len.checked_add(8) {
        Some(t) if t <= buf.len() => t,
        _ => return Decoded::Invalid("frame extends past the end of the segment"),
    };
    if crc32fast::hash(&buf[8..total]) != crc {
        return Decoded::Invalid("CRC mismatch");
    }
    let base_offset = u64_at(buf, 8);
    let count = u32_at(buf, 16);
    let arrival_ms = u64_at(buf, 24) as i64;
    if count == 0 {
        return Decoded::Invalid("frame with zero records");
    }
    // Check the record layout adds up exactly, so readers can index without checks.
    let mut pos = FRAME_HEADER;
    for _ in 0..count {
        if pos + RECORD_HEADER > total {
            return Decoded::Invalid("record header past the frame end");
        }
        let data_len = u32_at(buf, pos) as usize;
        let key_len = usize::from(u16::from_le_bytes([buf[pos + 4], buf[pos + 5]]));
        let end = pos + RECORD_HEADER + key_len + data_len;
        if end > total {
            return Decoded::Invalid("record past the frame end");
        }
        if std::str::from_utf8(&buf[pos + RECORD_HEADER..pos + RECORD_HEADER + key_len]).is_err() {
            return Decoded::Invalid("partition key is not UTF-8");
        }
        pos = end;
    }
    if pos != total {
        return Decoded::Invalid("frame length disagrees with its records");
    }
    Decoded::Frame(FrameHeader {
        base_offset,
        count,
        arrival_ms,
        total_len: total,
    })
}

/// Positions of one record inside a validated frame buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSpan {
    /// Start of the partition key.
    pub key_start: usize,
    /// Length of the partition key.
    pub key_len: usize,
    /// Start of the data.
    pub data_start: usize,
    /// Length of the data.
    pub data_len: usize,
}

/// Iterates the records of a frame that [`decode`] accepted (`frame` is exactly the
/// frame's bytes).
pub fn records(frame: &[u8]) -> impl Iterator<Item = RecordSpan> + '_ {
    let mut pos = FRAME_HEADER;
    std::iter::from_fn(move || {
        if pos + RECORD_HEADER > frame.len() {
            return None;
        }
        let data_len = u32_at(frame, pos) as usize;
        let key_len = usize::from(u16::from_le_bytes([frame[pos + 4], frame[pos + 5]]));
        let span = RecordSpan {
            key_start: pos + RECORD_HEADER,
            key_len,
            data_start: pos + RECORD_HEADER + key_len,
            data_len,
        };
        pos = span.data_start + data_len;
        Some(span)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        let mut out = Vec::new();
        let recs = [
            RecordRef {
                partition_key: "a",
                data: b"hello",
            },
            RecordRef {
                partition_key: "ключ",
                data: b"",
            },
        ];
        encode(&mut out, 42, 1_700_000_000_000, &recs);
        let Decoded::Frame(h) = decode(&out) else {
            panic!("frame did not decode")
        };
        assert_eq!(h.base_offset, 42);
        assert_eq!(h.count, 2);
        assert_eq!(h.total_len, out.len());
        let spans: Vec<_> = records(&out).collect();
        assert_eq!(&out[spans[0].data_start..][..spans[0].data_len], b"hello");
        assert_eq!(
            &out[spans[1].key_start..][..spans[1].key_len],
            "ключ".as_bytes()
        );
    }

    #[test]
    fn zeros_are_end_and_flips_are_invalid() {
        assert_eq!(decode(&[0u8; 64]), Decoded::End);
        assert_eq!(decode(&[]), Decoded::End);
        let mut out = Vec::new();
        encode(
            &mut out,
            0,
            0,
            &[RecordRef {
                partition_key: "k",
                data: b"v",
            }],
        );
        for i in 0..out.len() * 8 {
            let mut bad = out.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(
                !matches!(decode(&bad), Decoded::Frame(_)),
                "bit {i} flip accepted"
            );
        }
        assert!(matches!(decode(&out[..out.len() - 1]), Decoded::Invalid(_)));
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Decoded::Frame(h) = decode(&bytes) {
                let n = records(&bytes[..h.total_len]).count();
                prop_assert_eq!(n, h.count as usize);
            }
        }
    }
}
