//! Lambda transforms: Firehose's transformation event and the reply it expects.
//!
//! Firehose buffers records for the processor (`BufferSizeInMBs`, `BufferIntervalInSeconds`),
//! then invokes the function synchronously with one event per batch ([`event`], the
//! shape AWS sends) and reads the function's reply ([`parse_reply`] or
//! [`parse_reply_records`]) against the record ids it sent. What this module does not
//! do is invoke anything: it is the codec, pure and without I/O.
//!
//! The status model: every record sent must come back once with its `recordId` and a
//! `result` of `Ok` (with base64 `data`, and optionally `metadata.partitionKeys` for
//! dynamic partitioning), `Dropped` or `ProcessingFailed`. A record that fails goes to
//! the error output (`processing-failed`) as one JSON line ([`processing_failed_line`]).
//!
//! Error codes are AWS's (Firehose's CloudWatch Logs error table):
//! [`JSON_PROCESSING_EXCEPTION`] for a reply that is not JSON or breaks the status model,
//! [`DUPLICATED_RECORD_ID`], [`MISSING_RECORD_ID`], and [`PROCESSING_FAILED_STATUS`]
//! for a record the function itself reported as `ProcessingFailed`.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

/// Error code of a reply that is not JSON or does not follow the status model.
pub const JSON_PROCESSING_EXCEPTION: &str = "Lambda.JsonProcessingException";
/// AWS's message for [`JSON_PROCESSING_EXCEPTION`].
pub const JSON_PROCESSING_MESSAGE: &str = "There was an error parsing returned records from the \
     Lambda function. Ensure that the returned records follow the status model required by \
     Firehose.";
/// Error code of a reply that returns a record id more than once.
pub const DUPLICATED_RECORD_ID: &str = "Lambda.DuplicatedRecordId";
/// AWS's message for [`DUPLICATED_RECORD_ID`].
pub const DUPLICATED_RECORD_ID_MESSAGE: &str = "Multiple records were returned with the same \
     record ID. Ensure that the Lambda function returns unique record IDs for each record.";
/// Error code of a reply that leaves out a record id that was sent.
pub const MISSING_RECORD_ID: &str = "Lambda.MissingRecordId";
/// AWS's message for [`MISSING_RECORD_ID`].
pub const MISSING_RECORD_ID_MESSAGE: &str = "One or more record IDs were not returned. Ensure \
     that the Lambda function returns all received record IDs.";
/// Error code of a record the function returned with `"result": "ProcessingFailed"`.
pub const PROCESSING_FAILED_STATUS: &str = "Lambda.ProcessingFailedStatus";
/// Message for [`PROCESSING_FAILED_STATUS`].
pub const PROCESSING_FAILED_STATUS_MESSAGE: &str = "ProcessingFailed status set for record";
/// Error code of an invocation the function answered with an error (`X-Amz-Function-Error`).
pub const FUNCTION_ERROR: &str = "Lambda.FunctionError";
/// AWS's message for [`FUNCTION_ERROR`].
pub const FUNCTION_ERROR_MESSAGE: &str =
    "The Lambda function was successfully invoked but it returned an error result.";
/// Error code of an invocation refused because the function does not exist.
pub const RESOURCE_NOT_FOUND: &str = "Lambda.ResourceNotFound";
/// AWS's message for [`RESOURCE_NOT_FOUND`].
pub const RESOURCE_NOT_FOUND_MESSAGE: &str =
    "The specified Lambda function does not exist. Use a different function that does exist.";
/// Error code of an invocation throttled by the function's concurrency limit.
pub const INVOKE_LIMIT_EXCEEDED: &str = "Lambda.InvokeLimitExceeded";
/// AWS's message for [`INVOKE_LIMIT_EXCEEDED`].
pub const INVOKE_LIMIT_EXCEEDED_MESSAGE: &str =
    "The Lambda concurrent execution limit is exceeded. Increase the concurrent execution limit.";

/// The Lambda synchronous invocation payload limit (request and response): 6 MB.
pub const MAX_INVOKE_PAYLOAD: usize = 6 * 1024 * 1024;
/// Bytes [`batches`] counts for one record's JSON beyond its base64 data: the
/// `recordId`, timestamps and Kinesis metadata, generously.
pub const RECORD_OVERHEAD: usize = 1024;
/// Bytes [`batches`] counts for the event's envelope (`invocationId`, ARNs, region).
pub const EVENT_OVERHEAD: usize = 2048;

/// A record sent to the transform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformInput<'a> {
    /// `recordId`: unique within the invocation; the reply must return it.
    pub record_id: String,
    /// `approximateArrivalTimestamp`, milliseconds since the epoch.
    pub arrival_ms: i64,
    /// The record's bytes (sent base64-encoded).
    pub data: &'a [u8],
    /// `kinesisRecordMetadata`, for a delivery stream reading a Kinesis data stream.
    pub kinesis: Option<KinesisMetadata>,
}

/// `kinesisRecordMetadata` of a record read from a Kinesis data stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisMetadata {
    /// `shardId`, e.g. `shardId-000000000000`.
    pub shard_id: String,
    /// `partitionKey` the producer gave.
    pub partition_key: String,
    /// `approximateArrivalTimestamp` in the data stream, milliseconds since the epoch.
    pub approximate_arrival_ms: i64,
    /// `sequenceNumber`.
    pub sequence_number: String,
    /// `subsequenceNumber` (non-zero only for a KPL-aggregated user record).
    pub subsequence_number: u64,
}

/// The invocation event as AWS sends it:
///
/// ```json
/// {"invocationId":"…","deliveryStreamArn":"…","sourceKinesisStreamArn":"…","region":"…",
///  "records":[{"recordId":"…","approximateArrivalTimestamp":1700000000000,"data":"<base64>",
///              "kinesisRecordMetadata":{"shardId":"…","partitionKey":"…",
///                "approximateArrivalTimestamp":1700000000000,"sequenceNumber":"…",
///                "subsequenceNumber":0}}]}
/// ```
///
/// `sourceKinesisStreamArn` is present only with a Kinesis source, and
/// `kinesisRecordMetadata` only on records that have it.
pub fn event(
    invocation_id: &str,
    delivery_stream_arn: &str,
    source_stream_arn: Option<&str>,
    region: &str,
    records: &[TransformInput],
) -> Vec<u8> {
    let data: usize = records.iter().map(|r| encoded_len(r.data.len())).sum();
    let mut out = Vec::with_capacity(EVENT_OVERHEAD + data + records.len() * RECORD_OVERHEAD);
    out.extend_from_slice(b"{\"invocationId\":");
    push_str(&mut out, invocation_id);
    out.extend_from_slice(b",\"deliveryStreamArn\":");
    push_str(&mut out, delivery_stream_arn);
    if let Some(source) = source_stream_arn {
        out.extend_from_slice(b",\"sourceKinesisStreamArn\":");
        push_str(&mut out, source);
    }
    out.extend_from_slice(b",\"region\":");
    push_str(&mut out, region);
    out.extend_from_slice(b",\"records\":[");
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"recordId\":");
        push_str(&mut out, &record.record_id);
        out.extend_from_slice(b",\"approximateArrivalTimestamp\":");
        push_int(&mut out, record.arrival_ms);
        out.extend_from_slice(b",\"data\":\"");
        base64_simd::STANDARD.encode_append(record.data, &mut out);
        out.push(b'"');
        if let Some(k) = &record.kinesis {
            out.extend_from_slice(b",\"kinesisRecordMetadata\":{\"shardId\":");
            push_str(&mut out, &k.shard_id);
            out.extend_from_slice(b",\"partitionKey\":");
            push_str(&mut out, &k.partition_key);
            out.extend_from_slice(b",\"approximateArrivalTimestamp\":");
            push_int(&mut out, k.approximate_arrival_ms);
            out.extend_from_slice(b",\"sequenceNumber\":");
            push_str(&mut out, &k.sequence_number);
            out.extend_from_slice(b",\"subsequenceNumber\":");
            push_int(&mut out, k.subsequence_number);
            out.push(b'}');
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    out
}

/// What the function did with one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `Ok`: deliver `data` in place of the record. `partition_keys` are the reply's
    /// `metadata.partitionKeys` (for `!{partitionKeyFromLambda:…}`), empty if none.
    Ok {
        /// The transformed record (base64-decoded).
        data: Bytes,
        /// `metadata.partitionKeys`, name and value.
        partition_keys: Vec<(String, String)>,
    },
    /// `Dropped`: the function dropped the record on purpose; it is delivered nowhere.
    Dropped,
    /// `ProcessingFailed`: the record goes to the error output with
    /// [`PROCESSING_FAILED_STATUS`].
    ProcessingFailed,
}

/// Why an invocation (or, with [`parse_reply_records`], one record) failed: an AWS error
/// code (`Lambda.…`) and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformError {
    /// AWS's error code, e.g. [`MISSING_RECORD_ID`].
    pub code: &'static str,
    /// The message written with the failed records.
    pub message: String,
}

impl TransformError {
    fn json(detail: impl fmt::Display) -> TransformError {
        TransformError {
            code: JSON_PROCESSING_EXCEPTION,
            message: format!("{JSON_PROCESSING_MESSAGE} {detail}"),
        }
    }

    fn duplicated() -> TransformError {
        TransformError {
            code: DUPLICATED_RECORD_ID,
            message: DUPLICATED_RECORD_ID_MESSAGE.to_owned(),
        }
    }

    fn missing() -> TransformError {
        TransformError {
            code: MISSING_RECORD_ID,
            message: MISSING_RECORD_ID_MESSAGE.to_owned(),
        }
    }
}

impl fmt::Display for TransformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for TransformError {}

#[derive(Deserialize)]
struct Reply {
    records: Vec<ReplyRecord>,
}

#[derive(Deserialize)]
struct ReplyRecord {
    #[serde(rename = "recordId")]
    record_id: String,
    result: String,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    metadata: Option<ReplyMetadata>,
}

#[derive(Deserialize)]
struct ReplyMetadata {
    #[serde(rename = "partitionKeys", default)]
    partition_keys: Option<serde_json::Map<String, Value>>,
}

/// Parses the function's reply strictly: the outcome of every sent record, in SENT
/// order, or one error failing the whole invocation (every record of it goes to the
/// error output with that error).
///
/// Errors, by code:
/// - [`JSON_PROCESSING_EXCEPTION`]: the reply is not JSON, has no `records` array, a
///   record lacks `recordId` or `result`, `result` is not `Ok`, `Dropped` or
///   `ProcessingFailed`, an `Ok` record has no `data` or `data` that is not base64,
///   `partitionKeys` is not an object of scalars, or a returned id was never sent;
/// - [`DUPLICATED_RECORD_ID`]: an id is returned more than once;
/// - [`MISSING_RECORD_ID`]: a sent id is not returned.
///
/// See [`parse_reply_records`] for the per-record variant.
pub fn parse_reply(reply: &[u8], sent_ids: &[String]) -> Result<Vec<Outcome>, TransformError> {
    let parsed = parse(reply)?;
    let positions = sent_positions(sent_ids);
    let mut outcomes: Vec<Option<Outcome>> = vec![None; sent_ids.len()];
    for (index, record) in parsed {
        let Some(&position) = positions.get(record.0.as_str()) else {
            return Err(TransformError::json(format_args!(
                "Record {index} of the reply has recordId '{}', which was not sent in this \
                 invocation.",
                record.0
            )));
        };
        if outcomes[position].is_some() {
            return Err(TransformError::duplicated());
        }
        outcomes[position] = Some(record.1);
    }
    outcomes
        .into_iter()
        .map(|o| o.ok_or_else(TransformError::missing))
        .collect()
}

/// Parses the function's reply record by record, as Firehose settles a batch: `Err` is
/// a reply that can't be read at all ([`JSON_PROCESSING_EXCEPTION`]: every sent record
/// fails with it); otherwise one result per sent record in SENT order, where a record
/// the reply left out fails with [`MISSING_RECORD_ID`] and a record returned more than
/// once fails with [`DUPLICATED_RECORD_ID`], while the other records keep their
/// outcome. Returned ids that were never sent are ignored.
pub fn parse_reply_records(
    reply: &[u8],
    sent_ids: &[String],
) -> Result<Vec<Result<Outcome, TransformError>>, TransformError> {
    let parsed = parse(reply)?;
    let positions = sent_positions(sent_ids);
    let mut outcomes: Vec<Option<Result<Outcome, TransformError>>> = vec![None; sent_ids.len()];
    for (_, (id, outcome)) in parsed {
        let Some(&position) = positions.get(id.as_str()) else {
            continue;
        };
        let slot = &mut outcomes[position];
        *slot = match slot {
            None => Some(Ok(outcome)),
            Some(_) => Some(Err(TransformError::duplicated())),
        };
    }
    Ok(outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Err(TransformError::missing())))
        .collect())
}

/// Each sent id's position. A sent id listed twice keeps its first position (ids are
/// unique in an invocation Firehose builds).
fn sent_positions(sent_ids: &[String]) -> std::collections::HashMap<&str, usize> {
    let mut positions = std::collections::HashMap::with_capacity(sent_ids.len());
    for (i, id) in sent_ids.iter().enumerate() {
        positions.entry(id.as_str()).or_insert(i);
    }
    positions
}

/// One record of a reply: its index in the reply, and its id and outcome.
type ReplyEntry = (usize, (String, Outcome));

/// The reply's records, or the [`JSON_PROCESSING_EXCEPTION`] that makes the reply
/// unreadable.
fn parse(reply: &[u8]) -> Result<Vec<ReplyEntry>, TransformError> {
    let reply: Reply = serde_json::from_slice(reply).map_err(|e| {
        TransformError::json(format_args!(
            "The reply is not a valid records object: {e}."
        ))
    })?;
    reply
        .records
        .into_iter()
        .enumerate()
        .map(|(i, r)| outcome(i, r).map(|o| (i, o)))
        .collect()
}

fn outcome(index: usize, record: ReplyRecord) -> Result<(String, Outcome), TransformError> {
    let outcome = match record.result.as_str() {
        "Ok" => {
            let Some(data) = record.data else {
                return Err(TransformError::json(format_args!(
                    "Record {index} of the reply has result Ok but no data."
                )));
            };
            let data = decode_base64(&data).ok_or_else(|| {
                TransformError::json(format_args!(
                    "Record {index} of the reply has data that is not valid base64."
                ))
            })?;
            let partition_keys = match record.metadata.and_then(|m| m.partition_keys) {
                None => Vec::new(),
                Some(keys) => partition_keys(index, keys)?,
            };
            Outcome::Ok {
                data: Bytes::from(data),
                partition_keys,
            }
        }
        "Dropped" => Outcome::Dropped,
        "ProcessingFailed" => Outcome::ProcessingFailed,
        other => {
            return Err(TransformError::json(format_args!(
                "Record {index} of the reply has result '{other}'; the result must be one of \
                 Ok, Dropped or ProcessingFailed."
            )))
        }
    };
    Ok((record.record_id, outcome))
}

/// `metadata.partitionKeys` as name and value; a number or boolean value is taken as
/// its JSON text, anything else (null, array, object) breaks the status model.
fn partition_keys(
    index: usize,
    keys: serde_json::Map<String, Value>,
) -> Result<Vec<(String, String)>, TransformError> {
    keys.into_iter()
        .map(|(name, value)| {
            let value = match value {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    return Err(TransformError::json(format_args!(
                        "Record {index} of the reply has partition key '{name}' with value \
                         {other}; partition key values must be strings."
                    )))
                }
            };
            Ok((name, value))
        })
        .collect()
}

/// Standard base64, padded (as AWS's SDKs and Python's `b64encode` write it) or not.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    base64_simd::STANDARD
        .decode_to_vec(text.as_bytes())
        .or_else(|_| base64_simd::STANDARD_NO_PAD.decode_to_vec(text.as_bytes()))
        .ok()
}

/// A record that failed data transformation, as Firehose writes it under the
/// `processing-failed` error output type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessingFailure<'a> {
    /// `attemptsMade`: invocations attempted (1 plus the retries made).
    pub attempts_made: u32,
    /// `arrivalTimestamp`: when Firehose received the record, ms since the epoch.
    pub arrival_ms: i64,
    /// `errorCode`, e.g. [`PROCESSING_FAILED_STATUS`] or [`FUNCTION_ERROR`].
    pub error_code: &'a str,
    /// `errorMessage`.
    pub error_message: &'a str,
    /// `attemptEndingTimestamp`: when Firehose stopped trying, ms since the epoch.
    pub attempt_ending_ms: i64,
    /// The record as it was before transformation (written base64 as `rawData`).
    pub raw_data: &'a [u8],
    /// `lambdaArn`: the function's ARN.
    pub lambda_arn: &'a str,
}

/// One line of a `processing-failed` object:
/// `{"attemptsMade":4,"arrivalTimestamp":…,"errorCode":"…","errorMessage":"…",
/// "attemptEndingTimestamp":…,"rawData":"<base64>","lambdaArn":"…"}` and `\n`, in AWS's
/// field order (numbers as JSON numbers, as AWS writes them).
pub fn processing_failed_line(failure: &ProcessingFailure) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + encoded_len(failure.raw_data.len()));
    out.extend_from_slice(b"{\"attemptsMade\":");
    push_int(&mut out, failure.attempts_made);
    out.extend_from_slice(b",\"arrivalTimestamp\":");
    push_int(&mut out, failure.arrival_ms);
    out.extend_from_slice(b",\"errorCode\":");
    push_str(&mut out, failure.error_code);
    out.extend_from_slice(b",\"errorMessage\":");
    push_str(&mut out, failure.error_message);
    out.extend_from_slice(b",\"attemptEndingTimestamp\":");
    push_int(&mut out, failure.attempt_ending_ms);
    out.extend_from_slice(b",\"rawData\":\"");
    base64_simd::STANDARD.encode_append(failure.raw_data, &mut out);
    out.extend_from_slice(b"\",\"lambdaArn\":");
    push_str(&mut out, failure.lambda_arn);
    out.extend_from_slice(b"}\n");
    out
}

/// The Lambda processor of a ProcessingConfiguration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaProcessor {
    /// `LambdaArn`: the function (an ARN, possibly qualified, or a name).
    pub function: String,
    /// `NumberOfRetries`: invocations retried after the first fails (0-300, default 3).
    pub retries: u32,
    /// `BufferSizeInMBs` in bytes (0.2-3 MB, default 1 MB).
    pub buffer_bytes: usize,
    /// `BufferIntervalInSeconds` (0-900, default 60).
    pub buffer_interval: Duration,
}

/// `NumberOfRetries` when not given.
pub const DEFAULT_RETRIES: u32 = 3;
/// Largest `NumberOfRetries`.
pub const MAX_RETRIES: u32 = 300;
/// `BufferSizeInMBs` when not given: 1 MB.
pub const DEFAULT_BUFFER_BYTES: usize = 1024 * 1024;
/// `BufferIntervalInSeconds` when not given.
pub const DEFAULT_BUFFER_INTERVAL_SECS: u64 = 60;
/// Largest `BufferIntervalInSeconds`.
pub const MAX_BUFFER_INTERVAL_SECS: u64 = 900;
const MIN_BUFFER_MB: f64 = 0.2;
const MAX_BUFFER_MB: f64 = 3.0;

impl LambdaProcessor {
    /// The processor of a `Lambda` processor's parameters (name and value, as given).
    /// `LambdaArn` is required; `NumberOfRetries` is an integer 0-300 (default 3);
    /// `BufferSizeInMBs` a number 0.2-3, fractions allowed (default 1);
    /// `BufferIntervalInSeconds` an integer 0-900 (default 60); `RoleArn` is accepted.
    /// `Err` holds the message of the `InvalidArgumentException`.
    pub fn from_parameters(params: &[(String, String)]) -> Result<LambdaProcessor, String> {
        let mut function = None;
        let mut retries = DEFAULT_RETRIES;
        let mut buffer_bytes = DEFAULT_BUFFER_BYTES;
        let mut interval = DEFAULT_BUFFER_INTERVAL_SECS;
        for (name, value) in params {
            match name.as_str() {
                "LambdaArn" => function = Some(value.trim().to_owned()),
                "NumberOfRetries" => {
                    retries = value
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|n| *n <= MAX_RETRIES)
                        .ok_or_else(|| {
                            range_message(name, value, &format!("an integer 0-{MAX_RETRIES}"))
                        })?;
                }
                "BufferSizeInMBs" => {
                    let mb = value
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|mb| (MIN_BUFFER_MB..=MAX_BUFFER_MB).contains(mb))
                        .ok_or_else(|| range_message(name, value, "a number 0.2-3"))?;
                    buffer_bytes = (mb * 1024.0 * 1024.0).round() as usize;
                }
                "BufferIntervalInSeconds" => {
                    interval = value
                        .trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|s| *s <= MAX_BUFFER_INTERVAL_SECS)
                        .ok_or_else(|| {
                            range_message(
                                name,
                                value,
                                &format!("an integer 0-{MAX_BUFFER_INTERVAL_SECS}"),
                            )
                        })?;
                }
                "RoleArn" => {}
                other => {
                    return Err(format!(
                        "Processor parameter {other} is not supported for processor type Lambda. \
                         Supported parameters: LambdaArn, NumberOfRetries, RoleArn, \
                         BufferSizeInMBs, BufferIntervalInSeconds."
                    ))
                }
            }
        }
        let function = function
            .filter(|f| !f.is_empty())
            .ok_or("Processor parameter LambdaArn is required for processor type Lambda.")?;
        Ok(LambdaProcessor {
            function,
            retries,
            buffer_bytes,
            buffer_interval: Duration::from_secs(interval),
        })
    }

    /// Invocations made at most for one batch: the first and the retries.
    pub fn max_attempts(&self) -> u32 {
        self.retries.saturating_add(1)
    }
}

fn range_message(name: &str, value: &str, range: &str) -> String {
    format!("Invalid value '{value}' for processor parameter {name}: it must be {range}.")
}

/// Splits records (by their data sizes, in order) into invocation batches: each batch
/// holds at least one record, its data stays within `buffer_bytes`, and its event
/// (base64 data plus [`RECORD_OVERHEAD`] per record and [`EVENT_OVERHEAD`]) within
/// [`MAX_INVOKE_PAYLOAD`]. Returns the index ranges, covering `0..sizes.len()`.
pub fn batches(sizes: &[usize], buffer_bytes: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut data = 0usize;
    let mut payload = EVENT_OVERHEAD;
    for (i, &size) in sizes.iter().enumerate() {
        let record_payload = encoded_len(size).saturating_add(RECORD_OVERHEAD);
        let fits = data.saturating_add(size) <= buffer_bytes
            && payload.saturating_add(record_payload) <= MAX_INVOKE_PAYLOAD;
        if i > start && !fits {
            out.push(start..i);
            start = i;
            data = 0;
            payload = EVENT_OVERHEAD;
        }
        data = data.saturating_add(size);
        payload = payload.saturating_add(record_payload);
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// Length of standard padded base64 of `n` bytes.
fn encoded_len(n: usize) -> usize {
    n.div_ceil(3).saturating_mul(4)
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    // Writing a str into a Vec can't fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn push_int(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use serde_json::json;

    fn b64(data: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(data)
    }

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    fn input(id: &str, data: &'static [u8]) -> TransformInput<'static> {
        TransformInput {
            record_id: id.to_owned(),
            arrival_ms: 1_664_028_820_148,
            data,
            kinesis: None,
        }
    }

    #[test]
    fn event_for_direct_put_is_awss_shape() {
        let records = [input("r1", b"Hello World"), input("r\"2", b"")];
        let event = event(
            "2b4d1ad9-2f48-94bd-a088-767c317e994a",
            "arn:aws:firehose:us-east-2:123456789012:deliverystream/delivery-stream-name",
            None,
            "us-east-2",
            &records,
        );
        let v: Value = serde_json::from_slice(&event).unwrap();
        assert_eq!(
            v,
            json!({
                "invocationId": "2b4d1ad9-2f48-94bd-a088-767c317e994a",
                "deliveryStreamArn":
                    "arn:aws:firehose:us-east-2:123456789012:deliverystream/delivery-stream-name",
                "region": "us-east-2",
                "records": [
                    {"recordId": "r1", "approximateArrivalTimestamp": 1_664_028_820_148_i64,
                     "data": "SGVsbG8gV29ybGQ="},
                    {"recordId": "r\"2", "approximateArrivalTimestamp": 1_664_028_820_148_i64,
                     "data": ""},
                ]
            })
        );
        assert!(v.get("sourceKinesisStreamArn").is_none());
    }

    #[test]
    fn event_for_kinesis_source_has_stream_arn_and_metadata() {
        let mut record = input(
            "49546986683135544286507457936321625675700192471156785154",
            b"{}",
        );
        record.kinesis = Some(KinesisMetadata {
            shard_id: "shardId-000000000003".into(),
            partition_key: "pk".into(),
            approximate_arrival_ms: 1_664_028_793_294,
            sequence_number: "49546986683135544286507457936321625675700192471156785154".into(),
            subsequence_number: 0,
        });
        let event = event(
            "id",
            "arn:aws:firehose:us-east-1:123456789012:deliverystream/d",
            Some("arn:aws:kinesis:us-east-1:123456789012:stream/kinesis-source"),
            "us-east-1",
            &[record],
        );
        let v: Value = serde_json::from_slice(&event).unwrap();
        assert_eq!(
            v["sourceKinesisStreamArn"],
            "arn:aws:kinesis:us-east-1:123456789012:stream/kinesis-source"
        );
        assert_eq!(
            v["records"][0]["kinesisRecordMetadata"],
            json!({
                "shardId": "shardId-000000000003",
                "partitionKey": "pk",
                "approximateArrivalTimestamp": 1_664_028_793_294_i64,
                "sequenceNumber": "49546986683135544286507457936321625675700192471156785154",
                "subsequenceNumber": 0
            })
        );
        assert_eq!(v["records"][0]["data"], "e30=");
    }

    #[test]
    fn event_data_round_trips_binary() {
        let data: Vec<u8> = (0..=255).collect();
        let records = [TransformInput {
            record_id: "x".into(),
            arrival_ms: 0,
            data: &data,
            kinesis: None,
        }];
        let v: Value = serde_json::from_slice(&event("i", "a", None, "r", &records)).unwrap();
        let back = base64::engine::general_purpose::STANDARD
            .decode(v["records"][0]["data"].as_str().unwrap())
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn reply_outcomes_come_back_in_sent_order() {
        let reply = json!({"records": [
            {"recordId": "b", "result": "Dropped"},
            {"recordId": "c", "result": "ProcessingFailed", "data": ""},
            {"recordId": "a", "result": "Ok", "data": b64(b"HELLO"),
             "metadata": {"partitionKeys": {"customerId": "42", "year": "2024"}}},
        ]});
        let out = parse_reply(reply.to_string().as_bytes(), &ids(&["a", "b", "c"])).unwrap();
        let Outcome::Ok {
            data,
            partition_keys,
        } = &out[0]
        else {
            panic!("{:?}", out[0]);
        };
        assert_eq!(&data[..], b"HELLO");
        let mut keys = partition_keys.clone();
        keys.sort();
        assert_eq!(
            keys,
            vec![
                ("customerId".to_string(), "42".to_string()),
                ("year".to_string(), "2024".to_string())
            ]
        );
        assert_eq!(out[1], Outcome::Dropped);
        assert_eq!(out[2], Outcome::ProcessingFailed);
    }

    #[test]
    fn reply_partition_key_numbers_are_their_json_text() {
        let reply = json!({"records": [{"recordId": "a", "result": "Ok", "data": "",
            "metadata": {"partitionKeys": {"n": 7, "b": true}}}]});
        let out = parse_reply(reply.to_string().as_bytes(), &ids(&["a"])).unwrap();
        let Outcome::Ok { partition_keys, .. } = &out[0] else {
            panic!()
        };
        let mut keys = partition_keys.clone();
        keys.sort();
        assert_eq!(
            keys,
            vec![("b".into(), "true".into()), ("n".into(), "7".into())]
        );
        let bad = json!({"records": [{"recordId": "a", "result": "Ok", "data": "",
            "metadata": {"partitionKeys": {"n": null}}}]});
        let err = parse_reply(bad.to_string().as_bytes(), &ids(&["a"])).unwrap_err();
        assert_eq!(err.code, JSON_PROCESSING_EXCEPTION);
    }

    #[test]
    fn ok_with_empty_data_is_an_empty_record() {
        let reply = json!({"records": [{"recordId": "a", "result": "Ok", "data": ""}]});
        let out = parse_reply(reply.to_string().as_bytes(), &ids(&["a"])).unwrap();
        assert_eq!(
            out,
            vec![Outcome::Ok {
                data: Bytes::new(),
                partition_keys: vec![]
            }]
        );
    }

    #[test]
    fn unpadded_base64_is_accepted() {
        let reply = json!({"records": [{"recordId": "a", "result": "Ok", "data": "SGk"}]});
        let out = parse_reply(reply.to_string().as_bytes(), &ids(&["a"])).unwrap();
        assert!(matches!(&out[0], Outcome::Ok { data, .. } if &data[..] == b"Hi"));
    }

    fn strict_err(reply: &str, sent: &[&str]) -> TransformError {
        parse_reply(reply.as_bytes(), &ids(sent)).unwrap_err()
    }

    #[test]
    fn reply_errors_fail_the_invocation_with_awss_codes() {
        let ok = |id: &str| format!(r#"{{"recordId":"{id}","result":"Ok","data":"eA=="}}"#);
        let cases: Vec<(String, &str)> = vec![
            ("not json".into(), JSON_PROCESSING_EXCEPTION),
            (
                r#"{"errorMessage":"boom","errorType":"Error"}"#.into(),
                JSON_PROCESSING_EXCEPTION,
            ),
            (r#"{"records":{}}"#.into(), JSON_PROCESSING_EXCEPTION),
            (r#"[]"#.into(), JSON_PROCESSING_EXCEPTION),
            (
                r#"{"records":[{"result":"Ok","data":""}]}"#.into(),
                JSON_PROCESSING_EXCEPTION,
            ),
            (
                r#"{"records":[{"recordId":"a","data":""}]}"#.into(),
                JSON_PROCESSING_EXCEPTION,
            ),
            (
                r#"{"records":[{"recordId":"a","result":"ok","data":""}]}"#.into(),
                JSON_PROCESSING_EXCEPTION,
            ),
            (
                r#"{"records":[{"recordId":"a","result":"Ok"}]}"#.into(),
                JSON_PROCESSING_EXCEPTION,
            ),
            (
                r#"{"records":[{"recordId":"a","result":"Ok","data":"%%%"}]}"#.into(),
                JSON_PROCESSING_EXCEPTION,
            ),
            (
                r#"{"records":[{"recordId":1,"result":"Ok","data":""}]}"#.into(),
                JSON_PROCESSING_EXCEPTION,
            ),
            (format!(r#"{{"records":[{}]}}"#, ok("a")), MISSING_RECORD_ID),
            (r#"{"records":[]}"#.into(), MISSING_RECORD_ID),
            (
                format!(r#"{{"records":[{},{},{}]}}"#, ok("a"), ok("a"), ok("b")),
                DUPLICATED_RECORD_ID,
            ),
            (
                format!(r#"{{"records":[{},{},{}]}}"#, ok("a"), ok("b"), ok("zz")),
                JSON_PROCESSING_EXCEPTION,
            ),
        ];
        for (reply, code) in cases {
            let err = strict_err(&reply, &["a", "b"]);
            assert_eq!(err.code, code, "{reply}: {err}");
            assert!(!err.message.is_empty());
        }
        assert_eq!(
            strict_err(&format!(r#"{{"records":[{}]}}"#, ok("a")), &["a", "b"]).message,
            MISSING_RECORD_ID_MESSAGE
        );
    }

    #[test]
    fn a_replaced_id_reports_the_missing_one_per_record() {
        let reply = r#"{"records":[{"recordId":"a","result":"Ok","data":"eA=="},
                                   {"recordId":"other","result":"Ok","data":"eA=="}]}"#;
        let out = parse_reply_records(reply.as_bytes(), &ids(&["a", "b"])).unwrap();
        assert!(matches!(out[0], Ok(Outcome::Ok { .. })));
        assert_eq!(out[1].as_ref().unwrap_err().code, MISSING_RECORD_ID);
    }

    #[test]
    fn per_record_duplicates_fail_only_that_record() {
        let reply = r#"{"records":[{"recordId":"a","result":"Ok","data":"eA=="},
                                   {"recordId":"a","result":"Ok","data":"eQ=="},
                                   {"recordId":"b","result":"Dropped"}]}"#;
        let out = parse_reply_records(reply.as_bytes(), &ids(&["a", "b"])).unwrap();
        assert_eq!(out[0].as_ref().unwrap_err().code, DUPLICATED_RECORD_ID);
        assert_eq!(out[1], Ok(Outcome::Dropped));
        // An unreadable reply fails the whole invocation.
        let err = parse_reply_records(b"{", &ids(&["a"])).unwrap_err();
        assert_eq!(err.code, JSON_PROCESSING_EXCEPTION);
    }

    #[test]
    fn processing_failed_line_is_awss_format() {
        let line = processing_failed_line(&ProcessingFailure {
            attempts_made: 4,
            arrival_ms: 1_575_019_718_303,
            error_code: DUPLICATED_RECORD_ID,
            error_message: DUPLICATED_RECORD_ID_MESSAGE,
            attempt_ending_ms: 1_575_019_781_231,
            raw_data: b"{\"a\":1}",
            lambda_arn: "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST",
        });
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let text = std::str::from_utf8(&line).unwrap();
        assert!(text.starts_with(
            "{\"attemptsMade\":4,\"arrivalTimestamp\":1575019718303,\"errorCode\":\
             \"Lambda.DuplicatedRecordId\",\"errorMessage\":"
        ));
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            v,
            json!({
                "attemptsMade": 4,
                "arrivalTimestamp": 1_575_019_718_303_i64,
                "errorCode": "Lambda.DuplicatedRecordId",
                "errorMessage": DUPLICATED_RECORD_ID_MESSAGE,
                "attemptEndingTimestamp": 1_575_019_781_231_i64,
                "rawData": "eyJhIjoxfQ==",
                "lambdaArn": "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST"
            })
        );
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn lambda_processor_defaults() {
        let p = LambdaProcessor::from_parameters(&params(&[(
            "LambdaArn",
            "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST",
        )]))
        .unwrap();
        assert_eq!(
            p,
            LambdaProcessor {
                function: "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST".into(),
                retries: 3,
                buffer_bytes: 1024 * 1024,
                buffer_interval: Duration::from_secs(60),
            }
        );
        assert_eq!(p.max_attempts(), 4);
    }

    #[test]
    fn lambda_processor_parameters_and_ranges() {
        let p = LambdaProcessor::from_parameters(&params(&[
            ("LambdaArn", "f"),
            ("NumberOfRetries", "0"),
            ("BufferSizeInMBs", "0.2"),
            ("BufferIntervalInSeconds", "900"),
            ("RoleArn", "arn:aws:iam::123456789012:role/r"),
        ]))
        .unwrap();
        assert_eq!(p.retries, 0);
        assert_eq!(p.buffer_bytes, 209_715);
        assert_eq!(p.buffer_interval, Duration::from_secs(900));
        let p = LambdaProcessor::from_parameters(&params(&[
            ("LambdaArn", "f"),
            ("NumberOfRetries", "300"),
            ("BufferSizeInMBs", "3"),
            ("BufferIntervalInSeconds", "0"),
        ]))
        .unwrap();
        assert_eq!((p.retries, p.buffer_bytes), (300, 3 * 1024 * 1024));

        for bad in [
            vec![],
            vec![("LambdaArn", " ")],
            vec![("LambdaArn", "f"), ("NumberOfRetries", "301")],
            vec![("LambdaArn", "f"), ("NumberOfRetries", "-1")],
            vec![("LambdaArn", "f"), ("NumberOfRetries", "three")],
            vec![("LambdaArn", "f"), ("BufferSizeInMBs", "0.1")],
            vec![("LambdaArn", "f"), ("BufferSizeInMBs", "4")],
            vec![("LambdaArn", "f"), ("BufferSizeInMBs", "NaN")],
            vec![("LambdaArn", "f"), ("BufferIntervalInSeconds", "901")],
            vec![("LambdaArn", "f"), ("BufferIntervalInSeconds", "1.5")],
            vec![("LambdaArn", "f"), ("Delimiter", "Cg==")],
        ] {
            let err = LambdaProcessor::from_parameters(&params(&bad)).unwrap_err();
            assert!(!err.is_empty(), "{bad:?}");
        }
        let err = LambdaProcessor::from_parameters(&params(&[
            ("LambdaArn", "f"),
            ("NumberOfRetries", "301"),
        ]))
        .unwrap_err();
        assert!(
            err.contains("NumberOfRetries") && err.contains("301"),
            "{err}"
        );
    }

    #[test]
    fn batches_respect_buffer_size() {
        assert_eq!(batches(&[], 100), Vec::<Range<usize>>::new());
        assert_eq!(batches(&[10, 10, 10], 100), vec![0..3]);
        assert_eq!(batches(&[60, 50, 40, 60], 100), vec![0..1, 1..3, 3..4]);
        assert_eq!(batches(&[50, 50, 1], 100), vec![0..2, 2..3]);
        // A record bigger than the buffer travels alone.
        assert_eq!(batches(&[10, 500, 10], 100), vec![0..1, 1..2, 2..3]);
    }

    #[test]
    fn batches_respect_the_invoke_payload_limit() {
        let mb = 1024 * 1024;
        // 4.5 MB of data is 6 MB of base64: never in one invocation.
        let sizes = vec![mb; 6];
        let out = batches(&sizes, usize::MAX);
        assert!(out.len() >= 2);
        for range in &out {
            let payload: usize = EVENT_OVERHEAD
                + sizes[range.clone()]
                    .iter()
                    .map(|s| encoded_len(*s) + RECORD_OVERHEAD)
                    .sum::<usize>();
            assert!(payload <= MAX_INVOKE_PAYLOAD, "{range:?}");
        }
        assert_eq!(out.first().map(|r| r.start), Some(0));
        assert_eq!(out.last().map(|r| r.end), Some(6));
        // Many tiny records: the per-record overhead counts.
        let tiny = vec![0usize; 20_000];
        let out = batches(&tiny, usize::MAX);
        assert!(out.len() >= 2);
        // And the real event stays under the limit.
        let records: Vec<TransformInput> = out[0]
            .clone()
            .map(|i| TransformInput {
                record_id: format!("{i:056}"),
                arrival_ms: 1_700_000_000_000,
                data: b"",
                kinesis: Some(KinesisMetadata {
                    shard_id: "shardId-000000000000".into(),
                    partition_key: "k".repeat(256),
                    approximate_arrival_ms: 1_700_000_000_000,
                    sequence_number: "4".repeat(56),
                    subsequence_number: u64::MAX,
                }),
            })
            .collect();
        let e = event(
            "2b4d1ad9-2f48-94bd-a088-767c317e994a",
            &"a".repeat(200),
            Some(&"s".repeat(200)),
            "us-east-1",
            &records,
        );
        assert!(e.len() <= MAX_INVOKE_PAYLOAD, "{}", e.len());
    }
}
