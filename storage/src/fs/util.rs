//! Small file-system helpers: preallocation and directory sync.

use std::fs::File;
use std::path::Path;

use crate::error::{Error, Result};

/// Makes sure `file` has at least `len` bytes allocated on disk (`posix_fallocate`), so
/// appends inside it do not fail for want of space and do not change the file size.
pub fn preallocate(file: &File, len: u64) -> std::io::Result<()> {
    let current = file.metadata()?.len();
    if current >= len {
        return Ok(());
    }
    let len = libc::off_t::try_from(len).map_err(|_| std::io::Error::other("file too large"))?;
    // posix_fallocate returns the error number instead of setting errno.
    let rc = crate::sys::posix_fallocate(file, len);
    match rc {
        0 => Ok(()),
        // File systems without fallocate (tmpfs on old kernels): fall back to set_len.
        libc::EOPNOTSUPP | libc::EINVAL => file.set_len(len as u64),
        e => Err(std::io::Error::from_raw_os_error(e)),
    }
}

/// `fsync` on a directory, making creations, renames and unlinks in it durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Creates a directory and its parents, syncing the parent so the entry is durable.
pub fn create_dir_durable(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}
