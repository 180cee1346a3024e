//! Stalled clients time out, streamed oversize bodies are refused, and the in-flight
//! byte budget answers 503 when exhausted: raw HTTP/1.1 over loopback sockets.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use freshet_tests::{call, Server};

const TIMEOUT_FLAGS: [&str; 4] = [
    "--header-read-timeout-ms",
    "500",
    "--body-read-timeout-ms",
    "500",
];

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap_or_else(|e| panic!("timeout: {e}"));
    s
}

/// Reads until the server closes the connection; returns what it sent and how long
/// that took.
fn until_closed(mut s: TcpStream) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server kept a stalled connection open: {e}"),
        }
    }
    (got, started.elapsed())
}

fn head(addr: SocketAddr, action: &str, extra: &str) -> String {
    format!("POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: Kinesis_20131202.{action}\r\n{extra}\r\n")
}

#[test]
fn slow_loris_clients_time_out() {
    let server = Server::start(&TIMEOUT_FLAGS);
    let a = server.addr;
    // 1. Connects and sends nothing.
    let (_, took) = until_closed(connect(a));
    assert!(took < Duration::from_secs(5), "silent client held {took:?}");
    // 2. Sends a few bytes of the HTTP/2 preface, then stalls.
    let mut s = connect(a);
    s.write_all(b"PRI * HT").unwrap_or_else(|e| panic!("{e}"));
    let (_, took) = until_closed(s);
    assert!(
        took < Duration::from_secs(5),
        "preface staller held {took:?}"
    );
    // 3. Sends half a request head, then stalls.
    let mut s = connect(a);
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, took) = until_closed(s);
    assert!(took < Duration::from_secs(5), "head staller held {took:?}");
    // 4. Sends a head promising 100 bytes and 10 of them, then stalls: 408.
    let mut s = connect(a);
    let h = head(a, "ListStreams", "Content-Length: 100\r\n");
    s.write_all(h.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    s.write_all(b"{\"Limit\":1")
        .unwrap_or_else(|e| panic!("{e}"));
    let (got, took) = until_closed(s);
    let text = String::from_utf8_lossy(&got);
    assert!(took < Duration::from_secs(5), "body staller held {took:?}");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("RequestTimeoutException"), "{text}");
    // 5. An idle keep-alive connection is closed too.
    let mut s = connect(a);
    let h = head(a, "ListStreams", "Content-Length: 2\r\n");
    s.write_all(h.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    s.write_all(b"{}").unwrap_or_else(|e| panic!("{e}"));
    let (got, took) = until_closed(s);
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"));
    assert!(
        took < Duration::from_secs(5),
        "idle connection held {took:?}"
    );
    // The server still serves.
    let r = call(a, "ListStreams", "application/x-amz-json-1.1", b"{}")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status, 200);
}

#[test]
fn streamed_oversize_body_is_refused() {
    let server = Server::start(&[]);
    let a = server.addr;
    let mut s = connect(a);
    let h = head(
        a,
        "PutRecord",
        "Transfer-Encoding: chunked\r\nConnection: close\r\n",
    );
    s.write_all(h.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let chunk = vec![b'a'; 1 << 20];
    let mut refused_early = false;
    for _ in 0..20 {
        let sent = s
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .and_then(|_| s.write_all(&chunk))
            .and_then(|_| s.write_all(b"\r\n"));
        if sent.is_err() {
            refused_early = true;
            break;
        }
    }
    if !refused_early {
        let _ = s.write_all(b"0\r\n\r\n");
    }
    let (got, _) = until_closed(s);
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("SerializationException"), "{text}");
    assert!(
        text.contains("exceeds the limit of 16777216 bytes"),
        "{text}"
    );
}

#[test]
fn inflight_byte_budget_answers_service_unavailable() {
    let server = Server::start(&[
        "--max-inflight-bytes",
        "1000",
        "--admission-wait-ms",
        "100",
        "--body-read-timeout-ms",
        "10000",
    ]);
    let a = server.addr;
    // Holds 1000 bytes of budget by promising a body it does not send.
    let mut hog = connect(a);
    let h = head(a, "ListStreams", "Content-Length: 1000\r\n");
    hog.write_all(h.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    // Once the server has read the hog's head (polled: a loaded machine may take a
    // while), a call finds no budget within its admission wait.
    let started = std::time::Instant::now();
    let r = loop {
        let r = call(a, "ListStreams", "application/x-amz-json-1.1", b"{}")
            .unwrap_or_else(|e| panic!("{e}"));
        if r.status != 200 || started.elapsed() > Duration::from_secs(5) {
            break r;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(r.status, 503, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.error_type(), "ServiceUnavailable");
    drop(hog);
    let mut ok = false;
    for _ in 0..50 {
        let r = call(a, "ListStreams", "application/x-amz-json-1.1", b"{}")
            .unwrap_or_else(|e| panic!("{e}"));
        if r.status == 200 {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ok, "the budget came back once the hog left");
}
