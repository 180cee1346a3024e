//! Small file-system helpers: preallocation and durable directory operations.

use std::fs::File;
use std::path::Path;

use super::Fs;
use crate::error::{Error, Result};

/// Makes sure `file` has at least `len` bytes allocated on disk (`posix_fallocate`), so
/// appends inside it do not fail for want of space.
pub fn preallocate(file: &File, len: u64) -> std::io::Result<()> {
    let current = file.metadata()?.len();
    if current >= len {
        return Ok(());
    }
    let len = libc::off_t::try_from(len).map_err(|_| std::io::Error::other("file too large"))?;
    // posix_fallocate returns the error number instead of setting errno.
    match crate::sys::posix_fallocate(file, len) {
        0 => Ok(()),
        // File systems without fallocate: fall back to extending the length.
        libc::EOPNOTSUPP | libc::EINVAL => file.set_len(len as u64),
        e => Err(std::io::Error::from_raw_os_error(e)),
    }
}

/// Drops the clean pages of a synced `file` from the page cache
/// (`POSIX_FADV_DONTNEED`): for write-once files nothing here reads again, such as
/// objects delivered to a local bucket, so they neither crowd out the logs' hot tails
/// nor make the kernel reclaim memory for the next writes. Advice only: pages still
/// dirty stay, and a file system without it ignores it.
pub fn drop_cached(file: &File) -> std::io::Result<()> {
    match crate::sys::fadvise_dont_need(file) {
        0 => Ok(()),
        e => Err(std::io::Error::from_raw_os_error(e)),
    }
}

/// `fsync` on a directory, making creations, renames and unlinks in it durable.
pub fn sync_dir(fs: &dyn Fs, dir: &Path) -> Result<()> {
    fs.sync_dir(dir).map_err(|e| Error::io(dir, e))
}

/// Creates a directory and its parents, syncing the parent so the entry is durable.
pub fn create_dir_durable(fs: &dyn Fs, dir: &Path) -> Result<()> {
    fs.create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    if let Some(parent) = dir.parent() {
        sync_dir(fs, parent)?;
    }
    Ok(())
}
