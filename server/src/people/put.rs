//! `freshet put`: lines of stdin or a file become records, through the KPL-style
//! producer with aggregation, with a progress line on a terminal and a summary.
//!
//! A line is the bytes before a `\n` (a `\r` before it stays part of the record; a
//! last line without `\n` is a record too). An empty line is skipped and counted
//! unless `--keep-empty`, which puts it as an empty record (Kinesis and Freshet accept
//! a zero-length data blob), so a file tails back byte for byte.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use freshet_client::producer::PendingRecord;
use freshet_client::{Error, Producer, ProducerConfig, MAX_RECORD_BYTES};
use rand::Rng;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};

use super::endpoint::{Connection, Remote};
use super::output::{self, thousands};
use super::{Failure, Outcome};

/// How long a record may take, retries included.
const RECORD_TTL: Duration = Duration::from_secs(120);
/// Records accepted and not yet acknowledged (reading waits beyond it).
const MAX_OUTSTANDING_RECORDS: usize = 100_000;
/// Bytes accepted and not yet acknowledged.
const MAX_OUTSTANDING_BYTES: usize = 16 << 20;
/// How often the progress line is drawn, and after how long it first shows.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);
const PROGRESS_AFTER: Duration = Duration::from_millis(500);
/// Failures named one by one at the end.
const FAILURES_SHOWN: usize = 10;
/// Bytes an aggregate adds around one record (magic, framing, digest, tables), at most.
const AGGREGATE_OVERHEAD: usize = 128;

/// Options of `freshet put`.
#[derive(Debug, Clone, Args)]
pub struct PutArgs {
    /// The stream.
    pub stream: String,
    /// Read lines from this file instead of stdin.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Take each record's partition key from this field of the line read as JSON: a
    /// dotted path such as `user.id` (array elements by index). Strings are used as
    /// they are, numbers and booleans as written.
    #[arg(long, value_name = "FIELD", conflicts_with = "key")]
    pub key_field: Option<String>,
    /// One partition key for every record (they all land on one shard, in order).
    /// Without it or --key-field each record gets a random key.
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// Put empty lines as empty records (by default they are skipped and counted).
    #[arg(long)]
    pub keep_empty: bool,
    /// Send every line as a Kinesis record of its own instead of KPL aggregates.
    #[arg(long)]
    pub no_aggregation: bool,
    /// PutRecords calls in flight at once. With 1, the records of a key arrive in input
    /// order; more is faster but may reorder them.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub in_flight: u32,
    /// Do not pace each shard at 150% of Kinesis's write limits (1 MiB/s and 1,000
    /// records/s), as the KPL does: for servers that do not enforce them.
    #[arg(long)]
    pub no_rate_limit: bool,
    /// Where to connect and how to sign.
    #[command(flatten)]
    pub conn: Connection,
}

/// `--help` text after the options of `freshet put`.
pub const PUT_HELP: &str = help_with_exit_codes!(
    "Each line is a record (without its newline; a \\r before it stays). Empty lines are \
     skipped and counted unless --keep-empty puts them as empty records. Records are \
     aggregated KPL-style per shard and sent with PutRecords; every record's receipt is \
     awaited. A progress line \
     shows on a terminal; a summary (records, bytes, seconds, records/s, MiB/s, failed) \
     ends the run. Exit code 1 when any record failed.\n\n\
     Examples:\n  \
     freshet put events --file events.jsonl --key-field user.id\n  \
     seq 1 100000 | freshet put numbers --key one\n  \
     freshet put logs < app.log"
);

/// How a line's partition key is chosen.
#[derive(Debug, Clone)]
enum KeyRule {
    Field(Vec<String>),
    Fixed(String),
    Random,
}

impl KeyRule {
    fn of(&self, line: &[u8]) -> Result<String, String> {
        match self {
            KeyRule::Fixed(k) => Ok(k.clone()),
            KeyRule::Random => Ok(format!("{:032x}", rand::thread_rng().gen::<u128>())),
            KeyRule::Field(path) => key_at(line, path),
        }
    }
}

/// The value at `path` of the line read as JSON, as a partition key.
fn key_at(line: &[u8], path: &[String]) -> Result<String, String> {
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("not a JSON value ({e})"))?;
    let mut at = &value;
    for part in path {
        let next = match at {
            serde_json::Value::Object(m) => m.get(part),
            serde_json::Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        at = next.ok_or_else(|| format!("no field {:?}", path.join(".")))?;
    }
    let key = match at {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Bool(b) => b.to_string(),
        _ => {
            return Err(format!(
                "the field {:?} is not a string, number or boolean",
                path.join(".")
            ))
        }
    };
    if key.is_empty() {
        return Err(format!("the field {:?} is empty", path.join(".")));
    }
    Ok(key)
}

/// Counters shared by the reader, the receipt collector and the progress line.
#[derive(Debug, Default)]
struct Counters {
    read_bytes: AtomicU64,
    put_records: AtomicU64,
    put_bytes: AtomicU64,
    failed: AtomicU64,
    failures: Mutex<Vec<String>>,
}

impl Counters {
    fn fail(&self, line: u64, why: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if f.len() < FAILURES_SHOWN {
            f.push(format!("line {line}: {why}"));
        }
    }
}

/// Reads one line (without its `\n`) into `line`, keeping at most `max` bytes of it;
/// returns the line's full length and whether one was read (`false` at the end).
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<usize>> {
    line.clear();
    let mut total = 0usize;
    let mut any = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(any.then_some(total));
        }
        any = true;
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        let room = max.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        total += chunk.len();
        let used = done.unwrap_or(chunk.len());
        reader.consume(used);
        if done.is_some() {
            return Ok(Some(total));
        }
    }
}

/// `freshet put`.
pub async fn run(args: PutArgs) -> Outcome {
    let remote = Remote::connect(&args.conn).await?;
    let stream = args.stream.clone();
    remote.summary(&stream).await?;
    let (input, total_bytes): (Box<dyn tokio::io::AsyncRead + Unpin + Send>, Option<u64>) =
        match &args.file {
            Some(path) => {
                let file = tokio::fs::File::open(path)
                    .await
                    .map_err(|e| Failure::failed(format!("cannot open {}: {e}", path.display())))?;
                let len = file.metadata().await.ok().map(|m| m.len());
                (Box::new(file), len)
            }
            None => (Box::new(tokio::io::stdin()), None),
        };
    let rule = match (&args.key_field, &args.key) {
        (Some(f), _) => KeyRule::Field(f.split('.').map(str::to_string).collect()),
        (None, Some(k)) => KeyRule::Fixed(k.clone()),
        (None, None) => KeyRule::Random,
    };
    let cfg = ProducerConfig {
        aggregation: !args.no_aggregation,
        max_in_flight_requests: args.in_flight as usize,
        rate_limit_percent: (!args.no_rate_limit).then_some(150),
        record_ttl: RECORD_TTL,
        max_outstanding_records: MAX_OUTSTANDING_RECORDS,
        max_outstanding_bytes: MAX_OUTSTANDING_BYTES,
        ..ProducerConfig::default()
    };
    let producer = Producer::new(remote.client.clone(), cfg);
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let progress = std::io::stderr()
        .is_terminal()
        .then(|| tokio::spawn(draw_progress(counters.clone(), total_bytes, started)));

    // Receipts are awaited in input order by one task while reading goes on.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(u64, u64, PendingRecord)>(4096);
    let collector = {
        let counters = counters.clone();
        tokio::spawn(async move {
            while let Some((line, len, pending)) = rx.recv().await {
                match pending.await {
                    Ok(_) => {
                        counters.put_records.fetch_add(1, Ordering::Relaxed);
                        counters.put_bytes.fetch_add(len, Ordering::Relaxed);
                    }
                    Err(e) => counters.fail(line, e.to_string()),
                }
            }
        })
    };

    let mut reader = BufReader::with_capacity(256 << 10, input);
    let mut line = Vec::new();
    let mut number = 0u64;
    let mut skipped = 0u64;
    let mut stopped: Option<Failure> = None;
    loop {
        let len = match read_line(&mut reader, &mut line, MAX_RECORD_BYTES + 1).await {
            Ok(Some(len)) => len,
            Ok(None) => break,
            Err(e) => {
                stopped = Some(Failure::failed(format!("cannot read the input: {e}")));
                break;
            }
        };
        number += 1;
        counters
            .read_bytes
            .fetch_add(len as u64 + 1, Ordering::Relaxed);
        if len == 0 && !args.keep_empty {
            skipped += 1;
            continue;
        }
        if len > MAX_RECORD_BYTES {
            counters.fail(
                number,
                format!("{len} bytes is more than a record may hold (1 MiB)"),
            );
            continue;
        }
        let key = match rule.of(&line) {
            Ok(k) => k,
            Err(why) => {
                counters.fail(number, why);
                continue;
            }
        };
        // The producer sends a record too large to aggregate at once, ahead of the
        // records of its shard still being aggregated: to keep each key in input order,
        // those go first.
        let aggregate_max = producer.config().aggregation_max_bytes;
        if !args.no_aggregation
            && args.in_flight == 1
            && len + key.len() + AGGREGATE_OVERHEAD > aggregate_max
        {
            producer.flush_all(RECORD_TTL).await;
        }
        let data = Bytes::copy_from_slice(&line);
        match producer.submit(&stream, key, data, None).await {
            Ok(pending) => {
                if tx.send((number, len as u64, pending)).await.is_err() {
                    break;
                }
            }
            Err(Error::InvalidArgument(m)) => counters.fail(number, m),
            Err(e) => {
                stopped = Some(remote.fail(e, &format!("putting into {stream:?}"), Some(&stream)));
                break;
            }
        }
    }
    drop(tx);
    producer
        .flush_all(RECORD_TTL + Duration::from_secs(30))
        .await;
    let _ = collector.await;
    let _ = producer.shutdown().await;
    if let Some(p) = progress {
        p.abort();
        let _ = p.await;
        eprint_raw("\r\x1b[2K");
    }
    let seconds = started.elapsed().as_secs_f64().max(0.001);
    let put = counters.put_records.load(Ordering::Relaxed);
    let bytes = counters.put_bytes.load(Ordering::Relaxed);
    let failed = counters.failed.load(Ordering::Relaxed);
    let mut summary = format!(
        "put {} records ({}) into {stream:?} in {seconds:.2} s: {} records/s, {:.2} MiB/s, {} failed",
        thousands(put),
        output::mib(bytes),
        output::rate(put as f64 / seconds),
        bytes as f64 / seconds / (1024.0 * 1024.0),
        thousands(failed),
    );
    if skipped > 0 {
        summary.push_str(&format!(
            "; {} empty lines skipped (--keep-empty puts them)",
            thousands(skipped)
        ));
    }
    output::note(&summary);
    let failures = counters
        .failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    for f in &failures {
        output::note(&format!("  {f}"));
    }
    if failed > failures.len() as u64 {
        output::note(&format!(
            "  ... and {} more",
            thousands(failed - failures.len() as u64)
        ));
    }
    if let Some(f) = stopped {
        return Err(f);
    }
    if failed > 0 {
        return Err(Failure::failed(format!(
            "{} of {} records failed",
            thousands(failed),
            thousands(failed + put)
        )));
    }
    Ok(())
}

fn eprint_raw(s: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(s.as_bytes());
    let _ = err.flush();
}

/// Redraws the progress line on stderr until aborted: a bar when the input's size is
/// known, records acknowledged and MiB/s.
async fn draw_progress(counters: Arc<Counters>, total: Option<u64>, started: Instant) {
    tokio::time::sleep(PROGRESS_AFTER).await;
    loop {
        let seconds = started.elapsed().as_secs_f64().max(0.001);
        let put = counters.put_records.load(Ordering::Relaxed);
        let bytes = counters.put_bytes.load(Ordering::Relaxed);
        let failed = counters.failed.load(Ordering::Relaxed);
        let bar = match total {
            Some(t) if t > 0 => {
                let read = counters.read_bytes.load(Ordering::Relaxed).min(t);
                let fraction = read as f64 / t as f64;
                let filled = (fraction * 30.0).round() as usize;
                format!(
                    "[{}{}] {:>3.0}%  ",
                    "#".repeat(filled.min(30)),
                    "-".repeat(30 - filled.min(30)),
                    fraction * 100.0
                )
            }
            _ => String::new(),
        };
        let failed = if failed > 0 {
            format!("  {} failed", thousands(failed))
        } else {
            String::new()
        };
        eprint_raw(&format!(
            "\r\x1b[2K{bar}{} records  {}  {:.2} MiB/s{failed}",
            thousands(put),
            output::mib(bytes),
            bytes as f64 / seconds / (1024.0 * 1024.0)
        ));
        tokio::time::sleep(PROGRESS_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_string).collect()
    }

    #[test]
    fn keys_come_from_json_fields() {
        let line = br#"{"user":{"id":"u-1","n":7,"tags":["a","b"]},"ok":true}"#;
        assert_eq!(key_at(line, &path("user.id")).unwrap(), "u-1");
        assert_eq!(key_at(line, &path("user.n")).unwrap(), "7");
        assert_eq!(key_at(line, &path("user.tags.1")).unwrap(), "b");
        assert_eq!(key_at(line, &path("ok")).unwrap(), "true");
        assert!(key_at(line, &path("user"))
            .unwrap_err()
            .contains("not a string"));
        assert!(key_at(line, &path("user.x"))
            .unwrap_err()
            .contains("no field"));
        assert!(key_at(b"plain text", &path("a"))
            .unwrap_err()
            .contains("not a JSON"));
    }

    #[tokio::test]
    async fn lines_are_split_on_newlines_and_bounded() {
        let input: &[u8] = b"one\r\n\nthree-long-line\nlast";
        let mut reader = BufReader::with_capacity(4, input);
        let mut line = Vec::new();
        let mut got = Vec::new();
        while let Some(len) = read_line(&mut reader, &mut line, 5).await.unwrap() {
            got.push((len, String::from_utf8(line.clone()).unwrap()));
        }
        assert_eq!(
            got,
            [
                (4, "one\r".to_string()),
                (0, String::new()),
                (15, "three".to_string()),
                (4, "last".to_string())
            ]
        );
    }
}
