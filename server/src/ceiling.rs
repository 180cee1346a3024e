//! `freshet bench-ceiling`: the wire API's ceiling on this machine. A server of hyper
//! alone, built as the front door builds its connections (HTTP/1.1 and h2c, the same
//! runtime), that reads every request body whole and discards it, then answers with a
//! canned reply of the size Freshet would send: PutRecords a result per record,
//! GetRecords `--get-limit` records of `--record-size` bytes. `freshet bench` driven
//! against it measures what HTTP and the load generator cost on their own; Freshet's
//! figure as a share of the ceiling's is what its engine, routing and JSON leave.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;
use tokio::net::TcpListener;

/// Options of `freshet bench-ceiling`.
#[derive(Debug, Clone, Args)]
pub struct CeilingArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4567")]
    pub addr: std::net::SocketAddr,
    /// Shards the canned DescribeStream lists.
    #[arg(long, default_value_t = 4)]
    pub shards: u32,
    /// Records in a canned PutRecords reply (the bench's `--batch-size`).
    #[arg(long, default_value_t = 500)]
    pub batch_size: usize,
    /// Records in a canned GetRecords reply (the bench's `--get-limit`).
    #[arg(long, default_value_t = 10_000)]
    pub get_limit: usize,
    /// Data bytes of each record in a GetRecords reply.
    #[arg(long, default_value_t = 100)]
    pub record_size: usize,
}

/// The canned replies, built once.
struct Replies {
    put_records: Bytes,
    get_records: Bytes,
    describe_stream: Bytes,
    iterator: Bytes,
    put_record: Bytes,
    empty: Bytes,
}

/// A sequence number of Freshet's length (56 digits).
fn sequence_number(n: usize) -> String {
    format!("4963{n:052}")
}

impl Replies {
    fn new(a: &CeilingArgs) -> Replies {
        let bytes = |v: serde_json::Value| Bytes::from(v.to_string());
        let shard = |i: u32| format!("shardId-{i:012}");
        let data = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; a.record_size]);
        let put: Vec<_> = (0..a.batch_size)
            .map(|i| json!({"SequenceNumber": sequence_number(i), "ShardId": shard(i as u32 % a.shards.max(1))}))
            .collect();
        let got: Vec<_> = (0..a.get_limit)
            .map(|i| {
                json!({
                    "SequenceNumber": sequence_number(i),
                    "ApproximateArrivalTimestamp": 1_764_504_000.123,
                    "Data": data,
                    "PartitionKey": format!("pk-{}-{}", i % 16, i % 500),
                })
            })
            .collect();
        let shards: Vec<_> = (0..a.shards)
            .map(|i| {
                json!({
                    "ShardId": shard(i),
                    "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": "1"},
                    "SequenceNumberRange": {"StartingSequenceNumber": sequence_number(0)},
                })
            })
            .collect();
        // An iterator of the length of Freshet's sealed ones.
        let iterator = "A".repeat(200);
        Replies {
            put_records: bytes(
                json!({"FailedRecordCount": 0, "Records": put, "EncryptionType": "NONE"}),
            ),
            get_records: bytes(
                json!({"Records": got, "NextShardIterator": iterator, "MillisBehindLatest": 0}),
            ),
            describe_stream: bytes(json!({"StreamDescription": {
                "StreamName": "ceiling", "StreamStatus": "ACTIVE", "Shards": shards,
                "HasMoreShards": false, "RetentionPeriodHours": 24,
            }})),
            iterator: bytes(json!({"ShardIterator": iterator})),
            put_record: bytes(json!({"SequenceNumber": sequence_number(0), "ShardId": shard(0)})),
            empty: Bytes::from_static(b"{}"),
        }
    }

    fn answer(&self, target: &str) -> Bytes {
        match target.rsplit('.').next().unwrap_or_default() {
            "PutRecords" => self.put_records.clone(),
            "GetRecords" => self.get_records.clone(),
            "DescribeStream" => self.describe_stream.clone(),
            "GetShardIterator" => self.iterator.clone(),
            "PutRecord" => self.put_record.clone(),
            _ => self.empty.clone(),
        }
    }
}

/// Serves the ceiling until interrupted (Ctrl-C), then prints the requests and body
/// bytes it read.
pub async fn run(a: CeilingArgs) -> Result<(), String> {
    let listener = TcpListener::bind(a.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", a.addr))?;
    let replies = Arc::new(Replies::new(&a));
    let requests = Arc::new(AtomicU64::new(0));
    let body_bytes = Arc::new(AtomicU64::new(0));
    let builder = auto::Builder::new(TokioExecutor::new());
    tracing::info!(addr = %a.addr, "ceiling server listening: bodies read and discarded, canned replies");
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let (replies, requests, body_bytes) =
                    (Arc::clone(&replies), Arc::clone(&requests), Arc::clone(&body_bytes));
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (replies, requests, body_bytes) =
                        (Arc::clone(&replies), Arc::clone(&requests), Arc::clone(&body_bytes));
                    async move {
                        let target = req
                            .headers()
                            .get("x-amz-target")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        let read = req.into_body().collect().await.map(|b| b.to_bytes().len()).unwrap_or(0);
                        requests.fetch_add(1, Ordering::Relaxed);
                        body_bytes.fetch_add(read as u64, Ordering::Relaxed);
                        let mut r = Response::new(Full::new(replies.answer(&target)));
                        r.headers_mut().insert(
                            hyper::header::CONTENT_TYPE,
                            hyper::header::HeaderValue::from_static("application/x-amz-json-1.1"),
                        );
                        Ok::<_, Infallible>(r)
                    }
                });
                let builder = builder.clone();
                tokio::spawn(async move {
                    let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        }
    }
    println!(
        "requests={} body_bytes={}",
        requests.load(Ordering::Relaxed),
        body_bytes.load(Ordering::Relaxed)
    );
    Ok(())
}
