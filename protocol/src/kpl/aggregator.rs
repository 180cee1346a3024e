//! Building aggregated records with exact size accounting.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;

use bytes::{BufMut, Bytes, BytesMut};
use md5::{Digest, Md5};
use prost::encoding::{encode_varint, encoded_len_varint};

use super::proto;
use super::{DEFAULT_MAX_AGGREGATE_BYTES, DEFAULT_MAX_AGGREGATE_COUNT, DIGEST_LEN, MAGIC};
use crate::kinesis::{PutRecordsEntry, MAX_RECORD_BYTES};

/// Why [`Aggregator::try_add`] refused a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// The aggregate is full: finish it and start another.
    Full,
    /// The record alone would not fit in an aggregate of the configured size: send it
    /// as a plain record.
    TooLarge,
}

/// Bytes a length-delimited field (tag < 16) of `len` bytes adds to a message.
fn delimited_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

/// Accumulates user records into one aggregated Kinesis record.
#[derive(Debug, Clone)]
pub struct Aggregator {
    max_bytes: usize,
    max_count: usize,
    body: proto::AggregatedRecord,
    /// Partition key table index by hash of the key (a colliding key is simply
    /// appended again: a duplicate table entry is valid and decodes the same).
    pk_index: HashMap<u64, u64>,
    hasher: RandomState,
    ehk_index: HashMap<u128, u64>,
    first_hash_key: Option<u128>,
    /// Length of the protobuf body as it stands.
    proto_len: usize,
}

impl Default for Aggregator {
    fn default() -> Self {
        Aggregator::new(DEFAULT_MAX_AGGREGATE_BYTES, DEFAULT_MAX_AGGREGATE_COUNT)
    }
}

impl Aggregator {
    /// An empty aggregator whose aggregates stay within `max_bytes` (magic, body,
    /// digest and the aggregate's partition key; capped at 1 MiB) and `max_count`
    /// user records.
    pub fn new(max_bytes: usize, max_count: usize) -> Self {
        Aggregator {
            max_bytes: max_bytes.min(MAX_RECORD_BYTES),
            max_count: max_count.max(1),
            body: proto::AggregatedRecord::default(),
            pk_index: HashMap::new(),
            hasher: RandomState::new(),
            ehk_index: HashMap::new(),
            first_hash_key: None,
            proto_len: 0,
        }
    }

    /// User records held.
    pub fn len(&self) -> usize {
        self.body.records.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.body.records.is_empty()
    }

    /// Bytes the finished aggregate's data would have now (0 when empty).
    pub fn data_len(&self) -> usize {
        if self.is_empty() {
            0
        } else {
            MAGIC.len() + self.proto_len + DIGEST_LEN
        }
    }

    /// Bytes the finished Kinesis record would count against the limits (data plus
    /// partition key) now.
    pub fn billed_len(&self) -> usize {
        match self.body.partition_key_table.first() {
            Some(pk) => self.data_len() + pk.len(),
            None => 0,
        }
    }

    /// The table index of `pk`, if it is in the table.
    fn pk_lookup(&self, pk: &str) -> Option<u64> {
        let i = *self.pk_index.get(&self.hasher.hash_one(pk))?;
        let known = self
            .body
            .partition_key_table
            .get(usize::try_from(i).ok()?)?;
        (known == pk).then_some(i)
    }

    /// How many protobuf bytes adding `entry` would add.
    fn growth(&self, entry: &PutRecordsEntry) -> usize {
        let mut grow = 0;
        let pk_idx = match self.pk_lookup(&entry.partition_key) {
            Some(i) => i,
            None => {
                grow += delimited_len(entry.partition_key.len());
                self.body.partition_key_table.len() as u64
            }
        };
        let mut rec_len = 1 + encoded_len_varint(pk_idx) + delimited_len(entry.data.len());
        if let Some(ehk) = entry.explicit_hash_key {
            let ehk_idx = match self.ehk_index.get(&ehk) {
                Some(&i) => i,
                None => {
                    grow += delimited_len(decimal_len(ehk));
                    self.body.explicit_hash_key_table.len() as u64
                }
            };
            rec_len += 1 + encoded_len_varint(ehk_idx);
        }
        grow + delimited_len(rec_len)
    }

    /// Bytes the aggregate would count (data plus its partition key) with `entry`
    /// added.
    pub fn billed_len_with(&self, entry: &PutRecordsEntry) -> usize {
        let pk_len = self
            .body
            .partition_key_table
            .first()
            .map_or(entry.partition_key.len(), String::len);
        MAGIC.len() + self.proto_len + self.growth(entry) + DIGEST_LEN + pk_len
    }

    /// Adds a user record, unless the aggregate would then break its limits.
    pub fn try_add(&mut self, entry: &PutRecordsEntry) -> Result<(), Rejected> {
        let alone = alone_len(entry);
        if alone > self.max_bytes {
            return Err(Rejected::TooLarge);
        }
        if self.len() >= self.max_count || self.billed_len_with(entry) > self.max_bytes {
            return Err(Rejected::Full);
        }
        self.proto_len += self.growth(entry);
        let partition_key_index = match self.pk_lookup(&entry.partition_key) {
            Some(i) => i,
            None => {
                let i = self.body.partition_key_table.len() as u64;
                self.body
                    .partition_key_table
                    .push(entry.partition_key.clone());
                let h = self.hasher.hash_one(&entry.partition_key);
                self.pk_index.entry(h).or_insert(i);
                i
            }
        };
        let explicit_hash_key_index = entry.explicit_hash_key.map(|ehk| {
            *self.ehk_index.entry(ehk).or_insert_with(|| {
                let i = self.body.explicit_hash_key_table.len() as u64;
                self.body.explicit_hash_key_table.push(ehk.to_string());
                i
            })
        });
        if self.first_hash_key.is_none() {
            self.first_hash_key = Some(
                entry
                    .explicit_hash_key
                    .unwrap_or_else(|| crate::hash_key::hash_key_of(&entry.partition_key)),
            );
        }
        self.body.records.push(proto::Record {
            partition_key_index,
            explicit_hash_key_index,
            data: entry.data.clone(),
            tags: Vec::new(),
        });
        Ok(())
    }

    /// The aggregated data blob: magic, protobuf, MD5. Leaves the aggregator empty.
    pub fn finish_data(&mut self) -> Bytes {
        let body = std::mem::take(&mut self.body);
        let proto_len = self.proto_len;
        self.pk_index.clear();
        self.ehk_index.clear();
        self.first_hash_key = None;
        self.proto_len = 0;
        let mut out = BytesMut::with_capacity(MAGIC.len() + proto_len + DIGEST_LEN);
        out.put_slice(&MAGIC);
        encode_body(&body, &mut out);
        let digest = Md5::digest(&out[MAGIC.len()..]);
        out.put_slice(&digest);
        out.freeze()
    }

    /// The Kinesis record to send: `None` when empty; the user record itself when it
    /// holds one; otherwise an aggregate whose partition key is the first user
    /// record's and whose explicit hash key is the first user record's hash key, so it
    /// lands on the shard the first record predicts. Leaves the aggregator empty.
    pub fn finish(&mut self) -> Option<PutRecordsEntry> {
        match self.body.records.len() {
            0 => None,
            1 => {
                let pk = self.body.partition_key_table.first().cloned()?;
                let ehk = self
                    .body
                    .records
                    .first()
                    .and_then(|r| r.explicit_hash_key_index)
                    .and_then(|_| self.ehk_index.keys().next().copied());
                let data = self.body.records.first().map(|r| r.data.clone())?;
                self.finish_data();
                Some(PutRecordsEntry {
                    partition_key: pk,
                    explicit_hash_key: ehk,
                    data,
                })
            }
            _ => {
                let pk = self.body.partition_key_table.first().cloned()?;
                let ehk = self.first_hash_key;
                let data = self.finish_data();
                Some(PutRecordsEntry {
                    partition_key: pk,
                    explicit_hash_key: ehk,
                    data,
                })
            }
        }
    }
}

/// Bytes an aggregate holding only `entry` would count (data plus partition key).
fn alone_len(entry: &PutRecordsEntry) -> usize {
    let mut rec_len = 1 + 1 + delimited_len(entry.data.len());
    let mut tables = delimited_len(entry.partition_key.len());
    if let Some(ehk) = entry.explicit_hash_key {
        tables += delimited_len(decimal_len(ehk));
        rec_len += 2;
    }
    MAGIC.len() + tables + delimited_len(rec_len) + DIGEST_LEN + entry.partition_key.len()
}

/// Writes a length-delimited field.
fn put_delimited(out: &mut BytesMut, tag: u8, bytes: &[u8]) {
    out.put_u8(tag);
    encode_varint(bytes.len() as u64, out);
    out.put_slice(bytes);
}

/// Encodes the `AggregatedRecord` by hand, as prost would (fields in tag order, the
/// record's fields in tag order, no tags), without prost's second pass over nested
/// lengths.
fn encode_body(body: &proto::AggregatedRecord, out: &mut BytesMut) {
    for pk in &body.partition_key_table {
        put_delimited(out, 0x0a, pk.as_bytes());
    }
    for ehk in &body.explicit_hash_key_table {
        put_delimited(out, 0x12, ehk.as_bytes());
    }
    for r in &body.records {
        let mut rec_len =
            1 + encoded_len_varint(r.partition_key_index) + delimited_len(r.data.len());
        if let Some(e) = r.explicit_hash_key_index {
            rec_len += 1 + encoded_len_varint(e);
        }
        out.put_u8(0x1a);
        encode_varint(rec_len as u64, out);
        out.put_u8(0x08);
        encode_varint(r.partition_key_index, out);
        if let Some(e) = r.explicit_hash_key_index {
            out.put_u8(0x10);
            encode_varint(e, out);
        }
        put_delimited(out, 0x1a, &r.data);
    }
}

/// Decimal digits of `v`.
fn decimal_len(v: u128) -> usize {
    let mut n = 1;
    let mut v = v / 10;
    while v > 0 {
        n += 1;
        v /= 10;
    }
    n
}

/// Aggregates `entries` into as few Kinesis records as the limits allow, in order
/// (a record too large for an aggregate goes alone).
pub fn aggregate(entries: &[PutRecordsEntry], max_bytes: usize) -> Vec<PutRecordsEntry> {
    let mut out = Vec::new();
    let mut agg = Aggregator::new(max_bytes, DEFAULT_MAX_AGGREGATE_COUNT);
    for e in entries {
        match agg.try_add(e) {
            Ok(()) => {}
            Err(Rejected::TooLarge) => {
                out.extend(agg.finish());
                out.push(e.clone());
            }
            Err(Rejected::Full) => {
                out.extend(agg.finish());
                if agg.try_add(e).is_err() {
                    out.push(e.clone());
                }
            }
        }
    }
    out.extend(agg.finish());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN: &str = "f3899ac20a04706b2d610a04706b2d6212273137303134313138333436303436393233313733313638373330333731353838343130353732381a0908001a0568656c6c6f1a0b080110001a05776f726c641a0608001a022121e248159bc8119d9e989f3fdcc7441556";

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn golden_bytes_match_the_kpl() {
        let mut agg = Aggregator::default();
        agg.try_add(&PutRecordsEntry::new("pk-a", "hello")).unwrap();
        agg.try_add(&PutRecordsEntry::new("pk-b", "world").with_explicit_hash_key(1 << 127))
            .unwrap();
        agg.try_add(&PutRecordsEntry::new("pk-a", "!!")).unwrap();
        let predicted = agg.data_len();
        let billed = agg.billed_len();
        let rec = agg.finish().unwrap();
        assert_eq!(hex(&rec.data), GOLDEN);
        assert_eq!(predicted, rec.data.len());
        assert_eq!(billed, rec.data.len() + 4);
        assert_eq!(rec.partition_key, "pk-a");
        assert_eq!(
            rec.explicit_hash_key,
            Some(crate::hash_key::hash_key_of("pk-a"))
        );
        assert!(agg.is_empty());
    }

    #[test]
    fn hand_encoding_matches_prost() {
        use prost::Message;
        let mut agg = Aggregator::new(1 << 20, usize::MAX);
        for i in 0..300u32 {
            let mut e = PutRecordsEntry::new(format!("k{}", i % 17), vec![7u8; (i * 3) as usize]);
            if i % 5 == 0 {
                e.explicit_hash_key = Some(u128::from(i) << 100);
            }
            agg.try_add(&e).unwrap();
        }
        let expected = agg.body.encode_to_vec();
        let data = agg.finish_data();
        assert_eq!(&data[MAGIC.len()..data.len() - DIGEST_LEN], &expected[..]);
    }

    #[test]
    fn one_record_goes_plain() {
        let mut agg = Aggregator::default();
        let e = PutRecordsEntry::new("k", "v").with_explicit_hash_key(42);
        agg.try_add(&e).unwrap();
        assert_eq!(agg.finish(), Some(e));
        assert_eq!(agg.finish(), None);
    }

    #[test]
    fn limits_are_respected() {
        let mut agg = Aggregator::new(200, 3);
        for i in 0..3 {
            agg.try_add(&PutRecordsEntry::new(format!("k{i}"), "x"))
                .unwrap();
        }
        assert_eq!(
            agg.try_add(&PutRecordsEntry::new("k", "x")),
            Err(Rejected::Full)
        );
        let big = PutRecordsEntry::new("k", vec![0u8; 300]);
        assert_eq!(agg.try_add(&big), Err(Rejected::TooLarge));
    }

    #[test]
    fn alone_len_matches_an_empty_aggregator() {
        for e in [
            PutRecordsEntry::new("k", "v"),
            PutRecordsEntry::new("key", vec![0u8; 300]).with_explicit_hash_key(u128::MAX),
        ] {
            assert_eq!(alone_len(&e), Aggregator::default().billed_len_with(&e));
        }
    }

    #[test]
    fn decimal_len_is_exact() {
        for v in [0u128, 9, 10, 99, 100, u128::MAX, 1 << 127] {
            assert_eq!(decimal_len(v), v.to_string().len());
        }
    }
}
