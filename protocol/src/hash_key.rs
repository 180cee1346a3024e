//! The 128-bit hash-key space: MD5 routing of partition keys and even division into
//! shards, as Kinesis does it.

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

/// An inclusive range of 128-bit hash keys owned by a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HashKeyRange {
    /// First hash key of the range.
    #[serde(with = "u128_string")]
    pub start: u128,
    /// Last hash key of the range (inclusive).
    #[serde(with = "u128_string")]
    pub end: u128,
}

impl HashKeyRange {
    /// The whole space, 0 to 2^128 - 1.
    pub const FULL: HashKeyRange = HashKeyRange {
        start: 0,
        end: u128::MAX,
    };

    /// Whether `key` lies in the range.
    pub fn contains(&self, key: u128) -> bool {
        self.start <= key && key <= self.end
    }

    /// Whether `other` starts right after this range ends.
    pub fn is_followed_by(&self, other: &HashKeyRange) -> bool {
        self.end.checked_add(1) == Some(other.start)
    }
}

/// The hash key Kinesis derives from a partition key: the MD5 digest read as a
/// big-endian unsigned 128-bit integer.
pub fn hash_key_of(partition_key: &str) -> u128 {
    let digest = Md5::digest(partition_key.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest);
    u128::from_be_bytes(bytes)
}

/// Parses a decimal hash key (an ExplicitHashKey or NewStartingHashKey), refusing
/// anything that is not 1 to 39 digits in 0..2^128.
pub fn parse_hash_key(s: &str) -> Option<u128> {
    if s.is_empty() || s.len() > 39 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u128>().ok()
}

/// `floor(i * 2^128 / n)` for `0 <= i <= n`, `n >= 1`, without overflow; `i == n`
/// would be 2^128, which the callers never ask for.
fn boundary(i: u128, n: u128) -> u128 {
    if i == 0 || n < 2 {
        return 0;
    }
    // 2^128 = n * q + r
    let q0 = u128::MAX / n;
    let r0 = u128::MAX % n;
    let (q, r) = if r0 + 1 == n {
        (q0 + 1, 0)
    } else {
        (q0, r0 + 1)
    };
    i.wrapping_mul(q).wrapping_add(i * r / n)
}

/// Splits `[0, 2^128)` into `n` even, contiguous ranges, as CreateStream and
/// UpdateShardCount do.
pub fn even_ranges(n: u32) -> Vec<HashKeyRange> {
    let n = u128::from(n.max(1));
    (0..n)
        .map(|i| HashKeyRange {
            start: boundary(i, n),
            end: if i + 1 == n {
                u128::MAX
            } else {
                boundary(i + 1, n) - 1
            },
        })
        .collect()
}

/// Serde adapter storing a u128 as a decimal string (JSON numbers lose precision).
pub(crate) mod u128_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_routing_matches_kinesis() {
        // MD5("a") = 0cc175b9c0f1b6a831c399e269772661
        assert_eq!(hash_key_of("a"), 0x0cc175b9c0f1b6a831c399e269772661);
    }

    #[test]
    fn even_ranges_match_kinesis_boundaries() {
        let two = even_ranges(2);
        assert_eq!(two[0].end, (1u128 << 127) - 1);
        assert_eq!(two[1].start, 1u128 << 127);
        let three = even_ranges(3);
        assert_eq!(
            three[0].end.to_string(),
            "113427455640312821154458202477256070484"
        );
        assert_eq!(
            three[2].start.to_string(),
            "226854911280625642308916404954512140970"
        );
        for n in [1u32, 2, 3, 7, 64, 500, 10_000] {
            let r = even_ranges(n);
            assert_eq!(r.len(), n as usize);
            assert_eq!(r[0].start, 0);
            assert_eq!(r[r.len() - 1].end, u128::MAX);
            for w in r.windows(2) {
                assert!(w[0].is_followed_by(&w[1]));
                assert!(w[0].start <= w[0].end);
            }
        }
    }

    #[test]
    fn parse_hash_key_rejects_out_of_range() {
        assert_eq!(parse_hash_key("0"), Some(0));
        assert_eq!(parse_hash_key(&u128::MAX.to_string()), Some(u128::MAX));
        assert_eq!(
            parse_hash_key("340282366920938463463374607431768211456"),
            None
        );
        assert_eq!(parse_hash_key("-1"), None);
        assert_eq!(parse_hash_key(""), None);
    }
}
