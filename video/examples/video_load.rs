//! Load for Kinesis Video on a running `freshet serve` (started without `--auth`): the
//! figures of BENCHMARKS.md's "Video streams".
//!
//! ```text
//! cargo run --release -p freshet-video --example video_load -- cameras  ADDR PRODUCERS MBITS SECONDS [SERVER_PID]
//! cargo run --release -p freshet-video --example video_load -- ingest   ADDR FRAGMENT_MB SECONDS [SERVER_PID]
//! cargo run --release -p freshet-video --example video_load -- tail     ADDR FRAGMENTS
//! ```
//!
//! - `cameras`: PRODUCERS streams, one PutMedia each, sending synthetic H.264-shaped
//!   Matroska at MBITS Mbit/s paced frame by frame (30 frames a second, a cluster a
//!   second): the latency from a fragment's last byte sent to its PERSISTED event, p50
//!   and p99, and the server's CPU (from `/proc/PID/stat`).
//! - `ingest`: one stream, one PutMedia sending FRAGMENT_MB fragments back to back:
//!   MB/s from the first byte to the last PERSISTED.
//! - `tail`: a GetMedia at NOW and a producer of small fragments: from a fragment's
//!   PERSISTED event at the producer to its chunk's first byte at the reader (both seen
//!   in this process), and from its last byte sent to that first byte.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use freshet_video::ebml::{self, id, put_element, put_master, put_str, put_uint};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

const FPS: usize = 30;

fn header() -> Vec<u8> {
    let mut out = Vec::new();
    freshet_video::media::ebml_header(&mut out);
    ebml::put_id(&mut out, id::SEGMENT);
    ebml::put_size(&mut out, ebml::UNKNOWN_SIZE);
    put_master(&mut out, id::INFO, |o| {
        put_uint(o, id::TIMECODE_SCALE, 1_000_000)
    });
    put_master(&mut out, id::TRACKS, |o| {
        put_master(o, id::TRACK_ENTRY, |t| {
            put_uint(t, id::TRACK_NUMBER, 1);
            put_uint(t, id::TRACK_TYPE, 1);
            put_str(t, id::CODEC_ID, "V_MPEG4/ISO/AVC");
            put_element(t, id::CODEC_PRIVATE, &[1, 0x42, 0xC0, 0x1E, 0xFF, 0xE0, 0]);
            put_uint(t, id::DEFAULT_DURATION, 33_333_333);
        })
    });
    out
}

/// One cluster of FPS frames of `frame_bytes` each: (header bytes, frame elements).
fn cluster(timecode_ms: u64, frame_bytes: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut frames = Vec::new();
    for i in 0..FPS {
        let mut body = vec![0x81];
        body.extend_from_slice(&((i * 1000 / FPS) as i16).to_be_bytes());
        body.push(if i == 0 { 0x80 } else { 0 });
        body.resize(4 + frame_bytes, (i % 251) as u8);
        let mut el = Vec::new();
        put_element(&mut el, id::SIMPLE_BLOCK, &body);
        frames.push(el);
    }
    let mut tc = Vec::new();
    put_uint(&mut tc, id::TIMECODE, timecode_ms);
    let size = tc.len() + frames.iter().map(Vec::len).sum::<usize>();
    let mut head = Vec::new();
    ebml::put_id(&mut head, id::CLUSTER);
    ebml::put_size(&mut head, size as u64);
    head.extend_from_slice(&tc);
    (head, frames)
}

async fn post(addr: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    let code = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, out)
}

async fn create(addr: &str, name: &str) {
    let (code, out) = post(
        addr,
        "/createStream",
        &format!("{{\"StreamName\":\"{name}\",\"DataRetentionInHours\":24}}"),
    )
    .await;
    assert!(code == 200 || out.contains("ResourceInUse"), "{out}");
}

/// Reads a chunked reply's chunks, calling `each` with every chunk.
async fn read_chunks<R: tokio::io::AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    mut each: impl FnMut(&[u8]),
) {
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
    }
    loop {
        line.clear();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let n = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
        if n == 0 {
            return;
        }
        let mut buf = vec![0; n + 2];
        if r.read_exact(&mut buf).await.is_err() {
            return;
        }
        each(&buf[..n]);
    }
}

struct Producer {
    w: tokio::net::tcp::OwnedWriteHalf,
}

impl Producer {
    async fn open(addr: &str, name: &str) -> (Producer, BufReader<tokio::net::tcp::OwnedReadHalf>) {
        let s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).ok();
        let (r, mut w) = s.into_split();
        let req = format!(
            "POST /putMedia HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\nx-amzn-stream-name: {name}\r\nx-amzn-fragment-timecode-type: RELATIVE\r\nx-amzn-producer-start-timestamp: {:.3}\r\n\r\n",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0)
        );
        w.write_all(req.as_bytes()).await.expect("write");
        (Producer { w }, BufReader::new(r))
    }

    async fn send(&mut self, data: &[u8]) {
        let mut out = format!("{:x}\r\n", data.len()).into_bytes();
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        self.w.write_all(&out).await.expect("send");
    }

    async fn end(&mut self) {
        let _ = self.w.write_all(b"0\r\n\r\n").await;
    }
}

fn timecode_of_persisted(chunk: &[u8]) -> Vec<u64> {
    String::from_utf8_lossy(chunk)
        .lines()
        .filter(|l| l.contains("\"PERSISTED\""))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["FragmentTimecode"].as_u64())
        .collect()
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn cpu_ticks(pid: Option<u32>) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

async fn cameras(addr: String, producers: usize, mbits: f64, seconds: u64, pid: Option<u32>) {
    let frame = ((mbits * 1e6 / 8.0) / FPS as f64) as usize;
    for i in 0..producers {
        create(&addr, &format!("cam-{i}")).await;
    }
    let lat = Arc::new(Mutex::new(Vec::<f64>::new()));
    let cpu0 = cpu_ticks(pid);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..producers {
        let addr = addr.clone();
        let lat = Arc::clone(&lat);
        tasks.push(tokio::spawn(async move {
            // Spread the cameras over the first second.
            tokio::time::sleep(Duration::from_millis((i * 1000 / producers) as u64)).await;
            let (mut p, mut r) = Producer::open(&addr, &format!("cam-{i}")).await;
            let sent: Arc<Mutex<Vec<Instant>>> = Arc::default();
            let s2 = Arc::clone(&sent);
            let reader = tokio::spawn(async move {
                let mut got = Vec::new();
                read_chunks(&mut r, |c| {
                    for tc in timecode_of_persisted(c) {
                        got.push((tc, Instant::now()));
                    }
                })
                .await;
                let sent = s2.lock().await;
                got.into_iter()
                    .filter_map(|(tc, at)| {
                        sent.get((tc / 1000) as usize)
                            .map(|s| at.duration_since(*s).as_secs_f64() * 1000.0)
                    })
                    .collect::<Vec<_>>()
            });
            p.send(&header()).await;
            let start = Instant::now();
            for k in 0..seconds {
                let (head, frames) = cluster(k * 1000, frame);
                p.send(&head).await;
                for (j, f) in frames.iter().enumerate() {
                    let due = start + Duration::from_millis(k * 1000 + (j * 1000 / FPS) as u64);
                    tokio::time::sleep_until(due.into()).await;
                    p.send(f).await;
                }
                sent.lock().await.push(Instant::now());
            }
            p.end().await;
            let l = reader.await.unwrap_or_default();
            lat.lock().await.extend(l);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = match (cpu0, cpu_ticks(pid)) {
        (Some(a), Some(b)) => format!("{:.0}%", (b - a) as f64 / 100.0 / wall * 100.0),
        _ => "n/a".into(),
    };
    let mut l = lat.lock().await.clone();
    let n = l.len();
    println!(
        "cameras={producers} rate={mbits} Mbit/s each ({:.1} MB/s total) fragments={n} persisted-ack p50={:.1} ms p99={:.1} ms max={:.1} ms server-cpu={cpu} (of one core) over {wall:.1} s",
        producers as f64 * mbits / 8.0,
        pct(&mut l, 0.5),
        pct(&mut l, 0.99),
        pct(&mut l, 1.0),
    );
}

async fn ingest(addr: String, fragment_mb: f64, seconds: u64, pid: Option<u32>) {
    create(&addr, "ingest").await;
    let frame = (fragment_mb * 1e6 / FPS as f64) as usize;
    let (mut p, mut r) = Producer::open(&addr, "ingest").await;
    let reader = tokio::spawn(async move {
        let mut n = 0usize;
        let mut last = Instant::now();
        read_chunks(&mut r, |c| {
            let k = timecode_of_persisted(c).len();
            if k > 0 {
                n += k;
                last = Instant::now();
            }
        })
        .await;
        (n, last)
    });
    let cpu0 = cpu_ticks(pid);
    let t0 = Instant::now();
    p.send(&header()).await;
    let mut bytes = 0usize;
    let mut k = 0;
    while t0.elapsed() < Duration::from_secs(seconds) {
        let (head, frames) = cluster(k * 1000, frame);
        let mut all = head;
        for f in frames {
            all.extend_from_slice(&f);
        }
        bytes += all.len();
        p.send(&all).await;
        k += 1;
    }
    p.end().await;
    let (n, last) = reader.await.unwrap_or((0, Instant::now()));
    let secs = last.duration_since(t0).as_secs_f64();
    let cpu = match (cpu0, cpu_ticks(pid)) {
        (Some(a), Some(b)) => format!("{:.0}%", (b - a) as f64 / 100.0 / secs * 100.0),
        _ => "n/a".into(),
    };
    println!(
        "one stream: {k} fragments of {fragment_mb} MB sent, {n} PERSISTED, {:.1} MB/s (first byte to last PERSISTED, {secs:.1} s), server-cpu={cpu}",
        bytes as f64 / 1e6 / secs
    );
}

async fn tail(addr: String, fragments: u64) {
    create(&addr, "tail").await;
    let s = TcpStream::connect(&addr).await.expect("connect");
    let (gr, mut gw) = s.into_split();
    let body = r#"{"StreamName":"tail","StartSelector":{"StartSelectorType":"NOW"}}"#;
    let req = format!(
        "POST /getMedia HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    gw.write_all(req.as_bytes()).await.expect("write");
    let seen: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let s2 = Arc::clone(&seen);
    let getter = tokio::spawn(async move {
        let mut r = BufReader::new(gr);
        let mut at = Vec::new();
        read_chunks(&mut r, |c| {
            if c.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
                at.push(Instant::now());
            }
        })
        .await;
        *s2.lock().await = at;
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut p, mut r) = Producer::open(&addr, "tail").await;
    let acks: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let a2 = Arc::clone(&acks);
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        read_chunks(&mut r, |c| {
            for _ in timecode_of_persisted(c) {
                got.push(Instant::now());
            }
        })
        .await;
        *a2.lock().await = got;
    });
    p.send(&header()).await;
    let mut sent = Vec::new();
    for k in 0..fragments {
        let (head, frames) = cluster(k * 1000, 2_000);
        let mut all = head;
        for f in frames {
            all.extend_from_slice(&f);
        }
        p.send(&all).await;
        sent.push(Instant::now());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    p.end().await;
    let _ = reader.await;
    let _ = tokio::time::timeout(Duration::from_secs(10), getter).await;
    let seen = seen.lock().await.clone();
    let acks = acks.lock().await.clone();
    let ms = |a: Instant, b: Instant| {
        if a >= b {
            a.duration_since(b).as_secs_f64() * 1000.0
        } else {
            -(b.duration_since(a).as_secs_f64() * 1000.0)
        }
    };
    let mut from_ack: Vec<f64> = seen.iter().zip(&acks).map(|(s, a)| ms(*s, *a)).collect();
    let mut from_sent: Vec<f64> = seen.iter().zip(&sent).map(|(s, a)| ms(*s, *a)).collect();
    println!(
        "live GetMedia: {} of {fragments} fragments seen; PERSISTED at producer -> first byte at reader p50={:.2} ms p99={:.2} ms; last byte sent -> first byte at reader p50={:.2} ms p99={:.2} ms",
        seen.len(),
        pct(&mut from_ack, 0.5),
        pct(&mut from_ack, 0.99),
        pct(&mut from_sent, 0.5),
        pct(&mut from_sent, 0.99),
    );
}

#[tokio::main]
async fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| a.get(i).cloned().unwrap_or_default();
    let pid = |i: usize| a.get(i).and_then(|p| p.parse().ok());
    match arg(0).as_str() {
        "cameras" => {
            cameras(
                arg(1),
                arg(2).parse().unwrap_or(200),
                arg(3).parse().unwrap_or(2.0),
                arg(4).parse().unwrap_or(30),
                pid(5),
            )
            .await
        }
        "ingest" => {
            ingest(
                arg(1),
                arg(2).parse().unwrap_or(4.0),
                arg(3).parse().unwrap_or(20),
                pid(4),
            )
            .await
        }
        "tail" => tail(arg(1), arg(2).parse().unwrap_or(200)).await,
        _ => eprintln!("usage: video_load cameras|ingest|tail ADDR ..."),
    }
}
