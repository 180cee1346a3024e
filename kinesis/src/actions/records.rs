//! PutRecord, PutRecords, GetShardIterator and GetRecords: what runs after validation,
//! shared with the typed fast path ([`super::fast`]).

use std::time::Instant;

use freshet_protocol::kinesis::rules::{self, HashKeyViolation};
use freshet_protocol::validate::validation_error;
use freshet_protocol::writer::ValueWriter;
use freshet_storage::{
    hash_key_of, shard_id, PutOutcome, PutRecordInput, RecordFailure, SequenceNumber,
    StartingPosition,
};

use super::replies::{self, GetOutcome};
use super::{resolve_shard_id, stream_name};
use crate::iterator::IteratorState;
use crate::state::KinesisState;
use freshet_protocol::request::Req;
use freshet_protocol::value::{map, Value};
use freshet_protocol::{ApiError, ApiResult};

/// ExplicitHashKey's range, after its pattern (the model's) held.
pub(crate) fn explicit_hash_key(v: &str) -> ApiResult<u128> {
    rules::hash_key(v).map_err(|e| match e {
        HashKeyViolation::OutOfRange => ApiError::invalid(format!(
            "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {v}"
        )),
        HashKeyViolation::Pattern => validation_error(
            &rules::EXPLICIT_HASH_KEY.violations(Some(&Value::str(v)), "explicitHashKey"),
        ),
    })
}

/// The total size of a PutRecords call (data and partition keys) against its limit.
pub(crate) fn check_request_size(records: &[PutRecordInput]) -> ApiResult<()> {
    let total = records
        .iter()
        .map(|r| r.data.len() + r.partition_key.len())
        .sum();
    rules::put_records_size(total).map_err(|e| {
        ApiError::invalid(format!(
            "Records size exceeds 10 MiB limit: the request holds {} bytes of data and partition keys.",
            e.bytes
        ))
    })
}

/// One (validated) record of a put request.
fn record_input(r: Req<'_>) -> ApiResult<PutRecordInput> {
    Ok(PutRecordInput {
        partition_key: r.str("PartitionKey")?.into(),
        explicit_hash_key: r
            .opt_str("ExplicitHashKey")?
            .map(explicit_hash_key)
            .transpose()?,
        data: r.opt_blob("Data")?.unwrap_or_default(),
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
    let started = put_started(deadline)?;
    let sizes: Vec<u64> = records.iter().map(|r| r.data.len() as u64).collect();
    let results = if state.limiter.enabled() {
        let now = state.now_ms();
        let mut admitted = Vec::new();
        let mut out: Vec<Option<Result<PutOutcome, RecordFailure>>> = vec![None; records.len()];
        for (i, r) in records.into_iter().enumerate() {
            let key = r
                .explicit_hash_key
                .unwrap_or_else(|| hash_key_of(&r.partition_key));
            // The open shard the engine will route the record to: a search over the
            // open shards, whatever the stream retains.
            let shard = match state.engine.route(name, key) {
                Ok(index) => Some(index),
                Err(e @ freshet_storage::Error::StreamNotFound { .. }) => return Err(state.err(e)),
                // No open shard owns the key: the engine's put reports it.
                Err(_) => None,
            };
            match shard {
                Some(index)
                    if !state.limiter.admit_write(
                        name,
                        index,
                        (r.data.len() + r.partition_key.len()) as u64,
                        now,
                    ) =>
                {
                    let id = shard_id(index);
                    state.metrics.throttled(name, &id, true);
                    if let Some(slot) = out.get_mut(i) {
                        *slot = Some(Err(RecordFailure {
                            error_code: "ProvisionedThroughputExceededException".into(),
                            message: throttle_message(state, name, &id),
                        }));
                    }
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
                if let Some(slot) = out.get_mut(i) {
                    *slot = Some(g);
                }
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
    put_metrics(state, name, &results, sizes, started);
    Ok(results)
}

/// [`put_many`] on a runtime worker without a blocking thread (the engine's async
/// put); `None` when per-shard limits are enforced (the blocking path admits records).
pub(crate) async fn put_many_async(
    state: &KinesisState,
    name: &str,
    records: Vec<PutRecordInput>,
    deadline: Instant,
) -> Option<ApiResult<Vec<Result<PutOutcome, RecordFailure>>>> {
    if state.limiter.enabled() {
        return None;
    }
    Some(
        async {
            let started = put_started(deadline)?;
            let sizes: Vec<u64> = records.iter().map(|r| r.data.len() as u64).collect();
            let results = state
                .engine
                .put_records_async(name, records)
                .await
                .map_err(|e| state.err(e))?;
            put_metrics(state, name, &results, sizes, started);
            Ok(results)
        }
        .await,
    )
}

/// The start of a put, refused once its deadline has passed.
fn put_started(deadline: Instant) -> ApiResult<Instant> {
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
    Ok(started)
}

/// A put's latency and, per shard, its records and bytes.
fn put_metrics(
    state: &KinesisState,
    name: &str,
    results: &[Result<PutOutcome, RecordFailure>],
    sizes: Vec<u64>,
    started: Instant,
) {
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
}

/// PutRecord.
pub fn put_record(state: &KinesisState, req: Req<'_>, deadline: Instant) -> ApiResult<Value> {
    let name = stream_name(state, req)?;
    let input = record_input(req)?;
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

/// The stream's EncryptionType, for put replies (from its summary: no shard list).
pub(crate) fn encryption_type(state: &KinesisState, name: &str) -> String {
    state
        .engine
        .stream_summary(name)
        .ok()
        .and_then(|d| d.encryption.map(|e| e.encryption_type))
        .unwrap_or_else(|| "NONE".into())
}

/// PutRecords.
pub fn put_records(state: &KinesisState, req: Req<'_>, deadline: Instant) -> ApiResult<Value> {
    let name = stream_name(state, req)?;
    let list = req.opt_list("Records")?.unwrap_or_default();
    let records = list
        .iter()
        .map(|v| record_input(Req::new(v)))
        .collect::<ApiResult<Vec<_>>>()?;
    check_request_size(&records)?;
    let results = put_many(state, &name, records, deadline)?;
    let mut w = ValueWriter::default();
    replies::put_records(&mut w, &results, &encryption_type(state, &name));
    Ok(w.finish())
}

fn sequence_number(
    s: &str,
    shard: &str,
    stream: &str,
    state: &KinesisState,
) -> ApiResult<SequenceNumber> {
    s.parse().map_err(|_| {
        ApiError::invalid(format!(
            "StartingSequenceNumber {s} used in GetShardIterator on shard {shard} in stream {stream} under account {} is invalid.",
            state.cfg.account_id
        ))
    })
}

/// AWS's refusal of an iterator type and StartingSequenceNumber that do not go
/// together.
fn sequence_mismatch(ty: &str, given: bool) -> ApiError {
    ApiError::invalid(format!(
        "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified {ty} {}.",
        if given {
            "and also a StartingSequenceNumber"
        } else {
            "and no StartingSequenceNumber"
        }
    ))
}

fn shard_not_found(state: &KinesisState, stream: &str, shard: &str) -> ApiError {
    ApiError::not_found(format!(
        "Shard {shard} in stream {stream} under account {} does not exist",
        state.cfg.account_id
    ))
}

/// The incarnation of a stream and the index of a shard it retains, at a cost
/// independent of the shards it retains (no shard list is read); AWS's
/// ResourceNotFoundException naming the shard when either is missing.
pub(crate) fn retained_shard(
    state: &KinesisState,
    stream: &str,
    shard: &str,
) -> ApiResult<(u64, u64)> {
    // AWS names the shard, not the stream, when the stream does not exist either.
    let missing = |e: freshet_storage::Error| match e {
        freshet_storage::Error::StreamNotFound { .. }
        | freshet_storage::Error::ShardNotFound { .. } => shard_not_found(state, stream, shard),
        e => state.err(e),
    };
    let uid = state.engine.stream_summary(stream).map_err(missing)?.uid;
    let index = state
        .engine
        .shard_state(stream, shard)
        .map_err(missing)?
        .index;
    Ok((uid, index))
}

/// GetShardIterator.
pub fn get_shard_iterator(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let name = stream_name(state, req)?;
    let (shard, index) = resolve_shard_id(state, &name, req.str("ShardId")?)?;
    let uid = retained_shard(state, &name, &shard)?.0;
    let shard = shard.as_str();
    let ty = req.str("ShardIteratorType")?;
    let seq = req.opt_str("StartingSequenceNumber")?;
    let ts = req.opt_timestamp_ms("Timestamp")?;
    let at = |s: Option<&str>| -> ApiResult<SequenceNumber> {
        let s = s.ok_or_else(|| sequence_mismatch(ty, false))?;
        sequence_number(s, shard, &name, state)
    };
    let now = state.now_ms();
    let continuation = seq.and_then(|s| crate::subscribe::resume_at(s, index));
    let position = match ty {
        "TRIM_HORIZON" | "LATEST" if seq.is_some() => return Err(sequence_mismatch(ty, true)),
        "TRIM_HORIZON" => StartingPosition::TrimHorizon,
        "LATEST" => StartingPosition::Latest,
        // A SubscribeToShard continuation names the position of the next record.
        "AT_SEQUENCE_NUMBER" => match continuation {
            Some(next) => StartingPosition::AtSequenceNumber(next),
            None => StartingPosition::AtSequenceNumber(at(seq)?),
        },
        "AFTER_SEQUENCE_NUMBER" => match continuation {
            Some(next) => StartingPosition::AtSequenceNumber(next),
            None => StartingPosition::AfterSequenceNumber(at(seq)?),
        },
        _ => {
            // AT_TIMESTAMP (validation allows no other type).
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
    };
    let offset = state
        .engine
        .start_offset(&name, shard, position)
        .map_err(|e| state.err(e))?;
    let token = state.iterators.seal(&IteratorState {
        stream: name,
        uid,
        shard_index: index,
        offset,
        issued_ms: now,
    });
    Ok(map([("ShardIterator", Value::str(token))]))
}

/// GetRecords after its members are checked: opens the iterator and reads.
pub(crate) fn get_records_read(
    state: &KinesisState,
    token: &str,
    limit: i64,
    started: Instant,
) -> ApiResult<GetOutcome> {
    let limit = usize::try_from(limit.clamp(1, rules::MAX_GET_RECORDS_LIMIT)).unwrap_or(1);
    let now = state.now_ms();
    // AWS takes an iterator still wrapped in the double quotes of a shell or a JSON
    // string copied whole.
    let token = token
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(token);
    let it = state.iterators.open(token, now)?;
    let shard = shard_id(it.shard_index);
    let (uid, _) = retained_shard(state, &it.stream, &shard)?;
    if uid != it.uid {
        // The stream was deleted and created again since the iterator was issued.
        return Err(shard_not_found(state, &it.stream, &shard));
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
    let token = req.str("ShardIterator")?;
    let limit = req
        .opt_int("Limit")?
        .unwrap_or(rules::MAX_GET_RECORDS_LIMIT);
    let out = get_records_read(state, token, limit, started)?;
    let mut w = ValueWriter::default();
    replies::get_records(&mut w, &out);
    Ok(w.finish())
}
