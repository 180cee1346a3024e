//! Producer settings.

use std::time::Duration;

use crate::aggregation::{DEFAULT_MAX_AGGREGATE_BYTES, DEFAULT_MAX_AGGREGATE_COUNT};
use crate::types::{MAX_PUT_RECORDS_BYTES, MAX_PUT_RECORDS_ENTRIES};

/// How a [`Producer`](crate::Producer) buffers, sends and retries. The defaults follow
/// the KPL's.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// Aggregate user records per predicted shard (the KPL's `AggregationEnabled`).
    pub aggregation: bool,
    /// Most bytes of one aggregated record (default 51,200; at most 1 MiB).
    pub aggregation_max_bytes: usize,
    /// Most user records in one aggregate.
    pub aggregation_max_count: usize,
    /// Most Kinesis records in one `PutRecords` call (at most 500).
    pub collection_max_count: usize,
    /// Most bytes in one `PutRecords` call (at most 5 MiB).
    pub collection_max_bytes: usize,
    /// Bytes ready for one shard that trigger a send at once (default 1 MiB).
    pub shard_flush_bytes: usize,
    /// Longest a user record waits in the buffers before it is sent (default 100 ms).
    pub max_buffered_time: Duration,
    /// Per-shard rate limit as a percentage of Kinesis's 1,000 records/s and 1 MiB/s
    /// per shard (default 150); `None` turns limiting off, for endpoints without
    /// limits.
    pub rate_limit_percent: Option<u32>,
    /// How long a user record may take, retries included, before it fails as expired
    /// (default 30 s).
    pub record_ttl: Duration,
    /// Fail records on throttling instead of retrying them.
    pub fail_if_throttled: bool,
    /// Most `PutRecords` calls in flight at once.
    pub max_in_flight_requests: usize,
    /// Most user records accepted and not yet finished; `put_record` waits beyond it.
    pub max_outstanding_records: usize,
    /// Most bytes (data plus partition keys) accepted and not yet finished.
    pub max_outstanding_bytes: usize,
    /// First wait before a failed record is sent again (doubles per attempt, with
    /// jitter).
    pub retry_base_delay: Duration,
    /// Longest wait between two attempts of a record.
    pub retry_max_delay: Duration,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            aggregation: true,
            aggregation_max_bytes: DEFAULT_MAX_AGGREGATE_BYTES,
            aggregation_max_count: DEFAULT_MAX_AGGREGATE_COUNT,
            collection_max_count: MAX_PUT_RECORDS_ENTRIES,
            collection_max_bytes: MAX_PUT_RECORDS_BYTES,
            shard_flush_bytes: 1024 * 1024,
            max_buffered_time: Duration::from_millis(100),
            rate_limit_percent: Some(150),
            record_ttl: Duration::from_secs(30),
            fail_if_throttled: false,
            max_in_flight_requests: 24,
            max_outstanding_records: 1_000_000,
            max_outstanding_bytes: 256 * 1024 * 1024,
            retry_base_delay: Duration::from_millis(50),
            retry_max_delay: Duration::from_secs(2),
        }
    }
}

impl ProducerConfig {
    /// The same settings with the limits clamped to what Kinesis accepts.
    pub(crate) fn normalized(mut self) -> Self {
        self.aggregation_max_bytes = self.aggregation_max_bytes.clamp(64, 1024 * 1024);
        self.aggregation_max_count = self.aggregation_max_count.max(1);
        self.collection_max_count = self.collection_max_count.clamp(1, MAX_PUT_RECORDS_ENTRIES);
        self.collection_max_bytes = self.collection_max_bytes.clamp(1, MAX_PUT_RECORDS_BYTES);
        self.max_in_flight_requests = self.max_in_flight_requests.max(1);
        self.max_outstanding_records = self.max_outstanding_records.clamp(1, 1 << 40);
        self.max_outstanding_bytes = self.max_outstanding_bytes.clamp(1, 1 << 50);
        if !self.aggregation {
            self.aggregation_max_count = 1;
        }
        self
    }
}
