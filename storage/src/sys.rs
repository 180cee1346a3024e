//! The engine's only `unsafe` code: read-only memory maps of segment files,
//! `posix_fallocate`, `posix_fadvise` and `statvfs`, and the entry to the SSE2 kernel of the multi-lane
//! MD5 that routes partition keys (`md5_lanes`).
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

/// `posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)`; returns the error number (0 on
/// success).
pub(crate) fn fadvise_dont_need(file: &File) -> i32 {
    use std::os::unix::io::AsRawFd;
    // SAFETY: the descriptor is borrowed from a live `File` for the duration of the
    // call, and the call reads and writes no memory of ours.
    unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) }
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

/// MD5's 64 steps on eight one-block messages at once with SSE2 (`md5_lanes` packs the
/// blocks, word-major, and finishes the digests).
#[cfg(target_arch = "x86_64")]
pub(crate) fn md5_rounds_x8(m: &[[u32; 8]; 16]) -> [[u32; 8]; 4] {
    // SAFETY: SSE2 is part of the x86-64 baseline: every x86_64 CPU has it and the
    // compiler already emits it for all code of this target. The function touches no
    // memory but its arguments and locals.
    unsafe { md5_rounds_sse2(m) }
}

/// The SSE2 kernel: two 4-lane vectors per state word, two chains interleaved.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn md5_rounds_sse2(m: &[[u32; 8]; 16]) -> [[u32; 8]; 4] {
    use std::arch::x86_64::*;

    use crate::md5_lanes::{word, INIT, K, SHIFT};

    let load = |w: &[u32; 8]| -> [__m128i; 2] {
        [
            _mm_set_epi32(w[3] as i32, w[2] as i32, w[1] as i32, w[0] as i32),
            _mm_set_epi32(w[7] as i32, w[6] as i32, w[5] as i32, w[4] as i32),
        ]
    };
    let words: [[__m128i; 2]; 16] = std::array::from_fn(|w| load(&m[w]));
    let ones = _mm_set1_epi32(-1);
    let [mut a, mut b, mut c, mut d] = INIT.map(|x| [_mm_set1_epi32(x as i32); 2]);
    for (i, &k) in K.iter().enumerate() {
        let s = SHIFT[i / 16][i % 4] as i32;
        let (left, right) = (_mm_cvtsi32_si128(s), _mm_cvtsi32_si128(32 - s));
        let k = _mm_set1_epi32(k as i32);
        let mut next = [_mm_setzero_si128(); 2];
        for (v, next) in next.iter_mut().enumerate() {
            let (b, c, d) = (b[v], c[v], d[v]);
            let f = match i / 16 {
                0 => _mm_xor_si128(d, _mm_and_si128(b, _mm_xor_si128(c, d))),
                1 => _mm_xor_si128(c, _mm_and_si128(d, _mm_xor_si128(b, c))),
                2 => _mm_xor_si128(_mm_xor_si128(b, c), d),
                _ => _mm_xor_si128(c, _mm_or_si128(b, _mm_xor_si128(d, ones))),
            };
            let t = _mm_add_epi32(_mm_add_epi32(a[v], f), _mm_add_epi32(k, words[word(i)][v]));
            let rotated = _mm_or_si128(_mm_sll_epi32(t, left), _mm_srl_epi32(t, right));
            *next = _mm_add_epi32(b, rotated);
        }
        (a, b, c, d) = (d, next, b, c);
    }
    let lanes = |x: [__m128i; 2]| -> [u32; 8] {
        let mut out = [0u32; 8];
        for (v, half) in x.into_iter().enumerate() {
            let mut h = half;
            for lane in 0..4 {
                out[v * 4 + lane] = _mm_cvtsi128_si32(h) as u32;
                h = _mm_srli_si128::<4>(h);
            }
        }
        out
    };
    [lanes(a), lanes(b), lanes(c), lanes(d)]
}
