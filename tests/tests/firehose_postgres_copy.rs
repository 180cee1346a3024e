//! The Redshift destination's PostgreSQL sink against a real PostgreSQL: rows the table
//! refuses are left out and reported with the database's message while the rest load;
//! rows and the delivery stream's position commit together or not at all; a restarted
//! server is a transient error and delivery resumes after reconnecting; and the rate of
//! a 200,000-record batch (printed).

use std::time::{Duration, Instant};

use bytes::Bytes;
use freshet_firehose::postgres::{failed_line, PgError, PgSink, PgTarget, Refused};
use freshet_tests::postgres::Postgres;

fn target(pg: &Postgres, table: &str, copy_options: &str) -> PgTarget {
    PgTarget::from_config(&pg.redshift_destination(table, copy_options))
        .unwrap_or_else(|e| panic!("config: {e}"))
}

fn records(items: &[&str]) -> Vec<Bytes> {
    items
        .iter()
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect()
}

fn codes(refused: &[Refused]) -> Vec<(usize, &str)> {
    refused
        .iter()
        .map(|r| (r.index, r.sqlstate.as_str()))
        .collect()
}

/// Connects, retrying transient failures for up to a minute.
async fn connect(t: &PgTarget) -> PgSink {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match PgSink::connect(t).await {
            Ok(sink) => return sink,
            Err(PgError::Transient(e)) if Instant::now() < deadline => {
                eprintln!("reconnecting: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("cannot connect to {}: {e:?}", t.describe()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_rows_are_left_out_and_the_rest_commit_with_the_position() {
    let pg = Postgres::start();
    let table = "CREATE TABLE {t} (id int NOT NULL UNIQUE, name text NOT NULL, \
                 score numeric CHECK (score >= 0), seen timestamptz, tags jsonb)";
    pg.psql(&table.replace("{t}", "events"));
    let t = target(&pg, "events", "JSON 'auto'");
    let mut sink = connect(&t).await;
    assert_eq!(sink.position("s1").await.unwrap(), None);
    let batch = records(&[
        r#"{"id": 1, "name": "one", "score": 1.5, "seen": "2024-01-02T03:04:05Z", "tags": {"a": [1, "x"]}}"#,
        r#"{"id": "abc", "name": "type mismatch"}"#,
        r#"{"id": 2}"#,
        r#"{"id": 3, "name": "negative", "score": -1}"#,
        r#"{"id": 1, "name": "duplicate"}"#,
        r#"{"id": 4, "name": "four", "extra": true, "score": null}"#,
        "not json",
        r#"{"id": 5, "name": "bad time", "seen": "yesterday-ish"}"#,
        r#"{"id": 6, "name": "tab\tnewline\nback\\slash"}"#,
        r#"[7, "an array"]"#,
    ]);
    let refused = sink.deliver("s1", &batch, b"position-1").await.unwrap();
    assert_eq!(
        codes(&refused),
        vec![
            (1, "22P02"),
            (2, "23502"),
            (3, "23514"),
            (4, "23505"),
            (6, "22P02"),
            (7, "22007"),
            (9, "22P04"),
        ],
        "{refused:#?}"
    );
    let message = |i: usize| {
        refused
            .iter()
            .find(|r| r.index == i)
            .unwrap()
            .message
            .clone()
    };
    assert!(
        message(1).contains("invalid input syntax for type integer: \"abc\"")
            && message(1).contains("column id"),
        "{}",
        message(1)
    );
    assert!(
        message(2).contains("null value in column \"name\""),
        "{}",
        message(2)
    );
    assert!(
        message(3).contains("violates check constraint"),
        "{}",
        message(3)
    );
    assert!(
        message(4).contains("duplicate key value")
            && message(4).contains("Key (id)=(1) already exists"),
        "{}",
        message(4)
    );
    assert!(message(7).contains("column seen"), "{}", message(7));
    assert_eq!(
        pg.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM events"),
        "1,4,6"
    );
    assert_eq!(
        pg.psql(
            "SELECT score, seen = '2024-01-02T03:04:05Z', tags->'a'->>1, name FROM events WHERE id = 1"
        ),
        "1.5|t|x|one"
    );
    assert_eq!(
        pg.psql("SELECT name = E'tab\\tnewline\\nback\\\\slash' FROM events WHERE id = 6"),
        "t"
    );
    assert_eq!(
        sink.position("s1").await.unwrap(),
        Some(b"position-1".to_vec())
    );
    assert_eq!(sink.position("another").await.unwrap(), None);

    // The error output line carries the record and the database's message.
    let line = failed_line(
        &batch[2],
        &refused[1],
        1,
        1_700_000_000_000,
        1_700_000_001_000,
    );
    let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(
        v["errorMessage"].as_str(),
        Some(refused[1].message.as_str())
    );
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v["rawData"].as_str().unwrap())
        .unwrap();
    assert_eq!(raw, &batch[2][..]);

    // The same batch into the same kind of table refuses the same records.
    pg.psql(&table.replace("{t}", "events_again"));
    let mut again = connect(&target(&pg, "events_again", "JSON 'auto'")).await;
    let refused_again = again.deliver("s2", &batch, b"p").await.unwrap();
    assert_eq!(codes(&refused_again), codes(&refused));
    // A second batch moves the position on.
    let refused = sink
        .deliver(
            "s1",
            &records(&[r#"{"id": 8, "name": "eight"}"#]),
            b"position-2",
        )
        .await
        .unwrap();
    assert!(refused.is_empty());
    assert_eq!(
        sink.position("s1").await.unwrap(),
        Some(b"position-2".to_vec())
    );
    assert_eq!(pg.psql("SELECT count(*) FROM events"), "4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_records_refuse_whole_records_and_unlocated_errors_are_bisected() {
    let pg = Postgres::start();
    pg.psql("CREATE TABLE lines (id int, label text)");
    // CSV: a record holds several lines; a bad line refuses its whole record.
    let mut sink = connect(&target(&pg, "lines", "CSV")).await;
    let batch = records(&[
        "1,a\n2,b\n",
        "3,c\nx,d\n",
        "4,\"q,uoted\"\n",
        "5,e,extra\n",
        "6,\"open\n",
    ]);
    let refused = sink.deliver("csv", &batch, b"1").await.unwrap();
    assert_eq!(
        codes(&refused),
        vec![(1, "22P02"), (3, "22P04"), (4, "22P04")],
        "{refused:#?}"
    );
    assert_eq!(
        pg.psql("SELECT string_agg(id || ':' || label, ' ' ORDER BY id) FROM lines"),
        "1:a 2:b 4:q,uoted"
    );

    // A deferrable unique constraint is checked at the end of the COPY, with no line
    // in the error: the refused record is found by bisection.
    pg.psql("CREATE TABLE uniq (id int UNIQUE DEFERRABLE INITIALLY DEFERRED, label text)");
    pg.psql("INSERT INTO uniq VALUES (10, 'before')");
    let mut sink = connect(&target(&pg, "uniq", "DELIMITER '|'")).await;
    let batch = records(&[
        "1|a",
        "10|dup of existing",
        "2|b",
        "3|c",
        "2|dup in batch",
        "4|d",
    ]);
    let refused = sink.deliver("uniq", &batch, b"1").await.unwrap();
    assert_eq!(
        codes(&refused),
        vec![(1, "23505"), (4, "23505")],
        "{refused:#?}"
    );
    assert_eq!(
        pg.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM uniq"),
        "1,2,3,4,10"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_transaction_leaves_neither_rows_nor_position() {
    let pg = Postgres::start();
    pg.psql("CREATE TABLE t (id int)");
    let t = target(&pg, "t", "JSON 'auto'");
    let mut sink = connect(&t).await;
    assert_eq!(sink.position("s").await.unwrap(), None);
    // The position cannot be written: the rows loaded before it are rolled back too.
    pg.psql(
        "CREATE FUNCTION no_checkpoint() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'checkpoint refused'; END $$; \
         CREATE TRIGGER no_checkpoint BEFORE INSERT OR UPDATE ON freshet_firehose_checkpoints \
         FOR EACH ROW EXECUTE FUNCTION no_checkpoint()",
    );
    let batch = records(&[r#"{"id": 1}"#, r#"{"id": 2}"#]);
    match sink.deliver("s", &batch, b"p1").await {
        Err(PgError::Permanent(m)) => assert!(m.contains("checkpoint refused"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(pg.psql("SELECT count(*) FROM t"), "0");
    assert!(!sink.is_closed());
    assert_eq!(sink.position("s").await.unwrap(), None);
    pg.psql("DROP TRIGGER no_checkpoint ON freshet_firehose_checkpoints");
    assert!(sink.deliver("s", &batch, b"p1").await.unwrap().is_empty());
    assert_eq!(pg.psql("SELECT count(*) FROM t"), "2");
    assert_eq!(sink.position("s").await.unwrap(), Some(b"p1".to_vec()));

    // A delivery dropped half-way (a timeout) leaves the sink closed, and nothing of
    // its batch is committed.
    let big: Vec<Bytes> = (0..100_000)
        .map(|i| Bytes::from(format!(r#"{{"id": {i}}}"#)))
        .collect();
    let cut = tokio::time::timeout(Duration::from_millis(20), sink.deliver("s", &big, b"p2")).await;
    assert!(cut.is_err(), "the delivery finished within 20 ms");
    assert!(sink.is_closed());
    assert!(matches!(
        sink.deliver("s", &batch, b"p2").await,
        Err(PgError::Transient(_))
    ));
    drop(sink);
    let mut sink = connect(&t).await;
    assert_eq!(sink.position("s").await.unwrap(), Some(b"p1".to_vec()));
    assert_eq!(pg.psql("SELECT count(*) FROM t"), "2");

    // Configuration mistakes are permanent; an unreachable server is transient.
    let mut missing = connect(&target(&pg, "no_such_table", "JSON 'auto'")).await;
    match missing.deliver("s", &batch, b"p").await {
        Err(PgError::Permanent(m)) => assert!(m.contains("does not exist"), "{m}"),
        other => panic!("{other:?}"),
    }
    let mut bad_password = pg.redshift_destination("t", "");
    bad_password["Password"] = "wrong-password".into();
    match PgSink::connect(&PgTarget::from_config(&bad_password).unwrap()).await {
        Err(PgError::Permanent(m)) => assert!(m.contains("28P01"), "{m}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    let mut unreachable = pg.redshift_destination("t", "");
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    unreachable["ClusterJDBCURL"] =
        format!("jdbc:postgresql://127.0.0.1:{closed_port}/freshet").into();
    match PgSink::connect(&PgTarget::from_config(&unreachable).unwrap()).await {
        Err(PgError::Transient(_)) => {}
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_is_transient_and_delivery_resumes_exactly_once() {
    let pg = Postgres::start();
    pg.psql("CREATE TABLE t (id int PRIMARY KEY, payload text)");
    let t = target(&pg, "t", "JSON 'auto'");
    let batch = |from: usize, n: usize| -> Vec<Bytes> {
        (from..from + n)
            .map(|i| {
                Bytes::from(format!(
                    r#"{{"id": {i}, "payload": "record {i} {}"}}"#,
                    "x".repeat(40)
                ))
            })
            .collect()
    };
    let mut sink = connect(&t).await;
    assert!(sink
        .deliver("s", &batch(0, 1000), b"1000")
        .await
        .unwrap()
        .is_empty());

    pg.restart();
    match sink.deliver("s", &batch(1000, 1000), b"2000").await {
        Err(PgError::Transient(_)) => {}
        other => panic!("expected a transient error, got {other:?}"),
    }
    assert!(sink.is_closed());
    let mut sink = connect(&t).await;
    assert_eq!(sink.position("s").await.unwrap(), Some(b"1000".to_vec()));
    assert!(sink
        .deliver("s", &batch(1000, 1000), b"2000")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(pg.psql("SELECT count(*) FROM t"), "2000");

    // The server stops in the middle of a large delivery: after it is back, the
    // position says whether the batch committed, and the table agrees.
    let big = batch(2000, 200_000);
    let task = {
        let big = big.clone();
        tokio::spawn(async move { sink.deliver("s", &big, b"202000").await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    pg.stop();
    let outcome = task.await.unwrap();
    pg.start_again();
    let mut sink = connect(&t).await;
    let position = sink.position("s").await.unwrap();
    let count = pg.psql("SELECT count(*) FROM t");
    eprintln!(
        "delivery cut by the stop: {:?}; position {:?}; {count} rows",
        outcome.as_ref().map(|r| r.len()),
        position.as_deref().map(String::from_utf8_lossy)
    );
    match position.as_deref() {
        Some(b"2000") => {
            assert!(outcome.is_err(), "{outcome:?}");
            assert_eq!(count, "2000");
            // Resume from the position: the batch again.
            assert!(sink.deliver("s", &big, b"202000").await.unwrap().is_empty());
        }
        Some(b"202000") => assert_eq!(count, "202000"),
        other => panic!("position {other:?}"),
    }
    assert_eq!(
        pg.psql("SELECT count(*), count(DISTINCT id), max(id) FROM t"),
        "202000|202000|201999"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_of_200k_json_records() {
    let pg = Postgres::start();
    pg.psql("CREATE TABLE rate (id bigint, name text, value double precision, tag text, ts timestamptz)");
    let t = target(&pg, "rate", "JSON 'auto'");
    let mut sink = connect(&t).await;
    let n = 200_000;
    let batch: Vec<Bytes> = (0..n)
        .map(|i| {
            Bytes::from(format!(
                r#"{{"id":{i},"name":"name-{i:08}","value":{}.25,"tag":"t{}","ts":"2024-05-06T07:08:09Z"}}"#,
                i * 7,
                i % 100
            ))
        })
        .collect();
    let bytes: usize = batch.iter().map(Bytes::len).sum();
    // Warm the connection (columns, checkpoint table) with a small batch.
    sink.deliver("rate", &batch[..10], b"warm").await.unwrap();
    let started = Instant::now();
    let refused = sink.deliver("rate", &batch, b"all").await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert!(refused.is_empty());
    assert_eq!(pg.psql("SELECT count(*) FROM rate"), (n + 10).to_string());
    println!(
        "PgSink::deliver: {n} JSON records of {} bytes on average in {secs:.3} s: {:.0} records/s, {:.1} MiB/s ({} build)",
        bytes / n,
        n as f64 / secs,
        bytes as f64 / secs / (1024.0 * 1024.0),
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
}
