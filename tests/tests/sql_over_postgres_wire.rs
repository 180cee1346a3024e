//! SQL over streams through PostgreSQL's wire protocol against a real `freshet serve`:
//! the DuckDB differential (boto3 puts, psycopg queries, DuckDB over the same NDJSON),
//! psql's simple protocol and its catalog queries, a push query over psycopg, and
//! `freshet sql` against the server and against a stopped server's data directory.

use std::net::TcpListener;
use std::process::Command;

use freshet_tests::{python, Server};

/// A free 127.0.0.1 port for `--sql-addr`.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("free port: {e}"))
}

/// Starts a server with SQL on a free port; returns it and the port.
pub fn start_sql_server(data: Option<&std::path::Path>) -> (Server, u16) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let args = ["--sql-addr", addr.as_str()];
    let server = match data {
        Some(d) => Server::start_in(d, &args),
        None => Server::start(&args),
    };
    server.wait_for_listener(port);
    (server, port)
}

fn psql(port: u16, sql: &str) -> (bool, String) {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "freshet",
            "-d",
            "freshet",
        ])
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .unwrap_or_else(|e| panic!("psql: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn duckdb_differential_psql_and_freshet_sql() {
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let data = work.path().join("data");
    let (mut server, port) = start_sql_server(Some(&data));
    let out = python::run_script(
        &server,
        "sql_differential.py",
        &[
            server.endpoint(),
            port.to_string(),
            work.path().join("ndjson").to_string_lossy().into_owned(),
        ],
        "passed, 0 failed",
    );
    eprintln!("{out}");

    // psql: simple protocol, a declared table, a parse error, its catalog queries.
    let (ok, text) = psql(
        port,
        "SELECT count(*) FROM customers_t WHERE tier IS NOT NULL",
    );
    assert!(ok && text.trim() == "65", "{text}");
    let (ok, text) = psql(
        port,
        "SELECT status, count(*) FROM orders_t WHERE id >= 0 GROUP BY status ORDER BY status",
    );
    assert!(ok && text.lines().count() == 4, "{text}");
    let (ok, text) = psql(port, "SELECT version()");
    assert!(ok && !text.trim().is_empty(), "{text}");
    let (ok, text) = psql(port, "SELEC 1");
    assert!(!ok && text.contains("SELEC"), "{text}");
    let (ok, text) = psql(port, "\\dt");
    assert!(ok && text.contains("orders"), "psql \\dt: {text}");

    // `freshet sql` against the server.
    let bin = freshet_tests::server::binary();
    let out = Command::new(&bin)
        .args([
            "sql",
            "--sql-endpoint",
            &format!("127.0.0.1:{port}"),
            "--format",
            "csv",
        ])
        .arg("SELECT tier, count(*) AS n FROM customers_t GROUP BY tier ORDER BY tier")
        .output()
        .unwrap_or_else(|e| panic!("freshet sql: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.starts_with("tier,n\n"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.lines().count(), 4, "{text}");

    // `--format table` (the default): a header, a rule, the rows padded, a count.
    for args in [&["--format", "table"][..], &[][..]] {
        let out = Command::new(&bin)
            .args(["sql", "--sql-endpoint", &format!("127.0.0.1:{port}")])
            .args(args)
            .arg("SELECT tier, count(*) AS n FROM customers_t GROUP BY tier ORDER BY tier")
            .output()
            .unwrap_or_else(|e| panic!("freshet sql: {e}"));
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert!(out.status.success() && lines.len() == 6, "{text}");
        let bar = lines[0]
            .find(" | ")
            .unwrap_or_else(|| panic!("no column bar: {text}"));
        assert!(
            lines[0].starts_with("tier") && lines[0].ends_with(" | n"),
            "{text}"
        );
        assert!(lines[1].chars().all(|c| c == '-' || c == '+'), "{text}");
        assert_eq!(lines[1].find("-+-"), Some(bar), "{text}");
        for row in &lines[2..5] {
            assert_eq!(row.find(" | "), Some(bar), "rows line up: {text}");
        }
        assert_eq!(lines[5], "(3 rows)", "{text}");
    }

    // `--data-dir` is refused while the server holds it, then works once it stopped.
    let embedded = |format: &str| {
        Command::new(&bin)
            .args(["sql", "--data-dir"])
            .arg(&data)
            .args(["--format", format, "SELECT count(*) AS n FROM customers_t"])
            .output()
            .unwrap_or_else(|e| panic!("freshet sql: {e}"))
    };
    let out = embedded("json");
    assert!(!out.status.success(), "a held data directory was opened");
    assert!(server.stop(), "{}", server.log());
    let out = embedded("json");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.trim() == r#"{"n":"65"}"#,
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = embedded("table");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text,
        "n\n--\n65\n(1 rows)\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn push_query_streams_windows_over_psycopg() {
    let (server, port) = start_sql_server(None);
    let out = python::run_script(
        &server,
        "sql_continuous.py",
        &["push".to_string(), server.endpoint(), port.to_string()],
        "passed, 0 failed",
    );
    eprintln!("{out}");
}
