//! Firehose's Redshift destination on a real PostgreSQL (initdb and pg_ctl on a
//! loopback port), driven by boto3: a DirectPut delivery stream loads the table with
//! COPY while the Freshet server is killed (kill -9) at random moments and PostgreSQL is
//! restarted mid-load; then every acknowledged record is in the table exactly once (the
//! delivered position commits in the same transaction as the rows). Rows the table
//! refuses (NOT NULL, type mismatch) go to the error output with the database's
//! message while the rest of their batch is delivered.

use std::process::Command;
use std::time::Duration;

use freshet_tests::postgres::{Postgres, PASSWORD, USER};
use freshet_tests::{python, Server};
use rand::Rng;

#[test]
fn every_acknowledged_record_is_in_the_table_exactly_once_across_kill_9() {
    let pg = Postgres::start();
    pg.psql("create table events (id text not null, n bigint, note text)");
    pg.psql("create table typed (id bigint not null, amount numeric, label text)");
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let data = work.path().join("data");
    let acked = work.path().join("acked");
    let py = python::venv().join("bin").join("python");
    let script = python::scripts_dir().join("firehose_postgres.py");
    let jdbc = pg.jdbc_url();
    let mut rng = rand::thread_rng();
    let acked_len = || std::fs::metadata(&acked).map_or(0, |m| m.len());
    for round in 0..3 {
        let mut server = Server::start_in(&data, &[]);
        let before = acked_len();
        let mut putter = Command::new(&py)
            .arg(&script)
            .args(["put", &server.endpoint()])
            .arg(&acked)
            .args([&jdbc, USER, PASSWORD, "10"])
            .spawn()
            .unwrap_or_else(|e| panic!("python: {e}"));
        // The kill comes while records flow: after the putter's first acknowledgement of
        // this round (its start, boto3's import and CreateDeliveryStream, can take
        // seconds on a loaded machine), at most a minute.
        let started = std::time::Instant::now();
        while acked_len() == before && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(800..2000)));
        if round == 1 {
            // PostgreSQL goes away under load and comes back.
            pg.restart();
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(300..1500)));
        server.kill();
        let status = putter.wait().unwrap_or_else(|e| panic!("python: {e}"));
        assert!(status.success(), "round {round}: the putter failed");
    }
    let server = Server::start_in(&data, &[]);
    let out = python::run_script(
        &server,
        "firehose_postgres.py",
        &[
            "verify".to_string(),
            server.endpoint(),
            acked.to_string_lossy().into_owned(),
            pg.url(freshet_tests::postgres::DATABASE),
        ],
        "passed, 0 failed",
    );
    eprintln!("{out}");
    let buckets = server.data_dir.join("buckets");
    let out = python::run_script(
        &server,
        "firehose_postgres.py",
        &[
            "errors".to_string(),
            server.endpoint(),
            buckets.to_string_lossy().into_owned(),
            jdbc,
            USER.to_string(),
            PASSWORD.to_string(),
            pg.url(freshet_tests::postgres::DATABASE),
        ],
        "passed, 0 failed",
    );
    eprintln!("{out}");
}
