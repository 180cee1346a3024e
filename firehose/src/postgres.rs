//! The Redshift destination on any PostgreSQL-protocol database: COPY, exactly once.
//!
//! AWS loads a Redshift destination by writing each buffer to S3 and running Redshift's
//! `COPY … FROM 's3://…'`. Freshet streams the records straight into the database with
//! `COPY … FROM STDIN` over the PostgreSQL protocol (so PostgreSQL itself, or anything
//! that speaks it, can be the "cluster"), and makes delivery exactly once by committing
//! the rows and the delivery stream's position in the same transaction:
//!
//! - [`PgTarget`] is the parsed `RedshiftDestinationConfiguration` (`ClusterJDBCURL`,
//!   `Username`, `Password`, `CopyCommand`, `RetryOptions`);
//! - [`PgSink`] is one connection: [`PgSink::position`] reads the position last
//!   committed for a delivery stream (from the table [`CHECKPOINT_TABLE`], created on
//!   first use), [`PgSink::deliver`] loads a batch and sets the position, all or
//!   nothing. After a failure the caller reconnects, reads the position, and delivers
//!   again whatever comes after it: rows and position commit together, so no record is
//!   lost or loaded twice even when the connection broke during the commit;
//! - rows the table refuses (a type mismatch, a NOT NULL or CHECK or UNIQUE violation…)
//!   are isolated and left out, the rest loaded; the refused come back as [`Refused`],
//!   for the error output ([`failed_line`]). The isolation is deterministic: the same
//!   batch against the same table refuses the same records.
//!
//! How records become rows follows the `CopyCommand`:
//!
//! - `JSON 'auto'`: each record is a JSON object; each column takes the member of the
//!   same name (exactly, as Redshift matches its lower-case column names), `JSON 'auto
//!   ignorecase'` whatever the case. A missing or `null` member loads NULL, a string its
//!   text, a number or boolean its JSON text, an object or array its JSON text;
//! - `CSV` (with `QUOTE`, `DELIMITER`) or delimited text (`DELIMITER`, default `|`, with
//!   `ESCAPE`, `REMOVEQUOTES`): each line of a record is a row (a record may hold
//!   several); a final line needs no newline. An empty field of a non-character column
//!   loads NULL, as does a field equal to `NULL AS` (`\N` by default);
//! - no `CopyOptions` at all (Freshet's default): a record that is a JSON object is read
//!   as by `JSON 'auto ignorecase'`, any other as `|`-delimited text (Redshift's default
//!   format);
//! - `EMPTYASNULL`, `BLANKSASNULL`, `TRIMBLANKS`, `TRUNCATECOLUMNS`, `FILLRECORD`,
//!   `IGNOREBLANKLINES`, `ACCEPTINVCHARS`, `EXPLICIT_IDS` act as in Redshift; `GZIP` and
//!   the other compressions, `MANIFEST`, `REGION`, `MAXERROR`, `COMPUPDATE`,
//!   `STATUPDATE`, `ROUNDEC`, `ACCEPTANYDATE` and `DATEFORMAT`/`TIMEFORMAT 'auto'` are
//!   accepted and have nothing to do; the rest is refused when the destination is
//!   configured.
//!
//! The columns are `DataTableColumns` or, when absent, the table's columns in order
//! (read once per connection) less generated columns and, unless `EXPLICIT_IDS`,
//! identity and `serial` columns (Redshift leaves IDENTITY columns out the same way).
//!
//! Records go to the database as COPY TEXT rows, streamed in pieces of about a MiB.
//! TLS is not available: a JDBC URL asking for it is refused.

mod config;
mod encode;
mod errors;

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_sink::Sink;
use serde_json::Value;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, Statement};

use config::{CopyOptions, Endpoint, TableName};
use encode::{Column, Encoded};
use errors::{classify, copy_error_line, is_row_error, refusal_message};

/// The table holding each delivery stream's position, in the database's default
/// schema (the first of the connection's `search_path`).
pub const CHECKPOINT_TABLE: &str = "freshet_firehose_checkpoints";

/// `RetryOptions.DurationInSeconds` when not given.
pub const DEFAULT_RETRY_SECONDS: u64 = 3600;
/// The largest `RetryOptions.DurationInSeconds`.
pub const MAX_RETRY_SECONDS: u64 = 7200;

/// How long connecting (TCP, startup, authentication) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// After a refused row, at least this many records go into the next COPY.
const MIN_WINDOW: usize = 256;

/// Batches of more records than this are encoded on a blocking thread.
const ENCODE_INLINE_MAX: usize = 512;

/// The savepoint each COPY of a batch runs under.
const SAVEPOINT: &str = "freshet_copy";

/// Where and how a Redshift destination loads: the parsed
/// `RedshiftDestinationConfiguration`.
#[derive(Clone)]
pub struct PgTarget {
    endpoint: Endpoint,
    username: String,
    password: String,
    table: TableName,
    columns: Option<Vec<String>>,
    options: Arc<CopyOptions>,
    retry: Duration,
}

impl fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTarget")
            .field("endpoint", &self.endpoint)
            .field("username", &self.username)
            .field("table", &self.table)
            .field("columns", &self.columns)
            .field("options", &self.options)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// A string member of `v`, if present; an error naming `path` when it is not a string.
fn string_member<'a>(v: &'a Value, name: &str, path: &str) -> Result<Option<&'a str>, String> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{path}.{name} must be a string")),
    }
}

fn required<'a>(v: &'a Value, name: &str, path: &str) -> Result<&'a str, String> {
    match string_member(v, name, path)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(format!("{path}.{name} is required")),
    }
}

impl PgTarget {
    /// Reads a `RedshiftDestinationConfiguration` (AWS member names). The error is the
    /// message of an `InvalidArgumentException` saying what is wrong.
    /// `S3Configuration`, `S3BackupMode` and `ProcessingConfiguration` are not read here.
    pub fn from_config(config: &Value) -> Result<PgTarget, String> {
        const PATH: &str = "RedshiftDestinationConfiguration";
        if !config.is_object() {
            return Err(format!("{PATH} must be a structure"));
        }
        if config
            .pointer("/SecretsManagerConfiguration/Enabled")
            .and_then(Value::as_bool)
            == Some(true)
        {
            return Err(format!(
                "{PATH}.SecretsManagerConfiguration is not supported: give Username and Password"
            ));
        }
        let endpoint = config::parse_jdbc_url(required(config, "ClusterJDBCURL", PATH)?)?;
        let username = required(config, "Username", PATH)?.to_string();
        let password = string_member(config, "Password", PATH)?
            .ok_or_else(|| format!("{PATH}.Password is required"))?
            .to_string();
        let copy = match config.get("CopyCommand") {
            Some(c) if c.is_object() => c,
            Some(_) => return Err(format!("{PATH}.CopyCommand must be a structure")),
            None => return Err(format!("{PATH}.CopyCommand is required")),
        };
        let copy_path = format!("{PATH}.CopyCommand");
        let table = TableName::parse(required(copy, "DataTableName", &copy_path)?)?;
        let columns = match string_member(copy, "DataTableColumns", &copy_path)? {
            Some(c) => config::parse_columns(c)?,
            None => None,
        };
        let options = match string_member(copy, "CopyOptions", &copy_path)? {
            Some(o) => config::parse_copy_options(o)?,
            None => CopyOptions::default(),
        };
        let retry_seconds = match config.pointer("/RetryOptions/DurationInSeconds") {
            None | Some(Value::Null) => DEFAULT_RETRY_SECONDS,
            Some(v) => match v.as_u64() {
                Some(s) if s <= MAX_RETRY_SECONDS => s,
                _ => {
                    return Err(format!(
                        "{PATH}.RetryOptions.DurationInSeconds must be an integer from 0 to \
                         {MAX_RETRY_SECONDS}, not {v}"
                    ))
                }
            },
        };
        Ok(PgTarget {
            endpoint,
            username,
            password,
            table,
            columns,
            options: Arc::new(options),
            retry: Duration::from_secs(retry_seconds),
        })
    }

    /// How long a failing batch is retried before its records go to the error output
    /// (`RetryOptions.DurationInSeconds`, 3600 s by default).
    pub fn retry_duration(&self) -> Duration {
        self.retry
    }

    /// Where this loads, for logs (no credentials):
    /// `postgresql://host:port/db table "schema"."table"`.
    pub fn describe(&self) -> String {
        let host = if self.endpoint.host.contains(':') {
            format!("[{}]", self.endpoint.host)
        } else {
            self.endpoint.host.clone()
        };
        format!(
            "postgresql://{host}:{}/{} table {}",
            self.endpoint.port, self.endpoint.database, self.table
        )
    }
}

/// A record the table refused (or that could not be read as a row).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Refused {
    /// Its index in the batch given to [`PgSink::deliver`].
    pub index: usize,
    /// The database's message (with the column and detail when known), or why the
    /// record could not be read.
    pub message: String,
    /// The SQLSTATE: the database's, or the one PostgreSQL gives the same fault
    /// (`22021` not UTF-8, `22P02` not JSON, `22P04` not a JSON object or an unclosed
    /// quote).
    pub sqlstate: String,
}

/// A delivery that did not happen; nothing of it was committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgError {
    /// The connection broke or could not be made, or the server is restarting, out of
    /// resources or read-only for now: reconnect and retry.
    Transient(String),
    /// Needs someone to act: the table or a column is missing, authentication failed,
    /// no privilege, the copy options do not fit the table…
    Permanent(String),
}

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgError::Transient(m) | PgError::Permanent(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for PgError {}

/// One connection to the database of a [`PgTarget`].
pub struct PgSink {
    client: Client,
    connection: tokio::task::JoinHandle<()>,
    target: PgTarget,
    /// The columns loaded and the prepared COPY, read once per connection (again after
    /// a permanent error, which may have been fixed).
    copy: Option<(Arc<Vec<Column>>, Statement)>,
    checkpoints_ready: bool,
    /// A call is under way; still set when a new call starts, that one was dropped
    /// half-way (its transaction may be open).
    in_flight: bool,
    /// An error, or a call dropped half-way, left the session in an unknown state:
    /// only reconnecting helps.
    broken: bool,
}

impl fmt::Debug for PgSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgSink")
            .field("target", &self.target.describe())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Drop for PgSink {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// The columns of a table, in order, as (name, type category, `varchar`/`char` length,
/// identity or serial). `$1` is the table's name as SQL.
const COLUMNS_SQL: &str = "SELECT a.attname::text, t.typcategory::text, \
       CASE WHEN a.atttypid IN (1042, 1043) AND a.atttypmod >= 4 THEN a.atttypmod - 4 END, \
       (a.attidentity <> '' OR COALESCE(pg_catalog.pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%', false)) \
     FROM pg_catalog.pg_attribute a \
     JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
     LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
     WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped \
       AND a.attgenerated = '' \
     ORDER BY a.attnum";

/// [`COLUMNS_SQL`] for servers before PostgreSQL 12 (no generated or identity columns).
const COLUMNS_SQL_OLD: &str = "SELECT a.attname::text, t.typcategory::text, \
       CASE WHEN a.atttypid IN (1042, 1043) AND a.atttypmod >= 4 THEN a.atttypmod - 4 END, \
       COALESCE(pg_catalog.pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%', false) \
     FROM pg_catalog.pg_attribute a \
     JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
     LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
     WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped \
     ORDER BY a.attnum";

impl PgSink {
    /// Connects (without TLS) and authenticates with the target's user and password.
    pub async fn connect(target: &PgTarget) -> Result<PgSink, PgError> {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(&target.endpoint.host)
            .port(target.endpoint.port)
            .dbname(&target.endpoint.database)
            .user(&target.username)
            .password(target.password.as_bytes())
            .ssl_mode(SslMode::Disable)
            .application_name("freshet-firehose")
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .tcp_user_timeout(Duration::from_secs(60));
        let (client, connection) =
            match tokio::time::timeout(CONNECT_TIMEOUT, cfg.connect(NoTls)).await {
                Ok(Ok(pair)) => pair,
                Ok(Err(e)) => return Err(classify(&e)),
                Err(_) => {
                    return Err(PgError::Transient(format!(
                        "connecting to {} timed out after {CONNECT_TIMEOUT:?}",
                        target.describe()
                    )))
                }
            };
        let connection = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "PostgreSQL connection ended");
            }
        });
        Ok(PgSink {
            client,
            connection,
            target: target.clone(),
            copy: None,
            checkpoints_ready: false,
            in_flight: false,
            broken: false,
        })
    }

    /// Whether the connection is gone (reconnect with [`PgSink::connect`]).
    pub fn is_closed(&self) -> bool {
        self.broken || self.in_flight || self.client.is_closed()
    }

    /// Starts a call: an error when the connection is closed or an earlier call was
    /// dropped before it finished.
    fn begin_call(&mut self) -> Result<(), PgError> {
        if self.in_flight {
            self.broken = true;
        }
        if self.is_closed() {
            return Err(PgError::Transient(format!(
                "the connection to {} is closed",
                self.target.describe()
            )));
        }
        self.in_flight = true;
        Ok(())
    }

    /// Creates [`CHECKPOINT_TABLE`] if missing and returns `delivery_stream`'s position
    /// (the bytes last given to [`PgSink::deliver`] and committed), or `None`.
    pub async fn position(&mut self, delivery_stream: &str) -> Result<Option<Vec<u8>>, PgError> {
        self.begin_call()?;
        let result = self.read_position(delivery_stream).await;
        if result.is_err() && self.client.is_closed() {
            self.broken = true;
        }
        self.in_flight = false;
        result
    }

    async fn read_position(&mut self, delivery_stream: &str) -> Result<Option<Vec<u8>>, PgError> {
        Ok(self.read_committed(delivery_stream).await?.map(|(p, _)| p))
    }

    /// The position last committed for `delivery_stream` with the records its batch
    /// refused: after a crash (or a connection lost during COMMIT), what tells whether
    /// a batch committed and which of its records go to the error output.
    pub async fn committed(
        &mut self,
        delivery_stream: &str,
    ) -> Result<Option<(Vec<u8>, Vec<Refused>)>, PgError> {
        self.begin_call()?;
        let result = self.read_committed(delivery_stream).await;
        if result.is_err() && self.client.is_closed() {
            self.broken = true;
        }
        self.in_flight = false;
        result
    }

    async fn read_committed(
        &mut self,
        delivery_stream: &str,
    ) -> Result<Option<(Vec<u8>, Vec<Refused>)>, PgError> {
        self.ensure_checkpoints().await?;
        let sql =
            format!("SELECT position, refused FROM {CHECKPOINT_TABLE} WHERE delivery_stream = $1");
        let row = self
            .client
            .query_opt(&sql, &[&delivery_stream])
            .await
            .map_err(|e| classify(&e))?;
        let Some(row) = row else { return Ok(None) };
        let position: Vec<u8> = row.try_get(0).map_err(|e| classify(&e))?;
        let refused: Option<Vec<u8>> = row.try_get(1).map_err(|e| classify(&e))?;
        let refused = match refused {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                PgError::Permanent(format!("{CHECKPOINT_TABLE}.refused is not readable: {e}"))
            })?,
            None => Vec::new(),
        };
        Ok(Some((position, refused)))
    }

    async fn ensure_checkpoints(&mut self) -> Result<(), PgError> {
        if self.checkpoints_ready {
            return Ok(());
        }
        let exists: bool = self
            .client
            .query_one(
                "SELECT pg_catalog.to_regclass($1::text) IS NOT NULL",
                &[&CHECKPOINT_TABLE],
            )
            .await
            .and_then(|row| row.try_get(0))
            .map_err(|e| classify(&e))?;
        if !exists {
            let create = format!(
                "CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} (delivery_stream text PRIMARY KEY, \
                 position bytea NOT NULL, updated_at timestamptz, refused bytea)"
            );
            match self.client.batch_execute(&create).await {
                Ok(()) => {}
                // Another connection created it at the same time.
                Err(e)
                    if e.code() == Some(&SqlState::DUPLICATE_TABLE)
                        || e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {}
                Err(e) => return Err(classify(&e)),
            }
        }
        // Tables made before refused rows were kept get the column.
        let add = format!("ALTER TABLE {CHECKPOINT_TABLE} ADD COLUMN IF NOT EXISTS refused bytea");
        self.client
            .batch_execute(&add)
            .await
            .map_err(|e| classify(&e))?;
        self.checkpoints_ready = true;
        Ok(())
    }

    /// In one transaction: loads every record of `records` into the table except the
    /// ones it refuses, sets `delivery_stream`'s position to `position`, and commits.
    /// Returns the refused records, by index. On an error nothing is committed — unless
    /// the connection broke during the commit itself, when the commit may or may not
    /// have happened: the caller reconnects and reads [`PgSink::position`] to know.
    /// Dropping the future half-way leaves the sink closed ([`PgSink::is_closed`]).
    pub async fn deliver(
        &mut self,
        delivery_stream: &str,
        records: &[Bytes],
        position: &[u8],
    ) -> Result<Vec<Refused>, PgError> {
        self.begin_call()?;
        let result = self
            .deliver_in_transaction(delivery_stream, records, position)
            .await;
        if let Err(e) = &result {
            if matches!(e, PgError::Permanent(_)) {
                // The table may be fixed before the next try: read it again then.
                self.copy = None;
            }
            if self.client.is_closed() || self.client.batch_execute("ROLLBACK").await.is_err() {
                self.broken = true;
            }
        }
        self.in_flight = false;
        result
    }

    async fn deliver_in_transaction(
        &mut self,
        delivery_stream: &str,
        records: &[Bytes],
        position: &[u8],
    ) -> Result<Vec<Refused>, PgError> {
        self.ensure_checkpoints().await?;
        let (columns, statement) = self.prepare_copy().await?;
        let encoded = if records.len() <= ENCODE_INLINE_MAX {
            encode::encode(records, &self.target.options, &columns)
        } else {
            let records = records.to_vec();
            let options = Arc::clone(&self.target.options);
            let columns = Arc::clone(&columns);
            tokio::task::spawn_blocking(move || encode::encode(&records, &options, &columns))
                .await
                .map_err(|e| PgError::Transient(format!("encoding the batch failed: {e}")))?
        };
        let mut refused = encoded.refused.clone();
        self.exec("BEGIN; SET CONSTRAINTS ALL IMMEDIATE").await?;
        self.load(&statement, &encoded, &mut refused).await?;
        refused.sort_by_key(|r| r.index);
        let refused_json = serde_json::to_vec(&refused)
            .map_err(|e| PgError::Permanent(format!("cannot record the refused rows: {e}")))?;
        let upsert = format!(
            "INSERT INTO {CHECKPOINT_TABLE} (delivery_stream, position, updated_at, refused) \
             VALUES ($1, $2, now(), $3) ON CONFLICT (delivery_stream) DO UPDATE \
             SET position = EXCLUDED.position, updated_at = EXCLUDED.updated_at, \
             refused = EXCLUDED.refused"
        );
        self.client
            .execute(&upsert, &[&delivery_stream, &position, &refused_json])
            .await
            .map_err(|e| classify(&e))?;
        self.exec("COMMIT").await?;
        Ok(refused)
    }

    /// The columns loaded and the COPY statement for them, read once per connection.
    async fn prepare_copy(&mut self) -> Result<(Arc<Vec<Column>>, Statement), PgError> {
        if let Some((columns, statement)) = &self.copy {
            return Ok((Arc::clone(columns), statement.clone()));
        }
        let table = self.target.table.sql();
        let rows = match self.client.query(COLUMNS_SQL, &[&table]).await {
            Ok(rows) => rows,
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_COLUMN) => self
                .client
                .query(COLUMNS_SQL_OLD, &[&table])
                .await
                .map_err(|e| classify(&e))?,
            Err(e) => return Err(classify(&e)),
        };
        let mut all = Vec::with_capacity(rows.len());
        for row in rows {
            let read = || -> Result<(Column, bool), tokio_postgres::Error> {
                let category: String = row.try_get(1)?;
                let max_chars: Option<i32> = row.try_get(2)?;
                Ok((
                    Column {
                        name: row.try_get(0)?,
                        is_string: category == "S",
                        max_chars: max_chars.and_then(|n| usize::try_from(n).ok()),
                    },
                    row.try_get(3)?,
                ))
            };
            all.push(read().map_err(|e| classify(&e))?);
        }
        let columns: Vec<Column> = match &self.target.columns {
            None => all
                .into_iter()
                .filter(|(_, identity)| self.target.options.explicit_ids || !identity)
                .map(|(c, _)| c)
                .collect(),
            Some(names) => {
                let mut chosen = Vec::with_capacity(names.len());
                for name in names {
                    let column = all.iter().find(|(c, _)| &c.name == name).ok_or_else(|| {
                        PgError::Permanent(format!(
                            "column \"{name}\" of relation {table} does not exist (DataTableColumns)"
                        ))
                    })?;
                    chosen.push(column.0.clone());
                }
                chosen
            }
        };
        if columns.is_empty() {
            return Err(PgError::Permanent(format!(
                "relation {table} has no columns to load"
            )));
        }
        let list: Vec<String> = columns
            .iter()
            .map(|c| config::quote_ident(&c.name))
            .collect();
        let sql = format!("COPY {table} ({}) FROM STDIN", list.join(", "));
        let statement = self.client.prepare(&sql).await.map_err(|e| classify(&e))?;
        let columns = Arc::new(columns);
        self.copy = Some((Arc::clone(&columns), statement.clone()));
        Ok((columns, statement))
    }

    async fn exec(&self, sql: &str) -> Result<(), PgError> {
        self.client
            .batch_execute(sql)
            .await
            .map_err(|e| classify(&e))
    }

    /// COPYs the loadable records of `enc`, each range under a savepoint; a refused row
    /// rolls its range back, is recorded, and the records before it are copied again
    /// without it. After a refusal the ranges start small and double while they load.
    async fn load(
        &self,
        statement: &Statement,
        enc: &Encoded,
        refused: &mut Vec<Refused>,
    ) -> Result<(), PgError> {
        let n = enc.len();
        let mut start = 0;
        let mut window = n.max(1);
        // A record known to be refused once the ones before it are in.
        let mut known_bad: Option<(usize, Refused)> = None;
        while start < n {
            match known_bad.take() {
                Some((pos, r)) if pos == start => {
                    refused.push(r);
                    start += 1;
                    continue;
                }
                other => known_bad = other,
            }
            let mut end = n.min(start.saturating_add(window));
            if let Some((pos, _)) = &known_bad {
                end = end.min(*pos);
            }
            self.exec(&format!("SAVEPOINT {SAVEPOINT}")).await?;
            match self.copy(statement, enc, start..end).await {
                Ok(()) => {
                    self.exec(&format!("RELEASE SAVEPOINT {SAVEPOINT}")).await?;
                    start = end;
                    window = window.saturating_mul(2);
                }
                Err(e) => {
                    self.exec(&format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}"))
                        .await?;
                    let Some(found) = self.refused_row(&e, enc, start..end) else {
                        return Err(classify(&e));
                    };
                    let (k, r) = match found {
                        Some(found) => found,
                        None => self.bisect(statement, enc, start..end, &e).await?,
                    };
                    window = (2 * k).max(MIN_WINDOW);
                    known_bad = Some((start + k, r));
                }
            }
        }
        Ok(())
    }

    /// For an error of a COPY of `range`: `None` when it is not about a row,
    /// `Some(None)` when it is but the row is not known, else the row's position in the
    /// range and its refusal.
    fn refused_row(
        &self,
        e: &tokio_postgres::Error,
        enc: &Encoded,
        range: Range<usize>,
    ) -> Option<Option<(usize, Refused)>> {
        let db = e.as_db_error()?;
        let sqlstate = db.code().code();
        if !is_row_error(sqlstate) {
            return None;
        }
        let Some((line, column)) = db
            .where_()
            .and_then(|w| copy_error_line(w, &self.target.table.name))
        else {
            return Some(None);
        };
        let Some(k) = enc.record_at_line(range.clone(), line) else {
            return Some(None);
        };
        Some(Some((
            k,
            Refused {
                index: enc.index(range.start + k),
                message: refusal_message(db, column.as_deref()),
                sqlstate: sqlstate.to_string(),
            },
        )))
    }

    /// Finds the record of `range` a row error is about when the error does not say
    /// (no line in its context): the shortest failing prefix of the range ends with it.
    /// Every probe is rolled back.
    async fn bisect(
        &self,
        statement: &Statement,
        enc: &Encoded,
        range: Range<usize>,
        first: &tokio_postgres::Error,
    ) -> Result<(usize, Refused), PgError> {
        let describe = |e: &tokio_postgres::Error| match e.as_db_error() {
            Some(db) => (refusal_message(db, None), db.code().code().to_string()),
            None => (e.to_string(), String::new()),
        };
        let (mut message, mut sqlstate) = describe(first);
        // A prefix of `lo` records loads; one of `hi` does not.
        let (mut lo, mut hi) = (0, range.len());
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            self.exec(&format!("SAVEPOINT {SAVEPOINT}")).await?;
            let probe = self
                .copy(statement, enc, range.start..range.start + mid)
                .await;
            self.exec(&format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}"))
                .await?;
            match probe {
                Ok(()) => lo = mid,
                Err(e) => match self.refused_row(&e, enc, range.start..range.start + mid) {
                    None => return Err(classify(&e)),
                    Some(Some(found)) => return Ok(found),
                    Some(None) => {
                        (message, sqlstate) = describe(&e);
                        hi = mid;
                    }
                },
            }
        }
        let k = hi - 1;
        tracing::debug!(
            record = enc.index(range.start + k),
            "refused row found by bisection"
        );
        Ok((
            k,
            Refused {
                index: enc.index(range.start + k),
                message,
                sqlstate,
            },
        ))
    }

    /// One `COPY … FROM STDIN` of the loadable records `range`.
    async fn copy(
        &self,
        statement: &Statement,
        enc: &Encoded,
        range: Range<usize>,
    ) -> Result<(), tokio_postgres::Error> {
        let sink = self.client.copy_in::<_, Bytes>(statement).await?;
        let mut sink = std::pin::pin!(sink);
        for piece in enc.pieces(range) {
            std::future::poll_fn(|cx| sink.as_mut().poll_ready(cx)).await?;
            sink.as_mut().start_send(piece)?;
        }
        sink.as_mut().finish().await?;
        Ok(())
    }
}

/// The error code of a refused record in the error output.
pub const FAILED_ERROR_CODE: &str = "Redshift.DataLoadFailed";

/// The error-output line (JSON and a newline) for a refused record, in the shape of
/// Firehose's failed-record documents: `attemptsMade`, `arrivalTimestamp`,
/// `errorCode` ([`FAILED_ERROR_CODE`]), `errorMessage` (the database's message),
/// `attemptEndingTimestamp`, `rawData` (the record, base64), and `sqlState`.
/// Timestamps are milliseconds since the epoch.
pub fn failed_line(
    raw: &[u8],
    refused: &Refused,
    attempts_made: u32,
    arrival_timestamp_ms: i64,
    attempt_ending_timestamp_ms: i64,
) -> Vec<u8> {
    let doc = serde_json::json!({
        "attemptsMade": attempts_made,
        "arrivalTimestamp": arrival_timestamp_ms,
        "errorCode": FAILED_ERROR_CODE,
        "errorMessage": refused.message,
        "attemptEndingTimestamp": attempt_ending_timestamp_ms,
        "rawData": base64_simd::STANDARD.encode_to_string(raw),
        "sqlState": refused.sqlstate,
    });
    let mut line = doc.to_string().into_bytes();
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> Value {
        json!({
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "ClusterJDBCURL": "jdbc:redshift://127.0.0.1:5439/dev",
            "Username": "freshet",
            "Password": "secret-password",
            "CopyCommand": {"DataTableName": "public.Events", "CopyOptions": "JSON 'auto'"},
            "S3Configuration": {"RoleARN": "r", "BucketARN": "arn:aws:s3:::b"}
        })
    }

    #[test]
    fn target_from_config() {
        let t = PgTarget::from_config(&config()).unwrap();
        assert_eq!(t.retry_duration(), Duration::from_secs(3600));
        assert_eq!(
            t.describe(),
            "postgresql://127.0.0.1:5439/dev table \"public\".\"events\""
        );
        assert!(!format!("{t:?}").contains("secret-password"));
        assert_eq!(t.columns, None);
        let mut c = config();
        c["RetryOptions"] = json!({"DurationInSeconds": 0});
        c["CopyCommand"]["DataTableColumns"] = json!("id, Name");
        c["ClusterJDBCURL"] = json!("jdbc:postgresql://[::1]/db");
        let t = PgTarget::from_config(&c).unwrap();
        assert_eq!(t.retry_duration(), Duration::ZERO);
        assert_eq!(t.columns, Some(vec!["id".to_string(), "name".to_string()]));
        assert_eq!(
            t.describe(),
            "postgresql://[::1]:5432/db table \"public\".\"events\""
        );
    }

    #[test]
    fn target_errors_name_the_member() {
        type Change = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|c| c["ClusterJDBCURL"] = json!("nope")),
                "ClusterJDBCURL",
            ),
            (
                Box::new(|c| {
                    c.as_object_mut().unwrap().remove("ClusterJDBCURL");
                }),
                "ClusterJDBCURL is required",
            ),
            (
                Box::new(|c| {
                    c.as_object_mut().unwrap().remove("Username");
                }),
                "Username is required",
            ),
            (
                Box::new(|c| {
                    c.as_object_mut().unwrap().remove("Password");
                }),
                "Password is required",
            ),
            (
                Box::new(|c| c["Username"] = json!(5)),
                "Username must be a string",
            ),
            (
                Box::new(|c| {
                    c.as_object_mut().unwrap().remove("CopyCommand");
                }),
                "CopyCommand is required",
            ),
            (
                Box::new(|c| c["CopyCommand"] = json!({})),
                "DataTableName is required",
            ),
            (
                Box::new(|c| c["CopyCommand"]["DataTableName"] = json!("a.b.c")),
                "DataTableName",
            ),
            (
                Box::new(|c| c["CopyCommand"]["CopyOptions"] = json!("FIXEDWIDTH 'x'")),
                "CopyOptions",
            ),
            (
                Box::new(|c| c["CopyCommand"]["DataTableColumns"] = json!("a,,b")),
                "DataTableColumns",
            ),
            (
                Box::new(|c| c["RetryOptions"] = json!({"DurationInSeconds": 7201})),
                "DurationInSeconds",
            ),
            (
                Box::new(|c| c["RetryOptions"] = json!({"DurationInSeconds": -1})),
                "DurationInSeconds",
            ),
            (
                Box::new(|c| c["ClusterJDBCURL"] = json!("jdbc:postgresql://h/db?sslmode=require")),
                "TLS",
            ),
            (
                Box::new(|c| c["SecretsManagerConfiguration"] = json!({"Enabled": true})),
                "SecretsManager",
            ),
        ];
        for (change, why) in cases {
            let mut c = config();
            change(&mut c);
            let e = PgTarget::from_config(&c).unwrap_err();
            assert!(e.contains(why), "{why}: {e}");
        }
        assert!(PgTarget::from_config(&json!("x")).is_err());
    }

    #[test]
    fn failed_lines() {
        let r = Refused {
            index: 3,
            message: "invalid input syntax for type integer: \"x\" (column n)".into(),
            sqlstate: "22P02".into(),
        };
        let line = failed_line(
            b"{\"n\":\"x\"}",
            &r,
            2,
            1_700_000_000_000,
            1_700_000_000_500,
        );
        assert_eq!(line.last(), Some(&b'\n'));
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            v,
            json!({
                "attemptsMade": 2,
                "arrivalTimestamp": 1_700_000_000_000_i64,
                "errorCode": "Redshift.DataLoadFailed",
                "errorMessage": "invalid input syntax for type integer: \"x\" (column n)",
                "attemptEndingTimestamp": 1_700_000_000_500_i64,
                "rawData": "eyJuIjoieCJ9",
                "sqlState": "22P02",
            })
        );
    }
}
