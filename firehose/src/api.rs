//! The actions: capture (PutRecord, PutRecordBatch into the delivery stream's owned
//! stream, acknowledged once durable), the delivery streams' lifecycle, tags.

use crate::pipeline::now_ms;
use std::sync::Arc;

use freshet_protocol::error::ApiError;
use freshet_protocol::service::{Call, Reply};
use freshet_storage::{
    CreateStream, Engine, PutOutcome, PutRecordInput, RecordFailure, StateChange,
};
use serde_json::{json, Value};

use crate::delivery::{checkpoint_key, intent_key};
use crate::params::{
    put_on_kinesis_source, record_of_put, records_of_batch, stream_exists, stream_not_found,
    DeliveryStreamConfig, StreamKind,
};
use crate::service::{stream_key, Firehose, OWNER};

/// How long a DirectPut delivery stream's buffer keeps records.
const BUFFER_RETENTION_HOURS: u32 = 48;

/// A storage failure as the service's 500.
pub(crate) fn storage(e: freshet_storage::Error) -> ApiError {
    ApiError::custom("ServiceUnavailableException", format!("storage: {e}"), 500)
}

fn ok(v: &Value) -> Reply {
    Reply::ok("application/x-amz-json-1.1", v.to_string())
}

fn body(call: &Call) -> Result<Value, ApiError> {
    if call.body.is_empty() {
        return Ok(json!({}));
    }
    let v: Value = serde_json::from_slice(&call.body).map_err(|e| {
        ApiError::serialization(format!(
            "Start of structure or map found where not expected: {e}"
        ))
    })?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(ApiError::serialization(
            "Start of structure or map found where not expected.",
        ))
    }
}

fn name_of(body: &Value) -> Result<String, ApiError> {
    match body.get("DeliveryStreamName") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ApiError::serialization("DeliveryStreamName must be a string")),
        None => Err(ApiError::validation(
            "1 validation error detected: Value null at 'deliveryStreamName' failed to satisfy constraint: Member must not be null",
        )),
    }
}

/// AWS's not-found wording.
fn not_found(f: &Firehose, name: &str) -> ApiError {
    stream_not_found(name, &f.cfg.account_id)
}

fn load(f: &Firehose, name: &str) -> Result<DeliveryStreamConfig, ApiError> {
    let bytes = f
        .state
        .get(&stream_key(name))
        .map_err(storage)?
        .ok_or_else(|| not_found(f, name))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::custom(
            "ServiceUnavailableException",
            format!("catalog entry of {name}: {e}"),
            500,
        )
    })
}

fn save(f: &Firehose, config: &DeliveryStreamConfig) -> Result<(), ApiError> {
    let v = serde_json::to_vec(config)
        .map_err(|e| ApiError::custom("ServiceUnavailableException", e.to_string(), 500))?;
    f.state.put(&stream_key(&config.name), &v).map_err(storage)
}

/// Runs one action (on a blocking thread: engine and catalog calls block).
pub(crate) fn dispatch(f: &Arc<Firehose>, op: &str, call: &Call) -> Result<Reply, ApiError> {
    // Plain, valid puts took the typed path already ([`put_on_task`]); the rest
    // come here.
    let b = body(call)?;
    // AWS's model checks (types, lengths, ranges) come before any lookup.
    crate::params::check_input(op, &b)?;
    match op {
        "CreateDeliveryStream" => create(f, &b),
        "DescribeDeliveryStream" => {
            let config = load(f, &name_of(&b)?)?;
            Ok(ok(&json!({
                "DeliveryStreamDescription": config.description_json(f.status(&config.name), &f.cfg.region, &f.cfg.account_id)
            })))
        }
        "ListDeliveryStreams" => list(f, &b),
        "DeleteDeliveryStream" => delete(f, &b),
        "UpdateDestination" => {
            let mut config = load(f, &name_of(&b)?)?;
            config.apply_update(&b, now_ms())?;
            save(f, &config)?;
            f.start(config);
            Ok(ok(&json!({})))
        }
        "PutRecord" => {
            let config = load(f, &name_of(&b)?)?;
            direct_put_only(&config)?;
            let data = record_of_put(&b)?;
            let stream = owned(&config.name)?;
            let out = f
                .engine
                .put_record(&stream, PutRecordInput::new("r", data))
                .map_err(storage)?;
            Ok(ok(&json!({
                "RecordId": out.sequence_number.to_u128().to_string(),
                "Encrypted": false,
            })))
        }
        "PutRecordBatch" => {
            let config = load(f, &name_of(&b)?)?;
            direct_put_only(&config)?;
            let records = records_of_batch(&b)?;
            let stream = owned(&config.name)?;
            let results = f
                .engine
                .put_records(
                    &stream,
                    records
                        .into_iter()
                        .map(|d| PutRecordInput::new("r", d))
                        .collect(),
                )
                .map_err(storage)?;
            let failed = results.iter().filter(|r| r.is_err()).count();
            let responses: Vec<Value> = results
                .iter()
                .map(|r| match r {
                    Ok(o) => json!({"RecordId": o.sequence_number.to_u128().to_string()}),
                    Err(e) => json!({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": e.message}),
                })
                .collect();
            Ok(ok(&json!({
                "FailedPutCount": failed,
                "Encrypted": false,
                "RequestResponses": responses,
            })))
        }
        "TagDeliveryStream" => {
            let mut config = load(f, &name_of(&b)?)?;
            config.add_tags(&b)?;
            save(f, &config)?;
            Ok(ok(&json!({})))
        }
        "UntagDeliveryStream" => {
            let mut config = load(f, &name_of(&b)?)?;
            config.remove_tags(&b)?;
            save(f, &config)?;
            Ok(ok(&json!({})))
        }
        "ListTagsForDeliveryStream" => {
            let config = load(f, &name_of(&b)?)?;
            Ok(ok(&config.list_tags_json(&b)?))
        }
        "StartDeliveryStreamEncryption" | "StopDeliveryStreamEncryption" => {
            let mut config = load(f, &name_of(&b)?)?;
            config.set_encryption(op == "StartDeliveryStreamEncryption", &b)?;
            save(f, &config)?;
            Ok(ok(&json!({})))
        }
        other => Err(ApiError::unknown_operation(format!(
            "The action or operation {other} is not valid for this endpoint."
        ))),
    }
}

/// A plain, valid PutRecordBatch or PutRecord (the typed path's) put from the calling
/// task, acknowledged once durable: the engine's async put writes here and awaits the
/// syncs without a thread (no blocking thread per request); `None` for anything else
/// ([`dispatch`] answers).
pub(crate) async fn put_on_task(
    f: &Firehose,
    op: &str,
    body: &[u8],
) -> Option<Result<Reply, ApiError>> {
    let (name, records, batch) = match op {
        "PutRecordBatch" => {
            let (name, records) = crate::fast::put_record_batch(body)?;
            (name, records, true)
        }
        "PutRecord" => {
            let (name, record) = crate::fast::put_record(body)?;
            (name, vec![record], false)
        }
        _ => return None,
    };
    Some(
        async {
            let stream = typed_target(f, name)?;
            let results = f
                .engine
                .put_records_async(&stream, typed_inputs(records))
                .await
                .map_err(storage)?;
            typed_reply(results, batch)
        }
        .await,
    )
}

/// The owned stream of a DirectPut delivery stream.
fn typed_target(f: &Firehose, name: &str) -> Result<String, ApiError> {
    match f.kind_of(name) {
        None => Err(not_found(f, name)),
        Some(StreamKind::KinesisStreamAsSource) => Err(put_on_kinesis_source()),
        Some(StreamKind::DirectPut) => owned(name),
    }
}

fn typed_inputs(records: Vec<bytes::Bytes>) -> Vec<PutRecordInput> {
    records
        .into_iter()
        .map(|d| PutRecordInput::new("r", d))
        .collect()
}

/// The reply to a typed put: PutRecordBatch's per-record results, or PutRecord's.
fn typed_reply(
    results: Vec<Result<PutOutcome, RecordFailure>>,
    batch: bool,
) -> Result<Reply, ApiError> {
    if batch {
        let ids = results.iter().map(|r| match r {
            Ok(o) => Ok(o.sequence_number.to_u128()),
            Err(e) => Err(e.message.as_str()),
        });
        return Ok(Reply::ok(
            "application/x-amz-json-1.1",
            crate::fast::batch_reply(ids),
        ));
    }
    match results.into_iter().next() {
        Some(Ok(o)) => Ok(ok(
            &json!({"RecordId": o.sequence_number.to_u128().to_string(), "Encrypted": false}),
        )),
        Some(Err(e)) => Err(ApiError::custom(
            "ServiceUnavailableException",
            e.message,
            503,
        )),
        None => Err(ApiError::custom(
            "ServiceUnavailableException",
            "the record was not written",
            503,
        )),
    }
}

fn owned(name: &str) -> Result<String, ApiError> {
    Engine::owned_stream(OWNER, name).map_err(storage)
}

fn direct_put_only(config: &DeliveryStreamConfig) -> Result<(), ApiError> {
    if config.kind == StreamKind::KinesisStreamAsSource {
        return Err(put_on_kinesis_source());
    }
    Ok(())
}

fn create(f: &Arc<Firehose>, b: &Value) -> Result<Reply, ApiError> {
    let config = DeliveryStreamConfig::from_create(b, now_ms())?;
    if f.state
        .get(&stream_key(&config.name))
        .map_err(storage)?
        .is_some()
    {
        return Err(stream_exists(&config.name, &f.cfg.account_id));
    }
    match config.kind {
        StreamKind::DirectPut => {
            match f
                .engine
                .create_owned_stream(OWNER, CreateStream::new(config.name.clone(), 1))
            {
                Ok(_) | Err(freshet_storage::Error::StreamExists { .. }) => {}
                Err(e) => return Err(storage(e)),
            }
            // Firehose retries a failing destination for up to 24 hours: the buffer
            // keeps records twice that long, so an outage cannot trim undelivered ones.
            f.engine
                .set_retention(&owned(&config.name)?, BUFFER_RETENTION_HOURS, true)
                .map_err(storage)?;
        }
        StreamKind::KinesisStreamAsSource => {
            let stream = config
                .source_stream_arn
                .as_deref()
                .and_then(|a| a.split_once(":stream/"))
                .map(|(_, s)| s.to_string())
                .unwrap_or_default();
            if f.engine.describe_stream(&stream).is_err() {
                return Err(ApiError::invalid(format!(
                    "Stream {stream} under account {} not found.",
                    f.cfg.account_id
                )));
            }
        }
    }
    save(f, &config)?;
    f.set_kind(&config.name, Some(config.kind));
    let arn = config.arn(&f.cfg.region, &f.cfg.account_id);
    f.start(config);
    Ok(ok(&json!({ "DeliveryStreamARN": arn })))
}

fn list(f: &Firehose, b: &Value) -> Result<Reply, ApiError> {
    let limit = match b.get("Limit") {
        None | Some(Value::Null) => 10,
        Some(v) => match v.as_i64() {
            Some(n) if (1..=10_000).contains(&n) => n as usize,
            Some(n) => {
                return Err(ApiError::constraint(
                    &n.to_string(),
                    "limit",
                    if n < 1 {
                        "Member must have value greater than or equal to 1"
                    } else {
                        "Member must have value less than or equal to 10000"
                    },
                ))
            }
            None => return Err(ApiError::serialization("Limit must be a number")),
        },
    };
    let kind = b.get("DeliveryStreamType").and_then(Value::as_str);
    let start = b
        .get("ExclusiveStartDeliveryStreamName")
        .and_then(Value::as_str);
    let all = f.all()?;
    let names: Vec<&DeliveryStreamConfig> = all
        .iter()
        .filter(|c| kind.is_none_or(|k| c.kind.as_str() == k))
        .filter(|c| start.is_none_or(|s| c.name.as_str() > s))
        .collect();
    let more = names.len() > limit;
    Ok(ok(&json!({
        "DeliveryStreamNames": names.iter().take(limit).map(|c| c.name.clone()).collect::<Vec<_>>(),
        "HasMoreDeliveryStreams": more,
    })))
}

fn delete(f: &Arc<Firehose>, b: &Value) -> Result<Reply, ApiError> {
    let name = name_of(b)?;
    let config = load(f, &name)?;
    f.set_kind(&name, None);
    f.stop(&name);
    if config.kind == StreamKind::DirectPut {
        match f.engine.delete_stream(&owned(&name)?) {
            Ok(()) | Err(freshet_storage::Error::StreamNotFound { .. }) => {}
            Err(e) => return Err(storage(e)),
        }
    }
    f.state
        .write(vec![
            StateChange::Delete(stream_key(&name)),
            StateChange::Delete(checkpoint_key(&name)),
            StateChange::Delete(intent_key(&name)),
        ])
        .map_err(storage)?;
    Ok(ok(&json!({})))
}
