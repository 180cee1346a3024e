//! Recovery of a shard log on open, in two phases: diagnose, then repair.
//!
//! [`diagnose`] walks every segment of a shard that needs walking (header, every frame's
//! length bounds, CRC and record layout, offset continuity within and across segments,
//! the bytes after the last frame) and changes nothing. Only when the whole shard checks
//! out does [`LogDiagnosis::repair`] touch a file: it cuts the torn tail of the active
//! (newest) segment, drops the zero padding a lost seal left on a sealed segment,
//! removes stale temporary index files and segments retention already cut from the log,
//! and rewrites index files. Damage anywhere but at the tail of the active segment is a
//! hard [`Error::Corruption`] from [`diagnose`], with every file as it was; in
//! [`RecoveryMode::Strict`] so is a torn tail.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::frame::{self, Decoded};
use super::index::{index_path, IndexFile};
use super::segment::{
    parse_segment_file_name, scan_frames, segment_file_name, Scan, Segment, INITIAL_ALLOCATION,
    SEGMENT_HEADER,
};
use super::shard_log::LogConfig;
use crate::config::RecoveryMode;
use crate::error::{Error, Result};
use crate::fs::{create_dir_durable, sync_dir, Fs, FsFile, OpenMode};

/// Where the frames of a segment stop before the end of its bytes, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Byte position of the first byte that is not part of a valid frame.
    pub position: u64,
    /// The check that failed.
    pub reason: String,
}

#[derive(Debug)]
enum Found {
    /// A segment whose creation never completed: shorter than its header, or a header
    /// of zeros. Nothing in it was ever acknowledged.
    Unfinished,
    /// A sealed segment described by an index file that covers exactly its length.
    Indexed(IndexFile),
    /// An active segment whose valid length a clean shutdown recorded, with its index.
    Trusted { len: u64, index: IndexFile },
    /// A segment walked frame by frame; `damage` says where the frames stop short of
    /// the end of the file's bytes (the zero padding after the last frame is not damage).
    Scanned { scan: Scan, damage: Option<Damage> },
}

/// What recovery found in one segment file. Building one reads the file and changes
/// nothing; [`SegmentDiagnosis::repair`] then applies what recovery decided.
#[derive(Debug)]
pub struct SegmentDiagnosis {
    /// The segment file.
    pub path: PathBuf,
    /// Offset of its first record (from its name and header).
    pub base_offset: u64,
    /// Whether it is the newest segment of its shard (the one appends go to).
    pub active: bool,
    file: Option<Arc<dyn FsFile>>,
    map: Bytes,
    file_len: u64,
    found: Found,
}

/// The first non-zero byte of `bytes`, if any.
fn first_non_zero(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    for chunk in bytes.chunks(4096) {
        // An OR over the chunk vectorizes; the exact position is searched only once.
        if chunk.iter().fold(0u8, |a, &b| a | b) != 0 {
            return chunk.iter().position(|&b| b != 0).map(|p| at + p);
        }
        at += chunk.len();
    }
    None
}

impl SegmentDiagnosis {
    /// Reads a segment and checks it without changing it. A sealed segment (`active`
    /// false) that cannot be read in full, or whose frames stop before its end with
    /// anything but zeros after them, is [`Error::Corruption`]; an active segment's
    /// damaged tail is reported by [`SegmentDiagnosis::torn_tail`] instead. A bad
    /// header is corruption in either. `trusted_len` is the active segment's valid
    /// length recorded by a clean shutdown (its index then spares the walk).
    pub fn inspect(
        fs: &Arc<dyn Fs>,
        path: &Path,
        base_offset: u64,
        active: bool,
        index_interval: u64,
        trusted_len: Option<u64>,
    ) -> Result<SegmentDiagnosis> {
        let io = |e| Error::io(path, e);
        let corrupt = |offset: u64, reason: String| Error::Corruption {
            path: path.into(),
            offset,
            reason,
        };
        let file = fs.open(path, OpenMode::ReadWrite).map_err(io)?;
        let file_len = file.len().map_err(io)?;
        let mut header = [0u8; SEGMENT_HEADER as usize];
        let readable = file_len >= SEGMENT_HEADER && file.read_exact_at(&mut header, 0).is_ok();
        let diagnosis = |file, map, found| SegmentDiagnosis {
            path: path.into(),
            base_offset,
            active,
            file: Some(file),
            map,
            file_len,
            found,
        };
        if !readable || header == [0u8; SEGMENT_HEADER as usize] {
            if active {
                return Ok(diagnosis(file, Bytes::new(), Found::Unfinished));
            }
            return Err(corrupt(
                0,
                "a sealed segment without a header (shorter than 32 bytes or zeros)".into(),
            ));
        }
        if header != super::segment::header_bytes(base_offset) {
            return Err(corrupt(
                0,
                format!("bad segment header (magic, version, base offset {base_offset} or CRC)"),
            ));
        }
        let map = file.map_read_only(file_len).map_err(io)?;

        if !active {
            if let Some(ix) = IndexFile::load(fs.as_ref(), path) {
                if ix.segment_base == base_offset
                    && ix.segment_len == file_len
                    && ix.next_offset >= base_offset
                {
                    return Ok(diagnosis(file, map, Found::Indexed(ix)));
                }
            }
        }
        if let (true, Some(len)) = (active, trusted_len) {
            if let Some(ix) = IndexFile::load(fs.as_ref(), path) {
                let ends_there = map
                    .get(len as usize..)
                    .is_some_and(|rest| frame::decode(rest) == Decoded::End);
                if ix.segment_base == base_offset && ix.segment_len == len && ends_there {
                    return Ok(diagnosis(file, map, Found::Trusted { len, index: ix }));
                }
            }
        }
        let scan = scan_frames(&map, base_offset, index_interval);
        let damage = match scan.stopped {
            Some((position, reason)) => Some(Damage {
                position,
                reason: reason.into(),
            }),
            None => map
                .get(scan.valid_len as usize..)
                .and_then(first_non_zero)
                .map(|p| Damage {
                    position: scan.valid_len,
                    reason: format!(
                        "the frames end at byte {} but non-zero bytes follow at byte {}",
                        scan.valid_len,
                        scan.valid_len + p as u64
                    ),
                }),
        };
        if let (false, Some(d)) = (active, &damage) {
            return Err(corrupt(d.position, d.reason.clone()));
        }
        Ok(diagnosis(file, map, Found::Scanned { scan, damage }))
    }

    /// Whether this is an active segment whose creation never completed.
    pub fn is_unfinished(&self) -> bool {
        matches!(self.found, Found::Unfinished)
    }

    /// The damaged tail of an active segment, which repair would cut away.
    pub fn torn_tail(&self) -> Option<&Damage> {
        match &self.found {
            Found::Scanned { damage, .. } => damage.as_ref(),
            _ => None,
        }
    }

    /// Offset after the segment's last valid record (`None` for an unfinished one).
    pub fn next_offset(&self) -> Option<u64> {
        match &self.found {
            Found::Unfinished => None,
            Found::Indexed(ix) | Found::Trusted { index: ix, .. } => Some(ix.next_offset),
            Found::Scanned { scan, .. } => Some(scan.next_offset),
        }
    }

    /// Applies recovery to the file and opens the segment: an active segment loses its
    /// torn tail and, with `append_room`, gets room to append again (a closed shard's
    /// does not); a sealed one loses the zero padding a lost seal left and gets its
    /// index rewritten when it had to be walked. Returns `None` for an unfinished
    /// segment (the caller removes the file).
    pub fn repair(
        mut self,
        fs: &Arc<dyn Fs>,
        capacity: u64,
        append_room: bool,
    ) -> Result<Option<Segment>> {
        let path = self.path.clone();
        let io = |e| Error::io(&path, e);
        let Some(file) = self.file.take() else {
            return Ok(None);
        };
        let map = std::mem::take(&mut self.map);
        let assemble = |file, map, len, next, arrival, entries| {
            Segment::assemble(
                path.clone(),
                Arc::clone(fs),
                file,
                map,
                self.base_offset,
                len,
                next,
                arrival,
                entries,
            )
        };
        match self.found {
            Found::Unfinished => Ok(None),
            Found::Indexed(ix) => Ok(Some(assemble(
                file,
                map,
                ix.segment_len,
                ix.next_offset,
                ix.max_arrival_ms,
                ix.entries,
            ))),
            Found::Trusted { len, index } => {
                drop(map);
                let map = grow_active(file.as_ref(), &path, len, None, capacity, append_room)?;
                Ok(Some(assemble(
                    file,
                    map,
                    len,
                    index.next_offset,
                    index.max_arrival_ms,
                    index.entries,
                )))
            }
            Found::Scanned { scan, damage } if self.active => {
                if let Some(d) = &damage {
                    tracing::warn!(path = %path.display(), position = d.position, reason = %d.reason, "truncating the torn tail of the active segment");
                }
                drop(map);
                let cut = damage.map(|_| scan.valid_len);
                let map = grow_active(
                    file.as_ref(),
                    &path,
                    scan.valid_len,
                    cut,
                    capacity,
                    append_room,
                )?;
                Ok(Some(assemble(
                    file,
                    map,
                    scan.valid_len,
                    scan.next_offset,
                    scan.max_arrival_ms,
                    scan.entries,
                )))
            }
            Found::Scanned { scan, .. } => {
                // A sealed segment whose truncation to its valid length was lost: only
                // zeros follow its frames (anything else failed the diagnosis).
                let map = if scan.valid_len != self.file_len {
                    drop(map);
                    file.set_len(scan.valid_len).map_err(io)?;
                    file.sync_all().map_err(io)?;
                    file.map_read_only(scan.valid_len).map_err(io)?
                } else {
                    map
                };
                let seg = assemble(
                    file,
                    map,
                    scan.valid_len,
                    scan.next_offset,
                    scan.max_arrival_ms,
                    scan.entries,
                );
                seg.store_index()?;
                Ok(Some(seg))
            }
        }
    }
}

/// Cuts an active segment at `cut` when it has a torn tail, then (with `append_room`)
/// makes sure room to append is allocated and maps `capacity` bytes; without, maps the
/// valid bytes only (a closed shard's log takes no more appends).
fn grow_active(
    file: &dyn FsFile,
    path: &Path,
    valid_len: u64,
    cut: Option<u64>,
    capacity: u64,
    append_room: bool,
) -> Result<Bytes> {
    let capacity = capacity.max(valid_len);
    let io = || -> std::io::Result<Bytes> {
        if let Some(len) = cut {
            file.set_len(len)?;
        }
        if !append_room {
            if cut.is_some() {
                file.sync_all()?;
            }
            return file.map_read_only(valid_len);
        }
        let want = capacity.min(valid_len + INITIAL_ALLOCATION);
        if cut.is_some() || file.len()? < want {
            file.allocate(want)?;
            file.sync_all()?;
        }
        file.map_read_only(capacity)
    };
    io().map_err(|e| Error::io(path, e))
}

/// What recovery found in a shard's directory, before changing anything in it.
#[derive(Debug)]
pub struct LogDiagnosis {
    dir: PathBuf,
    cfg: LogConfig,
    start_offset: u64,
    /// Temporary index files of an interrupted index write.
    stale: Vec<PathBuf>,
    /// Segments wholly below the trim horizon (a retention pass cut them from the log
    /// in the catalog, then crashed before unlinking them).
    obsolete: Vec<PathBuf>,
    /// The segments of the log, oldest first.
    segments: Vec<SegmentDiagnosis>,
    /// The log is closed (its shard was split or merged): no room to append is made.
    closed: bool,
}

fn strict_refusal(path: &Path, offset: u64, reason: &str) -> Error {
    Error::Corruption {
        path: path.into(),
        offset,
        reason: format!("{reason} (strict recovery repairs nothing)"),
    }
}

/// Walks and checks a shard's log in `dir` without changing anything (see the module
/// docs). `start_offset` is the trim horizon from the catalog; `clean_len` the active
/// segment's valid length recorded by a clean shutdown.
pub fn diagnose(
    fs: &Arc<dyn Fs>,
    dir: &Path,
    cfg: LogConfig,
    start_offset: u64,
    clean_len: Option<u64>,
) -> Result<LogDiagnosis> {
    let mut out = LogDiagnosis {
        dir: dir.into(),
        cfg,
        start_offset,
        stale: Vec::new(),
        obsolete: Vec::new(),
        segments: Vec::new(),
        closed: false,
    };
    let paths = match fs.read_dir(dir) {
        Ok(paths) => paths,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut bases = Vec::new();
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(base) = parse_segment_file_name(&name) {
            bases.push(base);
        } else if name.ends_with(".index.tmp") {
            out.stale.push(path);
        }
    }
    bases.sort_unstable();
    // Segments that retention already cut from the log in the catalog.
    let keep_from = bases
        .windows(2)
        .take_while(|w| w.get(1).is_some_and(|&next| next <= start_offset))
        .count();
    let (obsolete, live) = bases.split_at(keep_from);
    out.obsolete = obsolete
        .iter()
        .map(|&b| dir.join(segment_file_name(b)))
        .collect();
    let strict = cfg.recovery == RecoveryMode::Strict;
    let mut prev: Option<(u64, PathBuf)> = None;
    for (i, &base) in live.iter().enumerate() {
        let active = i + 1 == live.len();
        let path = dir.join(segment_file_name(base));
        let seg = SegmentDiagnosis::inspect(
            fs,
            &path,
            base,
            active,
            cfg.index_interval,
            if active { clean_len } else { None },
        )?;
        if seg.is_unfinished() {
            if strict {
                return Err(strict_refusal(
                    &path,
                    0,
                    "the active segment's creation never completed (no header)",
                ));
            }
            out.segments.push(seg);
            continue;
        }
        if let Some((prev_next, prev_path)) = &prev {
            if *prev_next != base {
                let prev_name = prev_path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                return Err(Error::Corruption {
                    path,
                    offset: 0,
                    reason: format!(
                        "offset continuity: the segment starts at offset {base} but the previous segment {prev_name} ends at offset {prev_next}"
                    ),
                });
            }
        }
        if let (true, Some(d)) = (strict, seg.torn_tail()) {
            return Err(strict_refusal(
                &path,
                d.position,
                &format!("torn tail of the active segment: {}", d.reason),
            ));
        }
        prev = seg.next_offset().map(|n| (n, path));
        out.segments.push(seg);
    }
    Ok(out)
}

impl LogDiagnosis {
    /// The segments found, oldest first.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn segments(&self) -> &[SegmentDiagnosis] {
        &self.segments
    }

    /// The trim horizon the log was diagnosed against.
    pub fn start_offset(&self) -> u64 {
        self.start_offset
    }

    /// The shard's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Marks the log closed (its shard was split or merged): repair then makes no room
    /// to append in its active segment.
    pub fn closed(mut self, closed: bool) -> Self {
        self.closed = closed;
        self
    }

    /// The log settings it was diagnosed with.
    pub fn config(&self) -> LogConfig {
        self.cfg
    }

    /// Applies recovery (see the module docs) and returns the log's segments, oldest
    /// first: at least one, the last being the active segment.
    pub fn repair(self, fs: &Arc<dyn Fs>) -> Result<Vec<Arc<Segment>>> {
        let dir = self.dir;
        create_dir_durable(fs.as_ref(), &dir)?;
        for tmp in &self.stale {
            let _ = fs.remove_file(tmp);
        }
        let mut removed = false;
        for path in &self.obsolete {
            fs.remove_file(path).map_err(|e| Error::io(path, e))?;
            let _ = fs.remove_file(&index_path(path));
            removed = true;
        }
        let mut segments = Vec::with_capacity(self.segments.len().max(1));
        for seg in self.segments {
            let path = seg.path.clone();
            match seg.repair(fs, self.cfg.segment_bytes, !self.closed)? {
                Some(s) => segments.push(Arc::new(s)),
                None => {
                    tracing::warn!(path = %path.display(), "removing a segment whose creation never completed");
                    fs.remove_file(&path).map_err(|e| Error::io(&path, e))?;
                    removed = true;
                }
            }
        }
        if removed {
            sync_dir(fs.as_ref(), &dir)?;
        }
        if segments.is_empty() {
            let seg = Segment::create(fs, &dir, self.start_offset, self.cfg.segment_bytes)?;
            sync_dir(fs.as_ref(), &dir)?;
            segments.push(Arc::new(seg));
        }
        Ok(segments)
    }
}

#[cfg(test)]
mod tests {
    use super::first_non_zero;

    #[test]
    fn finds_the_first_non_zero_byte() {
        assert_eq!(first_non_zero(&[]), None);
        assert_eq!(first_non_zero(&[0; 10_000]), None);
        let mut b = vec![0u8; 10_000];
        b[9_001] = 3;
        b[9_500] = 1;
        assert_eq!(first_non_zero(&b), Some(9_001));
    }
}
