//! Schema discovery from a sample of a stream's records (as Kinesis Data Analytics'
//! DiscoverInputSchema): `SELECT * FROM discover_schema('stream')` gives one row a
//! column (name, SQL type, `$.path`, format) and, in `ddl`, a CREATE TABLE to run.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{TableFunctionImpl, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::Expr;
use datafusion::scalar::ScalarValue;
use freshet_storage::Engine;

use crate::catalog::ColumnType;
use crate::decode::rows;

/// Records sampled per shard.
const SAMPLE: usize = 200;

/// The `discover_schema(stream)` table function.
#[derive(Debug)]
pub struct DiscoverSchema {
    /// The engine to sample from.
    pub engine: Engine,
}

/// A discovered column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// Column name.
    pub name: String,
    /// Its type.
    pub ty: ColumnType,
    /// `$.a.b`.
    pub path: String,
}

impl TableFunctionImpl for DiscoverSchema {
    fn call(&self, args: &[Expr]) -> DfResult<Arc<dyn TableProvider>> {
        let stream = match args.first() {
            Some(Expr::Literal(ScalarValue::Utf8(Some(s)), _)) => s.clone(),
            _ => {
                return Err(DataFusionError::Plan(
                    "discover_schema takes a stream name: discover_schema('my-stream')".into(),
                ))
            }
        };
        let samples = sample(&self.engine, &stream)
            .map_err(|e| DataFusionError::Plan(format!("discover_schema('{stream}'): {e}")))?;
        let (format, cols) = infer(&samples);
        let ddl = ddl(&stream, format, &cols);
        let schema = Arc::new(Schema::new(vec![
            Field::new("column_name", DataType::Utf8, false),
            Field::new("sql_type", DataType::Utf8, false),
            Field::new("path", DataType::Utf8, false),
            Field::new("format", DataType::Utf8, false),
            Field::new("ddl", DataType::Utf8, false),
        ]));
        let n = cols.len();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from_iter_values(
                    cols.iter().map(|c| c.name.as_str()),
                )),
                Arc::new(StringArray::from_iter_values(
                    cols.iter().map(|c| c.ty.sql()),
                )),
                Arc::new(StringArray::from_iter_values(
                    cols.iter().map(|c| c.path.as_str()),
                )),
                Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                    format, n,
                ))),
                Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                    ddl.as_str(),
                    n,
                ))),
            ],
        )?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

fn sample(engine: &Engine, stream: &str) -> freshet_storage::Result<Vec<bytes::Bytes>> {
    let d = engine.describe_stream(stream)?;
    let mut out = Vec::new();
    for s in &d.shards {
        let st = engine.shard_state(stream, &s.shard_id)?;
        let got = engine.read(stream, &s.shard_id, st.start_offset, SAMPLE, 1 << 20)?;
        out.extend(rows(&got.records).into_iter().map(|r| r.data));
    }
    Ok(out)
}

/// The format (`json` or `csv`) and columns of sample records.
pub fn infer(samples: &[bytes::Bytes]) -> (&'static str, Vec<Discovered>) {
    let mut fields: BTreeMap<Vec<String>, ColumnType> = BTreeMap::new();
    let mut order: Vec<Vec<String>> = Vec::new();
    let mut json = 0;
    for s in samples {
        if let Ok(serde_json::Value::Object(m)) = serde_json::from_slice::<serde_json::Value>(s) {
            json += 1;
            walk(&m, &mut Vec::new(), &mut fields, &mut order);
        }
    }
    if json * 2 >= samples.len() && json > 0 {
        let cols = order
            .into_iter()
            .filter_map(|p| {
                let ty = *fields.get(&p)?;
                Some(Discovered {
                    name: p.join("_").to_lowercase(),
                    ty,
                    path: format!("$.{}", p.join(".")),
                })
            })
            .collect();
        return ("json", cols);
    }
    // CSV: types by position over the sample.
    let mut types: Vec<Option<ColumnType>> = Vec::new();
    for s in samples {
        let line = String::from_utf8_lossy(s);
        for (i, f) in line.trim_end().split(',').enumerate() {
            let t = scalar_type(
                &serde_json::from_str(f.trim())
                    .unwrap_or(serde_json::Value::String(f.trim().to_string())),
            );
            if types.len() <= i {
                types.resize(i + 1, None);
            }
            if let Some(slot) = types.get_mut(i) {
                *slot = Some(widen(*slot, t));
            }
        }
    }
    let cols = types
        .into_iter()
        .enumerate()
        .map(|(i, t)| Discovered {
            name: format!("col_{i}"),
            ty: t.unwrap_or(ColumnType::Varchar),
            path: format!("${i}"),
        })
        .collect();
    ("csv", cols)
}

fn walk(
    m: &serde_json::Map<String, serde_json::Value>,
    prefix: &mut Vec<String>,
    fields: &mut BTreeMap<Vec<String>, ColumnType>,
    order: &mut Vec<Vec<String>>,
) {
    for (k, v) in m {
        prefix.push(k.clone());
        match v {
            serde_json::Value::Object(inner) if prefix.len() < 4 => {
                walk(inner, prefix, fields, order)
            }
            serde_json::Value::Null => {}
            other => {
                let t = scalar_type(other);
                let p = prefix.clone();
                match fields.get_mut(&p) {
                    Some(old) => *old = widen(Some(*old), t),
                    None => {
                        fields.insert(p.clone(), t);
                        order.push(p);
                    }
                }
            }
        }
        prefix.pop();
    }
}

fn scalar_type(v: &serde_json::Value) -> ColumnType {
    match v {
        serde_json::Value::Bool(_) => ColumnType::Boolean,
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => ColumnType::Bigint,
        serde_json::Value::Number(_) => ColumnType::Double,
        serde_json::Value::String(s) if looks_like_timestamp(s) => ColumnType::Timestamp,
        _ => ColumnType::Varchar,
    }
}

fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 19
        && b.get(4) == Some(&b'-')
        && b.get(7) == Some(&b'-')
        && matches!(b.get(10), Some(b'T' | b' '))
        && b.get(13) == Some(&b':')
}

fn widen(old: Option<ColumnType>, new: ColumnType) -> ColumnType {
    match (old, new) {
        (None, t) => t,
        (Some(a), b) if a == b => a,
        (Some(ColumnType::Bigint), ColumnType::Double)
        | (Some(ColumnType::Double), ColumnType::Bigint) => ColumnType::Double,
        _ => ColumnType::Varchar,
    }
}

fn ddl(stream: &str, format: &str, cols: &[Discovered]) -> String {
    let body: Vec<String> = cols
        .iter()
        .map(|c| {
            if format == "json" {
                format!("\"{}\" {} PATH '{}'", c.name, c.ty.sql(), c.path)
            } else {
                format!("\"{}\" {}", c.name, c.ty.sql())
            }
        })
        .collect();
    format!(
        "CREATE TABLE \"{stream}\" ({}) WITH (stream = '{stream}', format = '{format}')",
        body.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_json_members_and_types() {
        let s = vec![
            bytes::Bytes::from_static(
                br#"{"id": 1, "u": {"name": "a"}, "ts": "2024-01-01T00:00:00Z", "p": 1}"#,
            ),
            bytes::Bytes::from_static(br#"{"id": 2, "u": {"name": "b"}, "p": 1.5}"#),
        ];
        let (f, cols) = infer(&s);
        assert_eq!(f, "json");
        let get = |n: &str| cols.iter().find(|c| c.name == n).unwrap().clone();
        assert_eq!(get("id").ty, ColumnType::Bigint);
        assert_eq!(get("u_name").path, "$.u.name");
        assert_eq!(get("ts").ty, ColumnType::Timestamp);
        assert_eq!(get("p").ty, ColumnType::Double);
    }
}
