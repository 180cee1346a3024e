//! `freshet serve --recovery strict` refuses to start on a data directory whose active
//! segment has a torn tail, names the file, and changes no byte; the default mode then
//! cuts the tail and serves every acknowledged record.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use freshet_tests::{call_json, server::binary, Server};
use serde_json::json;

fn segment_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        if path.is_dir() {
            segment_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "log") {
            out.push(path);
        }
    }
}

fn image(files: &[PathBuf]) -> BTreeMap<PathBuf, Vec<u8>> {
    files
        .iter()
        .map(|p| {
            (
                p.clone(),
                std::fs::read(p).unwrap_or_else(|e| panic!("{e}")),
            )
        })
        .collect()
}

#[test]
fn strict_recovery_refuses_a_torn_tail_and_the_default_repairs_it() {
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = temp.path().join("data");
    let mut server = Server::start_in(&dir, &[]);
    let create = call_json(
        server.addr,
        "CreateStream",
        &json!({"StreamName": "s", "ShardCount": 1}),
    );
    assert_eq!(create.status, 200);
    let records: Vec<_> = (0..20)
        .map(|i| json!({"Data": base64::engine::general_purpose::STANDARD.encode(format!("r{i}")), "PartitionKey": "k"}))
        .collect();
    let put = call_json(
        server.addr,
        "PutRecords",
        &json!({"StreamName": "s", "Records": records}),
    );
    assert_eq!(put.json()["FailedRecordCount"], 0);
    // No clean shutdown: recovery must walk the log.
    server.kill();

    // A torn write after the last acknowledged frame of the active segment.
    let mut segments = Vec::new();
    segment_files(&dir.join("streams"), &mut segments);
    let [segment] = segments.as_slice() else {
        panic!("one segment expected, found {segments:?}")
    };
    let mut bytes = std::fs::read(segment).unwrap_or_else(|e| panic!("{e}"));
    let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    let torn = end + 8;
    assert!(
        torn + 24 <= bytes.len(),
        "the segment is preallocated past its data"
    );
    for b in bytes.iter_mut().skip(torn).take(24) {
        *b = 0xA5;
    }
    std::fs::write(segment, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let before = image(&segments);

    let strict = Command::new(binary())
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--recovery",
            "strict",
            "--data-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&strict.stderr);
    assert!(
        !strict.status.success(),
        "strict recovery started on a torn tail"
    );
    let name = segment
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    assert!(
        stderr.contains(&name),
        "the error names the segment: {stderr}"
    );
    assert_eq!(image(&segments), before, "strict recovery changed a file");

    let server = Server::start_in(&dir, &[]);
    let it = call_json(
        server.addr,
        "GetShardIterator",
        &json!({"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON"}),
    )
    .json()["ShardIterator"]
        .clone();
    let got = call_json(server.addr, "GetRecords", &json!({"ShardIterator": it})).json();
    assert_eq!(got["Records"].as_array().map(Vec::len), Some(20), "{got}");
}
