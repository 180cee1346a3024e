//! The typed fast path of PutRecords and GetRecords and the generic path (decode,
//! validate, dispatch, encode) answer every request with the same bytes: success
//! bodies byte for byte, errors by type, message and status.
//!
//! Generated requests, valid and invalid: missing members, members of the wrong type,
//! empty and oversize partition keys (multi-byte characters around 256 UTF-16 units),
//! bad explicit hash keys, too many records, oversize data and requests, StreamName
//! against StreamARN, bad limits, bad, tampered, foreign and expired iterators. Each
//! path runs on its own engine; both engines share one `ManualClock`, one iterator key
//! and one history, so sequence numbers, arrival times and iterators agree. The fast
//! path answers `None` for what it does not take (the service then runs the generic
//! path on the same engine, as here); the property is vacuous for those, so the test
//! also counts how many requests built valid take the fast path.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use freshet_kinesis::actions::{dispatch, fast};
use freshet_kinesis::iterator::{IteratorCodec, IteratorState};
use freshet_kinesis::{ApiConfig, KinesisState};
use freshet_protocol::value::{decode, encode, Encoding};
use freshet_protocol::ApiError;
use freshet_storage::{
    Clock, CreateStream, Durability, Engine, EngineConfig, ManualClock, PutRecordInput,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Value as Json};

const START_MS: i64 = 1_800_000_000_000;
const ARN_PREFIX: &str = "arn:aws:kinesis:us-east-1:000000000000:stream/";

/// One side of the comparison: a Kinesis service state over its own engine.
struct Side {
    _dir: tempfile::TempDir,
    engine: Engine,
    state: Arc<KinesisState>,
}

fn open_side(clock: &Arc<ManualClock>, key_from: Option<&IteratorCodec>) -> Side {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut cfg = EngineConfig::new(dir.path());
    cfg.durability = Durability::Buffered;
    cfg.segment_bytes = 32 << 20;
    cfg.retention_interval = None;
    cfg.min_free_bytes = 0;
    cfg.clock = clock.clone();
    let engine = Engine::open(cfg).unwrap_or_else(|e| panic!("{e}"));
    let mut state = KinesisState::new(engine.clone(), ApiConfig::default());
    if let Some(codec) = key_from {
        // Both sides seal iterators with one key, so a token from one opens on the other.
        match Arc::get_mut(&mut state) {
            Some(s) => s.iterators = codec.clone(),
            None => panic!("the state is shared already"),
        }
    }
    Side {
        _dir: dir,
        engine,
        state,
    }
}

/// The same history on both engines: streams `s` (2 shards), `t` (1 shard) and `r`,
/// whose first shard holds records and was split (a closed shard: ChildShards).
fn history(side: &Side) {
    let e = &side.engine;
    let ok = |r: Result<(), freshet_storage::Error>| r.unwrap_or_else(|e| panic!("{e}"));
    ok(e.create_stream(CreateStream::new("s", 2)).map(|_| ()));
    ok(e.create_stream(CreateStream::new("t", 1)).map(|_| ()));
    ok(e.create_stream(CreateStream::new("r", 1)).map(|_| ()));
    let records = (0..5)
        .map(|i| PutRecordInput {
            partition_key: format!("k{i}").into(),
            explicit_hash_key: None,
            data: bytes::Bytes::from(vec![i as u8; 10]),
        })
        .collect();
    ok(e.put_records("r", records).map(|_| ()));
    ok(e.split_shard("r", "shardId-000000000000", 1u128 << 127));
}

/// What a path answered: a body, or an error's type, message and status.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Body(String),
    Error(&'static str, String, u16),
}

fn reply(r: Result<Vec<u8>, ApiError>) -> Reply {
    match r {
        Ok(b) => Reply::Body(String::from_utf8_lossy(&b).into_owned()),
        Err(e) => Reply::Error(e.kind, e.message, e.status),
    }
}

/// The generic path, as the service runs it.
fn generic(state: &KinesisState, action: &str, body: &[u8], deadline: Instant) -> Reply {
    reply(
        decode(Encoding::Json, body)
            .map_err(|e| ApiError::serialization(e.0))
            .and_then(|doc| dispatch(state, action, &doc, deadline))
            .map(|v| encode(Encoding::Json, &v)),
    )
}

// ---- request generation -------------------------------------------------------------

/// A generated member: its JSON value (`None`: absent) and whether it is valid.
type Part = (Option<Json>, bool);

fn stream_name() -> impl Strategy<Value = Part> {
    prop_oneof![
        6 => Just((Some(json!("s")), true)),
        3 => Just((Some(json!("r")), true)),
        2 => Just((Some(json!("t")), true)),
        1 => Just((Some(json!("nope")), true)),
        2 => Just((None, true)),
        1 => Just((Some(json!("")), false)),
        1 => Just((Some(json!("ab cd")), false)),
        1 => Just((Some(json!("x".repeat(129))), false)),
        1 => Just((Some(json!(5)), false)),
        1 => Just((Some(json!(["s"])), false)),
        1 => Just((Some(Json::Null), true)),
    ]
}

fn stream_arn() -> impl Strategy<Value = Part> {
    prop_oneof![
        8 => Just((None, true)),
        2 => Just((Some(json!(format!("{ARN_PREFIX}s"))), true)),
        1 => Just((Some(json!(format!("{ARN_PREFIX}t"))), true)),
        1 => Just((Some(json!("arn:aws:s3:::bucket")), false)),
        1 => Just((Some(json!("")), false)),
        1 => Just((Some(json!({"a": 1})), false)),
    ]
}

fn partition_key() -> impl Strategy<Value = Part> {
    prop_oneof![
        60 => "[a-z0-9]{1,12}".prop_map(|k| (Some(json!(k)), true)),
        1 => Just((Some(json!("é".repeat(256))), true)),
        1 => Just((Some(json!("😀".repeat(128))), true)),
        1 => Just((Some(json!("a".repeat(256))), true)),
        1 => Just((Some(json!("é".repeat(257))), false)),
        1 => Just((Some(json!("😀".repeat(129))), false)),
        1 => Just((Some(json!(format!("{}😀", "a".repeat(255)))), false)),
        1 => Just((Some(json!("a".repeat(257))), false)),
        1 => Just((Some(json!("")), false)),
        1 => Just((None, false)),
        1 => Just((Some(json!(12)), false)),
    ]
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn data() -> impl Strategy<Value = Part> {
    prop_oneof![
        120 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(|b| (Some(json!(b64(&b))), true)),
        2 => Just((Some(json!(b64(&vec![7u8; 1 << 20]))), true)),
        2 => Just((Some(json!(b64(&vec![7u8; (1 << 20) + 1]))), false)),
        4 => Just((Some(json!("!!not base64!!")), false)),
        4 => Just((Some(json!("abc")), false)),
        4 => Just((Some(json!("+/+=")), false)),
        4 => Just((None, false)),
        4 => Just((Some(json!(true)), false)),
    ]
}

fn explicit_hash_key() -> impl Strategy<Value = Part> {
    prop_oneof![
        60 => Just((None, true)),
        12 => any::<u128>().prop_map(|k| (Some(json!(k.to_string())), true)),
        1 => Just((Some(json!("0")), true)),
        1 => Just((Some(json!(u128::MAX.to_string())), true)),
        1 => Just((Some(json!("340282366920938463463374607431768211456")), false)),
        1 => Just((Some(json!("9".repeat(40))), false)),
        1 => Just((Some(json!("-1")), false)),
        1 => Just((Some(json!("01")), false)),
        1 => Just((Some(json!("")), false)),
        1 => Just((Some(json!(5)), false)),
    ]
}

fn record() -> impl Strategy<Value = Part> {
    (
        partition_key(),
        data(),
        explicit_hash_key(),
        prop::bool::weighted(0.03),
    )
        .prop_map(|((pk, pk_ok), (d, d_ok), (h, h_ok), extra)| {
            let mut m = Map::new();
            if let Some(pk) = pk {
                m.insert("PartitionKey".into(), pk);
            }
            if let Some(d) = d {
                m.insert("Data".into(), d);
            }
            if let Some(h) = h {
                m.insert("ExplicitHashKey".into(), h);
            }
            if extra {
                m.insert("Other".into(), json!(1));
            }
            (Some(Json::Object(m)), pk_ok && d_ok && h_ok && !extra)
        })
}

fn records() -> impl Strategy<Value = Part> {
    prop_oneof![
        20 => proptest::collection::vec(record(), 1..6).prop_map(|v| {
            let ok = v.iter().all(|(_, ok)| *ok);
            (Some(Json::Array(v.into_iter().filter_map(|(r, _)| r).collect())), ok)
        }),
        1 => Just((Some(json!([])), false)),
        1 => Just((Some(Json::Array(vec![json!({"PartitionKey": "k", "Data": ""}); 501])), false)),
        1 => Just((Some(Json::Array(vec![json!({"PartitionKey": "k", "Data": ""}); 500])), true)),
        1 => Just((Some(json!([1, 2])), false)),
        1 => Just((Some(json!([["k", "AA=="]])), false)),
        1 => Just((Some(json!("x")), false)),
        1 => Just((None, false)),
    ]
}

/// A PutRecords body and whether it was built valid.
fn put_records() -> impl Strategy<Value = (Json, bool)> {
    (
        stream_name(),
        stream_arn(),
        records(),
        prop::bool::weighted(0.03),
        prop::bool::weighted(0.004),
    )
        .prop_map(|((n, n_ok), (a, a_ok), (r, r_ok), extra, huge)| {
            // One of StreamName and StreamARN, or both naming the same stream.
            let names_ok = match (
                n.as_ref().and_then(Json::as_str),
                a.as_ref().and_then(Json::as_str),
            ) {
                (None, None) => false,
                (Some(n), Some(a)) => a == format!("{ARN_PREFIX}{n}"),
                _ => true,
            };
            let mut m = Map::new();
            if let Some(n) = n {
                m.insert("StreamName".into(), n);
            }
            if let Some(a) = a {
                m.insert("StreamARN".into(), a);
            }
            if huge {
                // Eleven records of 1 MiB: over the request's 10 MiB.
                let mib = b64(&vec![1u8; 1 << 20]);
                let list = (0..11)
                    .map(|_| json!({"PartitionKey": "k", "Data": mib}))
                    .collect();
                m.insert("Records".into(), Json::Array(list));
            } else if let Some(r) = r {
                m.insert("Records".into(), r);
            }
            if extra {
                m.insert("Other".into(), json!("x"));
            }
            (
                Json::Object(m),
                names_ok && n_ok && a_ok && r_ok && !extra && !huge,
            )
        })
}

/// Where a GetRecords' iterator comes from.
#[derive(Debug, Clone)]
enum Token {
    /// One handed out earlier (by GetShardIterator or a NextShardIterator).
    Pool(usize),
    /// A fresh one: stream, shard, iterator type.
    Fresh(&'static str, &'static str, &'static str),
    /// A fresh one with one character changed.
    Tampered,
    /// Sealed under another key.
    Foreign,
    /// Literally this.
    Literal(Json),
    Absent,
}

fn token() -> impl Strategy<Value = (Token, bool)> {
    prop_oneof![
        8 => any::<usize>().prop_map(|i| (Token::Pool(i), true)),
        2 => Just((Token::Fresh("s", "shardId-000000000000", "TRIM_HORIZON"), true)),
        1 => Just((Token::Fresh("s", "shardId-000000000001", "LATEST"), true)),
        2 => Just((Token::Fresh("r", "shardId-000000000000", "TRIM_HORIZON"), true)),
        1 => Just((Token::Fresh("r", "shardId-000000000002", "AT_TIMESTAMP"), true)),
        1 => Just((Token::Fresh("t", "shardId-000000000000", "TRIM_HORIZON"), true)),
        1 => Just((Token::Tampered, true)),
        1 => Just((Token::Foreign, true)),
        1 => Just((Token::Literal(json!("x")), true)),
        1 => Just((Token::Literal(json!("")), false)),
        1 => Just((Token::Literal(json!("A".repeat(513))), false)),
        1 => Just((Token::Literal(json!(42)), false)),
        1 => Just((Token::Absent, false)),
    ]
}

fn limit() -> impl Strategy<Value = Part> {
    prop_oneof![
        6 => Just((None, true)),
        4 => (1i64..=10_000).prop_map(|l| (Some(json!(l)), true)),
        2 => (1i64..=3).prop_map(|l| (Some(json!(l)), true)),
        1 => Just((Some(json!(0)), false)),
        1 => Just((Some(json!(10_001)), false)),
        1 => Just((Some(json!(-5)), false)),
        1 => Just((Some(json!(1u64 << 40)), false)),
        1 => Just((Some(json!("10")), false)),
        1 => Just((Some(json!(2.5)), false)),
    ]
}

#[derive(Debug, Clone)]
enum Request {
    Put(Json, bool),
    Get {
        token: Token,
        limit: Option<Json>,
        arn: bool,
        valid: bool,
    },
}

fn request() -> impl Strategy<Value = (Request, u64)> {
    let put = put_records().prop_map(|(body, ok)| Request::Put(body, ok));
    let get = (token(), limit(), prop::bool::weighted(0.04)).prop_map(
        |((token, t_ok), (limit, l_ok), arn)| Request::Get {
            token,
            limit,
            arn,
            valid: t_ok && l_ok && !arn,
        },
    );
    // The clock moves between requests: mostly a little, now and then past an
    // iterator's five minutes.
    let advance = prop_oneof![10 => 0u64..50, 1 => Just(301_000u64)];
    (prop_oneof![3 => put, 2 => get], advance)
}

// ---- the property -------------------------------------------------------------------

#[test]
fn fast_and_generic_paths_give_the_same_bytes() {
    let clock = Arc::new(ManualClock::new(START_MS));
    let fast_side = open_side(&clock, None);
    let generic_side = open_side(&clock, Some(&fast_side.state.iterators));
    history(&fast_side);
    history(&generic_side);
    let deadline = Instant::now() + Duration::from_secs(3600);

    let cases: u32 = std::env::var("FRESHET_PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(1000);
    let pool: RefCell<Vec<String>> = RefCell::new(Vec::new());
    let ran = Cell::new(0u32);
    let valid = Cell::new(0u32);
    let valid_fast = Cell::new(0u32);
    let fast_any = Cell::new(0u32);
    let fast_ok = Cell::new(0u32);

    // Runs one request on both sides: the fast path (falling back to the generic path
    // on its own engine, as the service does) and the generic path.
    let both = |action: &str, body: &[u8]| -> (Reply, Reply, bool) {
        let (a, took) = match fast::try_dispatch(&fast_side.state, action, body, deadline) {
            Some(r) => (reply(r), true),
            None => (generic(&fast_side.state, action, body, deadline), false),
        };
        let b = generic(&generic_side.state, action, body, deadline);
        (a, b, took)
    };
    let fresh = |stream: &str, shard: &str, ty: &str| -> Option<String> {
        let mut body = json!({"StreamName": stream, "ShardId": shard, "ShardIteratorType": ty});
        if ty == "AT_TIMESTAMP" {
            body["Timestamp"] = json!(clock.now_ms() as f64 / 1000.0 - 1.0);
        }
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let a = generic(&fast_side.state, "GetShardIterator", &body, deadline);
        let b = generic(&generic_side.state, "GetShardIterator", &body, deadline);
        assert_eq!(a, b, "GetShardIterator");
        match a {
            Reply::Body(text) => serde_json::from_str::<Json>(&text)
                .ok()
                .and_then(|v| v["ShardIterator"].as_str().map(str::to_string)),
            Reply::Error(..) => None,
        }
    };

    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&request(), |(req, advance)| {
        ran.set(ran.get() + 1);
        clock.advance(Duration::from_millis(advance));
        let (action, body, built_valid) = match req {
            Request::Put(body, ok) => (
                "PutRecords",
                serde_json::to_vec(&body).unwrap_or_default(),
                ok,
            ),
            Request::Get {
                token,
                limit,
                arn,
                valid: ok,
            } => {
                let t: Option<Json> = match token {
                    Token::Pool(i) => {
                        let p = pool.borrow();
                        match p.get(i % p.len().max(1)) {
                            Some(t) => Some(json!(t)),
                            None => {
                                fresh("s", "shardId-000000000000", "TRIM_HORIZON").map(Json::from)
                            }
                        }
                    }
                    Token::Fresh(s, sh, ty) => fresh(s, sh, ty).map(Json::from),
                    Token::Tampered => {
                        fresh("s", "shardId-000000000000", "TRIM_HORIZON").map(|t| {
                            let mut b = t.into_bytes();
                            let i = b.len() / 2;
                            if let Some(c) = b.get_mut(i) {
                                *c = if *c == b'A' { b'B' } else { b'A' };
                            }
                            json!(String::from_utf8_lossy(&b))
                        })
                    }
                    Token::Foreign => Some(json!(IteratorCodec::new().seal(&IteratorState {
                        stream: "s".into(),
                        uid: 1,
                        shard_index: 0,
                        offset: 0,
                        issued_ms: START_MS,
                    }))),
                    Token::Literal(v) => Some(v),
                    Token::Absent => None,
                };
                let mut m = Map::new();
                if let Some(t) = t {
                    m.insert("ShardIterator".into(), t);
                }
                if let Some(l) = limit {
                    m.insert("Limit".into(), l);
                }
                if arn {
                    m.insert("StreamARN".into(), json!(format!("{ARN_PREFIX}s")));
                }
                (
                    "GetRecords",
                    serde_json::to_vec(&Json::Object(m)).unwrap_or_default(),
                    ok,
                )
            }
        };
        let (a, b, took_fast) = both(action, &body);
        if built_valid {
            valid.set(valid.get() + 1);
            if took_fast {
                valid_fast.set(valid_fast.get() + 1);
            }
        }
        if took_fast {
            fast_any.set(fast_any.get() + 1);
            if matches!(a, Reply::Body(_)) {
                fast_ok.set(fast_ok.get() + 1);
            }
        }
        if let Reply::Body(text) = &a {
            if let Ok(v) = serde_json::from_str::<Json>(text) {
                if let Some(next) = v["NextShardIterator"].as_str() {
                    let mut p = pool.borrow_mut();
                    if p.len() < 64 {
                        p.push(next.to_string());
                    } else if let Some(slot) = p.get_mut(text.len() % 64) {
                        *slot = next.to_string();
                    }
                }
            }
        }
        if a != b {
            return Err(TestCaseError::fail(format!(
                "{action} {}\nfast side:    {a:?}\ngeneric side: {b:?}",
                String::from_utf8_lossy(&body[..body.len().min(2000)])
            )));
        }
        Ok(())
    });
    eprintln!(
        "{} requests compared: {} built valid, {} of them on the fast path; {} on the fast path in all, {} of those succeeded",
        ran.get(),
        valid.get(),
        valid_fast.get(),
        fast_any.get(),
        fast_ok.get()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    // The property says nothing of requests the fast path declines: most valid ones
    // must take it.
    assert!(
        valid.get() >= cases / 4,
        "too few valid requests generated: {}",
        valid.get()
    );
    assert!(
        u64::from(valid_fast.get()) * 10 >= u64::from(valid.get()) * 9,
        "only {} of {} valid requests took the fast path",
        valid_fast.get(),
        valid.get()
    );
}
