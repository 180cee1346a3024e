//! Kinesis' input rules, in one place: the patterns and limits of AWS's model, the
//! member declarations every action shares (so a stream name is declared once), and
//! the checks that come after the model's (a hash key's range, a request's total
//! size), each returning a typed violation for the caller to word.
//!
//! The generic path (validation of every action), the typed fast path of
//! PutRecords/GetRecords and the engine all check with these, so they cannot drift.
//!
//! ```
//! use freshet_protocol::kinesis::rules;
//!
//! assert!(rules::STREAM_NAME.accepts_str("orders-1"));
//! assert!(!rules::STREAM_NAME.accepts_str("ab cd"));
//! assert!(rules::PARTITION_KEY.accepts_str(&"é".repeat(256)));
//! assert!(!rules::PARTITION_KEY.accepts_str(&"😀".repeat(129))); // 258 UTF-16 units
//! assert_eq!(rules::hash_key("340282366920938463463374607431768211455"), Ok(u128::MAX));
//! assert!(rules::hash_key("340282366920938463463374607431768211456").is_err());
//! ```

use crate::validate::{Member, Pattern, Rule, Type};

/// Most records of one PutRecords call.
pub const MAX_PUT_RECORDS: usize = 500;
/// Most bytes of one record's data. AWS's model now allows up to 10 MiB for streams
/// configured with a larger MaxRecordSizeInKiB; streams here keep the default, 1 MiB,
/// so the model's bound is the default's.
pub const MAX_DATA_BYTES: usize = 1024 * 1024;
/// Most UTF-16 code units of a partition key.
pub const MAX_PARTITION_KEY_LEN: usize = 256;
/// Most bytes of data and partition keys in one PutRecords call.
pub const MAX_PUT_RECORDS_REQUEST_BYTES: usize = 10 * 1024 * 1024;
/// Most characters of a shard iterator.
pub const MAX_SHARD_ITERATOR_LEN: usize = 512;
/// Most records one GetRecords call returns (and the default Limit).
pub const MAX_GET_RECORDS_LIMIT: i64 = 10_000;

/// Java's `.`: any character but a line terminator.
fn is_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// Java's `\S`: anything but ASCII whitespace.
fn is_java_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// `[a-zA-Z0-9_.-]+`.
fn is_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_name_char)
}

/// `0|([1-9]\d{0,N-1})`: a decimal without leading zeros, of at most `max_digits`.
fn is_decimal(s: &str, max_digits: usize) -> bool {
    let b = s.as_bytes();
    match b.first() {
        Some(b'0') => b.len() == 1,
        Some(_) => b.len() <= max_digits && b.iter().all(u8::is_ascii_digit),
        None => false,
    }
}

/// Where `needle` occurs in `s` at or after `from`, as byte offsets.
fn occurrences<'a>(s: &'a str, needle: &'a str, from: usize) -> impl Iterator<Item = usize> + 'a {
    s.get(from..)
        .into_iter()
        .flat_map(move |rest| rest.match_indices(needle).map(move |(i, _)| from + i))
}

/// The earliest end of `arn:aws.*:kinesis:.*:\d{12}:` in `s` that lies within
/// `limit` (the prefix before it must hold no line terminator): the common head of
/// every Kinesis ARN pattern. `stream_follows` asks for the `:\d{12}:` to be followed
/// directly by what comes next (the end returned is then a candidate), else the
/// earliest is best, as a later `.*` takes whatever lies between.
fn arn_head_ends(s: &str, limit: usize) -> impl Iterator<Item = usize> + '_ {
    let kinesis = if s.starts_with("arn:aws") {
        occurrences(s, ":kinesis:", 7).next()
    } else {
        None
    };
    kinesis
        .into_iter()
        .flat_map(move |k| occurrences(s, ":", k + 9))
        .filter(move |&j| {
            s.get(j + 1..j + 13)
                .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
                && s.as_bytes().get(j + 13) == Some(&b':')
        })
        .map(|j| j + 14)
        .take_while(move |&end| end <= limit)
}

/// Where the first line terminator is (the end of what `.*` may span).
fn first_line_end(s: &str) -> usize {
    s.char_indices()
        .find(|(_, c)| is_line_terminator(*c))
        .map_or(s.len(), |(i, _)| i)
}

/// Where `\S+` may start: after the last whitespace character (a tail from there to
/// the end, when not empty, holds none).
fn tail_start(s: &str) -> usize {
    s.char_indices()
        .rev()
        .find(|(_, c)| is_java_space(*c))
        .map_or(0, |(i, c)| i + c.len_utf8())
}

/// What follows `:<account>:stream/` in a text matching [`STREAM_ARN_PATTERN`] (`arn:aws.*:kinesis:.*:\d{12}:stream/\S+`):
/// a stream's name, or for a consumer's ARN `name/consumer/...`. `None` when the text
/// does not match.
pub fn stream_arn_resource(s: &str) -> Option<&str> {
    let (limit, tail) = (first_line_end(s), tail_start(s));
    arn_head_ends(s, limit)
        .find(|&end| {
            s.get(end..).is_some_and(|r| r.starts_with("stream/"))
                && end + 7 >= tail
                && end + 7 < s.len()
        })
        .and_then(|end| s.get(end + 7..))
}

/// What follows `stream/` in a text matching [`RESOURCE_ARN_PATTERN`]
/// (`arn:aws.*:kinesis:.*:\d{12}:.*stream/\S+`), the first such place; `None` when
/// the text does not match.
pub fn resource_arn_resource(s: &str) -> Option<&str> {
    let (limit, tail) = (first_line_end(s), tail_start(s));
    let head = arn_head_ends(s, limit).next()?;
    occurrences(s, "stream/", head)
        .take_while(|&k| k <= limit)
        .find(|&k| k + 7 >= tail && k + 7 < s.len())
        .and_then(|k| s.get(k + 7..))
}

/// The parts of a consumer's ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerArn<'a> {
    /// The stream's name.
    pub stream: &'a str,
    /// The consumer's name.
    pub consumer: &'a str,
    /// The consumer's creation time, epoch seconds, as written.
    pub created: &'a str,
}

/// The parts of a text matching [`CONSUMER_ARN_PATTERN`]
/// (`^(arn):aws.*:kinesis:.*:\d{12}:.*stream\/[a-zA-Z0-9_.-]+\/consumer\/[a-zA-Z0-9_.-]+:[0-9]+`);
/// `None` when the text does not match.
pub fn consumer_arn(s: &str) -> Option<ConsumerArn<'_>> {
    // From the end: digits, ':', a name, "/consumer/", a name, "stream/". Names hold
    // neither '/' nor ':', so each part is the longest run of its characters.
    let b = s.as_bytes();
    let run = |at: usize, ok: fn(u8) -> bool| {
        let start = b
            .get(..at)
            .map_or(at, |p| p.iter().rposition(|&c| !ok(c)).map_or(0, |i| i + 1));
        (start < at).then_some(start)
    };
    let digits = run(b.len(), |c| c.is_ascii_digit())?;
    let colon = digits.checked_sub(1).filter(|&i| b.get(i) == Some(&b':'))?;
    let consumer = run(colon, is_name_char)?;
    let before = s.get(..consumer)?.strip_suffix("/consumer/")?;
    let stream = run(before.len(), is_name_char)?;
    let head = s.get(..stream)?.strip_suffix("stream/")?;
    if first_line_end(head) != head.len() || arn_head_ends(head, head.len()).next().is_none() {
        return None;
    }
    Some(ConsumerArn {
        stream: s.get(stream..before.len())?,
        consumer: s.get(consumer..colon)?,
        created: s.get(digits..)?,
    })
}

/// Stream, shard and consumer names: `[a-zA-Z0-9_.-]+`.
pub static NAME_PATTERN: Pattern = Pattern {
    regex: "[a-zA-Z0-9_.-]+",
    matches: is_name,
};
/// Hash keys: `0|([1-9]\d{0,38})`.
pub static HASH_KEY_PATTERN: Pattern = Pattern {
    regex: "0|([1-9]\\d{0,38})",
    matches: |s| is_decimal(s, 39),
};
/// Sequence numbers: `0|([1-9]\d{0,128})`.
pub static SEQUENCE_NUMBER_PATTERN: Pattern = Pattern {
    regex: "0|([1-9]\\d{0,128})",
    matches: |s| is_decimal(s, 129),
};
/// Stream ARNs.
pub static STREAM_ARN_PATTERN: Pattern = Pattern {
    regex: "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+",
    matches: |s| stream_arn_resource(s).is_some(),
};
/// Resource ARNs (a stream or a consumer).
pub static RESOURCE_ARN_PATTERN: Pattern = Pattern {
    regex: "arn:aws.*:kinesis:.*:\\d{12}:.*stream/\\S+",
    matches: |s| resource_arn_resource(s).is_some(),
};
/// Consumer ARNs.
pub static CONSUMER_ARN_PATTERN: Pattern = Pattern {
    regex: "^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+\\/consumer\\/[a-zA-Z0-9_.-]+:[0-9]+",
    matches: |s| consumer_arn(s).is_some(),
};

const NAME_RULES: &[Rule] = &[
    Rule::Pattern(&NAME_PATTERN),
    Rule::MinLen(1),
    Rule::MaxLen(128),
];
const STREAM_ARN_RULES: &[Rule] = &[
    Rule::Pattern(&STREAM_ARN_PATTERN),
    Rule::MinLen(1),
    Rule::MaxLen(2048),
];
const RESOURCE_ARN_RULES: &[Rule] = &[
    Rule::Pattern(&RESOURCE_ARN_PATTERN),
    Rule::MinLen(1),
    Rule::MaxLen(2048),
];
const CONSUMER_ARN_RULES: &[Rule] = &[
    Rule::Pattern(&CONSUMER_ARN_PATTERN),
    Rule::MinLen(1),
    Rule::MaxLen(2048),
];
/// `0|([1-9]\d{0,38})`, as a member's rules.
pub const HASH_KEY_RULES: &[Rule] = &[Rule::Pattern(&HASH_KEY_PATTERN)];
const SEQUENCE_NUMBER_RULES: &[Rule] = &[Rule::Pattern(&SEQUENCE_NUMBER_PATTERN)];

/// StreamName.
pub const STREAM_NAME: Member = Member::new("StreamName", Type::String).with(NAME_RULES);
/// StreamARN.
pub const STREAM_ARN: Member = Member::new("StreamARN", Type::String).with(STREAM_ARN_RULES);
/// ResourceARN (tagging actions).
pub const RESOURCE_ARN: Member = Member::new("ResourceARN", Type::String).with(RESOURCE_ARN_RULES);
/// ConsumerARN.
pub const CONSUMER_ARN: Member = Member::new("ConsumerARN", Type::String).with(CONSUMER_ARN_RULES);
/// ConsumerName.
pub const CONSUMER_NAME: Member = Member::new("ConsumerName", Type::String).with(NAME_RULES);
/// A shard id member (ShardId, ShardToSplit, ExclusiveStartShardId, ...).
pub const SHARD_ID: Member = Member::new("ShardId", Type::String).with(NAME_RULES);
/// PartitionKey.
pub const PARTITION_KEY: Member = Member::new("PartitionKey", Type::String)
    .required()
    .with(&[Rule::MinLen(1), Rule::MaxLen(MAX_PARTITION_KEY_LEN as u64)]);
/// ExplicitHashKey.
pub const EXPLICIT_HASH_KEY: Member =
    Member::new("ExplicitHashKey", Type::String).with(HASH_KEY_RULES);
/// Data.
pub const DATA: Member = Member::new("Data", Type::Blob)
    .required()
    .with(&[Rule::MaxLen(MAX_DATA_BYTES as u64)]);
/// A sequence number member (StartingSequenceNumber, SequenceNumberForOrdering, ...).
pub const SEQUENCE_NUMBER: Member =
    Member::new("SequenceNumber", Type::String).with(SEQUENCE_NUMBER_RULES);
/// ShardIterator.
pub const SHARD_ITERATOR: Member = Member::new("ShardIterator", Type::String)
    .required()
    .with(&[Rule::MinLen(1), Rule::MaxLen(MAX_SHARD_ITERATOR_LEN as u64)]);
/// GetRecords' Limit.
pub const GET_RECORDS_LIMIT: Member =
    Member::new("Limit", Type::Integer).with(&[Rule::Min(1), Rule::Max(MAX_GET_RECORDS_LIMIT)]);
/// NextToken.
pub const NEXT_TOKEN: Member =
    Member::new("NextToken", Type::String).with(&[Rule::MinLen(1), Rule::MaxLen(1_048_576)]);
/// A tag key.
pub const TAG_KEY: Member =
    Member::new("member", Type::String).with(&[Rule::MinLen(1), Rule::MaxLen(128)]);
/// A tag value.
pub const TAG_VALUE: Member =
    Member::new("member", Type::String).with(&[Rule::MinLen(0), Rule::MaxLen(256)]);
/// A tag map (Tags).
pub const TAGS: Member = Member::new("Tags", Type::Map(&TAG_KEY, &TAG_VALUE))
    .with(&[Rule::MinLen(1), Rule::MaxLen(200)]);
/// A list of tag keys (TagKeys).
pub const TAG_KEYS: Member = Member::new("TagKeys", Type::List(&TAG_KEY))
    .required()
    .with(&[Rule::MinLen(1), Rule::MaxLen(50)]);

/// Iterator types, as AWS's messages list them.
pub const SHARD_ITERATOR_TYPES: &[&str] = &[
    "AFTER_SEQUENCE_NUMBER",
    "LATEST",
    "AT_TIMESTAMP",
    "AT_SEQUENCE_NUMBER",
    "TRIM_HORIZON",
];

/// Why a text of hash-key digits is not a hash key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKeyViolation {
    /// Not `0|([1-9]\d{0,38})`.
    Pattern,
    /// Beyond 2^128 - 1.
    OutOfRange,
}

/// A hash key (ExplicitHashKey, NewStartingHashKey): its pattern, then its range.
pub fn hash_key(s: &str) -> Result<u128, HashKeyViolation> {
    if !(HASH_KEY_PATTERN.matches)(s) {
        return Err(HashKeyViolation::Pattern);
    }
    s.bytes()
        .try_fold(0u128, |n, b| {
            n.checked_mul(10)?.checked_add(u128::from(b - b'0'))
        })
        .ok_or(HashKeyViolation::OutOfRange)
}

/// A PutRecords call over [`MAX_PUT_RECORDS_REQUEST_BYTES`] of data and partition
/// keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTooLarge {
    /// Bytes of data and partition keys the request holds.
    pub bytes: usize,
}

/// The total size of a PutRecords call: data plus partition keys (UTF-8 bytes).
pub fn put_records_size(bytes: usize) -> Result<(), RequestTooLarge> {
    if bytes > MAX_PUT_RECORDS_REQUEST_BYTES {
        Err(RequestTooLarge { bytes })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
