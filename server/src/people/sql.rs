//! `freshet sql "SELECT ..."`: runs SQL over streams against a running server (its
//! PostgreSQL port, through tokio-postgres) or an embedded data directory
//! (`--data-dir`, the engine opened here), and prints a table, CSV or JSON. Also the
//! server's SQL flags and listener (`--sql-addr`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use freshet_storage::Engine;

use super::{Failure, Outcome};

/// Where `freshet serve` listens for PostgreSQL clients unless `--sql-addr` says.
pub const DEFAULT_SQL_ADDR: &str = "127.0.0.1:5433";

/// `freshet serve`'s SQL flags.
#[derive(Debug, Clone, Args)]
pub struct SqlServeArgs {
    /// Listen for PostgreSQL clients (psql, psycopg, DBeaver, Grafana) on this address
    /// [default: 127.0.0.1:5433; when that default is taken, SQL is off with a
    /// warning].
    #[arg(long = "sql-addr", env = "FRESHET_SQL_ADDR", value_name = "ADDR")]
    pub sql_addr: Option<SocketAddr>,
    /// Serve SQL over streams (`--sql false`: no PostgreSQL listener, no SQL jobs).
    #[arg(long = "sql", env = "FRESHET_SQL", default_value_t = true, action = clap::ArgAction::Set)]
    pub sql: bool,
    /// Records a bounded query may scan unless its session sets
    /// `SET freshet.scan_limit = N` (0: no limit).
    #[arg(long = "sql-scan-limit", env = "FRESHET_SQL_SCAN_LIMIT", default_value_t = freshet_sql::DEFAULT_SCAN_LIMIT)]
    pub sql_scan_limit: u64,
}

/// Starts the SQL service and its PostgreSQL listener; it stops when the returned
/// sender is dropped.
pub async fn start_listener(
    args: &SqlServeArgs,
    engine: &Engine,
) -> Result<Option<tokio::sync::oneshot::Sender<()>>, String> {
    if !args.sql {
        return Ok(None);
    }
    let (addr, explicit) = match args.sql_addr {
        Some(a) => (a, true),
        None => (
            DEFAULT_SQL_ADDR
                .parse::<SocketAddr>()
                .map_err(|e| e.to_string())?,
            false,
        ),
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) if !explicit => {
            tracing::warn!(%addr, error = %e, "SQL over streams is off: its default address is taken (set --sql-addr)");
            return Ok(None);
        }
        Err(e) => return Err(format!("cannot listen for SQL on {addr}: {e}")),
    };
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let config = freshet_sql::SqlConfig {
        scan_limit: args.sql_scan_limit,
    };
    let svc = freshet_sql::SqlService::open(engine.clone(), config)
        .map_err(|e| format!("cannot start SQL over streams: {e}"))?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(freshet_sql::pgwire::serve(svc, listener, async move {
        let _ = rx.await;
    }));
    tracing::info!(addr = %local, "freshet sql listening");
    println!("freshet sql listening on postgres://{local}");
    Ok(Some(tx))
}

/// How `freshet sql` prints rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SqlFormat {
    /// Aligned columns.
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON object a row.
    Json,
}

/// `freshet sql`.
#[derive(Debug, Clone, Args)]
pub struct SqlArgs {
    /// The statement(s) to run.
    pub query: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
    pub format: SqlFormat,
    /// The server's PostgreSQL address.
    #[arg(long = "sql-endpoint", env = "FRESHET_SQL_ADDR", default_value = DEFAULT_SQL_ADDR)]
    pub sql_endpoint: String,
    /// Query a data directory directly instead of a server (refused while a server
    /// holds it).
    #[arg(long = "data-dir")]
    pub data_dir: Option<PathBuf>,
}

/// Help after `freshet sql --help`.
pub const SQL_HELP: &str =
    "Examples:\n  freshet sql 'SELECT partition_key, count(*) FROM \"orders\" GROUP BY 1'\n  \
freshet sql --format csv 'SELECT * FROM discover_schema('\\''orders'\\'')'\n  \
freshet sql --data-dir ./data 'SELECT count(*) FROM orders'";

struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
    tag: String,
}

/// Runs `freshet sql`.
pub async fn run(args: SqlArgs) -> Outcome {
    let tables = match &args.data_dir {
        Some(dir) => embedded(dir, &args.query).await?,
        None => remote(&args.sql_endpoint, &args.query).await?,
    };
    let mut out = String::new();
    for t in &tables {
        print_table(t, args.format, &mut out);
    }
    super::output::write_stdout(out.as_bytes())
}

async fn embedded(dir: &std::path::Path, query: &str) -> Result<Vec<Table>, Failure> {
    let cfg = freshet_storage::EngineConfig::new(dir);
    let engine = tokio::task::spawn_blocking(move || Engine::open(cfg))
        .await
        .map_err(|e| Failure::failed(e.to_string()))?
        .map_err(|e| {
            let m = e.to_string();
            if m.to_lowercase().contains("lock") {
                Failure::failed(format!(
                    "{}: a running server holds this data directory ({m}); query it with --sql-endpoint instead",
                    dir.display()
                ))
            } else {
                Failure::failed(format!("cannot open {}: {m}", dir.display()))
            }
        })?;
    let config = freshet_sql::SqlConfig::default();
    let result = async {
        let svc = freshet_sql::SqlService::open(engine.clone(), config)
            .map_err(|e| Failure::failed(e.to_string()))?;
        let r = svc
            .execute_text(query, None)
            .await
            .map_err(|e| Failure::failed(format!("ERROR: {e}")))?;
        Ok::<_, Failure>(vec![Table {
            columns: r.columns,
            rows: r.rows,
            tag: r.tag,
        }])
    }
    .await;
    let _ = tokio::task::spawn_blocking(move || engine.shutdown()).await;
    result
}

async fn remote(endpoint: &str, query: &str) -> Result<Vec<Table>, Failure> {
    let (host, port) = endpoint.rsplit_once(':').ok_or_else(|| {
        Failure::usage(format!("--sql-endpoint must be HOST:PORT, not {endpoint}"))
    })?;
    let conn = format!("host={host} port={port} user=freshet dbname=freshet");
    let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
        .await
        .map_err(|e| Failure::unreachable(format!("cannot reach SQL at {endpoint}: {e}")))?;
    tokio::spawn(connection);
    let msgs = client.simple_query(query).await.map_err(|e| {
        let m = e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_else(|| e.to_string());
        Failure::failed(format!("ERROR: {m}"))
    })?;
    let mut tables = Vec::new();
    let mut cur = Table {
        columns: Vec::new(),
        rows: Vec::new(),
        tag: String::new(),
    };
    for m in msgs {
        match m {
            tokio_postgres::SimpleQueryMessage::RowDescription(cols) => {
                cur.columns = cols.iter().map(|c| c.name().to_string()).collect();
            }
            tokio_postgres::SimpleQueryMessage::Row(row) => {
                if cur.columns.is_empty() {
                    cur.columns = row.columns().iter().map(|c| c.name().to_string()).collect();
                }
                cur.rows.push(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                );
            }
            tokio_postgres::SimpleQueryMessage::CommandComplete(n) => {
                cur.tag = if cur.columns.is_empty() {
                    "OK".to_string()
                } else {
                    format!("SELECT {n}")
                };
                tables.push(std::mem::replace(
                    &mut cur,
                    Table {
                        columns: Vec::new(),
                        rows: Vec::new(),
                        tag: String::new(),
                    },
                ));
            }
            _ => {}
        }
    }
    Ok(tables)
}

fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

fn print_table(t: &Table, format: SqlFormat, out: &mut String) {
    if t.columns.is_empty() {
        out.push_str(&t.tag);
        out.push('\n');
        return;
    }
    match format {
        SqlFormat::Csv => {
            let head: Vec<String> = t.columns.iter().map(|c| csv_field(c)).collect();
            out.push_str(&head.join(","));
            out.push('\n');
            for r in &t.rows {
                let line: Vec<String> = r
                    .iter()
                    .map(|v| v.as_deref().map(csv_field).unwrap_or_default())
                    .collect();
                out.push_str(&line.join(","));
                out.push('\n');
            }
        }
        SqlFormat::Json => {
            for r in &t.rows {
                let obj: serde_json::Map<String, serde_json::Value> = t
                    .columns
                    .iter()
                    .zip(r)
                    .map(|(c, v)| {
                        (
                            c.clone(),
                            v.clone()
                                .map_or(serde_json::Value::Null, serde_json::Value::String),
                        )
                    })
                    .collect();
                out.push_str(&serde_json::Value::Object(obj).to_string());
                out.push('\n');
            }
        }
        SqlFormat::Table => {
            let mut widths: Vec<usize> = t.columns.iter().map(|c| c.chars().count()).collect();
            for r in &t.rows {
                for (w, v) in widths.iter_mut().zip(r) {
                    *w = (*w).max(v.as_deref().unwrap_or("NULL").chars().count());
                }
            }
            let line = |cells: Vec<&str>, out: &mut String| {
                let padded: Vec<String> = cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                out.push_str(padded.join(" | ").trim_end());
                out.push('\n');
            };
            line(t.columns.iter().map(String::as_str).collect(), out);
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&rule.join("-+-"));
            out.push('\n');
            for r in &t.rows {
                line(
                    r.iter().map(|v| v.as_deref().unwrap_or("NULL")).collect(),
                    out,
                );
            }
            out.push_str(&format!("({} rows)\n", t.rows.len()));
        }
    }
}
