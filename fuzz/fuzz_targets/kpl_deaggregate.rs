//! KPL deaggregation (`freshet_protocol::kpl`, the codec the client and the KCL use):
//! any blob that is not a well-formed aggregate passes through
//! as one record, never a panic;
//! a blob that is an aggregate yields records with consecutive sub-sequence numbers;
//! the hash-range filter never invents records.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

use freshet_protocol::{kinesis as types, kpl as aggregation};

/// Marks the input as an aggregate so the fuzzer reaches the protobuf quickly.
const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else { return };
    let mut blob = Vec::with_capacity(body.len() + 4);
    if flags & 1 == 1 {
        blob.extend_from_slice(&MAGIC);
    }
    blob.extend_from_slice(body);
    let record = types::Record {
        sequence_number: "49590338271490256608559692538361571095921575989136588898".into(),
        approximate_arrival_ms: Some(1_700_000_000_000),
        partition_key: "pk".into(),
        data: Bytes::from(blob),
    };
    let users = aggregation::deaggregate(&record);
    // Only a well-formed aggregate of no records yields none (as the KCL's does).
    assert!(!users.is_empty() || aggregation::is_aggregated(&record.data));
    if users.iter().any(|u| u.aggregated) {
        for (i, u) in users.iter().enumerate() {
            assert_eq!(u.sub_sequence_number, i as u64);
        }
    } else if !users.is_empty() {
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].data, record.data);
    }
    let half = freshet_protocol::hash_key::HashKeyRange { start: 0, end: u128::MAX / 2 };
    let kept = aggregation::deaggregate_in_range(&record, &half);
    assert!(kept.len() <= users.len());
});
