//! Taking aggregated records apart, as the KCL does.

use bytes::Bytes;
use md5::{Digest, Md5};
use prost::Message;

use super::proto;
use super::{DIGEST_LEN, MAGIC};
use crate::kinesis::{HashKeyRange, Record};

/// A user record: one record of an aggregate, or a plain Kinesis record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The Kinesis record's sequence number.
    pub sequence_number: String,
    /// Position inside the aggregate (0 for a plain record).
    pub sub_sequence_number: u64,
    /// Partition key.
    pub partition_key: String,
    /// Explicit hash key, when the producer gave one.
    pub explicit_hash_key: Option<u128>,
    /// Data.
    pub data: Bytes,
    /// Approximate arrival time of the Kinesis record, ms since the epoch.
    pub approximate_arrival_ms: Option<i64>,
    /// Whether it came out of an aggregate.
    pub aggregated: bool,
}

impl UserRecord {
    /// The hash key that routes it: the explicit one, or the MD5 of the partition key.
    pub fn hash_key(&self) -> u128 {
        self.explicit_hash_key
            .unwrap_or_else(|| crate::hash_key::hash_key_of(&self.partition_key))
    }

    fn plain(r: &Record) -> UserRecord {
        UserRecord {
            sequence_number: r.sequence_number.clone(),
            sub_sequence_number: 0,
            partition_key: r.partition_key.clone(),
            explicit_hash_key: None,
            data: r.data.clone(),
            approximate_arrival_ms: r.approximate_arrival_ms,
            aggregated: false,
        }
    }
}

/// Whether `data` carries the magic, is long enough and its digest checks out.
pub fn is_aggregated(data: &[u8]) -> bool {
    body_of(data).is_some()
}

/// The protobuf body of an aggregate whose framing and digest check out.
fn body_of(data: &[u8]) -> Option<&[u8]> {
    let rest = data.strip_prefix(&MAGIC[..])?;
    let split = rest.len().checked_sub(DIGEST_LEN)?;
    let (body, digest) = rest.split_at(split);
    (Md5::digest(body).as_slice() == digest).then_some(body)
}

/// Decodes an aggregate into user records; `None` when it is not a valid one (a table
/// index out of bounds or an unparsable explicit hash key counts as invalid).
fn decode(r: &Record) -> Option<Vec<UserRecord>> {
    let body = body_of(&r.data)?;
    let start = r.data.len() - DIGEST_LEN - body.len();
    let slice = r.data.slice(start..start + body.len());
    let agg = proto::AggregatedRecord::decode(slice).ok()?;
    let mut ehks = Vec::with_capacity(agg.explicit_hash_key_table.len());
    for s in &agg.explicit_hash_key_table {
        ehks.push(s.parse::<u128>().ok());
    }
    let mut out = Vec::with_capacity(agg.records.len());
    for (sub, rec) in agg.records.into_iter().enumerate() {
        let pk = agg
            .partition_key_table
            .get(usize::try_from(rec.partition_key_index).ok()?)?;
        let ehk = match rec.explicit_hash_key_index {
            Some(i) => Some((*ehks.get(usize::try_from(i).ok()?)?)?),
            None => None,
        };
        out.push(UserRecord {
            sequence_number: r.sequence_number.clone(),
            sub_sequence_number: sub as u64,
            partition_key: pk.clone(),
            explicit_hash_key: ehk,
            data: rec.data,
            approximate_arrival_ms: r.approximate_arrival_ms,
            aggregated: true,
        });
    }
    Some(out)
}

/// The user records of a Kinesis record, with sub-sequence numbers. A record that is
/// not a valid aggregate (no magic, too short, wrong MD5, undecodable protobuf or a
/// dangling table index) passes through as one plain record, as the KCL does.
pub fn deaggregate(record: &Record) -> Vec<UserRecord> {
    decode(record).unwrap_or_else(|| vec![UserRecord::plain(record)])
}

/// Like [`deaggregate`], but drops a whole aggregate any of whose user records hashes
/// outside `range` (the shard being read): after a reshard, a producer with a stale
/// shard map may have put an aggregate on a parent whose records belong to a child,
/// and the KCL discards such aggregates. Plain records are never dropped.
pub fn deaggregate_in_range(record: &Record, range: &HashKeyRange) -> Vec<UserRecord> {
    match decode(record) {
        Some(users) => {
            if users.iter().all(|u| range.contains(u.hash_key())) {
                users
            } else {
                Vec::new()
            }
        }
        None => vec![UserRecord::plain(record)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinesis::PutRecordsEntry;
    use crate::kpl::Aggregator;

    fn record(data: impl Into<Bytes>) -> Record {
        Record {
            sequence_number: "7".into(),
            approximate_arrival_ms: Some(5),
            partition_key: "outer".into(),
            data: data.into(),
        }
    }

    fn aggregate_of(entries: &[PutRecordsEntry]) -> Bytes {
        let mut agg = Aggregator::default();
        for e in entries {
            agg.try_add(e).unwrap();
        }
        agg.finish_data()
    }

    #[test]
    fn round_trip_with_sub_sequence_numbers() {
        let entries = [
            PutRecordsEntry::new("a", "1"),
            PutRecordsEntry::new("b", "2").with_explicit_hash_key(99),
            PutRecordsEntry::new("a", ""),
        ];
        let users = deaggregate(&record(aggregate_of(&entries)));
        assert_eq!(users.len(), 3);
        for (i, (u, e)) in users.iter().zip(&entries).enumerate() {
            assert_eq!(u.sub_sequence_number, i as u64);
            assert_eq!(u.partition_key, e.partition_key);
            assert_eq!(u.explicit_hash_key, e.explicit_hash_key);
            assert_eq!(u.data, e.data);
            assert_eq!(u.sequence_number, "7");
            assert!(u.aggregated);
        }
    }

    #[test]
    fn corrupt_blobs_pass_through() {
        let good = aggregate_of(&[
            PutRecordsEntry::new("a", "1"),
            PutRecordsEntry::new("b", "2"),
        ]);
        let mut bad_digest = good.to_vec();
        let last = bad_digest.len() - 1;
        bad_digest[last] ^= 1;
        let cases: Vec<Bytes> = vec![
            Bytes::from_static(b"plain data"),
            Bytes::from_static(&MAGIC),
            Bytes::from(MAGIC[..3].to_vec()),
            Bytes::from(bad_digest),
            good.slice(..good.len() - 1),
            Bytes::new(),
        ];
        for data in cases {
            let users = deaggregate(&record(data.clone()));
            assert_eq!(users.len(), 1);
            assert!(!users[0].aggregated);
            assert_eq!(users[0].data, data);
            assert_eq!(users[0].partition_key, "outer");
        }
    }

    #[test]
    fn undecodable_body_with_good_digest_passes_through() {
        let body = [0xffu8, 0xff, 0xff];
        let mut data = MAGIC.to_vec();
        data.extend_from_slice(&body);
        data.extend_from_slice(&Md5::digest(body));
        let users = deaggregate(&record(data));
        assert_eq!(users.len(), 1);
        assert!(!users[0].aggregated);
        // A dangling partition key index.
        let bad = proto::AggregatedRecord {
            partition_key_table: vec![],
            explicit_hash_key_table: vec![],
            records: vec![proto::Record {
                partition_key_index: 3,
                explicit_hash_key_index: None,
                data: Bytes::from_static(b"x"),
                tags: vec![],
            }],
        }
        .encode_to_vec();
        let mut data = MAGIC.to_vec();
        data.extend_from_slice(&bad);
        data.extend_from_slice(&Md5::digest(&bad));
        assert!(!deaggregate(&record(data))[0].aggregated);
    }

    #[test]
    fn range_filter_drops_whole_aggregates_only() {
        let data = aggregate_of(&[
            PutRecordsEntry::new("a", "1").with_explicit_hash_key(10),
            PutRecordsEntry::new("b", "2").with_explicit_hash_key(20),
        ]);
        let inside = HashKeyRange { start: 0, end: 20 };
        let partial = HashKeyRange { start: 0, end: 15 };
        assert_eq!(
            deaggregate_in_range(&record(data.clone()), &inside).len(),
            2
        );
        assert!(deaggregate_in_range(&record(data), &partial).is_empty());
        // Plain records are kept whatever their key.
        let plain = record("x");
        assert_eq!(
            deaggregate_in_range(&plain, &HashKeyRange { start: 0, end: 0 }).len(),
            1
        );
    }
}
