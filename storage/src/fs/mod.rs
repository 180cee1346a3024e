//! The file-system seam: every create, write, allocation, sync, rename and unlink the
//! engine does goes through [`Fs`], so tests can swap in a fault-injecting file system
//! (`FaultFs`, with the `fault-injection` feature) to simulate power cuts and I/O
//! errors. Reads go through read-only maps of the real files.

#[cfg(feature = "fault-injection")]
mod fault;
mod util;

pub use util::drop_cached;

use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

#[cfg(feature = "fault-injection")]
pub use fault::{CrashMode, FaultFs, FaultOp};
pub(crate) use util::{create_dir_durable, sync_dir};

/// How [`Fs::open`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create a file that must not exist yet (`O_CREAT | O_EXCL`).
    CreateNew,
    /// Create or truncate a file.
    CreateTruncate,
    /// Open an existing file for reading and writing.
    ReadWrite,
}

/// An open file.
#[allow(clippy::len_without_is_empty)]
pub trait FsFile: Send + Sync + Debug {
    /// Writes all of `buf` at `pos` (`pwrite`).
    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()>;
    /// Reads exactly `buf.len()` bytes at `pos`.
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()>;
    /// Current length.
    fn len(&self) -> io::Result<u64>;
    /// Truncates or extends.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Allocates disk space up to `len` (extending the length when shorter).
    fn allocate(&self, len: u64) -> io::Result<()>;
    /// `fdatasync`.
    fn sync_data(&self) -> io::Result<()>;
    /// `fsync`.
    fn sync_all(&self) -> io::Result<()>;
    /// A read-only map of the first `len` bytes, zero-copy as [`Bytes`].
    fn map_read_only(&self, len: u64) -> io::Result<Bytes>;
}

/// File-system operations of the engine.
pub trait Fs: Send + Sync + Debug {
    /// Opens a file.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>>;
    /// Reads a whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Creates a directory and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Paths of a directory's entries.
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
    /// Unlinks a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Removes a directory tree.
    fn remove_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Renames a file (atomically replacing `to`).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// `fsync` on a directory: makes its creations, renames and unlinks durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Bytes free for writing on the file system holding `path`.
    fn available_bytes(&self, path: &Path) -> io::Result<u64>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

/// A real file.
#[derive(Debug)]
pub struct RealFile(File);

impl FsFile for RealFile {
    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.0.write_all_at(buf, pos)
    }
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, pos)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn allocate(&self, len: u64) -> io::Result<()> {
        util::preallocate(&self.0, len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }
    fn map_read_only(&self, len: u64) -> io::Result<Bytes> {
        crate::sys::map_read_only(&self.0, len)
    }
}

impl Fs for RealFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>> {
        let mut o = OpenOptions::new();
        o.read(true).write(true);
        match mode {
            OpenMode::CreateNew => o.create_new(true),
            OpenMode::CreateTruncate => o.create(true).truncate(true),
            OpenMode::ReadWrite => &mut o,
        };
        Ok(Arc::new(RealFile(o.open(path)?)))
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect()
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::remove_dir_all(dir)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn available_bytes(&self, path: &Path) -> io::Result<u64> {
        crate::sys::available_bytes(path)
    }
}
