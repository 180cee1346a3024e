//! The replies of PutRecords and GetRecords (and the records and child shards that
//! SubscribeToShard's events share with GetRecords), written once over
//! [`DocWriter`]: the generic path writes them into a document tree (then JSON or
//! CBOR), the typed fast path straight into JSON bytes, so the two cannot drift.

use freshet_protocol::writer::DocWriter;
use freshet_storage::{ChildShard, PutOutcome, Record, RecordFailure};

/// What a GetRecords call read, before it is written.
pub(crate) struct GetOutcome {
    /// The records read.
    pub records: Vec<Record>,
    /// The next iterator (absent once a closed shard is read to its end).
    pub next: Option<String>,
    /// MillisBehindLatest.
    pub millis_behind_latest: u64,
    /// ChildShards, once a closed shard is read to its end.
    pub children: Option<Vec<ChildShard>>,
}

/// Bytes of a GetRecords reply entry besides its data and key: member names, quotes,
/// a sequence number (up to 56 digits) and a timestamp.
const RECORD_JSON_OVERHEAD: usize = 160;

impl GetOutcome {
    /// The size of its JSON reply, near enough to allocate once.
    pub(crate) fn json_size(&self) -> usize {
        let records: usize = self
            .records
            .iter()
            .map(|r| r.data.len().div_ceil(3) * 4 + r.partition_key.len() + RECORD_JSON_OVERHEAD)
            .sum();
        records + 1024
    }
}

/// PutRecords' reply: FailedRecordCount, one entry per record in request order, and
/// the stream's EncryptionType.
pub(crate) fn put_records<W: DocWriter>(
    w: &mut W,
    results: &[Result<PutOutcome, RecordFailure>],
    encryption_type: &str,
) {
    let failed = results.iter().filter(|r| r.is_err()).count();
    w.begin_structure();
    w.member("FailedRecordCount");
    w.int(failed as i128);
    w.member("Records");
    w.begin_list();
    for r in results {
        w.begin_structure();
        match r {
            Ok(ok) => {
                w.member("SequenceNumber");
                w.decimal_str(ok.sequence_number.to_u128());
                w.member("ShardId");
                w.str(&ok.shard_id);
            }
            Err(f) => {
                w.member("ErrorCode");
                w.str(&f.error_code);
                w.member("ErrorMessage");
                w.str(&f.message);
            }
        }
        w.end_structure();
    }
    w.end_list();
    w.member("EncryptionType");
    w.str(encryption_type);
    w.end_structure();
}

/// GetRecords' reply.
pub(crate) fn get_records<W: DocWriter>(w: &mut W, out: &GetOutcome) {
    w.begin_structure();
    w.member("Records");
    w.begin_list();
    for r in &out.records {
        record(w, r);
    }
    w.end_list();
    if let Some(next) = &out.next {
        w.member("NextShardIterator");
        w.str(next);
    }
    w.member("MillisBehindLatest");
    w.int(i128::from(out.millis_behind_latest));
    if let Some(children) = &out.children {
        w.member("ChildShards");
        child_shards(w, children);
    }
    w.end_structure();
}

/// A Record structure.
pub(crate) fn record<W: DocWriter>(w: &mut W, r: &Record) {
    w.begin_structure();
    w.member("SequenceNumber");
    w.decimal_str(r.sequence_number.to_u128());
    w.member("ApproximateArrivalTimestamp");
    w.timestamp(r.arrival_ms);
    w.member("Data");
    w.blob(&r.data);
    w.member("PartitionKey");
    // Keys were UTF-8 when put; the lossy form only guards a damaged store.
    match std::str::from_utf8(&r.partition_key) {
        Ok(key) => w.str(key),
        Err(_) => w.str(&String::from_utf8_lossy(&r.partition_key)),
    }
    w.end_structure();
}

/// A ChildShards list.
pub(crate) fn child_shards<W: DocWriter>(w: &mut W, children: &[ChildShard]) {
    w.begin_list();
    for c in children {
        w.begin_structure();
        w.member("ShardId");
        w.str(&c.shard_id);
        w.member("ParentShards");
        w.begin_list();
        for p in &c.parent_shards {
            w.str(p);
        }
        w.end_list();
        w.member("HashKeyRange");
        w.begin_structure();
        w.member("StartingHashKey");
        w.decimal_str(c.range.start);
        w.member("EndingHashKey");
        w.decimal_str(c.range.end);
        w.end_structure();
        w.end_structure();
    }
    w.end_list();
}
