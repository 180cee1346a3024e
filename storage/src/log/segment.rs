//! One segment file of a shard log: a header, then frames, then zeros up to the
//! preallocated capacity. Written with positional writes, read through a read-only map.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use super::frame::{self, Decoded, FrameHeader};
use super::index::{IndexEntry, IndexFile};
use crate::error::{Error, Result};
use crate::fs::{Fs, FsFile, OpenMode};

/// Bytes of the segment header.
pub const SEGMENT_HEADER: u64 = 32;
/// Bytes allocated when a segment is created; the allocation then doubles as the
/// segment fills, up to its capacity, so idle shards do not hold whole segments of disk.
pub const INITIAL_ALLOCATION: u64 = 1 << 20;
const MAGIC: &[u8; 8] = b"FRSHTSEG";
const VERSION: u32 = 1;

/// File name of the segment whose first record has `base_offset`.
pub fn segment_file_name(base_offset: u64) -> String {
    format!("{base_offset:020}.log")
}

/// Parses a segment file name back to its base offset.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(super) fn header_bytes(base_offset: u64) -> [u8; SEGMENT_HEADER as usize] {
    let mut h = [0u8; SEGMENT_HEADER as usize];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&base_offset.to_le_bytes());
    let crc = crc32fast::hash(&h[..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The result of walking a segment's frames.
#[derive(Debug)]
pub struct Scan {
    /// Bytes from the start of the file to the end of the last valid frame.
    pub valid_len: u64,
    /// Offset after the last valid record.
    pub next_offset: u64,
    /// Newest arrival time seen (or `i64::MIN`).
    pub max_arrival_ms: i64,
    /// Sparse index entries for the valid frames.
    pub entries: Vec<IndexEntry>,
    /// Where and why the walk stopped before the end of the bytes, if it did.
    pub stopped: Option<(u64, &'static str)>,
}

/// An open segment.
#[derive(Debug)]
pub struct Segment {
    /// Offset of the segment's first record.
    pub base_offset: u64,
    /// The file.
    pub path: PathBuf,
    fs: Arc<dyn Fs>,
    file: Arc<dyn FsFile>,
    /// The read-only map; `None` once released while idle, mapped again on demand.
    map: RwLock<Option<Bytes>>,
    /// Length the map covers.
    capacity: u64,
    /// Set by every read; cleared by [`Segment::release_map_if_idle`].
    touched: std::sync::atomic::AtomicBool,
    /// Bytes allocated to the file (its length while active); grows under the writer.
    allocated: AtomicU64,
    /// Bytes published to readers (a frame boundary).
    committed_len: AtomicU64,
    /// Offset after the last record published to readers.
    committed_next: AtomicU64,
    /// Newest arrival time of a published record.
    max_arrival_ms: AtomicI64,
    /// Sparse index (entries beyond `committed_len` are ignored by readers).
    index: RwLock<Vec<IndexEntry>>,
}

impl Segment {
    /// Creates a new segment file with its header, preallocated to `capacity` bytes and
    /// synced; the caller syncs the directory before acknowledging into it.
    pub fn create(
        fs: &Arc<dyn Fs>,
        dir: &Path,
        base_offset: u64,
        capacity: u64,
    ) -> Result<Segment> {
        let path = dir.join(segment_file_name(base_offset));
        let file = fs
            .open(&path, OpenMode::CreateNew)
            .map_err(|e| Error::io(&path, e))?;
        let setup = || -> std::io::Result<()> {
            file.write_all_at(&header_bytes(base_offset), 0)?;
            file.allocate(capacity.clamp(SEGMENT_HEADER, INITIAL_ALLOCATION.max(SEGMENT_HEADER)))?;
            file.sync_all()
        };
        if let Err(e) = setup() {
            // Leave no half segment behind (ENOSPC while rolling, for example).
            drop(file);
            let _ = fs.remove_file(&path);
            return Err(Error::io(&path, e));
        }
        let map = file
            .map_read_only(capacity)
            .map_err(|e| Error::io(&path, e))?;
        Ok(Segment::assemble(
            path,
            Arc::clone(fs),
            file,
            map,
            base_offset,
            SEGMENT_HEADER,
            base_offset,
            i64::MIN,
            Vec::new(),
        ))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn assemble(
        path: PathBuf,
        fs: Arc<dyn Fs>,
        file: Arc<dyn FsFile>,
        map: Bytes,
        base_offset: u64,
        len: u64,
        next: u64,
        max_arrival: i64,
        entries: Vec<IndexEntry>,
    ) -> Segment {
        let allocated = file.len().unwrap_or(0);
        Segment {
            base_offset,
            path,
            fs,
            file,
            capacity: map.len() as u64,
            map: RwLock::new(Some(map)),
            touched: std::sync::atomic::AtomicBool::new(true),
            allocated: AtomicU64::new(allocated),
            committed_len: AtomicU64::new(len),
            committed_next: AtomicU64::new(next),
            max_arrival_ms: AtomicI64::new(max_arrival),
            index: RwLock::new(entries),
        }
    }

    /// Opens an existing segment and checks its header: [`SegmentDiagnosis::inspect`]
    /// then [`SegmentDiagnosis::repair`] with recovery's default rules. `active`
    /// segments are walked and cut at their last valid frame (a torn tail), then given
    /// room to append again; sealed ones use a matching index file when there is one,
    /// else they are walked strictly: a bad frame inside a sealed segment, or anything
    /// but zeros after its last frame, is [`Error::Corruption`], and the file is left
    /// as it was. Returns `None` for an active segment whose creation never completed
    /// (shorter than its header, or a header of zeros): nothing in it was ever
    /// acknowledged.
    ///
    /// [`SegmentDiagnosis::inspect`]: super::recovery::SegmentDiagnosis::inspect
    /// [`SegmentDiagnosis::repair`]: super::recovery::SegmentDiagnosis::repair
    #[allow(clippy::too_many_arguments)]
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // the fuzz targets' entry
    pub fn open(
        fs: &Arc<dyn Fs>,
        path: &Path,
        base_offset: u64,
        active: bool,
        capacity: u64,
        index_interval: u64,
        trusted_len: Option<u64>,
    ) -> Result<Option<Segment>> {
        super::recovery::SegmentDiagnosis::inspect(
            fs,
            path,
            base_offset,
            active,
            index_interval,
            trusted_len,
        )?
        .repair(fs, capacity, true)
    }

    /// Bytes the file can hold (its mapped length).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Writes bytes at a position, first growing the allocation when they would not fit
    /// (an `fdatasync` later covers the new size with the data).
    pub fn write_at(&self, bytes: &[u8], position: u64) -> Result<()> {
        if position + bytes.len() as u64 > self.capacity() {
            return Err(Error::io(
                &self.path,
                std::io::Error::other("write past the segment capacity"),
            ));
        }
        let end = position + bytes.len() as u64;
        let allocated = self.allocated.load(Ordering::Acquire);
        if end > allocated {
            let target = self.capacity().min(end.max(allocated.saturating_mul(2)));
            self.file
                .allocate(target)
                .map_err(|e| Error::io(&self.path, e))?;
            self.allocated.store(target, Ordering::Release);
        }
        self.file
            .write_all_at(bytes, position)
            .map_err(|e| Error::io(&self.path, e))
    }

    /// `fdatasync`.
    pub fn sync_data(&self) -> Result<()> {
        self.file.sync_data().map_err(|e| Error::io(&self.path, e))
    }

    /// Seals the segment at `valid_len`: sync, cut the unused preallocated tail, sync
    /// again and write the index.
    pub fn seal(&self, valid_len: u64, next_offset: u64, max_arrival: i64) -> Result<()> {
        let io = || -> std::io::Result<()> {
            self.file.sync_data()?;
            self.file.set_len(valid_len)?;
            self.file.sync_all()
        };
        io().map_err(|e| Error::io(&self.path, e))?;
        self.publish(valid_len, next_offset, max_arrival);
        self.store_index()
    }

    /// Writes the index file from the published state.
    pub fn store_index(&self) -> Result<()> {
        let entries = self.index.read().map(|g| g.clone()).unwrap_or_default();
        let len = self.committed_len();
        IndexFile {
            segment_base: self.base_offset,
            segment_len: len,
            next_offset: self.committed_next(),
            max_arrival_ms: self.max_arrival_ms(),
            entries: entries.into_iter().filter(|e| e.position < len).collect(),
        }
        .store(self.fs.as_ref(), &self.path)
    }

    /// Adds a sparse index entry (the writer calls it for frames it decides to index).
    pub fn add_index_entry(&self, entry: IndexEntry) {
        if let Ok(mut g) = self.index.write() {
            g.push(entry);
        }
    }

    /// Makes bytes up to `len` (records up to `next_offset`) visible to readers.
    pub fn publish(&self, len: u64, next_offset: u64, max_arrival: i64) {
        self.max_arrival_ms
            .fetch_max(max_arrival, Ordering::Release);
        self.committed_len.fetch_max(len, Ordering::Release);
        self.committed_next
            .fetch_max(next_offset, Ordering::Release);
    }

    /// Bytes visible to readers.
    pub fn committed_len(&self) -> u64 {
        self.committed_len.load(Ordering::Acquire)
    }

    /// Offset after the last visible record.
    pub fn committed_next(&self) -> u64 {
        self.committed_next.load(Ordering::Acquire)
    }

    /// Newest visible arrival time.
    pub fn max_arrival_ms(&self) -> i64 {
        self.max_arrival_ms.load(Ordering::Acquire)
    }

    /// The position to start scanning from to find `offset` (or the first record at or
    /// after `ts` when `by_time`).
    pub fn seek_position(&self, key: SeekKey) -> u64 {
        let len = self.committed_len();
        let Ok(entries) = self.index.read() else {
            return SEGMENT_HEADER;
        };
        let visible = entries.partition_point(|e| e.position < len);
        let entries = &entries[..visible];
        let found = match key {
            SeekKey::Offset(o) => super::index::floor_by_offset(entries, o),
            SeekKey::Time(t) => super::index::floor_by_time(entries, t),
        };
        found.map_or(SEGMENT_HEADER, |i| entries[i].position)
    }

    /// The read-only map, mapped again if it was released while idle.
    fn map(&self) -> Result<Bytes> {
        self.touched.store(true, Ordering::Relaxed);
        if let Some(map) = self.map.read().ok().and_then(|m| m.clone()) {
            return Ok(map);
        }
        let mut slot = self.map.write().unwrap_or_else(|p| p.into_inner());
        if let Some(map) = slot.as_ref() {
            return Ok(map.clone());
        }
        let map = self
            .file
            .map_read_only(self.capacity)
            .map_err(|e| Error::io(&self.path, e))?;
        *slot = Some(map.clone());
        Ok(map)
    }

    /// Drops the map when nothing read the segment since the previous call (readers
    /// holding slices keep their pages); the next read maps it again. Returns whether
    /// it released the map.
    pub fn release_map_if_idle(&self) -> bool {
        if self.touched.swap(false, Ordering::Relaxed) {
            return false;
        }
        let mut slot = self.map.write().unwrap_or_else(|p| p.into_inner());
        slot.take().is_some()
    }

    /// Decodes the frame at `position` (below the committed length). A frame that fails
    /// validation there is corruption of acknowledged data.
    pub fn frame_at(&self, position: u64) -> Result<Option<(FrameHeader, Bytes)>> {
        let len = self.committed_len();
        if position >= len {
            return Ok(None);
        }
        let map = self.map()?;
        let buf = &map[position as usize..len as usize];
        match frame::decode(buf) {
            Decoded::Frame(h) => Ok(Some((
                h,
                map.slice(position as usize..position as usize + h.total_len),
            ))),
            Decoded::End => Err(Error::Corruption {
                path: self.path.clone(),
                offset: position,
                reason: "zeros inside the committed log".into(),
            }),
            Decoded::Invalid(reason) => Err(Error::Corruption {
                path: self.path.clone(),
                offset: position,
                reason: reason.into(),
            }),
        }
    }
}

/// What a seek looks for.
#[derive(Debug, Clone, Copy)]
pub enum SeekKey {
    /// A record offset.
    Offset(u64),
    /// The first record whose arrival is at or after this time.
    Time(i64),
}

/// Walks the frames of a segment image, checking each frame and the continuity of
/// offsets, and builds sparse index entries every `index_interval` bytes.
pub fn scan_frames(map: &[u8], base_offset: u64, index_interval: u64) -> Scan {
    let mut pos = SEGMENT_HEADER;
    let mut next = base_offset;
    let mut max_arrival = i64::MIN;
    let mut entries = Vec::new();
    let mut last_indexed: Option<u64> = None;
    let mut stopped = None;
    while (pos as usize) < map.len() {
        match frame::decode(&map[pos as usize..]) {
            Decoded::End => break,
            Decoded::Invalid(reason) => {
                stopped = Some((pos, reason));
                break;
            }
            Decoded::Frame(h) => {
                if h.base_offset != next {
                    stopped = Some((pos, "frame offset does not continue the log"));
                    break;
                }
                if h.arrival_ms < max_arrival {
                    stopped = Some((pos, "frame arrival time goes backwards"));
                    break;
                }
                if last_indexed.is_none_or(|p| pos >= p + index_interval) {
                    entries.push(IndexEntry {
                        offset: h.base_offset,
                        position: pos,
                        arrival_ms: h.arrival_ms,
                    });
                    last_indexed = Some(pos);
                }
                max_arrival = h.arrival_ms;
                next = h.next_offset();
                pos += h.total_len as u64;
            }
        }
    }
    Scan {
        valid_len: pos,
        next_offset: next,
        max_arrival_ms: max_arrival,
        entries,
        stopped,
    }
}
