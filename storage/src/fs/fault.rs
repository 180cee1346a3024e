//! A fault-injecting file system for tests, in the manner of RocksDB's
//! `FaultInjectionTestFS` and redb's crash backend.
//!
//! It passes every operation to the real file system (so the engine's maps see the live
//! image) and keeps, beside it, the durable image: each file's bytes as of its last
//! sync, and each directory's entries as of its last directory sync. [`FaultFs::crash`]
//! then rewrites the real files to what a power cut could leave: the durable image plus,
//! by the chosen [`CrashMode`], none, all, a random subset or a torn prefix of the
//! unsynced writes, or garbage; files whose creation or rename no directory sync
//! covered disappear, and unlinks no directory sync covered are undone.
//! [`FaultFs::fail`] makes chosen operations fail with an errno (EIO, ENOSPC, ...).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use super::{Fs, FsFile, OpenMode, RealFs};

/// Operations a fault can be injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOp {
    /// `pwrite`.
    Write,
    /// `posix_fallocate` / `set_len`.
    Allocate,
    /// `fdatasync` or `fsync` of a file.
    Sync,
    /// `fsync` of a directory.
    SyncDir,
    /// File creation.
    Create,
    /// Rename.
    Rename,
    /// Unlink.
    Remove,
}

/// What a crash keeps of the writes no sync covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Nothing unsynced survives.
    DropUnsynced,
    /// Everything written survives (a process crash: the page cache lives on).
    KeepAll,
    /// Each unsynced write survives or not, at random (pages flushed out of order).
    RandomSubset,
    /// Unsynced writes survive in order up to a random one, which is cut short.
    TornTail,
    /// Like `TornTail`, then random bytes where the cut write was going.
    Garbage,
}

#[derive(Debug, Default)]
struct Inode {
    durable: Vec<u8>,
    pending: Vec<(u64, Vec<u8>)>,
}

#[derive(Debug)]
struct Rule {
    op: FaultOp,
    skip: u64,
    errno: i32,
    persistent: bool,
    path_contains: Option<String>,
    /// Panic instead of failing (a bug in the code under the operation).
    panic: bool,
}

#[derive(Debug, Default)]
struct State {
    next_inode: u64,
    inodes: BTreeMap<u64, Inode>,
    live: BTreeMap<PathBuf, u64>,
    durable: BTreeMap<PathBuf, u64>,
    live_dirs: BTreeSet<PathBuf>,
    durable_dirs: BTreeSet<PathBuf>,
    rules: Vec<Rule>,
    seed: u64,
    available: Option<u64>,
}

impl State {
    fn rand(&mut self) -> u64 {
        // xorshift64*: deterministic per seed, no dependency.
        let mut x = self.seed.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.seed = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn check(&mut self, op: FaultOp, path: &Path) -> io::Result<()> {
        let p = path.to_string_lossy();
        let mut hit = None;
        for (i, r) in self.rules.iter_mut().enumerate() {
            if r.op != op || r.path_contains.as_deref().is_some_and(|s| !p.contains(s)) {
                continue;
            }
            if r.skip > 0 {
                r.skip -= 1;
                continue;
            }
            hit = Some((i, r.errno, r.persistent, r.panic));
            break;
        }
        match hit {
            None => Ok(()),
            Some((i, errno, persistent, panic)) => {
                if !persistent {
                    self.rules.remove(i);
                }
                if panic {
                    panic!("injected panic in {op:?} on {}", path.display());
                }
                Err(io::Error::from_raw_os_error(errno))
            }
        }
    }

    /// The inode of a file the fault layer has not seen yet (it existed before): its
    /// current content is durable.
    fn adopt(&mut self, path: &Path) -> io::Result<u64> {
        if let Some(&i) = self.live.get(path) {
            return Ok(i);
        }
        let content = std::fs::read(path)?;
        let id = self.next_inode;
        self.next_inode += 1;
        self.inodes.insert(
            id,
            Inode {
                durable: content,
                pending: Vec::new(),
            },
        );
        self.live.insert(path.into(), id);
        self.durable.insert(path.into(), id);
        Ok(id)
    }
}

/// The fault-injecting file system (cheap to clone; clones share state).
#[derive(Debug, Clone, Default)]
pub struct FaultFs {
    state: Arc<Mutex<State>>,
}

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

impl FaultFs {
    /// A fault file system whose random choices follow `seed`.
    pub fn new(seed: u64) -> Self {
        let fs = FaultFs::default();
        lock(&fs.state).seed = seed | 1;
        fs
    }

    /// Makes the `skip + 1`-th next `op` (on a path containing `path_contains`, when
    /// given) fail with `errno`; with `persistent`, every one after it fails too.
    pub fn fail(
        &self,
        op: FaultOp,
        skip: u64,
        errno: i32,
        persistent: bool,
        path_contains: Option<&str>,
    ) {
        lock(&self.state).rules.push(Rule {
            op,
            skip,
            errno,
            persistent,
            path_contains: path_contains.map(str::to_string),
            panic: false,
        });
    }

    /// Makes the `skip + 1`-th next `op` (on a path containing `path_contains`, when
    /// given) panic, as a bug in the code under it would; once.
    pub fn panic_on(&self, op: FaultOp, skip: u64, path_contains: Option<&str>) {
        lock(&self.state).rules.push(Rule {
            op,
            skip,
            errno: 0,
            persistent: false,
            path_contains: path_contains.map(str::to_string),
            panic: true,
        });
    }

    /// Makes the file system report `bytes` free (`None`: the real figure).
    pub fn set_available_bytes(&self, bytes: Option<u64>) {
        lock(&self.state).available = bytes;
    }

    /// Removes every injected fault.
    pub fn heal(&self) {
        lock(&self.state).rules.clear();
    }

    /// Rewrites the real files to what a power cut could leave (see the module docs).
    /// Call it only when no engine has the files open.
    pub fn crash(&self, mode: CrashMode) -> io::Result<()> {
        let mut st = lock(&self.state);
        // Files whose names are live but not durable vanish.
        let live: Vec<_> = st.live.keys().cloned().collect();
        for path in live {
            if !st.durable.contains_key(&path) {
                let _ = std::fs::remove_file(&path);
            }
        }
        let durable: Vec<_> = st.durable.iter().map(|(p, &i)| (p.clone(), i)).collect();
        for (path, id) in durable {
            let same_inode = st.live.get(&path) == Some(&id);
            let (mut image, pending) = match st.inodes.get(&id) {
                Some(n) => (
                    n.durable.clone(),
                    if same_inode {
                        n.pending.clone()
                    } else {
                        Vec::new()
                    },
                ),
                None => continue,
            };
            let apply = |image: &mut Vec<u8>, pos: u64, data: &[u8]| {
                let end = pos as usize + data.len();
                if image.len() < end {
                    image.resize(end, 0);
                }
                image[pos as usize..end].copy_from_slice(data);
            };
            match mode {
                CrashMode::DropUnsynced => {}
                CrashMode::KeepAll => {
                    for (pos, data) in &pending {
                        apply(&mut image, *pos, data);
                    }
                }
                CrashMode::RandomSubset => {
                    for (pos, data) in &pending {
                        if st.rand().is_multiple_of(2) {
                            apply(&mut image, *pos, data);
                        }
                    }
                }
                CrashMode::TornTail | CrashMode::Garbage => {
                    if !pending.is_empty() {
                        let k = (st.rand() % pending.len() as u64) as usize;
                        for (pos, data) in &pending[..k] {
                            apply(&mut image, *pos, data);
                        }
                        let (pos, data) = &pending[k];
                        let cut = (st.rand() % (data.len() as u64 + 1)) as usize;
                        if mode == CrashMode::TornTail {
                            apply(&mut image, *pos, &data[..cut]);
                        } else {
                            let junk: Vec<u8> =
                                (0..data.len().max(1)).map(|_| st.rand() as u8).collect();
                            apply(&mut image, *pos, &data[..cut]);
                            apply(&mut image, *pos + cut as u64, &junk);
                        }
                    }
                }
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, &image)?;
        }
        // Directories created but never covered by a sync of their parent vanish.
        let dirs: Vec<_> = st.live_dirs.difference(&st.durable_dirs).cloned().collect();
        for d in dirs {
            if !st.durable.keys().any(|p| p.starts_with(&d)) {
                let _ = std::fs::remove_dir_all(&d);
            }
        }
        // After the crash, what is on disk is durable.
        st.inodes.clear();
        st.live.clear();
        st.durable.clear();
        st.live_dirs.clear();
        st.durable_dirs.clear();
        st.rules.clear();
        Ok(())
    }
}

/// A file opened through [`FaultFs`].
#[derive(Debug)]
struct FaultFile {
    real: Arc<dyn FsFile>,
    path: PathBuf,
    inode: u64,
    state: Arc<Mutex<State>>,
}

impl FsFile for FaultFile {
    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.check(FaultOp::Write, &self.path)?;
        self.real.write_all_at(buf, pos)?;
        if let Some(n) = st.inodes.get_mut(&self.inode) {
            n.pending.push((pos, buf.to_vec()));
        }
        Ok(())
    }
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        self.real.read_exact_at(buf, pos)
    }
    fn len(&self) -> io::Result<u64> {
        self.real.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut st = lock(&self.state);
        if len > self.real.len()? {
            st.check(FaultOp::Allocate, &self.path)?;
        }
        self.real.set_len(len)?;
        if let Some(n) = st.inodes.get_mut(&self.inode) {
            // A truncation drops pending writes past it; the length itself becomes
            // durable at the next sync.
            for (pos, data) in n.pending.iter_mut() {
                if *pos >= len {
                    data.clear();
                } else if *pos + data.len() as u64 > len {
                    data.truncate((len - *pos) as usize);
                }
            }
        }
        Ok(())
    }
    fn allocate(&self, len: u64) -> io::Result<()> {
        lock(&self.state).check(FaultOp::Allocate, &self.path)?;
        self.real.allocate(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.sync_all()
    }
    fn sync_all(&self) -> io::Result<()> {
        let mut st = lock(&self.state);
        if let Err(e) = st.check(FaultOp::Sync, &self.path) {
            // As Linux may do after a failed fsync: the dirty pages are dropped.
            if let Some(n) = st.inodes.get_mut(&self.inode) {
                n.pending.clear();
            }
            return Err(e);
        }
        self.real.sync_all()?;
        let len = self.real.len()? as usize;
        if let Some(n) = st.inodes.get_mut(&self.inode) {
            let pending = std::mem::take(&mut n.pending);
            n.durable.resize(len, 0);
            for (pos, data) in pending {
                let end = (pos as usize + data.len()).min(len);
                if (pos as usize) < end {
                    n.durable[pos as usize..end].copy_from_slice(&data[..end - pos as usize]);
                }
            }
        }
        Ok(())
    }
    fn map_read_only(&self, len: u64) -> io::Result<Bytes> {
        self.real.map_read_only(len)
    }
}

impl Fs for FaultFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>> {
        let mut st = lock(&self.state);
        let inode = match mode {
            OpenMode::ReadWrite => {
                let real = RealFs.open(path, mode)?;
                let inode = st.adopt(path)?;
                return Ok(Arc::new(FaultFile {
                    real,
                    path: path.into(),
                    inode,
                    state: Arc::clone(&self.state),
                }));
            }
            OpenMode::CreateNew | OpenMode::CreateTruncate => {
                st.check(FaultOp::Create, path)?;
                let id = st.next_inode;
                st.next_inode += 1;
                st.inodes.insert(id, Inode::default());
                id
            }
        };
        let real = RealFs.open(path, mode)?;
        st.live.insert(path.into(), inode);
        Ok(Arc::new(FaultFile {
            real,
            path: path.into(),
            inode,
            state: Arc::clone(&self.state),
        }))
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        RealFs.read(path)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        let mut missing = Vec::new();
        let mut d = Some(dir);
        while let Some(x) = d {
            if x.exists() {
                break;
            }
            missing.push(x.to_path_buf());
            d = x.parent();
        }
        RealFs.create_dir_all(dir)?;
        st.live_dirs.extend(missing);
        Ok(())
    }
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        RealFs.read_dir(dir)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.check(FaultOp::Remove, path)?;
        if !st.live.contains_key(path) && path.is_file() {
            st.adopt(path)?;
        }
        RealFs.remove_file(path)?;
        st.live.remove(path);
        Ok(())
    }
    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.check(FaultOp::Remove, dir)?;
        for f in walk(dir) {
            if !st.live.contains_key(&f) {
                st.adopt(&f)?;
            }
        }
        RealFs.remove_dir_all(dir)?;
        st.live.retain(|p, _| !p.starts_with(dir));
        Ok(())
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.check(FaultOp::Rename, to)?;
        let id = st.adopt(from)?;
        if to.exists() && !st.live.contains_key(to) {
            st.adopt(to)?;
        }
        RealFs.rename(from, to)?;
        st.live.remove(from);
        st.live.insert(to.into(), id);
        Ok(())
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.check(FaultOp::SyncDir, dir)?;
        RealFs.sync_dir(dir)?;
        let in_dir = |p: &Path| p.parent() == Some(dir);
        st.durable.retain(|p, _| !in_dir(p));
        let now: Vec<_> = st
            .live
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, &i)| (p.clone(), i))
            .collect();
        st.durable.extend(now);
        let dirs: Vec<_> = st.live_dirs.iter().filter(|p| in_dir(p)).cloned().collect();
        st.durable_dirs.extend(dirs);
        Ok(())
    }
    fn available_bytes(&self, path: &Path) -> io::Result<u64> {
        match lock(&self.state).available {
            Some(b) => Ok(b),
            None => RealFs.available_bytes(path),
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
