//! Kinesis Video's Matroska demuxer (`video/src/mkv.rs`, as PutMedia feeds it) and what
//! playback does with its clusters (the fragment records, MP4 samples and boxes): any
//! bytes, in any chunking, give clusters or an error, never a panic; a cluster stored as
//! fragment records comes back byte for byte.
//!
//! The video crate's modules are compiled in by path: the crate itself brings the
//! engine (RocksDB), which the fuzz build leaves out.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

#[allow(dead_code, missing_docs)]
#[path = "../../video/src/ebml.rs"]
mod ebml;
#[allow(dead_code, missing_docs)]
#[path = "../../video/src/error.rs"]
mod error;
#[allow(dead_code, missing_docs)]
#[path = "../../video/src/fragment.rs"]
mod fragment;
#[allow(dead_code, missing_docs)]
#[path = "../../video/src/mkv.rs"]
mod mkv;
#[allow(dead_code, missing_docs)]
#[path = "../../video/src/mp4.rs"]
mod mp4;

fuzz_target!(|data: &[u8]| {
    let Some((&how, body)) = data.split_first() else { return };
    let step = usize::from(how % 64) * 97 + 1;
    let mut demux = mkv::Demuxer::new(1 << 20);
    let mut clusters = Vec::new();
    let mut failed = false;
    for piece in body.chunks(step) {
        demux.push(piece);
        loop {
            match demux.next_cluster() {
                Ok(Some(c)) => clusters.push(c),
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            break;
        }
    }
    if !failed {
        if let Ok(Some(c)) = demux.finish() {
            clusters.push(c);
        }
    }
    let _ = mkv::parse_tracks(body);
    let _ = fragment::part(&Bytes::copy_from_slice(body));
    let _ = fragment::decode_meta(&Bytes::copy_from_slice(body));
    for c in clusters {
        for b in mkv::blocks(&c.blocks) {
            let _ = b;
        }
        let meta = fragment::Meta {
            producer_ms: i64::from(how) * 1000,
            fragment_timecode: c.timecode,
            cluster_timecode: c.timecode,
            duration_ms: 1000,
            scale: c.header.scale,
            tracks: c.header.tracks_raw.clone(),
        };
        let max = 4096 + usize::from(how) * 16;
        let Some(parts) = fragment::encode(&meta, &c.blocks, max) else { continue };
        let records: Vec<_> = parts
            .into_iter()
            .enumerate()
            .map(|(i, d)| (i as u64, 7, d))
            .collect();
        let (frags, _) = fragment::assemble(&records, 0);
        assert_eq!(frags.len(), 1, "a stored cluster comes back");
        let f = &frags[0];
        assert_eq!(f.blocks, c.blocks, "byte for byte");
        assert_eq!(f.meta, meta);
        if let Ok(track) = mp4::video_track(f) {
            let _ = mp4::init_segment(&track);
            let _ = mp4::codec_string(&track);
            if let Ok(samples) = mp4::samples(f, &track) {
                let _ = mp4::media_segment(1, &samples);
                let _ = mp4::plain(&track, &samples);
            }
        }
    }
});
