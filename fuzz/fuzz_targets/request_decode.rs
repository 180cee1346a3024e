//! JSON 1.1 and CBOR 1.1 request decoding (`freshet_protocol::value`): any body either
//! decodes or is refused with an error, never a panic; what decodes re-encodes to a
//! body that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

use freshet_protocol::value::{decode, encode, Encoding};

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else { return };
    let encoding = if which & 1 == 0 { Encoding::Json } else { Encoding::Cbor };
    if let Ok(v) = decode(encoding, body) {
        let again = encode(encoding, &v);
        let back = decode(encoding, &again).expect("our own encoding decodes");
        // Floats may not survive a text round trip bit for bit; compare the re-encoding.
        assert_eq!(encode(encoding, &back), again);
    }
});
