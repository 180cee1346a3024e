//! The KPL aggregation format: many user records in one Kinesis record.
//!
//! An aggregated record's data is
//!
//! ```text
//! F3 89 9A C2                      magic
//! <AggregatedRecord protobuf>      see [`proto`]
//! <MD5 of the protobuf bytes>      16 bytes
//! ```
//!
//! [`Aggregator`] builds one with exact size accounting; [`deaggregate`] takes one
//! apart (a blob without the magic, too short, with a wrong digest or an undecodable
//! body passes through as one plain record, as the KCL does), and
//! [`deaggregate_in_range`] also drops an aggregate holding a user record outside a
//! shard's hash-key range, as the KCL does after resharding.
//!
//! ```
//! use freshet_protocol::kpl::{deaggregate, Aggregator};
//! use freshet_protocol::kinesis::{PutRecordsEntry, Record};
//!
//! let mut agg = Aggregator::default();
//! agg.try_add(&PutRecordsEntry::new("pk-a", "hello")).unwrap();
//! agg.try_add(&PutRecordsEntry::new("pk-b", "world")).unwrap();
//! let kinesis_record = agg.finish().unwrap();
//! let read_back = Record {
//!     sequence_number: "1".into(),
//!     approximate_arrival_ms: None,
//!     partition_key: kinesis_record.partition_key,
//!     data: kinesis_record.data,
//! };
//! let users = deaggregate(&read_back);
//! assert_eq!(users.len(), 2);
//! assert_eq!(users[1].sub_sequence_number, 1);
//! assert_eq!(&users[1].data[..], b"world");
//! ```

mod aggregator;
mod deaggregate;
pub mod proto;

pub use aggregator::{aggregate, Aggregator, Rejected};
pub use deaggregate::{deaggregate, deaggregate_in_range, is_aggregated, UserRecord};

/// The four bytes an aggregated record's data starts with.
pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
/// Length of the trailing MD5 digest.
pub const DIGEST_LEN: usize = 16;
/// Default most bytes of one aggregated record (the KPL's `AggregationMaxSize`).
pub const DEFAULT_MAX_AGGREGATE_BYTES: usize = 51_200;
/// Default most user records in one aggregate (the KPL's `AggregationMaxCount`).
pub const DEFAULT_MAX_AGGREGATE_COUNT: usize = 4_294_967_295;
