#![allow(clippy::expect_used, clippy::unwrap_used)]
//! Interop with PyPI `aws-kinesis-agg`: batches aggregated here deaggregate there to the
//! same partition keys, data and order, and theirs deaggregate here. Uses the venv of
//! `scripts/python-venv.sh`; set `FRESHET_SKIP_PYTHON=1` to skip where PyPI is out of
//! reach.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use bytes::Bytes;
use freshet_client::aggregation::{aggregate, deaggregate, DEFAULT_MAX_AGGREGATE_BYTES};
use freshet_client::{PutRecordsEntry, Record};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// `client/` of the checkout under test: cargo's `CARGO_MANIFEST_DIR` at run time (a
/// test binary may have been built by another checkout sharing the target directory).
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

fn venv_python() -> Option<PathBuf> {
    if std::env::var("FRESHET_SKIP_PYTHON").is_ok_and(|v| v == "1") {
        eprintln!("FRESHET_SKIP_PYTHON=1: skipping the Python interop test");
        return None;
    }
    let root = manifest_dir().join("..");
    let out = Command::new("bash")
        .arg(root.join("scripts/python-venv.sh"))
        .output()
        .expect("run scripts/python-venv.sh");
    assert!(
        out.status.success(),
        "python-venv.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let venv = String::from_utf8(out.stdout).unwrap().trim().to_string();
    Some(Path::new(&venv).join("bin/python"))
}

fn run_python(python: &Path, request: &Value) -> Value {
    let script = manifest_dir().join("tests/python/kpl_agg.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn entries() -> impl Strategy<Value = Vec<PutRecordsEntry>> {
    proptest::collection::vec(
        (
            "[a-zA-Z0-9é]{1,20}",
            proptest::option::of(any::<u128>()),
            proptest::collection::vec(any::<u8>(), 0..2000),
        )
            .prop_map(|(pk, ehk, data)| PutRecordsEntry {
                partition_key: pk,
                explicit_hash_key: ehk,
                data: Bytes::from(data),
            }),
        1..120,
    )
}

fn sample_batches(cases: u32) -> Vec<Vec<PutRecordsEntry>> {
    let mut runner = TestRunner::new(Config::default());
    let strategy = proptest::collection::vec(entries(), cases as usize);
    strategy.new_tree(&mut runner).unwrap().current()
}

#[test]
fn ours_deaggregate_in_python() {
    let Some(python) = venv_python() else { return };
    let batches = sample_batches(24);
    let mut request = Vec::new();
    for batch in &batches {
        let kinesis = aggregate(batch, DEFAULT_MAX_AGGREGATE_BYTES);
        let recs: Vec<Value> = kinesis
            .iter()
            .enumerate()
            .map(|(i, k)| {
                json!({
                    "pk": k.partition_key,
                    "ehk": k.explicit_hash_key.map(|h| h.to_string()),
                    "data": B64.encode(&k.data),
                    "seq": format!("{}", 1000 + i),
                })
            })
            .collect();
        request.push(Value::Array(recs));
    }
    let answer = run_python(&python, &json!({ "op": "deaggregate", "batches": request }));
    let got = answer["batches"].as_array().unwrap();
    assert_eq!(got.len(), batches.len());
    for (batch, theirs) in batches.iter().zip(got) {
        let theirs = theirs.as_array().unwrap();
        assert_eq!(theirs.len(), batch.len(), "user record count");
        for (e, t) in batch.iter().zip(theirs) {
            assert_eq!(t["pk"].as_str().unwrap(), e.partition_key);
            assert_eq!(B64.decode(t["data"].as_str().unwrap()).unwrap(), e.data);
        }
    }
}

#[test]
fn theirs_deaggregate_here() {
    let Some(python) = venv_python() else { return };
    let batches = sample_batches(24);
    let request: Vec<Value> = batches
        .iter()
        .map(|b| {
            Value::Array(
                b.iter()
                    .map(|e| {
                        json!({
                            "pk": e.partition_key,
                            "ehk": e.explicit_hash_key.map(|h| h.to_string()),
                            "data": B64.encode(&e.data),
                        })
                    })
                    .collect(),
            )
        })
        .collect();
    let answer = run_python(&python, &json!({ "op": "aggregate", "batches": request }));
    let got = answer["batches"].as_array().unwrap();
    for (batch, kinesis) in batches.iter().zip(got) {
        let mut users = Vec::new();
        for (i, k) in kinesis.as_array().unwrap().iter().enumerate() {
            let r = Record {
                sequence_number: i.to_string(),
                approximate_arrival_ms: None,
                partition_key: k["pk"].as_str().unwrap().to_string(),
                data: Bytes::from(B64.decode(k["data"].as_str().unwrap()).unwrap()),
            };
            let out = deaggregate(&r);
            for (sub, u) in out.iter().enumerate() {
                assert!(u.aggregated, "their records are always aggregates");
                assert_eq!(u.sub_sequence_number, sub as u64);
            }
            users.extend(out);
        }
        assert_eq!(users.len(), batch.len());
        for (u, e) in users.iter().zip(batch) {
            assert_eq!(u.partition_key, e.partition_key);
            assert_eq!(u.data, e.data);
            assert_eq!(u.explicit_hash_key, e.explicit_hash_key);
        }
    }
}

#[test]
fn golden_bytes_agree_with_python() {
    let Some(python) = venv_python() else { return };
    let answer = run_python(
        &python,
        &json!({"op": "aggregate", "batches": [[
            {"pk": "pk-a", "data": B64.encode("hello")},
            {"pk": "pk-b", "ehk": (1u128 << 127).to_string(), "data": B64.encode("world")},
            {"pk": "pk-a", "data": B64.encode("!!")},
        ]]}),
    );
    let theirs = B64
        .decode(answer["batches"][0][0]["data"].as_str().unwrap())
        .unwrap();
    let ours = aggregate(
        &[
            PutRecordsEntry::new("pk-a", "hello"),
            PutRecordsEntry::new("pk-b", "world").with_explicit_hash_key(1 << 127),
            PutRecordsEntry::new("pk-a", "!!"),
        ],
        DEFAULT_MAX_AGGREGATE_BYTES,
    );
    assert_eq!(ours.len(), 1);
    assert_eq!(&ours[0].data[..], &theirs[..]);
}
