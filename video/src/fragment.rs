//! A fragment as the engine stores it: consecutive records of the stream's one shard
//! (the engine caps a record at 1 MiB), put in one call so they form one batch on disk
//! (all durable together, or none after a crash).
//!
//! Every record starts with `KVF1`, its part index and the part count (u16, big-endian).
//! Part 0 goes on with the fragment's metadata, all big-endian:
//!
//! ```text
//!   producer_ms i64 | fragment_timecode u64 (as the producer sent it, in ticks)
//!   | cluster_timecode u64 (written back, in ticks) | duration_ms u64 | scale u64
//!   | tracks_len u32 | tracks (the Tracks element, raw)
//! ```
//!
//! and every part then holds the next piece of the cluster's blocks (its raw SimpleBlock
//! and BlockGroup elements). The fragment number is the first record's sequence number
//! behind a fixed prefix: [`fragment_number`].

use bytes::{BufMut, Bytes, BytesMut};
use freshet_storage::SequenceNumber;

const MAGIC: &[u8; 4] = b"KVF1";
const PART_HEADER: usize = 8;
const META: usize = 8 * 5 + 4;

/// The nine digits in front of a sequence number (38 digits) in a fragment number:
/// 47 digits, as Kinesis Video's.
const NUMBER_PREFIX: &str = "913438523";

/// A fragment's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// The producer timestamp, ms since the epoch.
    pub producer_ms: i64,
    /// The cluster's timestamp as received, ticks (acknowledgements echo it).
    pub fragment_timecode: u64,
    /// The cluster's timestamp written back, ticks: the producer timestamp.
    pub cluster_timecode: u64,
    /// Its length, ms.
    pub duration_ms: u64,
    /// TimestampScale, ns per tick.
    pub scale: u64,
    /// The Tracks element, raw.
    pub tracks: Bytes,
}

/// A whole fragment read back.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The first record's offset.
    pub offset: u64,
    /// How many records it takes.
    pub parts: u16,
    /// The first record's arrival, ms: the server timestamp.
    pub server_ms: i64,
    /// Metadata.
    pub meta: Meta,
    /// The raw blocks.
    pub blocks: Bytes,
}

/// The fragment number of the fragment whose first record has offset `offset`.
pub fn fragment_number(offset: u64) -> String {
    format!("{NUMBER_PREFIX}{}", SequenceNumber::new(0, offset))
}

/// The offset a fragment number names, if it is one of ours.
pub fn parse_fragment_number(n: &str) -> Option<u64> {
    let seq = n.strip_prefix(NUMBER_PREFIX)?;
    let v: u128 = seq.parse().ok()?;
    SequenceNumber::from_u128(v)
        .filter(|s| s.shard_index == 0)
        .map(|s| s.offset)
}

/// Splits a fragment into record payloads of at most `max` bytes each.
pub fn encode(meta: &Meta, blocks: &[u8], max: usize) -> Option<Vec<Bytes>> {
    let first_room = max.checked_sub(PART_HEADER + META + meta.tracks.len())?;
    let room = max.checked_sub(PART_HEADER)?;
    if first_room == 0 || room == 0 {
        return None;
    }
    let rest = blocks.len().saturating_sub(first_room);
    let parts = 1 + rest.div_ceil(room);
    let count = u16::try_from(parts).ok()?;
    let mut out = Vec::with_capacity(parts);
    let (head, mut tail) = blocks.split_at(first_room.min(blocks.len()));
    let mut b = BytesMut::with_capacity(PART_HEADER + META + meta.tracks.len() + head.len());
    b.put_slice(MAGIC);
    b.put_u16(0);
    b.put_u16(count);
    b.put_i64(meta.producer_ms);
    b.put_u64(meta.fragment_timecode);
    b.put_u64(meta.cluster_timecode);
    b.put_u64(meta.duration_ms);
    b.put_u64(meta.scale);
    b.put_u32(u32::try_from(meta.tracks.len()).ok()?);
    b.put_slice(&meta.tracks);
    b.put_slice(head);
    out.push(b.freeze());
    for i in 1..count {
        let (piece, next) = tail.split_at(room.min(tail.len()));
        tail = next;
        let mut b = BytesMut::with_capacity(PART_HEADER + piece.len());
        b.put_slice(MAGIC);
        b.put_u16(i);
        b.put_u16(count);
        b.put_slice(piece);
        out.push(b.freeze());
    }
    Some(out)
}

/// A record's part header: (index, count, the rest).
pub fn part(data: &Bytes) -> Option<(u16, u16, Bytes)> {
    if data.get(..4)? != MAGIC {
        return None;
    }
    let idx = u16::from_be_bytes([*data.get(4)?, *data.get(5)?]);
    let count = u16::from_be_bytes([*data.get(6)?, *data.get(7)?]);
    if count == 0 || idx >= count {
        return None;
    }
    Some((idx, count, data.slice(PART_HEADER..)))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Decodes part 0's metadata: (meta, the blocks that follow it).
pub fn decode_meta(rest: &Bytes) -> Option<(Meta, Bytes)> {
    let tl = u32::from_be_bytes(rest.get(40..44)?.try_into().ok()?) as usize;
    let tracks_end = META.checked_add(tl)?;
    if tracks_end > rest.len() {
        return None;
    }
    Some((
        Meta {
            producer_ms: be64(rest, 0)? as i64,
            fragment_timecode: be64(rest, 8)?,
            cluster_timecode: be64(rest, 16)?,
            duration_ms: be64(rest, 24)?,
            scale: be64(rest, 32)?.max(1),
            tracks: rest.slice(META..tracks_end),
        },
        rest.slice(tracks_end..),
    ))
}

/// Assembles whole fragments from records read in order (offset, arrival, data): a
/// fragment missing a part (a write cut by a crash) is left out. Returns the fragments
/// and the offset after the last whole one (where to read on: a fragment whose parts
/// are not all read yet is read again from its start).
pub fn assemble(records: &[(u64, i64, Bytes)], from: u64) -> (Vec<Stored>, u64) {
    let mut out = Vec::new();
    let mut next = from;
    let mut i = 0;
    while i < records.len() {
        let (offset, arrival, data) = &records[i];
        let Some((0, count, rest)) = part(data) else {
            i += 1;
            next = offset + 1;
            continue;
        };
        let n = usize::from(count);
        let Some(group) = records.get(i..i + n) else {
            // Not all read yet: read again from this fragment's start.
            return (out, *offset);
        };
        let whole = group.iter().enumerate().all(|(k, (o, _, d))| {
            *o == offset + k as u64
                && part(d).is_some_and(|(p, c, _)| usize::from(p) == k && c == count)
        });
        if !whole {
            i += 1;
            next = offset + 1;
            continue;
        }
        if let Some((meta, head)) = decode_meta(&rest) {
            let mut blocks = BytesMut::from(&head[..]);
            for (_, _, d) in group.iter().skip(1) {
                if let Some((_, _, piece)) = part(d) {
                    blocks.extend_from_slice(&piece);
                }
            }
            out.push(Stored {
                offset: *offset,
                parts: count,
                server_ms: *arrival,
                meta,
                blocks: blocks.freeze(),
            });
        }
        i += n;
        next = offset + n as u64;
    }
    (out, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fragment_splits_and_comes_back_whole() {
        let meta = Meta {
            producer_ms: 1_700_000_000_000,
            fragment_timecode: 5,
            cluster_timecode: 1_700_000_000_000,
            duration_ms: 1000,
            scale: 1_000_000,
            tracks: Bytes::from_static(b"tracks"),
        };
        let blocks: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let parts = encode(&meta, &blocks, 1000).unwrap_or_default();
        assert!(parts.len() > 10);
        let records: Vec<_> = parts
            .into_iter()
            .enumerate()
            .map(|(i, d)| (7 + i as u64, 42, d))
            .collect();
        let (got, next) = assemble(&records, 7);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].meta, meta);
        assert_eq!(&got[0].blocks[..], &blocks[..]);
        assert_eq!(next, 7 + records.len() as u64);
        // Missing its last part: read again from its start.
        let (got, next) = assemble(&records[..records.len() - 1], 7);
        assert!(got.is_empty());
        assert_eq!(next, 7);
        let n = fragment_number(123);
        assert_eq!(n.len(), 47);
        assert_eq!(parse_fragment_number(&n), Some(123));
    }
}
