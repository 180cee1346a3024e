//! `freshet bench`: a load generator for any Kinesis endpoint (Freshet, kinesalite,
//! ...). Workloads: `put` (PutRecords batches), `put-record` (single PutRecord calls,
//! optionally at a fixed rate), `get` (GetRecords draining every shard from
//! TRIM_HORIZON). Prints a progress line each second and, at the end, records/s, MB/s
//! and request latency p50/p99/p999.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use clap::{Args, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value as J};

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// PutRecords calls of `--batch-size` records.
    Put,
    /// Single PutRecord calls.
    PutRecord,
    /// GetRecords calls draining every shard from TRIM_HORIZON.
    Get,
    /// Firehose PutRecordBatch calls of `--batch-size` records into the delivery stream
    /// `--stream` (created DirectPut, to the bucket `freshet-bench`, when absent).
    FirehosePut,
}

/// Options of `freshet bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Endpoint to drive.
    #[arg(long, default_value = "http://127.0.0.1:4567")]
    pub endpoint: String,
    /// Workload.
    #[arg(long, value_enum, default_value = "put")]
    pub workload: Workload,
    /// Stream name (created with `--shards` shards when absent).
    #[arg(long, default_value = "freshet-bench")]
    pub stream: String,
    /// Shards of the stream when it is created.
    #[arg(long, default_value_t = 4)]
    pub shards: u32,
    /// Data bytes per record.
    #[arg(long, default_value_t = 100)]
    pub record_size: usize,
    /// Records per PutRecords call.
    #[arg(long, default_value_t = 500)]
    pub batch_size: usize,
    /// Concurrent requests in flight.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// How long to run, seconds.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Target request rate across all workers, requests/s (0: as fast as possible).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Records per GetRecords call.
    #[arg(long, default_value_t = 10_000)]
    pub get_limit: u32,
    /// Records are JSON objects (`{"id","customer","amount","ts","note"}`, the note
    /// padding each to `--record-size`) instead of `x` bytes: for delivery streams that
    /// load databases or convert to Parquet.
    #[arg(long)]
    pub json_records: bool,
}

/// The `n`-th JSON record of `size` bytes (at least its fields' length).
fn json_record(n: usize, size: usize) -> Vec<u8> {
    let head = format!(
        r#"{{"id":{n},"customer":"c{}","amount":{}.25,"ts":"2026-11-30 12:00:00","note":""#,
        n % 97,
        n % 1000
    );
    let pad = size.saturating_sub(head.len() + 2);
    let mut out = head.into_bytes();
    out.extend(std::iter::repeat_n(b'x', pad));
    out.extend_from_slice(b"\"}");
    out
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    records: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
}

/// Sends one request; answers the reply body of a success.
async fn call_raw(
    client: &HttpClient,
    endpoint: &str,
    action: &str,
    body: Bytes,
) -> Result<Bytes, String> {
    let req = hyper::Request::post(endpoint)
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "x-amz-target",
            if action.contains('.') {
                action.to_string()
            } else {
                format!("Kinesis_20131202.{action}")
            },
        )
        .header("x-amz-date", "20250101T000000Z")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20250101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=00",
        )
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let resp = client
        .request(req)
        .await
        .map_err(|e| format!("{action}: {e}"))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if !status.is_success() {
        return Err(format!(
            "{action}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    Ok(body)
}

/// Sends one request; answers the reply as a JSON document.
async fn call(client: &HttpClient, endpoint: &str, action: &str, body: Bytes) -> Result<J, String> {
    let body = call_raw(client, endpoint, action, body).await?;
    Ok(serde_json::from_slice(&body).unwrap_or(J::Null))
}

/// Reply scanning: the generator shares the machine with the server it drives, so it
/// reads only what it needs from a reply, by finding its key, instead of parsing the
/// whole document (a GetRecords reply of 10,000 records is about 1.5 MB of JSON; fully
/// parsed it cost the generator as much CPU as the server spent making it).
mod scan {
    use memchr::memmem;

    /// The unsigned number after `"KEY":` (0 when absent).
    pub fn number(body: &[u8], key: &str) -> u64 {
        let needle = format!("\"{key}\":");
        let Some(at) = memmem::find(body, needle.as_bytes()) else {
            return 0;
        };
        body[at + needle.len()..]
            .iter()
            .skip_while(|b| b.is_ascii_whitespace())
            .take_while(|b| b.is_ascii_digit())
            .fold(0u64, |n, b| {
                n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
            })
    }

    /// The string after `"KEY":` (`None` when absent or `null`); the values scanned
    /// (shard iterators) hold no escapes.
    pub fn string(body: &[u8], key: &str) -> Option<String> {
        let needle = format!("\"{key}\":");
        let at = memmem::rfind(body, needle.as_bytes())? + needle.len();
        let rest = &body[at..];
        let open = rest.iter().position(|b| !b.is_ascii_whitespace())?;
        if rest.get(open) != Some(&b'"') {
            return None;
        }
        let value = &rest[open + 1..];
        let close = memchr::memchr(b'"', value)?;
        String::from_utf8(value[..close].to_vec()).ok()
    }

    /// How many records a GetRecords reply holds: one `"SequenceNumber":` each.
    pub fn records(body: &[u8]) -> u64 {
        memmem::find_iter(body, b"\"SequenceNumber\":").count() as u64
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn finds_what_the_bench_reads() {
            let put = br#"{"FailedRecordCount": 3,"Records":[{"SequenceNumber":"1"}]}"#;
            assert_eq!(super::number(put, "FailedRecordCount"), 3);
            assert_eq!(super::number(put, "FailedPutCount"), 0);
            let get = br#"{"Records":[{"SequenceNumber":"1","Data":"eA=="},{"SequenceNumber":"2","Data":"eA=="}],"NextShardIterator":"AAA/b+c=","MillisBehindLatest":0}"#;
            assert_eq!(super::records(get), 2);
            assert_eq!(
                super::string(get, "NextShardIterator").as_deref(),
                Some("AAA/b+c=")
            );
            let end = br#"{"Records":[],"NextShardIterator":null}"#;
            assert_eq!(super::records(end), 0);
            assert_eq!(super::string(end, "NextShardIterator"), None);
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted.get(i).copied().unwrap_or(0)) / 1000.0
}

/// Creates the benchmark's delivery stream when absent (DirectPut to the bucket
/// `freshet-bench`, Firehose's default buffering).
async fn ensure_delivery_stream(client: &HttpClient, a: &BenchArgs) -> Result<(), String> {
    let body = |v: J| Bytes::from(v.to_string());
    let name = json!({"DeliveryStreamName": a.stream});
    if call(
        client,
        &a.endpoint,
        "Firehose_20150804.DescribeDeliveryStream",
        body(name),
    )
    .await
    .is_ok()
    {
        return Ok(());
    }
    call(
        client,
        &a.endpoint,
        "Firehose_20150804.CreateDeliveryStream",
        body(json!({
            "DeliveryStreamName": a.stream,
            "DeliveryStreamType": "DirectPut",
            "ExtendedS3DestinationConfiguration": {
                "RoleARN": "arn:aws:iam::000000000000:role/bench",
                "BucketARN": "arn:aws:s3:::freshet-bench",
            },
        })),
    )
    .await
    .map(|_| ())
}

async fn ensure_stream(client: &HttpClient, a: &BenchArgs) -> Result<Vec<String>, String> {
    if a.workload == Workload::FirehosePut {
        ensure_delivery_stream(client, a).await?;
        return Ok(Vec::new());
    }
    let body = |v: J| Bytes::from(v.to_string());
    if call(
        client,
        &a.endpoint,
        "DescribeStreamSummary",
        body(json!({"StreamName": a.stream})),
    )
    .await
    .is_err()
    {
        call(
            client,
            &a.endpoint,
            "CreateStream",
            body(json!({"StreamName": a.stream, "ShardCount": a.shards})),
        )
        .await?;
    }
    for _ in 0..600 {
        let d = call(
            client,
            &a.endpoint,
            "DescribeStream",
            body(json!({"StreamName": a.stream})),
        )
        .await?;
        if d["StreamDescription"]["StreamStatus"] == "ACTIVE" {
            return Ok(d["StreamDescription"]["Shards"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter(|s| s["SequenceNumberRange"]["EndingSequenceNumber"].is_null())
                .filter_map(|s| s["ShardId"].as_str().map(str::to_string))
                .collect());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("the stream did not become ACTIVE".into())
}

/// Runs the benchmark and prints its report.
pub async fn run(a: BenchArgs) -> Result<(), String> {
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(a.concurrency.max(1) * 2)
        .build_http();
    let shards = ensure_stream(&client, &a).await?;
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(a.duration);
    let started = Instant::now();
    let data = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; a.record_size]);
    // Pre-built bodies with varied partition keys, so every shard gets traffic.
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        (0..16)
            .map(|v| match a.workload {
                Workload::Put => {
                    let records: Vec<J> = (0..a.batch_size.clamp(1, 500))
                        .map(|i| json!({"PartitionKey": format!("pk-{v}-{i}"), "Data": data}))
                        .collect();
                    Bytes::from(json!({"StreamName": a.stream, "Records": records}).to_string())
                }
                Workload::FirehosePut => {
                    let records: Vec<J> = (0..a.batch_size.clamp(1, 500))
                        .map(|i| match a.json_records {
                            true => json!({"Data": base64::engine::general_purpose::STANDARD
                                .encode(json_record(v * 500 + i, a.record_size))}),
                            false => json!({"Data": data}),
                        })
                        .collect();
                    Bytes::from(json!({"DeliveryStreamName": a.stream, "Records": records}).to_string())
                }
                _ => Bytes::from(json!({"StreamName": a.stream, "PartitionKey": format!("pk-{v}"), "Data": data}).to_string()),
            })
            .collect(),
    );
    let per_worker_interval =
        (a.rate > 0).then(|| Duration::from_secs_f64(a.concurrency.max(1) as f64 / a.rate as f64));
    let mut tasks = Vec::new();
    let workers = if a.workload == Workload::Get {
        shards.len()
    } else {
        a.concurrency.max(1)
    };
    for w in 0..workers {
        let client = client.clone();
        let counters = Arc::clone(&counters);
        let stop = Arc::clone(&stop);
        let bodies = Arc::clone(&bodies);
        let a = a.clone();
        let shard = shards.get(w).cloned().unwrap_or_default();
        tasks.push(tokio::spawn(async move {
            let mut lat: Vec<u32> = Vec::new();
            let mut next_at = Instant::now();
            let mut iterator: Option<String> = None;
            let mut n = w;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                if let Some(every) = per_worker_interval {
                    next_at += every;
                    let now = Instant::now();
                    if next_at > now {
                        tokio::time::sleep(next_at - now).await;
                    }
                }
                n += 1;
                let t = Instant::now();
                let result = match a.workload {
                    Workload::Put => call_raw(&client, &a.endpoint, "PutRecords", bodies[n % bodies.len()].clone()).await.map(|body| {
                        let failed = scan::number(&body, "FailedRecordCount");
                        (a.batch_size as u64 - failed.min(a.batch_size as u64), failed)
                    }),
                    Workload::FirehosePut => call_raw(&client, &a.endpoint, "Firehose_20150804.PutRecordBatch", bodies[n % bodies.len()].clone()).await.map(|body| {
                        let failed = scan::number(&body, "FailedPutCount");
                        (a.batch_size as u64 - failed.min(a.batch_size as u64), failed)
                    }),
                    Workload::PutRecord => call(&client, &a.endpoint, "PutRecord", bodies[n % bodies.len()].clone()).await.map(|_| (1, 0)),
                    Workload::Get => {
                        let it = match iterator.take() {
                            Some(it) => it,
                            None => {
                                let body = json!({"StreamName": a.stream, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"});
                                match call(&client, &a.endpoint, "GetShardIterator", Bytes::from(body.to_string())).await {
                                    Ok(v) => v["ShardIterator"].as_str().unwrap_or_default().to_string(),
                                    Err(e) => {
                                        eprintln!("{e}");
                                        break;
                                    }
                                }
                            }
                        };
                        let t = Instant::now();
                        let body = json!({"ShardIterator": it, "Limit": a.get_limit});
                        let reply = call_raw(&client, &a.endpoint, "GetRecords", Bytes::from(body.to_string()))
                            .await
                            .map(|b| (scan::records(&b), scan::string(&b, "NextShardIterator")));
                        match reply {
                            Ok((got, next)) => {
                                lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                                counters.requests.fetch_add(1, Ordering::Relaxed);
                                counters.records.fetch_add(got, Ordering::Relaxed);
                                counters.bytes.fetch_add(got * a.record_size as u64, Ordering::Relaxed);
                                if got == 0 || next.is_none() {
                                    break; // drained
                                }
                                iterator = next;
                            }
                            Err(e) => {
                                counters.errors.fetch_add(1, Ordering::Relaxed);
                                eprintln!("{e}");
                                break;
                            }
                        }
                        continue;
                    }
                };
                lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                counters.requests.fetch_add(1, Ordering::Relaxed);
                match result {
                    Ok((ok, failed)) => {
                        counters.records.fetch_add(ok, Ordering::Relaxed);
                        counters.bytes.fetch_add(ok * a.record_size as u64, Ordering::Relaxed);
                        counters.errors.fetch_add(failed, Ordering::Relaxed);
                    }
                    Err(e) => {
                        if counters.errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("{e}");
                        }
                    }
                }
            }
            lat
        }));
    }
    let progress = {
        let counters = Arc::clone(&counters);
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut last = 0;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let r = counters.records.load(Ordering::Relaxed);
                eprint!(
                    "\r{:>5.1}s  {:>10} records  {:>9} records/s  {:>6} errors   ",
                    started.elapsed().as_secs_f64(),
                    r,
                    r - last,
                    counters.errors.load(Ordering::Relaxed)
                );
                last = r;
            }
        })
    };
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.map_err(|e| e.to_string())?);
    }
    stop.store(true, Ordering::Relaxed);
    let _ = progress.await;
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    lat.sort_unstable();
    let records = counters.records.load(Ordering::Relaxed);
    let bytes = counters.bytes.load(Ordering::Relaxed);
    eprintln!();
    println!(
        "workload={:?} endpoint={} stream={} shards={} record_size={} batch_size={} concurrency={} rate={}",
        a.workload, a.endpoint, a.stream, shards.len(), a.record_size, a.batch_size, workers, a.rate
    );
    println!(
        "requests={} records={} errors={} seconds={secs:.2}",
        counters.requests.load(Ordering::Relaxed),
        records,
        counters.errors.load(Ordering::Relaxed)
    );
    println!(
        "records/s={:.0} MB/s={:.2} latency_ms p50={:.3} p99={:.3} p999={:.3} max={:.3}",
        records as f64 / secs,
        bytes as f64 / secs / 1e6,
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        percentile(&lat, 0.999),
        percentile(&lat, 1.0)
    );
    Ok(())
}
