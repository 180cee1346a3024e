//! Recovery of an arbitrary segment file: opening it as the active segment always
//! succeeds (a torn or garbage tail is cut away) and yields only valid frames; opening
//! it as a sealed segment either succeeds with valid frames or reports corruption.
#![no_main]

use std::sync::Arc;

use freshet_storage::fs::{Fs, RealFs};
use freshet_storage::log::segment::{segment_file_name, Segment, SEGMENT_HEADER};
use libfuzzer_sys::fuzz_target;

/// A valid header for base offset 0, so the fuzzer spends its time on frames.
fn header() -> Vec<u8> {
    let mut h = vec![0u8; SEGMENT_HEADER as usize];
    h[..8].copy_from_slice(b"FRSHTSEG");
    h[8..12].copy_from_slice(&1u32.to_le_bytes());
    let crc = crc32(&h[..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else { return };
    // tmpfs where there is one: the recovery path syncs, and syncs on a disk are slow.
    let dir = if std::path::Path::new("/dev/shm").is_dir() { tempfile::tempdir_in("/dev/shm") } else { tempfile::tempdir() };
    let Ok(dir) = dir else { return };
    let path = dir.path().join(segment_file_name(0));
    let mut content = if flags & 1 == 1 { header() } else { Vec::new() };
    content.extend_from_slice(body);
    if std::fs::write(&path, &content).is_err() {
        return;
    }
    let fs: Arc<dyn Fs> = Arc::new(RealFs);
    let active = flags & 2 == 2;
    match Segment::open(&fs, &path, 0, active, 1 << 16, 64, None) {
        Ok(Some(seg)) => {
            let mut pos = SEGMENT_HEADER;
            let mut next = 0u64;
            while let Some((h, bytes)) = seg.frame_at(pos).expect("recovered segments hold only valid frames") {
                assert_eq!(h.base_offset, next);
                assert_eq!(bytes.len(), h.total_len);
                next = h.next_offset();
                pos += h.total_len as u64;
            }
            assert_eq!(pos, seg.committed_len());
        }
        Ok(None) => assert!(active, "only an active segment may be an unfinished creation"),
        Err(e) => assert!(
            !active || content.get(..SEGMENT_HEADER as usize) != Some(&header()[..]),
            "an active segment with a valid header always recovers: {e}"
        ),
    }
});
