//! SQL over Freshet's streams: every stream is a table (its records' metadata and,
//! once declared, typed columns decoded from JSON or CSV), bounded queries push their
//! `arrival_time`, `shard_id` and `partition_key` filters down to the engine, windowed
//! queries run continuously, and PostgreSQL's wire protocol serves them all.
//!
//! ```no_run
//! # async fn f(engine: freshet_storage::Engine) -> Result<(), freshet_sql::Error> {
//! let sql = freshet_sql::SqlService::open(engine, freshet_sql::SqlConfig::default())?;
//! let out = sql.execute("SELECT count(*) FROM \"my-stream\"", None).await?;
//! # Ok(()) }
//! ```

pub mod catalog;
pub mod command;
pub mod continuous;
pub mod decode;
pub mod discover;
mod error;
pub mod flatjson;
pub mod pgwire;
pub mod pushdown;
pub mod scan;
pub mod schema;
pub mod session;
pub mod sessions;
pub mod window;

use std::sync::Arc;

use datafusion::arrow::array::{Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;
use freshet_storage::Engine;

pub use error::{Error, Result};

use crate::catalog::Catalog;
use crate::command::Command;

/// Default scan limit: records a bounded query may read.
pub const DEFAULT_SCAN_LIMIT: u64 = 10_000_000;

/// Settings of the SQL service.
#[derive(Debug, Clone)]
pub struct SqlConfig {
    /// Records a bounded query may scan unless the session raises it (0: no limit).
    pub scan_limit: u64,
}

impl Default for SqlConfig {
    fn default() -> Self {
        SqlConfig {
            scan_limit: DEFAULT_SCAN_LIMIT,
        }
    }
}

/// What a statement gives back.
pub enum Output {
    /// A command's tag (`CREATE TABLE`, `STOP JOB`, ...).
    Done(String),
    /// Rows, as a stream (bounded, or endless for continuous queries).
    Rows(SchemaRef, SendableRecordBatchStream),
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Done(t) => write!(f, "Done({t})"),
            Output::Rows(s, _) => write!(f, "Rows({s:?})"),
        }
    }
}

/// The SQL service: the session over the engine, the declared tables and the jobs.
#[derive(Clone)]
pub struct SqlService {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for SqlService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlService").finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) engine: Engine,
    pub(crate) catalog: Catalog,
    pub(crate) ctx: Arc<SessionContext>,
    pub(crate) config: SqlConfig,
    pub(crate) jobs: continuous::Jobs,
}

impl SqlService {
    /// Opens the service and resumes its running jobs (call inside a tokio runtime).
    pub fn open(engine: Engine, config: SqlConfig) -> Result<SqlService> {
        let catalog = Catalog::open(&engine)?;
        let ctx = Arc::new(session::context(&engine, &catalog, config.scan_limit)?);
        let svc = SqlService {
            inner: Arc::new(Inner {
                engine,
                catalog,
                ctx,
                config,
                jobs: continuous::Jobs::default(),
            }),
        };
        for job in svc.inner.catalog.jobs()? {
            if job.running {
                if let Err(e) = continuous::start_job(&svc, &job) {
                    tracing::warn!(job = %job.name, error = %e, "cannot resume SQL job");
                }
            }
        }
        Ok(svc)
    }

    /// The DataFusion session (streams in schema `public`).
    pub fn context(&self) -> Arc<SessionContext> {
        Arc::clone(&self.inner.ctx)
    }

    /// The server's scan limit.
    pub fn default_scan_limit(&self) -> u64 {
        self.inner.config.scan_limit
    }

    /// Runs one statement (embedded use: `freshet sql --data-dir`). `scan_limit`
    /// overrides the server's.
    pub async fn execute(&self, sql: &str, scan_limit: Option<u64>) -> Result<Output> {
        let limit = scan_limit.unwrap_or(self.inner.config.scan_limit);
        let mut session_limit = scan_limit;
        if let Some(cmd) = command::classify(sql)? {
            return self.run_command(cmd, &mut session_limit).await;
        }
        scan::SCAN_LIMIT
            .scope(limit, async {
                let df = self.inner.ctx.sql(sql).await?;
                let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
                let stream = df.execute_stream().await?;
                Ok(Output::Rows(schema, stream))
            })
            .await
    }

    /// Carries out one of Freshet's own statements; `scan_limit` is the session's.
    pub async fn run_command(&self, cmd: Command, scan_limit: &mut Option<u64>) -> Result<Output> {
        let inner = &self.inner;
        match cmd {
            Command::CreateTable { def, replace } => {
                if !replace && inner.catalog.table(&def.name)?.is_some() {
                    return Err(Error::Invalid(format!(
                        "table \"{}\" already exists (CREATE OR REPLACE TABLE replaces it)",
                        def.name
                    )));
                }
                inner.catalog.put_table(&def)?;
                Ok(Output::Done("CREATE TABLE".into()))
            }
            Command::DropTable { name, if_exists } => match inner.catalog.drop_table(&name) {
                Err(Error::NotFound { .. }) if if_exists => Ok(Output::Done("DROP TABLE".into())),
                Err(Error::NotFound { .. }) => Err(Error::Invalid(format!(
                    "table \"{name}\" is not a declared table (a stream's own table goes when the stream is deleted)"
                ))),
                r => r.map(|_| Output::Done("DROP TABLE".into())),
            },
            Command::CreateStream {
                name,
                shards,
                query,
            } => {
                continuous::create_job(self, &name, shards, &query).await?;
                Ok(Output::Done("CREATE STREAM".into()))
            }
            Command::ShowJobs => Ok(rows(continuous::show_jobs(self)?)),
            Command::StopJob(name) => {
                continuous::set_running(self, &name, false)?;
                Ok(Output::Done("STOP JOB".into()))
            }
            Command::StartJob(name) => {
                continuous::set_running(self, &name, true)?;
                Ok(Output::Done("START JOB".into()))
            }
            Command::DropJob { name, if_exists } => {
                match continuous::drop_job(self, &name) {
                    Err(Error::NotFound { .. }) if if_exists => {}
                    r => r?,
                }
                Ok(Output::Done("DROP JOB".into()))
            }
            Command::Continuous { query } => {
                let (schema, stream) = continuous::subscribe(self, &query).await?;
                Ok(Output::Rows(schema, stream))
            }
            Command::SetScanLimit(v) => {
                *scan_limit = v;
                Ok(Output::Done("SET".into()))
            }
            Command::ShowScanLimit => {
                let v = scan_limit.unwrap_or(inner.config.scan_limit);
                let schema = Arc::new(Schema::new(vec![Field::new(
                    "freshet.scan_limit",
                    DataType::Utf8,
                    false,
                )]));
                let batch = RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![Arc::new(StringArray::from(vec![v.to_string()]))],
                )?;
                Ok(rows(batch))
            }
        }
    }
}

/// A bounded result of one batch.
fn rows(batch: RecordBatch) -> Output {
    let schema = batch.schema();
    let stream = datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
        Arc::clone(&schema),
        futures::stream::iter(vec![Ok(batch)]),
    );
    Output::Rows(schema, Box::pin(stream))
}

/// A result as text, for printing (`freshet sql --data-dir`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextResult {
    /// Column names (empty for a command).
    pub columns: Vec<String>,
    /// Rows, `None` for NULL.
    pub rows: Vec<Vec<Option<String>>>,
    /// The command tag (`SELECT 3`, `CREATE TABLE`).
    pub tag: String,
}

impl SqlService {
    /// Runs one bounded statement and renders its result as text.
    pub async fn execute_text(&self, sql: &str, scan_limit: Option<u64>) -> Result<TextResult> {
        use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
        use futures::StreamExt;
        match self.execute(sql, scan_limit).await? {
            Output::Done(tag) => Ok(TextResult {
                tag,
                ..TextResult::default()
            }),
            Output::Rows(schema, mut stream) => {
                let columns = schema.fields().iter().map(|f| f.name().clone()).collect();
                let mut rows = Vec::new();
                let opts = FormatOptions::default();
                while let Some(b) = stream.next().await {
                    let b = b?;
                    let fmts = b
                        .columns()
                        .iter()
                        .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
                        .collect::<std::result::Result<Vec<_>, _>>()?;
                    for i in 0..b.num_rows() {
                        rows.push(
                            b.columns()
                                .iter()
                                .zip(&fmts)
                                .map(|(c, f)| c.is_valid(i).then(|| f.value(i).to_string()))
                                .collect(),
                        );
                    }
                }
                let tag = format!("SELECT {}", rows.len());
                Ok(TextResult { columns, rows, tag })
            }
        }
    }
}
