//! Sparse per-segment index: every few KiB of log, the offset, byte position and
//! arrival time of a frame. It is a cache: written when a segment is sealed or the
//! engine shuts down cleanly, checked against its segment on load, rebuilt by scanning
//! when missing or stale. Arrival times never decrease within a shard, so the same
//! entries serve sequence-number and timestamp lookups.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fs::{Fs, OpenMode};

/// One entry: a frame that starts at `position` with first record `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// First offset of the frame.
    pub offset: u64,
    /// Byte position of the frame in the segment.
    pub position: u64,
    /// Arrival time of the frame's records.
    pub arrival_ms: i64,
}

const MAGIC: &[u8; 8] = b"FRSHTIDX";
const VERSION: u32 = 1;
const HEADER: usize = 48;
const ENTRY: usize = 24;

/// What an index file says about its segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    /// Base offset of the segment it indexes.
    pub segment_base: u64,
    /// Valid bytes of the segment it covers.
    pub segment_len: u64,
    /// Offset after the last record covered.
    pub next_offset: u64,
    /// Newest arrival time covered.
    pub max_arrival_ms: i64,
    /// The entries, ascending.
    pub entries: Vec<IndexEntry>,
}

/// Path of the index file of a segment file.
pub fn index_path(segment_path: &Path) -> PathBuf {
    segment_path.with_extension("index")
}

impl IndexFile {
    /// Serializes to the on-disk layout (FORMAT.md).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + ENTRY * self.entries.len() + 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.segment_base.to_le_bytes());
        out.extend_from_slice(&self.segment_len.to_le_bytes());
        out.extend_from_slice(&self.next_offset.to_le_bytes());
        out.extend_from_slice(&self.max_arrival_ms.to_le_bytes());
        for e in &self.entries {
            out.extend_from_slice(&e.offset.to_le_bytes());
            out.extend_from_slice(&e.position.to_le_bytes());
            out.extend_from_slice(&e.arrival_ms.to_le_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses and checks an index file's bytes; `None` when it is not a whole, valid
    /// index (the caller then rebuilds it).
    pub fn decode(b: &[u8]) -> Option<IndexFile> {
        if b.len() < HEADER + 4 || &b[..8] != MAGIC {
            return None;
        }
        let (body, crc) = b.split_at(b.len() - 4);
        if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().ok()?) {
            return None;
        }
        let u32_at = |at: usize| -> Option<u32> {
            Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
        };
        let u64_at = |at: usize| -> Option<u64> {
            Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
        };
        if u32_at(8)? != VERSION {
            return None;
        }
        let count = u32_at(12)? as usize;
        if body.len() != HEADER + count.checked_mul(ENTRY)? {
            return None;
        }
        let entries = (0..count)
            .map(|i| {
                let at = HEADER + i * ENTRY;
                Some(IndexEntry {
                    offset: u64_at(at)?,
                    position: u64_at(at + 8)?,
                    arrival_ms: u64_at(at + 16)? as i64,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(IndexFile {
            segment_base: u64_at(16)?,
            segment_len: u64_at(24)?,
            next_offset: u64_at(32)?,
            max_arrival_ms: u64_at(40)? as i64,
            entries,
        })
    }

    /// Reads the index of a segment, `None` when absent or invalid.
    pub fn load(fs: &dyn Fs, segment_path: &Path) -> Option<IndexFile> {
        let bytes = fs.read(&index_path(segment_path)).ok()?;
        IndexFile::decode(&bytes)
    }

    /// Writes the index beside its segment: to a temporary file, synced, then renamed
    /// over the old one. The directory is not synced: a lost index is rebuilt.
    pub fn store(&self, fs: &dyn Fs, segment_path: &Path) -> Result<()> {
        let path = index_path(segment_path);
        let tmp = path.with_extension("index.tmp");
        let f = fs
            .open(&tmp, OpenMode::CreateTruncate)
            .map_err(|e| Error::io(&tmp, e))?;
        f.write_all_at(&self.encode(), 0)
            .map_err(|e| Error::io(&tmp, e))?;
        f.sync_data().map_err(|e| Error::io(&tmp, e))?;
        fs.rename(&tmp, &path).map_err(|e| Error::io(&path, e))
    }
}

/// Index of the last entry at or before `offset` (entries ascending by offset).
pub fn floor_by_offset(entries: &[IndexEntry], offset: u64) -> Option<usize> {
    entries
        .partition_point(|e| e.offset <= offset)
        .checked_sub(1)
}

/// Index of the last entry whose arrival is strictly before `ts` (the scan for the
/// first record at or after `ts` starts there).
pub fn floor_by_time(entries: &[IndexEntry], ts: i64) -> Option<usize> {
    entries
        .partition_point(|e| e.arrival_ms < ts)
        .checked_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_damage() {
        let f = IndexFile {
            segment_base: 10,
            segment_len: 9000,
            next_offset: 99,
            max_arrival_ms: 5,
            entries: vec![
                IndexEntry {
                    offset: 10,
                    position: 32,
                    arrival_ms: 1,
                },
                IndexEntry {
                    offset: 50,
                    position: 4200,
                    arrival_ms: 3,
                },
            ],
        };
        let b = f.encode();
        assert_eq!(IndexFile::decode(&b), Some(f));
        for i in 0..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 0x10;
            assert_eq!(IndexFile::decode(&bad), None, "byte {i}");
        }
        assert_eq!(IndexFile::decode(&b[..b.len() - 1]), None);
    }
}
