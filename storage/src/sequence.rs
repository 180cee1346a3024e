//! Sequence numbers.
//!
//! A sequence number is the 128-bit integer
//!
//! ```text
//!   bit 124        : always 1 (so every sequence number has exactly 38 decimal digits)
//!   bits 64..=123  : the shard's index within its stream (shardId-000000000007 -> 7)
//!   bits 0..=63    : the record's offset in its shard's log, from 0
//! ```
//!
//! written in the API as its decimal string. Consequences: strictly increasing within a
//! shard (offsets are); unique within a stream (shard indexes are); a child shard's
//! numbers exceed every parent's (children are created with higher indexes); and since
//! all have 38 digits, comparing the strings compares the numbers.
//!
//! A [`Continuation`] names a position *between* records (where a subscription stopped)
//! with bit 125 set as well: still 38 digits, never a record's number, and resolved to
//! the offset of the next record.

use std::fmt;
use std::str::FromStr;

const MARKER: u128 = 1 << 124;
const SHARD_MASK: u128 = (1 << 60) - 1;

/// A record's sequence number: shard index and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SequenceNumber {
    /// Index of the shard in its stream.
    pub shard_index: u64,
    /// Offset of the record in the shard's log.
    pub offset: u64,
}

impl SequenceNumber {
    /// Builds a sequence number.
    pub fn new(shard_index: u64, offset: u64) -> Self {
        SequenceNumber {
            shard_index,
            offset,
        }
    }

    /// The 128-bit value.
    pub fn to_u128(self) -> u128 {
        MARKER | ((u128::from(self.shard_index) & SHARD_MASK) << 64) | u128::from(self.offset)
    }

    /// Decodes a 128-bit value, if it has the layout above.
    pub fn from_u128(v: u128) -> Option<Self> {
        if v >> 124 != 1 {
            return None;
        }
        Some(SequenceNumber {
            shard_index: ((v >> 64) & SHARD_MASK) as u64,
            offset: v as u64,
        })
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_u128())
    }
}

/// Bit 125: set in a [`Continuation`], never in a record's sequence number.
const CONTINUATION_MARK: u128 = 1 << 125;

/// A position between two records of a shard, as SubscribeToShard's
/// `ContinuationSequenceNumber` gives it: resuming `AFTER_SEQUENCE_NUMBER` (or
/// `AT_SEQUENCE_NUMBER`) it starts at `next_offset`, so nothing is repeated or skipped.
/// Written as a 38-digit number above every record's (bit 125 set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Continuation {
    /// Index of the shard in its stream.
    pub shard_index: u64,
    /// Offset of the next record to read.
    pub next_offset: u64,
}

impl Continuation {
    /// The 128-bit value.
    pub fn to_u128(self) -> u128 {
        SequenceNumber::new(self.shard_index, self.next_offset).to_u128() | CONTINUATION_MARK
    }

    /// Decodes a continuation's decimal string; `None` for anything else (a record's
    /// sequence number included).
    pub fn parse(s: &str) -> Option<Continuation> {
        if s.is_empty() || s.len() > 38 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v: u128 = s.parse().ok()?;
        if v >> 124 != 0b11 {
            return None;
        }
        let seq = SequenceNumber::from_u128(v & !CONTINUATION_MARK)?;
        Some(Continuation {
            shard_index: seq.shard_index,
            next_offset: seq.offset,
        })
    }

    /// Where reading resumes: the next record's sequence number (to read at).
    pub fn next(self) -> SequenceNumber {
        SequenceNumber::new(self.shard_index, self.next_offset)
    }
}

impl fmt::Display for Continuation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_u128())
    }
}

/// Why a sequence-number string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSequenceNumber;

impl FromStr for SequenceNumber {
    type Err = BadSequenceNumber;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || s.len() > 128 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BadSequenceNumber);
        }
        let v: u128 = s.parse().map_err(|_| BadSequenceNumber)?;
        SequenceNumber::from_u128(v).ok_or(BadSequenceNumber)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_orders_as_strings() {
        let a = SequenceNumber::new(0, 0);
        let b = SequenceNumber::new(0, u64::MAX);
        let c = SequenceNumber::new(1, 0);
        let d = SequenceNumber::new((1 << 60) - 1, u64::MAX);
        for s in [a, b, c, d] {
            let text = s.to_string();
            assert_eq!(text.len(), 38, "{text}");
            assert_eq!(text.parse::<SequenceNumber>(), Ok(s));
        }
        assert!(a.to_string() < b.to_string());
        assert!(b.to_string() < c.to_string());
        assert!(c.to_string() < d.to_string());
    }

    #[test]
    fn continuations_are_38_digits_and_never_records() {
        for (shard, next) in [(0, 0), (0, 5), (7, u64::MAX), ((1 << 60) - 1, 0)] {
            let c = Continuation {
                shard_index: shard,
                next_offset: next,
            };
            let text = c.to_string();
            assert_eq!(text.len(), 38, "{text}");
            assert_eq!(Continuation::parse(&text), Some(c));
            assert!(text.parse::<SequenceNumber>().is_err(), "{text}");
            assert_eq!(c.next(), SequenceNumber::new(shard, next));
        }
        let record = SequenceNumber::new(3, 9).to_string();
        assert_eq!(Continuation::parse(&record), None);
        assert_eq!(Continuation::parse(""), None);
        assert_eq!(Continuation::parse("12x"), None);
    }

    #[test]
    fn refuses_foreign_numbers() {
        assert!("".parse::<SequenceNumber>().is_err());
        assert!("12".parse::<SequenceNumber>().is_err());
        assert!("49590338271490256608559692538361571095921575989136588898"
            .parse::<SequenceNumber>()
            .is_err());
        assert!("abc".parse::<SequenceNumber>().is_err());
    }
}
