//! MD5 of many short messages at once, one message per lane.
//!
//! A partition key's MD5 is one 64-byte block for keys of up to 55 bytes (nearly all of
//! them), and one block's 64 steps are a chain where each step waits for the last: a
//! single digest leaves most of a core's arithmetic units idle. Computing [`LANES`]
//! digests side by side, each step on vectors of words
//! (SSE2 on x86-64, in `sys`, the engine's one module of `unsafe`; elsewhere one lane
//! after another, as plain MD5), is the "multi-buffer" MD5 that storage engines and
//! network stacks use for many small hashes. The tests check every lane against the
//! `md-5` crate.

/// Digests computed side by side: two 4-word vectors, so two chains interleave.
pub(crate) const LANES: usize = 8;

/// The longest message that fits one block (64 bytes less the 0x80 pad byte and the
/// 8-byte length).
pub(crate) const MAX_ONE_BLOCK: usize = 55;

/// The constants added at each step.
pub(crate) const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// The state words' initial values.
pub(crate) const INIT: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

/// The padded one-block messages as 16 words per lane, word-major (`m[word][lane]`).
type Blocks = [[u32; LANES]; 16];

/// The MD5 digests of up to [`LANES`] messages of at most [`MAX_ONE_BLOCK`] bytes each
/// (longer ones are the caller's: they panic here); the digests of the lanes past
/// `messages.len()` mean nothing.
pub(crate) fn digests(messages: &[&[u8]]) -> [[u8; 16]; LANES] {
    assert!(messages.len() <= LANES, "at most {LANES} messages");
    let mut m: Blocks = [[0u32; LANES]; 16];
    for (lane, msg) in messages.iter().enumerate() {
        assert!(
            msg.len() <= MAX_ONE_BLOCK,
            "one block holds at most 55 bytes"
        );
        let mut block = [0u8; 64];
        block[..msg.len()].copy_from_slice(msg);
        block[msg.len()] = 0x80;
        block[56..].copy_from_slice(&((msg.len() as u64) * 8).to_le_bytes());
        for (w, word) in block.chunks_exact(4).enumerate() {
            m[w][lane] = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        }
    }
    let state = rounds(&m);
    let mut out = [[0u8; 16]; LANES];
    for (lane, digest) in out.iter_mut().enumerate() {
        for (w, (v, init)) in state.iter().zip(INIT).enumerate() {
            digest[w * 4..w * 4 + 4].copy_from_slice(&v[lane].wrapping_add(init).to_le_bytes());
        }
    }
    out
}

/// The rotation of each step, by round and step within a group of four.
pub(crate) const SHIFT: [[u32; 4]; 4] = [
    [7, 12, 17, 22],
    [5, 9, 14, 20],
    [4, 11, 16, 23],
    [6, 10, 15, 21],
];

/// Index of the message word that step `i` adds.
pub(crate) const fn word(i: usize) -> usize {
    match i / 16 {
        0 => i,
        1 => (5 * i + 1) % 16,
        2 => (3 * i + 5) % 16,
        _ => (7 * i) % 16,
    }
}

type V = [u32; LANES];

/// The 64 steps on every lane. Returns the state words a, b, c, d before the initial
/// values are added.
#[cfg(target_arch = "x86_64")]
fn rounds(m: &Blocks) -> [V; 4] {
    crate::sys::md5_rounds_x8(m)
}

/// The 64 steps on every lane, one lane at a time.
#[cfg(not(target_arch = "x86_64"))]
fn rounds(m: &Blocks) -> [V; 4] {
    portable_rounds(m)
}

/// The 64 steps on every lane, one lane at a time (what other architectures run; the
/// tests check the x86-64 kernel against it too).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn portable_rounds(m: &Blocks) -> [V; 4] {
    let mut out = [[0u32; LANES]; 4];
    for lane in 0..LANES {
        let [mut a, mut b, mut c, mut d] = INIT;
        for (i, &k) in K.iter().enumerate() {
            let f = match i / 16 {
                0 => d ^ (b & (c ^ d)),
                1 => c ^ (d & (b ^ c)),
                2 => b ^ c ^ d,
                _ => c ^ (b | !d),
            };
            let t = a
                .wrapping_add(f)
                .wrapping_add(k)
                .wrapping_add(m[word(i)][lane]);
            (a, b, c, d) = (d, b.wrapping_add(t.rotate_left(SHIFT[i / 16][i % 4])), b, c);
        }
        for (w, v) in [a, b, c, d].into_iter().enumerate() {
            out[w][lane] = v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    #[test]
    fn every_lane_matches_md5_for_every_one_block_length() {
        // Messages of each length 0..=55 with varied bytes, in every lane position and
        // in short groups (the lanes past the group's length are ignored).
        let messages: Vec<Vec<u8>> = (0..=MAX_ONE_BLOCK)
            .map(|len| (0..len).map(|i| (i * 31 + len * 7) as u8).collect())
            .collect();
        for group in 1..=LANES {
            for chunk in messages.chunks(group) {
                let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
                let got = digests(&refs);
                for (lane, msg) in chunk.iter().enumerate() {
                    assert_eq!(got[lane].as_slice(), Md5::digest(msg).as_slice(), "{msg:?}");
                }
            }
        }
        assert_eq!(digests(&[]).len(), LANES);
    }

    #[test]
    fn the_kernel_and_the_lane_loops_agree() {
        let mut m: Blocks = [[0; LANES]; 16];
        let mut x = 0x9e37_79b9u32;
        for word in m.iter_mut().flatten() {
            x = x.wrapping_mul(0x0019_660d).wrapping_add(0x3c6e_f35f);
            *word = x;
        }
        assert_eq!(rounds(&m), portable_rounds(&m));
    }

    #[test]
    #[should_panic(expected = "one block")]
    fn refuses_a_message_of_two_blocks() {
        digests(&[&[0u8; 56]]);
    }
}
