//! Soak (opt-in): 1,000 shards and 1,000 GetShardIterator calls per second for a
//! bounded time while the server's resident memory is sampled from /proc.
//!
//! Ignored by default. Run with
//! `FRESHET_SOAK_SECS=60 cargo test --release -p freshet-tests --test soak_iterators_keep_memory_flat -- --ignored --nocapture`
//! (FRESHET_SOAK_SECS defaults to 30, capped at 1800).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use freshet_tests::{call_json, Server};
use serde_json::json;

const SHARDS: u64 = 1000;
const CALLS_PER_SEC: u64 = 1000;
const THREADS: u64 = 4;

/// The server's resident set, KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// One keep-alive request; returns the status.
fn request(s: &mut BufReader<TcpStream>, addr: SocketAddr, body: &[u8]) -> std::io::Result<u16> {
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: Kinesis_20131202.GetShardIterator\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.get_mut().write_all(&[head.as_bytes(), body].concat())?;
    let mut line = String::new();
    s.read_line(&mut line)?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut len = 0usize;
    loop {
        line.clear();
        s.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut buf = vec![0u8; len];
    s.read_exact(&mut buf)?;
    Ok(status)
}

#[test]
#[ignore = "soak: set FRESHET_SOAK_SECS and run with --ignored"]
fn soak_iterators_keep_memory_flat() {
    let secs: u64 = std::env::var("FRESHET_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
        .clamp(5, 1800);
    let server = Server::start(&["--shard-limit", "1000", "--segment-bytes", "65536"]);
    let addr = server.addr;
    let pid = server.pid().unwrap_or_else(|| panic!("no pid"));
    let r = call_json(
        addr,
        "CreateStream",
        &json!({"StreamName": "soak", "ShardCount": SHARDS}),
    );
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let rss_start = rss_kib(pid);
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (done, failed) = (Arc::clone(&done), Arc::clone(&failed));
            std::thread::spawn(move || {
                let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect: {e}"));
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut s = BufReader::new(stream);
                let per_thread = CALLS_PER_SEC / THREADS;
                let started = Instant::now();
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let shard = (i * THREADS + t) % SHARDS;
                    let body = format!(
                        r#"{{"StreamName":"soak","ShardId":"shardId-{shard:012}","ShardIteratorType":"LATEST"}}"#
                    );
                    match request(&mut s, addr, body.as_bytes()) {
                        Ok(200) => done.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                    i += 1;
                    // Pace to the target rate.
                    let due = started + Duration::from_micros(i * 1_000_000 / per_thread);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
            })
        })
        .collect();
    let mut samples = Vec::new();
    let started = Instant::now();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1).min(deadline - Instant::now().min(deadline)));
        samples.push((started.elapsed().as_secs(), rss_kib(pid)));
    }
    for w in workers {
        let _ = w.join();
    }
    let calls = done.load(Ordering::Relaxed);
    let errors = failed.load(Ordering::Relaxed);
    let tenth = samples.len() / 10;
    let early = samples.get(tenth).map_or(rss_start, |s| s.1);
    let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let end = samples.last().map_or(0, |s| s.1);
    println!(
        "soak: {secs} s, {SHARDS} shards, {calls} GetShardIterator calls ({:.0}/s), {errors} errors; RSS KiB: after create {rss_start}, at 10% {early}, peak {peak}, end {end}",
        calls as f64 / secs as f64
    );
    for (t, kib) in samples.iter().step_by((samples.len() / 10).max(1)) {
        println!("  t={t:>4}s rss={kib} KiB");
    }
    assert_eq!(errors, 0, "{}", server.log());
    assert!(
        end <= early + early / 4 + 16 * 1024,
        "resident memory grew from {early} KiB to {end} KiB"
    );
}
