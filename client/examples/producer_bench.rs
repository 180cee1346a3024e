//! Producer throughput: 100-byte user records with aggregation through a Kinesis
//! endpoint (start `freshet serve` first).
//!
//! ```text
//! cargo run --release -p freshet-client --example producer_bench -- \
//!     http://127.0.0.1:4567 [records=1000000] [tasks=8] [shards=8]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use freshet_client::{wait_for_active, KinesisApi, KinesisClient, Producer, ProducerConfig};

/// The producer allocates per user record (aggregation buffers, completions); an
/// application that cares runs a fast allocator, and so does the benchmark.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg =
        |i: usize, d: usize| -> usize { args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d) };
    let endpoint = args
        .first()
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:4567".into());
    let (records, tasks, shards) = (arg(1, 1_000_000), arg(2, 8).max(1), arg(3, 8));
    let api = Arc::new(KinesisClient::new(endpoint)?);
    let stream = format!("bench-{}", std::process::id());
    api.create_stream(&stream, u32::try_from(shards)?).await?;
    wait_for_active(api.as_ref(), &stream, Duration::from_secs(30)).await?;
    let producer = Producer::new(
        api.clone(),
        ProducerConfig {
            rate_limit_percent: None,
            ..ProducerConfig::default()
        },
    );
    let payload = Bytes::from(vec![b'x'; 100]);
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let p = producer.clone();
        let stream = stream.clone();
        let payload = payload.clone();
        let n = records / tasks;
        handles.push(tokio::spawn(async move {
            let mut pending = Vec::with_capacity(n);
            for i in 0..n {
                pending.push(
                    p.submit(
                        &stream,
                        format!("{t}-{}", i % 10_000),
                        payload.clone(),
                        None,
                    )
                    .await?,
                );
            }
            let mut failed = 0usize;
            for f in pending {
                if f.await.is_err() {
                    failed += 1;
                }
            }
            Ok::<usize, freshet_client::Error>(failed)
        }));
    }
    let mut failed = 0;
    for h in handles {
        failed += h.await??;
    }
    let elapsed = started.elapsed();
    producer.shutdown().await?;
    let m = producer.metrics();
    println!(
        "{} user records of 100 bytes in {:.2?}: {:.0} records/s, {:.1} MB/s; failed {failed}",
        m.user_records_put,
        elapsed,
        m.user_records_put as f64 / elapsed.as_secs_f64(),
        m.user_records_put as f64 * 100.0 / elapsed.as_secs_f64() / 1e6
    );
    println!(
        "{:.0} user records per Kinesis record, {} PutRecords calls, mean request {:.1} ms, mean buffering {:.1} ms",
        m.user_records_per_kinesis_record(),
        m.put_records_calls,
        m.mean_request_ms,
        m.mean_buffering_ms
    );
    api.delete_stream(&stream).await?;
    Ok(())
}
