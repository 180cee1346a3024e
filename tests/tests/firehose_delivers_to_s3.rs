//! Firehose delivers to a real S3 API: `freshet serve --s3-endpoint` pointing at moto's
//! S3 server. boto3 creates the buckets, DirectPut delivery streams (uncompressed and
//! GZIP) and puts records, then reads the objects back with its S3 client: every
//! record in exactly one object, keys in Firehose's format. Then S3 goes down: puts are
//! still acknowledged, uploads fail and are retried (upload failures and data
//! freshness in /metrics); S3 comes back (empty, as moto keeps everything in memory)
//! and every record put during the outage arrives exactly once.

use std::time::{Duration, Instant};

use freshet_tests::moto::Moto;
use freshet_tests::{python, Server};

#[test]
fn firehose_delivers_to_s3_exactly_once_through_an_outage() {
    let started = Instant::now();
    let mut moto = Moto::start();
    let url = moto.url();
    let server = Server::start(&[
        "--s3-endpoint",
        &url,
        "--s3-region",
        "us-east-1",
        "--s3-access-key-id",
        "AKIDEXAMPLE",
        "--s3-secret-access-key",
        "secret",
    ]);
    let local = server.data_dir.join("buckets");
    let args = |phase: &str| {
        vec![
            phase.to_string(),
            server.endpoint(),
            url.clone(),
            local.to_string_lossy().into_owned(),
        ]
    };
    let run = |phase: &str, moto: &Moto| {
        let out = std::panic::catch_unwind(|| {
            python::run_script(&server, "firehose_s3.py", &args(phase), "passed, 0 failed")
        });
        match out {
            Ok(out) => println!("{phase}: {}", out.trim()),
            Err(e) => {
                let tail: String = {
                    let log = moto.log();
                    let lines: Vec<&str> = log.lines().collect();
                    lines[lines.len().saturating_sub(40)..].join("\n")
                };
                eprintln!("moto's log (tail):\n{tail}");
                std::panic::resume_unwind(e);
            }
        }
    };

    run("deliver", &moto);
    moto.stop();
    run("outage", &moto);
    moto.restart();
    assert_eq!(moto.url(), url, "moto is back on the same port");
    run("recover", &moto);

    let took = started.elapsed();
    println!("firehose_delivers_to_s3: {took:?}");
    assert!(took < Duration::from_secs(240), "took {took:?}");
}
