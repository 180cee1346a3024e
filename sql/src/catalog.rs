//! Declared tables and continuous jobs, kept in the engine's catalog under
//! `svc/sql/` (`Engine::service_state("sql")`): `table/{name}` and `job/{name}`
//! hold JSON definitions, `ckpt/{name}` a job's checkpoint.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use freshet_storage::{Engine, ServiceState};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The service name of the catalog namespace.
pub const SERVICE: &str = "sql";

/// How records of a stream are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON object a record; columns by `$.path`.
    Json,
    /// One CSV line a record; columns by position.
    Csv,
    /// No declared columns: the metadata columns only.
    Raw,
}

/// A column type a declaration may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// BOOLEAN.
    Boolean,
    /// INT, INTEGER.
    Int,
    /// BIGINT.
    Bigint,
    /// REAL, FLOAT4.
    Real,
    /// DOUBLE, FLOAT, FLOAT8, DOUBLE PRECISION, DECIMAL/NUMERIC (as double).
    Double,
    /// VARCHAR, TEXT, STRING, CHAR.
    Varchar,
    /// TIMESTAMP (UTC, ms): an RFC 3339 string or epoch milliseconds.
    Timestamp,
    /// DATE.
    Date,
}

impl ColumnType {
    /// Parses an SQL type name (words joined by one space, upper case, no length).
    pub fn parse(name: &str) -> Option<ColumnType> {
        Some(match name {
            "BOOLEAN" | "BOOL" => ColumnType::Boolean,
            "INT" | "INTEGER" | "INT4" | "SMALLINT" | "INT2" | "TINYINT" => ColumnType::Int,
            "BIGINT" | "INT8" | "LONG" => ColumnType::Bigint,
            "REAL" | "FLOAT4" => ColumnType::Real,
            "DOUBLE" | "DOUBLE PRECISION" | "FLOAT" | "FLOAT8" | "DECIMAL" | "NUMERIC" => {
                ColumnType::Double
            }
            "VARCHAR" | "TEXT" | "STRING" | "CHAR" | "CHARACTER VARYING" | "CHARACTER" => {
                ColumnType::Varchar
            }
            "TIMESTAMP"
            | "TIMESTAMPTZ"
            | "TIMESTAMP WITH TIME ZONE"
            | "TIMESTAMP WITHOUT TIME ZONE" => ColumnType::Timestamp,
            "DATE" => ColumnType::Date,
            _ => return None,
        })
    }

    /// The Arrow type of the column.
    pub fn arrow(self) -> DataType {
        match self {
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Int => DataType::Int32,
            ColumnType::Bigint => DataType::Int64,
            ColumnType::Real => DataType::Float32,
            ColumnType::Double => DataType::Float64,
            ColumnType::Varchar => DataType::Utf8,
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            ColumnType::Date => DataType::Date32,
        }
    }

    /// The SQL name of the type.
    pub fn sql(self) -> &'static str {
        match self {
            ColumnType::Boolean => "BOOLEAN",
            ColumnType::Int => "INT",
            ColumnType::Bigint => "BIGINT",
            ColumnType::Real => "REAL",
            ColumnType::Double => "DOUBLE",
            ColumnType::Varchar => "VARCHAR",
            ColumnType::Timestamp => "TIMESTAMP",
            ColumnType::Date => "DATE",
        }
    }
}

/// A declared column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDef {
    /// Column name (as the table shows it).
    pub name: String,
    /// Its type.
    pub ty: ColumnType,
    /// JSON: the member path, `$.a.b` (default `$.name`). CSV: unused (position).
    pub path: Vec<String>,
}

/// The event-time column of a table and how far its watermark trails it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    /// A TIMESTAMP column (or `arrival_time`).
    pub column: String,
    /// Milliseconds the watermark trails the largest time seen.
    pub delay_ms: i64,
}

/// A table declared over a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDef {
    /// Table name.
    pub name: String,
    /// The stream it reads.
    pub stream: String,
    /// Record layout.
    pub format: Format,
    /// CSV delimiter.
    #[serde(default = "comma")]
    pub delimiter: u8,
    /// Declared columns (after the metadata columns).
    pub columns: Vec<ColumnDef>,
    /// Event time, when declared.
    pub watermark: Option<Watermark>,
}

fn comma() -> u8 {
    b','
}

impl TableDef {
    /// The default table of a stream: metadata columns only.
    pub fn raw(stream: &str) -> TableDef {
        TableDef {
            name: stream.to_string(),
            stream: stream.to_string(),
            format: Format::Raw,
            delimiter: b',',
            columns: Vec::new(),
            watermark: None,
        }
    }
}

/// Runs the statement's continuous query into a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobDef {
    /// Job name (also the output stream's name).
    pub name: String,
    /// The output stream.
    pub output: String,
    /// The SELECT it runs.
    pub query: String,
    /// Whether it should run (false after STOP JOB).
    pub running: bool,
    /// When it was created, ms.
    pub created_ms: i64,
}

/// The catalog of declared tables and jobs.
#[derive(Clone)]
pub struct Catalog {
    state: Arc<ServiceState>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").finish_non_exhaustive()
    }
}

impl Catalog {
    /// Opens the `sql` namespace of the engine's catalog.
    pub fn open(engine: &Engine) -> Result<Catalog> {
        Ok(Catalog {
            state: Arc::new(engine.service_state(SERVICE)?),
        })
    }

    fn get<T: for<'de> Deserialize<'de>>(&self, key: &str) -> Result<Option<T>> {
        match self.state.get(key)? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    fn put<T: Serialize>(&self, key: &str, v: &T) -> Result<()> {
        Ok(self.state.put(key, &serde_json::to_vec(v)?)?)
    }

    fn scan<T: for<'de> Deserialize<'de>>(&self, prefix: &str) -> Result<Vec<T>> {
        self.state
            .scan(prefix)?
            .into_iter()
            .map(|(_, v)| Ok(serde_json::from_slice(&v)?))
            .collect()
    }

    /// A declared table.
    pub fn table(&self, name: &str) -> Result<Option<TableDef>> {
        self.get(&format!("table/{name}"))
    }

    /// Every declared table.
    pub fn tables(&self) -> Result<Vec<TableDef>> {
        self.scan("table/")
    }

    /// Stores a declaration (replacing one of the same name).
    pub fn put_table(&self, def: &TableDef) -> Result<()> {
        self.put(&format!("table/{}", def.name), def)
    }

    /// Removes a declaration.
    pub fn drop_table(&self, name: &str) -> Result<()> {
        if self.table(name)?.is_none() {
            return Err(Error::NotFound {
                kind: "table",
                name: name.to_string(),
            });
        }
        Ok(self.state.delete(&format!("table/{name}"))?)
    }

    /// A job.
    pub fn job(&self, name: &str) -> Result<Option<JobDef>> {
        self.get(&format!("job/{name}"))
    }

    /// Every job.
    pub fn jobs(&self) -> Result<Vec<JobDef>> {
        self.scan("job/")
    }

    /// Stores a job.
    pub fn put_job(&self, def: &JobDef) -> Result<()> {
        self.put(&format!("job/{}", def.name), def)
    }

    /// Removes a job and its checkpoint.
    pub fn drop_job(&self, name: &str) -> Result<()> {
        self.state.delete(&format!("job/{name}"))?;
        Ok(self.state.delete(&format!("ckpt/{name}"))?)
    }

    /// A job's checkpoint.
    pub fn checkpoint<T: for<'de> Deserialize<'de>>(&self, job: &str) -> Result<Option<T>> {
        self.get(&format!("ckpt/{job}"))
    }

    /// Stores a job's checkpoint.
    pub fn put_checkpoint<T: Serialize>(&self, job: &str, v: &T) -> Result<()> {
        self.put(&format!("ckpt/{job}"), v)
    }
}
