//! `freshet-test-function`: a Lambda function on the real `lambda_runtime` crate, for
//! Freshet's Lambda integration tests. The harness (`freshet_tests::lambda`) zips this
//! binary as `bootstrap` for runtime `provided.al2023`.
//!
//! It behaves exactly like `tests/functions/python/handler.py`, so the same tests run
//! against either:
//!
//! * Direct invokes (a payload without a `Records` list), by the first key present:
//!   `{"echo": X}` returns X; `{"error": "msg"}` fails with that message (error type
//!   `Exception`); `{"sleep": secs}` returns `{"slept": secs}` after sleeping;
//!   `{"exit": code}` exits the process at once; `{"print": "text"}` prints the text
//!   to stdout and returns `{"printed": true}`; `{"env": "NAME"}` returns that
//!   variable or null; `{"big": n}` returns a string of n `x`. Anything else is echoed.
//! * With `FRESHET_SINK_MODE=count` (benchmarks), a Kinesis event appends one line per
//!   invocation instead: `{"req","count","bytes","start_us"}` (when the handler began).
//! * Kinesis events (`{"Records": [...]}`): one line per record appended to the file
//!   `$FRESHET_SINK` (when set): `{"shard","pk","seq","data" (or "data_b64" when the
//!   data is not UTF-8),"req"}`, each line with one `write()` on an `O_APPEND` file.
//!   Then, over the batch's decoded data: any `poison` fails the invocation; else any
//!   `crash` exits with code 3; else any `hang` sleeps an hour. With
//!   `FRESHET_REPORT_FAILURES=1`, records with `fail-item` are reported in
//!   `batchItemFailures` (`fail-item-once` only the first time: a marker file per
//!   sequence number in `$FRESHET_STATE_DIR`). A tumbling-window event (a `window` key)
//!   returns `{"state": {"count": previous + records}}` and, on the final invoke for
//!   the window, appends `{"window_final": true, "shard", "start", "count"}` (the
//!   count passed in) to the sink. Otherwise the result is `{"ok": <records>}`.
//! * Firehose transformation events (`{"invocationId", "records": [{"recordId",
//!   "data"}]}`): every record back as `Ok` with its data unchanged (the transform
//!   benchmark's function).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::{json, Map, Value};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    if std::env::var("FRESHET_SINK_MODE").as_deref() == Ok("count") {
        lambda_runtime::run(service_fn(count)).await
    } else {
        lambda_runtime::run(service_fn(handle)).await
    }
}

/// A Kinesis event read into types, as functions built on `aws_lambda_events` do
/// (only the members the benchmark uses; the rest are skipped).
#[derive(serde::Deserialize)]
struct CountEvent {
    #[serde(rename = "Records")]
    records: Vec<CountRecord>,
}

/// One record of a [`CountEvent`].
#[derive(serde::Deserialize)]
struct CountRecord {
    kinesis: CountKinesis,
}

/// The `kinesis` member of a [`CountRecord`].
#[derive(serde::Deserialize)]
struct CountKinesis {
    data: String,
}

/// `FRESHET_SINK_MODE=count` (benchmarks): decodes every record's data and appends one
/// line per invocation, `{"req","count","bytes","start_us"}` (when the handler began).
async fn count(event: LambdaEvent<CountEvent>) -> Result<Value, Diagnostic> {
    let started_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let mut bytes = 0usize;
    for r in &event.payload.records {
        bytes += base64::engine::general_purpose::STANDARD
            .decode(&r.kinesis.data)
            .map_err(|e| fail(format!("bad base64 record data: {e}")))?
            .len();
    }
    let n = event.payload.records.len();
    sink(
        &json!({"req": event.context.request_id, "count": n, "bytes": bytes, "start_us": started_us}),
    )?;
    Ok(json!({ "ok": n }))
}

/// One decoded Kinesis record of an event.
struct Record {
    shard: Value,
    pk: Value,
    seq: Value,
    /// The `kinesis.data` text as sent (base64).
    data_b64: String,
    data: Vec<u8>,
}

/// An invocation error like Python's `raise Exception(msg)`.
fn fail(msg: impl Into<String>) -> Diagnostic {
    Diagnostic {
        error_type: "Exception".to_string(),
        error_message: msg.into(),
    }
}

/// A JSON value as text: strings as they are, the rest as compact JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Sleeps `secs` seconds (anything not a non-negative finite number: not at all).
async fn sleep(secs: f64) {
    if secs.is_finite() && secs > 0.0 {
        tokio::time::sleep(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)).await;
    }
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let request_id = event.context.request_id.clone();
    let payload = event.payload;
    match (payload.get("Records"), payload.get("records")) {
        (Some(Value::Array(records)), _) => kinesis(&payload, records, &request_id).await,
        (_, Some(Value::Array(records))) if payload.get("invocationId").is_some() => {
            Ok(firehose(records))
        }
        _ => direct(payload).await,
    }
}

/// A Firehose transformation: every record `Ok`, its data unchanged.
fn firehose(records: &[Value]) -> Value {
    let out: Vec<Value> = records
        .iter()
        .map(|r| json!({"recordId": r["recordId"], "result": "Ok", "data": r["data"]}))
        .collect();
    json!({ "records": out })
}

/// A direct invoke.
async fn direct(payload: Value) -> Result<Value, Diagnostic> {
    let Value::Object(map) = &payload else {
        return Ok(payload);
    };
    if let Some(x) = map.get("echo") {
        return Ok(x.clone());
    }
    if let Some(msg) = map.get("error") {
        return Err(fail(text(msg)));
    }
    if let Some(secs) = map.get("sleep") {
        sleep(secs.as_f64().unwrap_or(0.0)).await;
        return Ok(json!({ "slept": secs }));
    }
    if let Some(code) = map.get("exit") {
        let code = code
            .as_i64()
            .and_then(|c| i32::try_from(c).ok())
            .unwrap_or(1);
        std::process::exit(code);
    }
    if let Some(t) = map.get("print") {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", text(t));
        let _ = out.flush();
        return Ok(json!({ "printed": true }));
    }
    if let Some(name) = map.get("env") {
        return Ok(name
            .as_str()
            .and_then(|n| std::env::var(n).ok())
            .map_or(Value::Null, Value::String));
    }
    if let Some(n) = map.get("big") {
        let n = n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0);
        return Ok(Value::String("x".repeat(n)));
    }
    Ok(payload)
}

/// Decodes one record of a Kinesis event.
fn decode(record: &Value) -> Result<Record, Diagnostic> {
    let shard = match record.get("eventID") {
        Some(Value::String(id)) => {
            Value::String(id.split(':').next().unwrap_or_default().to_string())
        }
        _ => Value::Null,
    };
    let kinesis = record.get("kinesis").cloned().unwrap_or(Value::Null);
    let data_b64 = kinesis
        .get("data")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let data = base64::engine::general_purpose::STANDARD
        .decode(&data_b64)
        .map_err(|e| fail(format!("bad base64 record data: {e}")))?;
    Ok(Record {
        shard,
        pk: kinesis.get("partitionKey").cloned().unwrap_or(Value::Null),
        seq: kinesis
            .get("sequenceNumber")
            .cloned()
            .unwrap_or(Value::Null),
        data_b64,
        data,
    })
}

/// Appends `line` and a newline to `$FRESHET_SINK` (when set) with a single `write()`
/// on an `O_APPEND` file, so lines of concurrent processes never interleave.
fn sink(line: &Value) -> Result<(), Diagnostic> {
    let Some(path) = std::env::var_os("FRESHET_SINK") else {
        return Ok(());
    };
    let mut bytes = line.to_string().into_bytes();
    bytes.push(b'\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| {
            f.write_all(&bytes)?;
            f.flush()
        })
        .map_err(|e| fail(format!("sink {}: {e}", Path::new(&path).display())))
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Whether the record fails in a `batchItemFailures` response.
fn item_fails(r: &Record) -> Result<bool, Diagnostic> {
    if contains(&r.data, "fail-item-once") {
        let Some(dir) = std::env::var_os("FRESHET_STATE_DIR") else {
            return Ok(true);
        };
        let marker = Path::new(&dir).join(format!("fail-item-once-{}", text(&r.seq)));
        if marker.exists() {
            return Ok(false);
        }
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&marker, b""))
            .map_err(|e| fail(format!("marker {}: {e}", marker.display())))?;
        return Ok(true);
    }
    Ok(contains(&r.data, "fail-item"))
}

/// A Kinesis event (`Records`), maybe of a tumbling window.
async fn kinesis(event: &Value, records: &[Value], request_id: &str) -> Result<Value, Diagnostic> {
    let records = records.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
    for r in &records {
        let mut line = Map::new();
        line.insert("shard".into(), r.shard.clone());
        line.insert("pk".into(), r.pk.clone());
        line.insert("seq".into(), r.seq.clone());
        match std::str::from_utf8(&r.data) {
            Ok(s) => line.insert("data".into(), Value::String(s.to_string())),
            Err(_) => line.insert("data_b64".into(), Value::String(r.data_b64.clone())),
        };
        line.insert("req".into(), Value::String(request_id.to_string()));
        sink(&Value::Object(line))?;
    }
    if let Some(r) = records.iter().find(|r| contains(&r.data, "poison")) {
        return Err(fail(format!("poison record {}", text(&r.seq))));
    }
    if records.iter().any(|r| contains(&r.data, "crash")) {
        std::process::exit(3);
    }
    if records.iter().any(|r| contains(&r.data, "hang")) {
        sleep(3600.0).await;
    }
    let report = std::env::var("FRESHET_REPORT_FAILURES").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    if report {
        for r in &records {
            if item_fails(r)? {
                failures.push(json!({ "itemIdentifier": r.seq }));
            }
        }
    }
    let mut result = Map::new();
    if let Some(window) = event.get("window") {
        let previous = event
            .get("state")
            .and_then(|s| s.get("count"))
            .and_then(|c| c.as_i64().or_else(|| c.as_f64().map(|f| f as i64)))
            .unwrap_or(0);
        if event.get("isFinalInvokeForWindow") == Some(&Value::Bool(true)) {
            sink(&json!({
                "window_final": true,
                "shard": event.get("shardId").cloned().unwrap_or(Value::Null),
                "start": window.get("start").cloned().unwrap_or(Value::Null),
                "count": previous,
            }))?;
        }
        let count = previous + i64::try_from(records.len()).unwrap_or(i64::MAX);
        result.insert("state".into(), json!({ "count": count }));
    } else if !report {
        result.insert("ok".into(), json!(records.len()));
    }
    if report {
        result.insert("batchItemFailures".into(), Value::Array(failures));
    }
    Ok(Value::Object(result))
}
