//! The engine's only `unsafe` code: read-only memory maps of segment files and
//! `posix_fallocate` and `statvfs`.
//!
//! Segments are written with positional writes (`pwrite`) and only ever read through
//! these maps, never stored through. Linux keeps the page cache coherent between the
//! two, so bytes become visible to the map as soon as `pwrite` returns; the log only
//! hands out ranges below its published commit point, which no writer touches again.
#![allow(unsafe_code)]

use std::fs::File;

use bytes::Bytes;

/// Maps the first `len` bytes of `file` read-only and wraps the map in a [`Bytes`], so
/// that slices of it are zero-copy, reference-counted and outlive an unlink of the file.
pub(crate) fn map_read_only(file: &File, len: u64) -> std::io::Result<Bytes> {
    if len == 0 {
        return Ok(Bytes::new());
    }
    let len = usize::try_from(len)
        .map_err(|_| std::io::Error::other("segment larger than the address space"))?;
    // SAFETY: the map is read-only, so Rust never writes through it. It may extend past
    // the end of the file (an active segment grows into it); such pages are never
    // touched, because readers only read below the published commit point, which lies
    // inside the file. The engine owns the data directory (an exclusive lock file), never
    // shrinks a file below a range it has published (sealing truncates only the unused
    // tail, above every published range), and writes only above the commit point, so the
    // bytes a reader sees do not change under it.
    let map = unsafe { memmap2::MmapOptions::new().len(len).map(file)? };
    Ok(Bytes::from_owner(map))
}

/// `posix_fallocate(fd, 0, len)`; returns the error number (0 on success).
pub(crate) fn posix_fallocate(file: &File, len: libc::off_t) -> i32 {
    use std::os::unix::io::AsRawFd;
    // SAFETY: the descriptor is borrowed from a live `File` for the duration of the
    // call, and the call reads and writes no memory of ours.
    unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) }
}

/// Bytes available to unprivileged writers on the file system holding `path`.
pub(crate) fn available_bytes(path: &std::path::Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a NUL-terminated path that outlives the call, and `st` points to
    // writable memory of the size the call fills; it is read only after success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it initialised the whole struct.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::useless_conversion)] // the field types differ between platforms
    Ok(u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize)))
}
