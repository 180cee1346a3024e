//! The record an on-failure destination receives for records a mapping gave up on,
//! in AWS's shape (`requestContext`, `responseContext`, `KinesisBatchInfo`).

use freshet_storage::Record;
use serde_json::{json, Value};

/// Why records were given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// MaximumRetryAttempts used up.
    RetryAttemptsExhausted,
    /// Older than MaximumRecordAgeInSeconds.
    RecordAgeExceeded,
}

impl Condition {
    fn as_str(self) -> &'static str {
        match self {
            Condition::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            Condition::RecordAgeExceeded => "RecordAgeExceeded",
        }
    }
}

fn iso_ms(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt).unwrap_or_default()
}

/// What the last attempt returned, for `responseContext`.
#[derive(Debug, Clone, Default)]
pub struct LastAttempt {
    /// The invocation's request id.
    pub request_id: String,
    /// `Unhandled` when the function failed.
    pub function_error: Option<String>,
    /// Invocations made for these records.
    pub invoke_count: u32,
}

/// The failure record for `records` of `shard_id` (non-empty, in order).
pub fn failure_record(
    condition: Condition,
    function_arn: &str,
    stream_arn: &str,
    shard_id: &str,
    records: &[Record],
    last: &LastAttempt,
    now_ms: i64,
) -> Value {
    let first = records.first();
    let last_rec = records.last();
    let seq = |r: Option<&Record>| {
        r.map(|r| r.sequence_number.to_u128().to_string())
            .unwrap_or_default()
    };
    // As AWS records them: `functionError` is null when the function returned (items
    // failed), and a batch that aged out carries no responseContext, is counted as one
    // invocation and has a request id even when it was never sent.
    let response = json!({
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": last.function_error,
    });
    let (request_id, invoke_count) = match condition {
        Condition::RecordAgeExceeded if last.request_id.is_empty() => {
            (uuid::Uuid::new_v4().to_string(), last.invoke_count.max(1))
        }
        _ => (last.request_id.clone(), last.invoke_count),
    };
    let mut doc = json!({
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition.as_str(),
            "approximateInvokeCount": invoke_count,
        },
        "version": "1.0",
        "timestamp": iso_ms(now_ms),
        "KinesisBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": seq(first),
            "endSequenceNumber": seq(last_rec),
            "approximateArrivalOfFirstRecord": iso_ms(first.map_or(0, |r| r.arrival_ms)),
            "approximateArrivalOfLastRecord": iso_ms(last_rec.map_or(0, |r| r.arrival_ms)),
            "batchSize": records.len(),
            "streamArn": stream_arn,
        }
    });
    if condition != Condition::RecordAgeExceeded {
        doc["responseContext"] = response;
    }
    doc
}
