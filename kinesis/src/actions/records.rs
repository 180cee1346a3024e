//! PutRecord, PutRecords, GetShardIterator and GetRecords.

use std::time::Instant;

use bytes::Bytes;
use freshet_storage::{
    hash_key::parse_hash_key, hash_key_of, parse_shard_id, shard_id, PutOutcome, PutRecordInput,
    RecordFailure, SequenceNumber, StartingPosition, MAX_DATA_BYTES, MAX_PARTITION_KEY_CHARS,
    MAX_PUT_RECORDS,
};

use super::stream_name;
use crate::iterator::IteratorState;
use crate::state::KinesisState;
use freshet_protocol::request::{missing, Req};
use freshet_protocol::value::{map, Value};
use freshet_protocol::{ApiError, ApiResult};

/// Most bytes of data and partition keys in one PutRecords call.
pub const MAX_PUT_RECORDS_BYTES: usize = 10 * 1024 * 1024;

pub(crate) fn check_partition_key(key: &str, field: &str) -> ApiResult<()> {
    let n = key.chars().count();
    if n == 0 || n > MAX_PARTITION_KEY_CHARS {
        return Err(ApiError::constraint(
            key,
            field,
            "Member must have length between 1 and 256",
        ));
    }
    Ok(())
}

pub(crate) fn check_data(data: &Bytes, field: &str) -> ApiResult<()> {
    if data.len() > MAX_DATA_BYTES {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length less than or equal to {MAX_DATA_BYTES}"
        )));
    }
    Ok(())
}

pub(crate) fn explicit_hash_key(value: Option<&str>, field: &str) -> ApiResult<Option<u128>> {
    let Some(v) = value else { return Ok(None) };
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::constraint(
            v,
            field,
            "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})",
        ));
    }
    parse_hash_key(v).map(Some).ok_or_else(|| {
        ApiError::invalid(format!(
            "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 340282366920938463463374607431768211455]. Specified value was {v}"
        ))
    })
}

/// Reads one record of a put request.
fn record_input(r: Req<'_>, prefix: &str) -> ApiResult<PutRecordInput> {
    let pk = r
        .opt_str("PartitionKey")?
        .ok_or_else(|| missing(&format!("{prefix}PartitionKey")))?;
    check_partition_key(pk, &format!("{prefix}partitionKey"))?;
    let data = r
        .opt_blob("Data")?
        .ok_or_else(|| missing(&format!("{prefix}Data")))?;
    check_data(&data, &format!("{prefix}data"))?;
    let explicit = explicit_hash_key(
        r.opt_str("ExplicitHashKey")?,
        &format!("{prefix}explicitHashKey"),
    )?;
    Ok(PutRecordInput {
        partition_key: pk.to_string(),
        explicit_hash_key: explicit,
        data,
    })
}

fn throttle_message(state: &KinesisState, stream: &str, shard: &str) -> String {
    format!(
        "Rate exceeded for shard {shard} in stream {stream} under account {}.",
        state.cfg.account_id
    )
}

/// Puts records, refusing (per record) those over their shard's write limit when limits
/// are enforced.
pub(crate) fn put_many(
    state: &KinesisState,
    name: &str,
    records: Vec<PutRecordInput>,
    deadline: Instant,
) -> ApiResult<Vec<Result<PutOutcome, RecordFailure>>> {
    let started = Instant::now();
    // The front door has answered 503 by now (or is about to): committing the records
    // after the client was told they failed would make its retry write them twice.
    if started >= deadline {
        return Err(ApiError::custom(
            "ServiceUnavailable",
            "The request did not start before its deadline; nothing was written. Retry with back-off.",
            503,
        ));
    }
    let sizes: Vec<u64> = records.iter().map(|r| r.data.len() as u64).collect();
    let results = if state.limiter.enabled() {
        let d = state.describe(name)?;
        let now = state.now_ms();
        let mut admitted = Vec::new();
        let mut out: Vec<Option<Result<PutOutcome, RecordFailure>>> = vec![None; records.len()];
        for (i, r) in records.into_iter().enumerate() {
            let key = r
                .explicit_hash_key
                .unwrap_or_else(|| hash_key_of(&r.partition_key));
            let shard = d
                .shards
                .iter()
                .find(|s| !s.is_closed() && s.range.contains(key));
            match shard {
                Some(s)
                    if !state.limiter.admit_write(
                        name,
                        s.index,
                        (r.data.len() + r.partition_key.len()) as u64,
                        now,
                    ) =>
                {
                    state.metrics.throttled(name, &s.shard_id, true);
                    out[i] = Some(Err(RecordFailure {
                        error_code: "ProvisionedThroughputExceededException".into(),
                        message: throttle_message(state, name, &s.shard_id),
                    }));
                }
                _ => admitted.push((i, r)),
            }
        }
        if !admitted.is_empty() {
            let (idx, recs): (Vec<usize>, Vec<PutRecordInput>) = admitted.into_iter().unzip();
            let got = state
                .engine
                .put_records(name, recs)
                .map_err(|e| state.err(e))?;
            for (i, g) in idx.into_iter().zip(got) {
                out[i] = Some(g);
            }
        }
        out.into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(RecordFailure {
                        error_code: "InternalFailure".into(),
                        message: "Internal service failure.".into(),
                    })
                })
            })
            .collect()
    } else {
        state
            .engine
            .put_records(name, records)
            .map_err(|e| state.err(e))?
    };
    state.metrics.put_latency.observe(started.elapsed());
    // One metrics update per shard, not per record (records of a shard share its id).
    let mut per_shard: Vec<(&std::sync::Arc<str>, u64, u64)> = Vec::new();
    for (r, size) in results.iter().zip(sizes) {
        if let Ok(ok) = r {
            match per_shard
                .iter_mut()
                .find(|(s, _, _)| std::sync::Arc::ptr_eq(s, &ok.shard_id) || **s == ok.shard_id)
            {
                Some(e) => {
                    e.1 += 1;
                    e.2 += size;
                }
                None => per_shard.push((&ok.shard_id, 1, size)),
            }
        }
    }
    for (shard, records, bytes) in per_shard {
        state.metrics.incoming(name, shard, records, bytes);
    }
    Ok(results)
}

/// PutRecord.
pub fn put_record(state: &KinesisState, req: Req<'_>, deadline: Instant) -> ApiResult<Value> {
    let name = stream_name(req)?;
    let input = record_input(req, "")?;
    if let Some(s) = req.opt_str("SequenceNumberForOrdering")? {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::constraint(
                s,
                "sequenceNumberForOrdering",
                "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})",
            ));
        }
    }
    let mut results = put_many(state, &name, vec![input], deadline)?;
    match results.pop() {
        Some(Ok(ok)) => Ok(map([
            ("ShardId", Value::str(ok.shard_id.as_ref())),
            ("SequenceNumber", Value::str(ok.sequence_number.to_string())),
            ("EncryptionType", Value::str(encryption_type(state, &name))),
        ])),
        Some(Err(f)) if f.error_code == "ProvisionedThroughputExceededException" => {
            Err(ApiError::throughput(f.message))
        }
        Some(Err(f)) => Err(ApiError::internal(f.message)),
        None => Err(ApiError::internal("Internal service failure.")),
    }
}

pub(crate) fn encryption_type(state: &KinesisState, name: &str) -> String {
    state
        .engine
        .describe_stream(name)
        .ok()
        .and_then(|d| d.encryption.map(|e| e.encryption_type))
        .unwrap_or_else(|| "NONE".into())
}

/// PutRecords.
pub fn put_records(state: &KinesisState, req: Req<'_>, deadline: Instant) -> ApiResult<Value> {
    let name = stream_name(req)?;
    let list = req.opt_list("Records")?.ok_or_else(|| missing("Records"))?;
    if list.is_empty() || list.len() > MAX_PUT_RECORDS {
        let rule = if list.is_empty() {
            "Member must have length greater than or equal to 1".to_string()
        } else {
            format!("Member must have length less than or equal to {MAX_PUT_RECORDS}")
        };
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '[{} records]' at 'records' failed to satisfy constraint: {rule}",
            list.len()
        )));
    }
    let mut records = Vec::with_capacity(list.len());
    let mut total = 0usize;
    for (i, v) in list.iter().enumerate() {
        let r = match v {
            Value::Map(_) => Req::new(v),
            other => {
                return Err(ApiError::serialization(format!(
                    "Unexpected {} in member Records: expected a structure",
                    other.type_name()
                )))
            }
        };
        let input = record_input(r, &format!("records.{}.member.", i + 1))?;
        total += input.data.len() + input.partition_key.len();
        records.push(input);
    }
    if total > MAX_PUT_RECORDS_BYTES {
        return Err(ApiError::invalid(format!(
            "Records size exceeds 10 MiB limit: the request holds {total} bytes of data and partition keys."
        )));
    }
    let results = put_many(state, &name, records, deadline)?;
    let failed = results.iter().filter(|r| r.is_err()).count();
    let entries = results
        .into_iter()
        .map(|r| match r {
            Ok(ok) => map([
                ("SequenceNumber", Value::str(ok.sequence_number.to_string())),
                ("ShardId", Value::str(ok.shard_id.as_ref())),
            ]),
            Err(f) => map([
                ("ErrorCode", Value::str(f.error_code)),
                ("ErrorMessage", Value::str(f.message)),
            ]),
        })
        .collect();
    Ok(map([
        ("FailedRecordCount", Value::Int(failed as i128)),
        ("Records", Value::List(entries)),
        ("EncryptionType", Value::str(encryption_type(state, &name))),
    ]))
}

fn sequence_number(
    s: &str,
    shard: &str,
    stream: &str,
    state: &KinesisState,
) -> ApiResult<SequenceNumber> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::constraint(
            s,
            "startingSequenceNumber",
            "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})",
        ));
    }
    s.parse().map_err(|_| {
        ApiError::invalid(format!(
            "StartingSequenceNumber {s} used in GetShardIterator on shard {shard} in stream {stream} under account {} is invalid.",
            state.cfg.account_id
        ))
    })
}

/// GetShardIterator.
pub fn get_shard_iterator(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = stream_name(req)?;
    let shard = req.str("ShardId")?;
    if shard.is_empty() || shard.len() > 128 {
        return Err(ApiError::constraint(
            shard,
            "shardId",
            "Member must have length between 1 and 128",
        ));
    }
    let ty = req.str("ShardIteratorType")?;
    let seq = req.opt_str("StartingSequenceNumber")?;
    let ts = req.opt_timestamp_ms("Timestamp")?;
    let need_seq = || {
        seq.ok_or_else(|| {
            ApiError::invalid(format!(
                "Must specify a StartingSequenceNumber for a shard iterator of type {ty}."
            ))
        })
    };
    let now = state.now_ms();
    let position = match ty {
        "TRIM_HORIZON" => StartingPosition::TrimHorizon,
        "LATEST" => StartingPosition::Latest,
        "AT_SEQUENCE_NUMBER" => StartingPosition::AtSequenceNumber(sequence_number(need_seq()?, shard, &name, state)?),
        "AFTER_SEQUENCE_NUMBER" => StartingPosition::AfterSequenceNumber(sequence_number(need_seq()?, shard, &name, state)?),
        "AT_TIMESTAMP" => {
            let t = ts.ok_or_else(|| {
                ApiError::invalid("Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.")
            })?;
            if t > now {
                return Err(ApiError::invalid(format!(
                    "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: {t}, currentTimestampInMillis: {now}"
                )));
            }
            StartingPosition::AtTimestamp(t)
        }
        other => {
            return Err(ApiError::constraint(
                other,
                "shardIteratorType",
                "Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, AT_SEQUENCE_NUMBER, AT_TIMESTAMP, TRIM_HORIZON, LATEST]",
            ))
        }
    };
    let d = state.describe(&name)?;
    let not_found = || {
        ApiError::not_found(format!(
            "Shard {shard} in stream {name} under account {} does not exist",
            state.cfg.account_id
        ))
    };
    let index = parse_shard_id(shard).ok_or_else(not_found)?;
    if !d.shards.iter().any(|s| s.index == index) {
        return Err(not_found());
    }
    let offset = state
        .engine
        .start_offset(&name, shard, position)
        .map_err(|e| state.err(e))?;
    let token = state.iterators.seal(&IteratorState {
        stream: name,
        uid: d.uid,
        shard_index: index,
        offset,
        issued_ms: now,
    });
    Ok(map([("ShardIterator", Value::str(token))]))
}

/// What a GetRecords call read, before it is encoded.
pub(crate) struct GetOutcome {
    /// The records read.
    pub records: Vec<freshet_storage::Record>,
    /// The next iterator (absent once a closed shard is read to its end).
    pub next: Option<String>,
    /// MillisBehindLatest.
    pub millis_behind_latest: u64,
    /// ChildShards, once a closed shard is read to its end.
    pub children: Option<Vec<freshet_storage::ChildShard>>,
}

/// The checks of GetRecords' members: the iterator's length and the limit's range.
fn get_records_args<'a>(req: Req<'a>) -> ApiResult<(&'a str, usize)> {
    let token = req.str("ShardIterator")?;
    if token.is_empty() || token.len() > 512 {
        return Err(ApiError::constraint(
            token,
            "shardIterator",
            "Member must have length between 1 and 512",
        ));
    }
    let limit = req.opt_int_in("Limit", 1, 10_000)?.unwrap_or(10_000) as usize;
    Ok((token, limit))
}

/// Whether GetRecords' members pass [`get_records_args`]' checks (for the typed path,
/// which leaves every refusal to the generic path).
pub(crate) fn get_records_args_ok(token: &str, limit: Option<i64>) -> bool {
    !token.is_empty() && token.len() <= 512 && limit.is_none_or(|l| (1..=10_000).contains(&l))
}

/// GetRecords after its members are checked: opens the iterator and reads.
pub(crate) fn get_records_read(
    state: &KinesisState,
    token: &str,
    limit: usize,
    started: Instant,
) -> ApiResult<GetOutcome> {
    let now = state.now_ms();
    let it = state.iterators.open(token, now)?;
    let d = state.describe(&it.stream)?;
    let shard = shard_id(it.shard_index);
    if d.uid != it.uid || !d.shards.iter().any(|s| s.index == it.shard_index) {
        return Err(ApiError::not_found(format!(
            "Shard {shard} in stream {} under account {} does not exist",
            it.stream, state.cfg.account_id
        )));
    }
    if !state.limiter.admit_read(&it.stream, it.shard_index, now) {
        state.metrics.throttled(&it.stream, &shard, false);
        return Err(ApiError::throughput(throttle_message(
            state, &it.stream, &shard,
        )));
    }
    let max_bytes = state
        .limiter
        .read_budget(&it.stream, it.shard_index, now)
        .min(freshet_storage::MAX_READ_BYTES);
    let out = state
        .engine
        .read(&it.stream, &shard, it.offset, limit, max_bytes)
        .map_err(|e| state.err(e))?;
    let bytes: usize = out.records.iter().map(|r| r.data.len()).sum();
    state
        .limiter
        .charge_read(&it.stream, it.shard_index, bytes as u64, now);
    state.metrics.outgoing(
        &it.stream,
        &shard,
        out.records.len() as u64,
        bytes as u64,
        out.millis_behind_latest,
    );
    let next = match &out.child_shards {
        Some(_) => None,
        None => Some(state.iterators.seal(&IteratorState {
            offset: out.next_offset,
            issued_ms: now,
            ..it
        })),
    };
    state.metrics.get_latency.observe(started.elapsed());
    Ok(GetOutcome {
        records: out.records,
        next,
        millis_behind_latest: out.millis_behind_latest,
        children: out.child_shards,
    })
}

/// GetRecords.
pub fn get_records(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let started = Instant::now();
    let (token, limit) = get_records_args(req)?;
    let out = get_records_read(state, token, limit, started)?;
    let records = out.records.iter().map(super::record_value).collect();
    Ok(map([
        ("Records", Value::List(records)),
        ("NextShardIterator", Value::opt_str(out.next)),
        (
            "MillisBehindLatest",
            Value::Int(i128::from(out.millis_behind_latest)),
        ),
        (
            "ChildShards",
            out.children
                .as_deref()
                .map_or(Value::Null, super::child_shards_value),
        ),
    ]))
}
