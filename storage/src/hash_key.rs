//! Hash keys: the Kinesis data model's MD5 routing, defined in `freshet-protocol` and
//! re-exported here so the engine's API names them as before, and the engine's batch
//! form of it.

pub use freshet_protocol::hash_key::*;

use crate::md5_lanes::{self, LANES};

/// The hash keys of many partition keys, each as [`hash_key_of`] gives it: keys of up
/// to 55 bytes (one MD5 block) are hashed eight at a time, side by side
/// (`md5_lanes`), longer ones alone by [`hash_key_of`]. `out` gets one key per input,
/// in order.
pub fn hash_keys_of(keys: &[&str], out: &mut Vec<u128>) {
    out.clear();
    out.resize(keys.len(), 0);
    let mut group: [&[u8]; LANES] = [&[]; LANES];
    let mut slots = [0usize; LANES];
    let mut filled = 0;
    let flush = |group: &[&[u8]], slots: &[usize], out: &mut Vec<u128>| {
        for (digest, &slot) in md5_lanes::digests(group).iter().zip(slots) {
            out[slot] = u128::from_be_bytes(*digest);
        }
    };
    for (i, key) in keys.iter().enumerate() {
        if key.len() > md5_lanes::MAX_ONE_BLOCK {
            out[i] = hash_key_of(key);
            continue;
        }
        group[filled] = key.as_bytes();
        slots[filled] = i;
        filled += 1;
        if filled == LANES {
            flush(&group, &slots, out);
            filled = 0;
        }
    }
    if filled > 0 {
        flush(&group[..filled], &slots[..filled], out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_keys_at_once_match_one_at_a_time() {
        // Short and long keys mixed (long ones break the groups of eight), counts
        // around the group size, and the empty key.
        let keys: Vec<String> = (0..200)
            .map(|i| match i % 7 {
                0 => "k".repeat(56 + i % 90),
                1 => String::new(),
                _ => format!("pk-{i}-{}", "é".repeat(i % 26)),
            })
            .collect();
        let mut out = vec![42];
        for n in [0, 1, 7, 8, 9, 17, 200] {
            let refs: Vec<&str> = keys[..n].iter().map(String::as_str).collect();
            hash_keys_of(&refs, &mut out);
            let want: Vec<u128> = keys[..n].iter().map(|k| hash_key_of(k)).collect();
            assert_eq!(out, want, "{n} keys");
        }
    }
}
