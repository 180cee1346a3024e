#![allow(clippy::expect_used, clippy::unwrap_used)]
//! Property tests of the aggregation codec: round trips and size limits.

use bytes::Bytes;
use freshet_client::aggregation::{aggregate, deaggregate, Aggregator, Rejected, MAGIC};
use freshet_client::{PutRecordsEntry, Record};
use proptest::prelude::*;

fn entry() -> impl Strategy<Value = PutRecordsEntry> {
    (
        "[a-z0-9]{1,12}",
        proptest::option::of(any::<u128>()),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(pk, ehk, data)| PutRecordsEntry {
            partition_key: pk,
            explicit_hash_key: ehk,
            data: Bytes::from(data),
        })
}

fn as_record(e: &PutRecordsEntry, seq: usize) -> Record {
    Record {
        sequence_number: seq.to_string(),
        approximate_arrival_ms: None,
        partition_key: e.partition_key.clone(),
        data: e.data.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn aggregate_then_deaggregate_round_trips(
        entries in proptest::collection::vec(entry(), 1..60),
        max_bytes in 64usize..4096,
    ) {
        let kinesis = aggregate(&entries, max_bytes);
        let mut out = Vec::new();
        for (i, k) in kinesis.iter().enumerate() {
            // Every aggregate keeps to its limit; only a single record may exceed it.
            let users = deaggregate(&as_record(k, i));
            if users.len() > 1 {
                prop_assert!(k.billed_len() <= max_bytes, "{} > {}", k.billed_len(), max_bytes);
                prop_assert!(k.data.starts_with(&MAGIC));
            }
            for (sub, u) in users.iter().enumerate() {
                if u.aggregated {
                    prop_assert_eq!(u.sub_sequence_number, sub as u64);
                }
                out.push(u.clone());
            }
        }
        prop_assert_eq!(out.len(), entries.len());
        for (u, e) in out.iter().zip(&entries) {
            prop_assert_eq!(&u.partition_key, &e.partition_key);
            prop_assert_eq!(&u.data, &e.data);
            if u.aggregated {
                prop_assert_eq!(u.explicit_hash_key, e.explicit_hash_key);
            }
        }
    }

    #[test]
    fn predicted_size_is_exact(entries in proptest::collection::vec(entry(), 2..40)) {
        let mut agg = Aggregator::new(1 << 20, usize::MAX);
        for e in &entries {
            let predicted = agg.billed_len_with(e);
            prop_assert_eq!(agg.try_add(e), Ok(()));
            prop_assert_eq!(agg.billed_len(), predicted);
        }
        let billed = agg.billed_len();
        let data_len = agg.data_len();
        let k = agg.finish().unwrap();
        prop_assert_eq!(k.data.len(), data_len);
        prop_assert_eq!(k.billed_len(), billed);
    }

    #[test]
    fn refusals_are_consistent(e in entry(), max_bytes in 16usize..400) {
        let mut agg = Aggregator::new(max_bytes, 10);
        match agg.try_add(&e) {
            Ok(()) => prop_assert!(agg.billed_len() <= max_bytes),
            Err(Rejected::TooLarge) => prop_assert!(agg.billed_len_with(&e) > max_bytes),
            Err(Rejected::Full) => prop_assert!(false, "an empty aggregator is never full"),
        }
    }

    #[test]
    fn arbitrary_blobs_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200), magic in any::<bool>()) {
        let mut blob = if magic { MAGIC.to_vec() } else { Vec::new() };
        blob.extend_from_slice(&data);
        let r = Record {
            sequence_number: "1".into(),
            approximate_arrival_ms: None,
            partition_key: "p".into(),
            data: Bytes::from(blob),
        };
        let users = deaggregate(&r);
        prop_assert!(users.len() <= r.data.len() + 1);
    }
}

#[test]
fn one_mib_record_goes_alone() {
    let big = PutRecordsEntry::new("k", vec![7u8; 1024 * 1024 - 1]);
    let small = PutRecordsEntry::new("k", "x");
    let out = aggregate(
        &[small.clone(), big.clone(), small.clone(), small.clone()],
        51_200,
    );
    assert_eq!(out.len(), 3);
    assert_eq!(out[0], small);
    assert_eq!(out[1], big);
    assert_eq!(deaggregate(&as_record(&out[2], 2)).len(), 2);
}
