#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]
//! The `freshet` commands for people, run as the real binary against a real `freshet
//! serve`: create, describe (the lineage tree), streams, delete; a file put with
//! aggregation and tailed back byte for byte; `tail --follow` across a split and a merge
//! with every key's records in order; `lag` of a running KCL application; errors in
//! plain words with their exit codes; `--help` and shell completions.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use freshet_client::{wait_for_active, KinesisApi, KinesisClient};
use freshet_kcl::{
    Checkpointer, Config, HttpLeaseStore, InitializationInput, KinesisSource, ProcessRecordsInput,
    Scheduler, ShardRecordProcessor, ShardRecordProcessorFactory,
};
use freshet_tests::server::binary;
use freshet_tests::Server;

/// A `freshet` command with no endpoint from the developer's environment.
fn freshet_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .env_remove("FRESHET_ENDPOINT")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_KINESIS")
        .env_remove("RUST_LOG")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null());
    cmd
}

/// Runs `freshet ARGS --endpoint ENDPOINT` to the end (bounded by the commands' own
/// limits: none of these waits for long).
fn freshet(server: &Server, args: &[&str]) -> Output {
    let endpoint = server.endpoint();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--endpoint", &endpoint]);
    freshet_cmd(&all).output().expect("run freshet")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a command that must succeed; returns its stdout.
fn ok(server: &Server, args: &[&str]) -> String {
    let out = freshet(server, args);
    assert!(
        out.status.success(),
        "freshet {args:?} failed ({:?}):\n{}{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn streams_are_created_described_listed_and_deleted() {
    let server = Server::start(&[]);
    let created = ok(&server, &["create", "orders", "--shards", "2"]);
    assert_eq!(
        created,
        "created stream \"orders\": PROVISIONED, 2 shards, 24 h retention, ACTIVE\n"
    );
    ok(
        &server,
        &[
            "create",
            "audit",
            "--retention-hours",
            "168",
            "--shards",
            "1",
        ],
    );

    let listed = ok(&server, &["streams"]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 3, "{listed}");
    assert!(lines[0].starts_with("NAME"), "{listed}");
    assert!(lines[0].contains("RECORDS/S"), "{listed}");
    let audit: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        audit,
        ["audit", "ACTIVE", "PROVISIONED", "1", "7", "d", "0"]
    );
    let orders: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        orders,
        ["orders", "ACTIVE", "PROVISIONED", "2", "24", "h", "0"]
    );
    // Without sampling /metrics the rate is "-".
    let quick = ok(&server, &["streams", "--no-rate"]);
    assert!(quick.lines().nth(2).unwrap().ends_with('-'), "{quick}");

    // Lineage: split shard 0, then merge its two children.
    let rt = runtime();
    let api = KinesisClient::new(server.endpoint()).unwrap();
    rt.block_on(async {
        api.split_shard("orders", "shardId-000000000000", 1u128 << 126)
            .await
            .unwrap();
        wait_for_active(&api, "orders", Duration::from_secs(30))
            .await
            .unwrap();
        api.merge_shards("orders", "shardId-000000000002", "shardId-000000000003")
            .await
            .unwrap();
        wait_for_active(&api, "orders", Duration::from_secs(30))
            .await
            .unwrap();
    });
    let described = ok(&server, &["describe", "orders"]);
    assert!(
        described.starts_with("stream       orders\n"),
        "{described}"
    );
    assert!(described.contains("\nopen shards  2\n"), "{described}");
    assert!(described.contains("\nretention    24 h\n"), "{described}");
    // The tree column, then the state (the table pads by characters).
    let header = described.lines().find(|l| l.starts_with("SHARD")).unwrap();
    let state_at = header.find("STATE").unwrap();
    let tree: Vec<String> = described
        .lines()
        .skip_while(|l| !l.starts_with("SHARD"))
        .skip(1)
        .map(|l| {
            let chars: Vec<char> = l.chars().collect();
            let label: String = chars[..state_at].iter().collect();
            let rest: String = chars[state_at..].iter().collect();
            let state = if rest.starts_with('(') {
                rest.trim().to_string()
            } else {
                rest.split_whitespace().next().unwrap().to_string()
            };
            format!("{} {state}", label.trim_end())
        })
        .collect();
    assert_eq!(
        tree,
        [
            "shardId-000000000000 closed",
            "├─ shardId-000000000002 closed",
            "│  └─ shardId-000000000004 open",
            "└─ shardId-000000000003 closed",
            "   └─ shardId-000000000004 (merged; shown under shardId-000000000002)",
            "shardId-000000000001 open",
        ],
        "{described}"
    );
    assert!(
        described.contains("25.0%") && described.contains("50.0%"),
        "{described}"
    );

    assert_eq!(
        ok(&server, &["delete", "orders"]),
        "deleted stream \"orders\"\n"
    );
    let listed = ok(&server, &["streams", "--no-rate"]);
    assert!(!listed.contains("orders"), "{listed}");
    ok(&server, &["delete", "audit"]);
    let none = freshet(&server, &["streams"]);
    assert!(none.status.success());
    assert_eq!(text(&none.stdout), "");
    assert!(
        text(&none.stderr).starts_with("no streams at http://"),
        "{}",
        text(&none.stderr)
    );
}

/// Lines that exercise byte-for-byte: unicode, empty lines, a CR before the newline,
/// tabs, invalid UTF-8, a long line.
fn tricky_file(path: &Path, lines: usize) -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..lines {
        match i % 10 {
            0 => body.extend_from_slice(format!("plain line {i}").as_bytes()),
            1 => body.extend_from_slice(format!("ünïcödé ✓ 日本語 {i} 🚀").as_bytes()),
            2 => {}
            3 => body.extend_from_slice(format!("crlf {i}\r").as_bytes()),
            4 => body.extend_from_slice(format!("\ttabs\tand  spaces {i} ").as_bytes()),
            5 => body.extend_from_slice(&[0xff, 0xfe, b'x', (i % 256) as u8, 0x00]),
            6 if i % 1000 == 6 => body.extend(std::iter::repeat_n(b'L', 200_000)),
            _ => body.extend_from_slice(format!("{{\"n\":{i},\"s\":\"json\"}}").as_bytes()),
        }
        body.push(b'\n');
    }
    std::fs::write(path, &body).unwrap();
    body
}

#[test]
fn a_file_put_with_aggregation_tails_back_byte_for_byte() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lines.txt");
    let body = tricky_file(&file, 5000);
    let file_arg = file.to_str().unwrap();
    ok(&server, &["create", "lines", "--shards", "2"]);

    // One key: every record on one shard, in file order; empty lines kept.
    let put = freshet(
        &server,
        &[
            "put",
            "lines",
            "--file",
            file_arg,
            "--key",
            "one",
            "--keep-empty",
        ],
    );
    let summary = text(&put.stderr);
    assert!(put.status.success(), "{summary}");
    assert!(
        summary.starts_with("put 5,000 records (") && summary.contains(" 0 failed"),
        "{summary}"
    );
    for part in [" s: ", " records/s, ", " MiB/s, "] {
        assert!(summary.contains(part), "{summary}");
    }
    let tailed = freshet(&server, &["tail", "lines", "--format", "raw"]);
    assert!(tailed.status.success(), "{}", text(&tailed.stderr));
    assert!(
        tailed.stdout == body,
        "tail gave {} bytes back for {}",
        tailed.stdout.len(),
        body.len()
    );

    // Random keys over both shards, from stdin; empty lines skipped by default. Order
    // across keys is not defined, so compare sorted lines.
    ok(&server, &["create", "spread", "--shards", "3"]);
    let endpoint = server.endpoint();
    let mut child = freshet_cmd(&["put", "spread", "--endpoint", &endpoint])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feed = body.clone();
    let writer = std::thread::spawn(move || stdin.write_all(&feed).unwrap());
    let put = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let summary = text(&put.stderr);
    assert!(put.status.success(), "{summary}");
    assert!(
        summary.starts_with("put 4,500 records (") && summary.contains("; 500 empty lines skipped"),
        "{summary}"
    );
    let tailed = freshet(&server, &["tail", "spread"]);
    assert!(tailed.status.success(), "{}", text(&tailed.stderr));
    let sorted = |b: &[u8]| {
        let mut lines: Vec<Vec<u8>> = b
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        lines.sort();
        lines
    };
    assert!(sorted(&tailed.stdout) == sorted(&body), "records differ");
    let shards_used: std::collections::BTreeSet<String> =
        text(&ok(&server, &["tail", "spread", "--format", "json"]).into_bytes())
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["shard"].as_str().unwrap().to_string()
            })
            .collect();
    assert_eq!(shards_used.len(), 3, "{shards_used:?}");

    // JSON: aggregated records carry sub-sequence numbers; data not in UTF-8 is base64.
    let json = ok(
        &server,
        &["tail", "lines", "--format", "json", "--limit", "7"],
    );
    let records: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 7);
    assert_eq!(records[0]["data"], "plain line 0");
    assert_eq!(records[0]["encoding"], "utf-8");
    assert_eq!(records[0]["partitionKey"], "one");
    assert_eq!(records[1]["subSequence"], 1);
    assert_eq!(records[1]["sequence"], records[0]["sequence"]);
    assert_eq!(records[2]["data"], "");
    assert_eq!(records[5]["encoding"], "base64");
    assert_eq!(records[5]["data"], "//54BQA=");
    assert!(records[0]["arrival"].as_str().unwrap().ends_with('Z'));
    let hex = ok(
        &server,
        &["tail", "lines", "--format", "hex", "--limit", "1"],
    );
    assert!(hex.contains("00000000  70 6c 61 69 6e 20"), "{hex}");
    assert!(hex.contains("|plain line 0|"), "{hex}");

    // A reader that stops early (`| head`): tail ends quietly with 0.
    let mut child = freshet_cmd(&["tail", "lines", "--endpoint", &endpoint])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 100];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{status:?}: {err}");
    assert_eq!(err, "");
}

/// Puts `n` JSON lines `{"k": "key-<i % keys>", "n": <from + i>}` through `freshet put
/// --key-field k`.
fn put_keyed(server: &Server, stream: &str, dir: &Path, from: u64, n: u64, keys: u64) {
    let path = dir.join(format!("batch-{from}.jsonl"));
    let mut body = String::new();
    for i in from..from + n {
        body.push_str(&format!("{{\"k\":\"key-{}\",\"n\":{i}}}\n", i % keys));
    }
    std::fs::write(&path, body).unwrap();
    ok(
        server,
        &[
            "put",
            stream,
            "--file",
            path.to_str().unwrap(),
            "--key-field",
            "k",
        ],
    );
}

#[test]
fn tail_follows_a_split_and_a_merge_keeping_each_keys_order() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    ok(&server, &["create", "moves", "--shards", "1"]);
    let endpoint = server.endpoint();
    let mut tail = freshet_cmd(&[
        "tail",
        "moves",
        "--follow",
        "--format",
        "json",
        "--endpoint",
        &endpoint,
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let seen: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let reader = {
        let seen = seen.clone();
        let stdout = tail.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                seen.lock()
                    .unwrap()
                    .push(serde_json::from_str(&line).expect("a JSON line"));
            }
        })
    };
    let wait_for = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.lock().unwrap().len() < n {
            assert!(
                Instant::now() < deadline,
                "tail printed {} of {n} records",
                seen.lock().unwrap().len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    const KEYS: u64 = 40;
    put_keyed(&server, "moves", dir.path(), 0, 1500, KEYS);
    wait_for(1500);
    let rt = runtime();
    let api = KinesisClient::new(endpoint.clone()).unwrap();
    rt.block_on(async {
        api.split_shard("moves", "shardId-000000000000", 1u128 << 127)
            .await
            .unwrap();
        wait_for_active(&api, "moves", Duration::from_secs(30))
            .await
            .unwrap();
    });
    put_keyed(&server, "moves", dir.path(), 1500, 1500, KEYS);
    wait_for(3000);
    rt.block_on(async {
        api.merge_shards("moves", "shardId-000000000001", "shardId-000000000002")
            .await
            .unwrap();
        wait_for_active(&api, "moves", Duration::from_secs(30))
            .await
            .unwrap();
    });
    put_keyed(&server, "moves", dir.path(), 3000, 1500, KEYS);
    wait_for(4500);
    // Nothing more comes.
    std::thread::sleep(Duration::from_millis(500));
    let _ = tail.kill();
    let _ = tail.wait();
    reader.join().unwrap();

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 4500);
    let mut by_key: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut shards: BTreeMap<String, usize> = BTreeMap::new();
    for r in seen.iter() {
        let data: serde_json::Value = serde_json::from_str(r["data"].as_str().unwrap()).unwrap();
        by_key
            .entry(data["k"].as_str().unwrap().to_string())
            .or_default()
            .push(data["n"].as_u64().unwrap());
        *shards
            .entry(r["shard"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(by_key.len(), KEYS as usize);
    for (key, ns) in &by_key {
        let want: Vec<u64> = (0..4500)
            .filter(|n| format!("key-{}", n % KEYS) == *key)
            .collect();
        assert_eq!(ns, &want, "records of {key} out of order or missing");
    }
    // The parent, both children of the split and the merged shard all delivered.
    assert_eq!(
        shards.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "shardId-000000000000",
            "shardId-000000000001",
            "shardId-000000000002",
            "shardId-000000000003"
        ],
        "{shards:?}"
    );
    assert_eq!(shards["shardId-000000000000"], 1500);
    assert_eq!(shards["shardId-000000000003"], 1500);
}

/// A processor that checkpoints after each batch while its gate is open.
struct Gated {
    open: Arc<AtomicBool>,
    delivered: Arc<AtomicU64>,
}

impl ShardRecordProcessor for Gated {
    async fn initialize(&mut self, _input: InitializationInput) {}

    async fn process_records(&mut self, input: ProcessRecordsInput, cp: &mut Checkpointer) {
        self.delivered
            .fetch_add(input.records.len() as u64, Ordering::SeqCst);
        if self.open.load(Ordering::SeqCst) {
            let _ = cp.checkpoint().await;
        }
    }

    async fn shard_ended(&mut self, cp: &mut Checkpointer) {
        let _ = cp.checkpoint().await;
    }
}

struct GatedFactory {
    open: Arc<AtomicBool>,
    delivered: Arc<AtomicU64>,
}

impl ShardRecordProcessorFactory for GatedFactory {
    type Processor = Gated;
    fn create(&self, _shard_id: &str) -> Gated {
        Gated {
            open: self.open.clone(),
            delivered: self.delivered.clone(),
        }
    }
}

/// `freshet lag` output: the total records behind and the shard rows.
fn lag(server: &Server, args: &[&str]) -> (u64, Vec<Vec<String>>) {
    let out = ok(server, args);
    let head = out.lines().next().unwrap();
    let total: u64 = head
        .rsplit_once(", ")
        .and_then(|(_, t)| t.strip_suffix(" records behind"))
        .unwrap_or_else(|| panic!("{out}"))
        .replace(',', "")
        .parse()
        .unwrap();
    let rows = out
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    (total, rows)
}

#[test]
fn lag_shows_a_running_kcl_apps_owners_checkpoints_and_backlog() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    ok(&server, &["create", "events", "--shards", "2"]);
    ok(&server, &["create", "other", "--shards", "1"]);
    let endpoint = server.endpoint();
    let rt = runtime();
    let open = Arc::new(AtomicBool::new(true));
    let delivered = Arc::new(AtomicU64::new(0));
    let (handle, task) = rt.block_on(async {
        let api = Arc::new(KinesisClient::new(endpoint.clone()).unwrap());
        let store = Arc::new(HttpLeaseStore::new(&endpoint, "events", "lag-app").unwrap());
        let source = Arc::new(KinesisSource::new(api, "events"));
        let mut cfg = Config::new("lag-app", "worker-1").with_failover_ms(3_000);
        cfg.idle_ms = 20;
        cfg.max_idle_ms = 200;
        let factory = GatedFactory {
            open: open.clone(),
            delivered: delivered.clone(),
        };
        let (scheduler, handle) = Scheduler::new(cfg, store, source, factory);
        (handle, tokio::spawn(scheduler.run()))
    });
    let wait_delivered = |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while delivered.load(Ordering::SeqCst) < n {
            assert!(
                Instant::now() < deadline,
                "the app got {delivered:?} of {n}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let wait_lag = |want_zero: bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (total, rows) = lag(&server, &["lag", "lag-app", "--stream", "events"]);
            if (total == 0) == want_zero && rows.len() == 2 {
                return (total, rows);
            }
            assert!(Instant::now() < deadline, "lag stayed at {total}: {rows:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };

    // Caught up: both shards owned, checkpointed at a sequence number, nothing behind.
    put_keyed(&server, "events", dir.path(), 0, 200, 20);
    wait_delivered(200);
    let (_, rows) = wait_lag(true);
    for row in &rows {
        assert_eq!(row[1], "worker-1", "{rows:?}");
        assert!(
            row[2].bytes().all(|b| b.is_ascii_digit() || b == b':'),
            "{rows:?}"
        );
        assert_eq!(&row[3..], ["0", "0"], "{rows:?}");
    }

    // Delivered but not checkpointed: 300 records behind, the oldest some ms old.
    open.store(false, Ordering::SeqCst);
    put_keyed(&server, "events", dir.path(), 200, 300, 20);
    wait_delivered(500);
    std::thread::sleep(Duration::from_millis(20));
    let (total, rows) = lag(&server, &["lag", "lag-app"]);
    assert_eq!(total, 300, "{rows:?}");
    let behind: u64 = rows.iter().map(|r| r[3].parse::<u64>().unwrap()).sum();
    assert_eq!(behind, 300);
    for row in &rows {
        assert_eq!(row[1], "worker-1", "{rows:?}");
        assert!(row[3].parse::<u64>().unwrap() > 0, "{rows:?}");
        assert!(
            row[4].replace(',', "").parse::<u64>().unwrap() > 0,
            "{rows:?}"
        );
    }

    // The app checkpoints again with the next records and catches up.
    open.store(true, Ordering::SeqCst);
    put_keyed(&server, "events", dir.path(), 500, 40, 20);
    wait_delivered(540);
    wait_lag(true);

    // Unknown application or stream: exit 3 in plain words.
    let none = freshet(&server, &["lag", "no-such-app"]);
    assert_eq!(none.status.code(), Some(3));
    assert!(
        text(&none.stderr).contains("has leases of application \"no-such-app\""),
        "{}",
        text(&none.stderr)
    );
    let none = freshet(&server, &["lag", "lag-app", "--stream", "other"]);
    assert_eq!(none.status.code(), Some(3));
    assert!(
        text(&none.stderr).contains("application \"lag-app\" has no leases on stream \"other\""),
        "{}",
        text(&none.stderr)
    );

    handle.shutdown();
    rt.block_on(task).unwrap();
}

#[test]
fn errors_are_plain_words_with_exit_codes() {
    let server = Server::start(&[]);
    let endpoint = server.endpoint();
    for args in [
        &["describe", "nope"][..],
        &["tail", "nope"],
        &["delete", "nope"],
        &["put", "nope", "--key", "k"],
        &["lag", "app", "--stream", "nope"],
    ] {
        let out = freshet(&server, args);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(
            text(&out.stderr),
            format!("freshet: stream \"nope\" not found at {endpoint}\n"),
            "{args:?}"
        );
    }
    ok(&server, &["create", "here"]);
    let exists = freshet(&server, &["create", "here"]);
    assert_eq!(exists.status.code(), Some(1));
    assert_eq!(
        text(&exists.stderr),
        format!("freshet: stream \"here\" already exists at {endpoint}\n")
    );
    let shard = freshet(&server, &["tail", "here", "--shard", "7"]);
    assert_eq!(shard.status.code(), Some(3));
    assert!(
        text(&shard.stderr).contains("shard \"shardId-000000000007\" not found in stream \"here\""),
        "{}",
        text(&shard.stderr)
    );

    // The endpoint from the environment, then no server there.
    let out = freshet_cmd(&["streams", "--no-rate"])
        .env("FRESHET_ENDPOINT", &endpoint)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("here"));
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = format!("http://127.0.0.1:{free_port}");
    for args in [&["streams"][..], &["tail", "x"], &["lag", "app"]] {
        let out = freshet_cmd(args)
            .env("AWS_ENDPOINT_URL", &nowhere)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(4), "{args:?}");
        assert_eq!(
            text(&out.stderr),
            format!(
                "freshet: cannot reach the server at {nowhere} (is `freshet serve` running?): \
                 connection refused\n"
            )
        );
    }

    // Wrong usage: clap's exit code 2, and ours for options that do not fit.
    for args in [
        &["tail", "here", "--from", "timestamp"][..],
        &["tail", "here", "--from", "latest", "--at", "5"],
        &["tail", "here", "--from", "timestamp", "--at", "someday"],
        &["put", "here", "--key", "a", "--key-field", "b"],
        &["create"],
        &["tail", "here", "--format", "xml"],
    ] {
        let out = freshet(&server, args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }

    // A record that cannot be put fails the command (exit 1) and says which line.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mixed.jsonl");
    std::fs::write(&file, "{\"id\":\"a\"}\nnot json\n{\"id\":\"b\"}\n").unwrap();
    let out = freshet(
        &server,
        &[
            "put",
            "here",
            "--file",
            file.to_str().unwrap(),
            "--key-field",
            "id",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with("put 2 records ("), "{err}");
    assert!(err.contains(", 1 failed"), "{err}");
    assert!(err.contains("  line 2: not a JSON value"), "{err}");
    assert!(err.ends_with("freshet: 1 of 3 records failed\n"), "{err}");
}

#[test]
fn every_command_has_help_and_completions_are_scripts() {
    for sub in [
        "streams",
        "create",
        "delete",
        "describe",
        "put",
        "tail",
        "lag",
        "completions",
    ] {
        let out = freshet_cmd(&[sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "{sub}");
        let help = text(&out.stdout);
        assert!(help.contains(&format!("Usage: freshet {sub}")), "{help}");
        assert!(help.contains("Exit codes: 0 ok"), "{help}");
        if sub != "completions" {
            assert!(help.contains("--endpoint <URL>"), "{help}");
        }
    }
    let top = text(&freshet_cmd(&["--help"]).output().unwrap().stdout);
    for sub in ["streams", "tail", "lag", "completions"] {
        assert!(top.contains(&format!("  {sub} ")), "{top}");
    }
    for (shell, marker) in [
        ("bash", "complete -F _freshet"),
        ("zsh", "#compdef freshet"),
        ("fish", "complete -c freshet"),
    ] {
        let out = freshet_cmd(&["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = text(&out.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("tail"), "{shell}");
    }
}
