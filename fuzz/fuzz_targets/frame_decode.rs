//! Batch-frame decoding: any bytes either decode to a frame whose records fill it
//! exactly, or are refused; never a panic.
#![no_main]

use freshet_storage::log::frame::{decode, records, Decoded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Decoded::Frame(h) = decode(data) {
        let frame = &data[..h.total_len];
        let mut n = 0u32;
        for span in records(frame) {
            assert!(span.data_start + span.data_len <= frame.len());
            assert!(std::str::from_utf8(&frame[span.key_start..span.key_start + span.key_len]).is_ok());
            n += 1;
        }
        assert_eq!(n, h.count);
    }
});
