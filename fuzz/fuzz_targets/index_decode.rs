//! Index-file decoding: any bytes decode to a consistent index or are refused, and a
//! decoded index encodes back to the same bytes.
#![no_main]

use freshet_storage::log::index::IndexFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(ix) = IndexFile::decode(data) {
        assert_eq!(ix.encode(), data);
    }
});
