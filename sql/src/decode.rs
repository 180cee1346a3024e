//! Records into Arrow batches: the metadata columns, KPL aggregates taken apart, and
//! the declared columns decoded from JSON (flat records by [`crate::flatjson`] in one
//! pass, others by arrow-json's tape decoder over the records of a read, only the
//! projected members) or CSV. A record that does not decode gives NULL declared
//! columns; it never fails the batch.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{
    make_array, Array, ArrayRef, BinaryBuilder, Int64Builder, RecordBatch, RecordBatchOptions,
    StringBuilder, StructArray, TimestampMillisecondBuilder, UInt32Array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::{cast_with_options, concat_batches, take, CastOptions};
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use datafusion::arrow::json::ReaderBuilder;
use freshet_storage::{Record, RecordView, SequenceNumber};

use crate::catalog::{Format, TableDef};
use crate::error::Result;
use crate::flatjson::{looks_like_object, FlatPlan};
use crate::schema::{self, table_schema};

/// One user record (a plain record, or one out of a KPL aggregate).
#[derive(Debug, Clone)]
pub struct Row {
    /// The Kinesis record's sequence number.
    pub sequence_number: SequenceNumber,
    /// Position in its aggregate (0 for a plain record).
    pub sub: i64,
    /// Partition key.
    pub partition_key: Bytes,
    /// Arrival time, ms.
    pub arrival_ms: i64,
    /// Data.
    pub data: Bytes,
}

/// What the decoder reads of a record: a [`Row`], or an engine [`Record`] that is not
/// a KPL aggregate (no copy).
pub trait RowLike {
    /// The Kinesis record's sequence number.
    fn sequence_number(&self) -> SequenceNumber;
    /// Position in its aggregate.
    fn sub(&self) -> i64;
    /// Partition key.
    fn partition_key(&self) -> &[u8];
    /// Arrival time, ms.
    fn arrival_ms(&self) -> i64;
    /// Data.
    fn data(&self) -> &[u8];
}

impl RowLike for Row {
    fn sequence_number(&self) -> SequenceNumber {
        self.sequence_number
    }
    fn sub(&self) -> i64 {
        self.sub
    }
    fn partition_key(&self) -> &[u8] {
        &self.partition_key
    }
    fn arrival_ms(&self) -> i64 {
        self.arrival_ms
    }
    fn data(&self) -> &[u8] {
        &self.data
    }
}

impl RowLike for Record {
    fn sequence_number(&self) -> SequenceNumber {
        self.sequence_number
    }
    fn sub(&self) -> i64 {
        0
    }
    fn partition_key(&self) -> &[u8] {
        &self.partition_key
    }
    fn arrival_ms(&self) -> i64 {
        self.arrival_ms
    }
    fn data(&self) -> &[u8] {
        &self.data
    }
}

/// A plain record read in place from a [`RecordView`] (no reference count).
#[derive(Debug, Clone, Copy)]
pub struct ViewRow<'a> {
    sequence_number: SequenceNumber,
    arrival_ms: i64,
    partition_key: &'a [u8],
    data: &'a [u8],
}

impl RowLike for ViewRow<'_> {
    fn sequence_number(&self) -> SequenceNumber {
        self.sequence_number
    }
    fn sub(&self) -> i64 {
        0
    }
    fn partition_key(&self) -> &[u8] {
        self.partition_key
    }
    fn arrival_ms(&self) -> i64 {
        self.arrival_ms
    }
    fn data(&self) -> &[u8] {
        self.data
    }
}

/// The records of `view` as rows, in place (none of them may be a KPL aggregate:
/// [`view_aggregated`] says).
pub fn view_rows(view: &RecordView) -> Vec<ViewRow<'_>> {
    view.log
        .records
        .iter()
        .map(|r| ViewRow {
            sequence_number: view.sequence_number(r),
            arrival_ms: r.arrival_ms,
            partition_key: view.log.key(r),
            data: view.log.data(r),
        })
        .collect()
}

/// Whether any record of `view` is a KPL aggregate.
pub fn view_aggregated(view: &RecordView) -> bool {
    view.log
        .records
        .iter()
        .any(|r| freshet_protocol::kpl::is_aggregated(view.log.data(r)))
}

/// Whether any of `records` is a KPL aggregate (then [`rows`] takes them apart).
pub fn any_aggregated(records: &[Record]) -> bool {
    records
        .iter()
        .any(|r| freshet_protocol::kpl::is_aggregated(&r.data))
}

/// The user records of engine records, aggregates taken apart.
pub fn rows(records: &[Record]) -> Vec<Row> {
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        if freshet_protocol::kpl::is_aggregated(&r.data) {
            let k = freshet_protocol::kinesis::Record {
                sequence_number: r.sequence_number.to_string(),
                approximate_arrival_ms: Some(r.arrival_ms),
                data: r.data.clone(),
                partition_key: r.partition_key_str().to_string(),
            };
            for u in freshet_protocol::kpl::deaggregate(&k) {
                out.push(Row {
                    sequence_number: r.sequence_number,
                    sub: i64::try_from(u.sub_sequence_number).unwrap_or(i64::MAX),
                    partition_key: Bytes::from(u.partition_key.into_bytes()),
                    arrival_ms: r.arrival_ms,
                    data: u.data,
                });
            }
        } else {
            out.push(Row {
                sequence_number: r.sequence_number,
                sub: 0,
                partition_key: r.partition_key.clone(),
                arrival_ms: r.arrival_ms,
                data: r.data.clone(),
            });
        }
    }
    out
}

/// Decodes rows of one table into batches of a projection of its schema.
#[derive(Debug, Clone)]
pub struct Decoder {
    def: Arc<TableDef>,
    projection: Vec<usize>,
    schema: SchemaRef,
    /// The nested schema arrow-json decodes the projected JSON columns into.
    json_schema: Option<SchemaRef>,
    /// The one-pass decoder of flat records, when every projected member is flat.
    flat: Option<FlatPlan>,
}

impl Decoder {
    /// A decoder of the columns `projection` (indices into the table's schema; `None`:
    /// every column).
    pub fn new(def: Arc<TableDef>, projection: Option<&[usize]>) -> Decoder {
        let full = table_schema(&def);
        let projection: Vec<usize> = match projection {
            Some(p) => p.to_vec(),
            None => (0..full.fields().len()).collect(),
        };
        let schema = Arc::new(Schema::new(
            projection
                .iter()
                .filter_map(|&i| full.fields().get(i).cloned())
                .collect::<Vec<_>>(),
        ));
        let declared: Vec<usize> = projection
            .iter()
            .filter_map(|&i| i.checked_sub(schema::METADATA.len()))
            .collect();
        let json_schema = (def.format == Format::Json && !declared.is_empty()).then(|| {
            let mut root: Vec<Node> = Vec::new();
            for &c in &declared {
                if let Some(col) = def.columns.get(c) {
                    insert(&mut root, &col.path, col.ty.arrow());
                }
            }
            Arc::new(Schema::new(to_fields(&root)))
        });
        let flat = json_schema
            .as_ref()
            .and_then(|_| FlatPlan::new(&def, &declared));
        Decoder {
            def,
            projection,
            schema,
            json_schema,
            flat,
        }
    }

    /// The schema of the batches.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// The batch of `rows` of shard `shard_id`.
    pub fn decode<R: RowLike>(&self, shard_id: &str, rows: &[R]) -> Result<RecordBatch> {
        let n = rows.len();
        let declared = self.declared_columns(rows)?;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.projection.len());
        for &i in &self.projection {
            let col: ArrayRef = match i {
                schema::SHARD_ID => {
                    let mut b = StringBuilder::with_capacity(n, n * shard_id.len());
                    for _ in 0..n {
                        b.append_value(shard_id);
                    }
                    Arc::new(b.finish())
                }
                schema::SEQUENCE_NUMBER => {
                    use std::fmt::Write;
                    let mut b = StringBuilder::with_capacity(n, n * 56);
                    for r in rows {
                        let _ = write!(b, "{}", r.sequence_number());
                        b.append_value("");
                    }
                    Arc::new(b.finish())
                }
                schema::SUB_SEQUENCE_NUMBER => {
                    let mut b = Int64Builder::with_capacity(n);
                    for r in rows {
                        b.append_value(r.sub());
                    }
                    Arc::new(b.finish())
                }
                schema::PARTITION_KEY => {
                    let mut b = StringBuilder::with_capacity(n, n * 16);
                    for r in rows {
                        b.append_value(String::from_utf8_lossy(r.partition_key()));
                    }
                    Arc::new(b.finish())
                }
                schema::ARRIVAL_TIME => {
                    let mut b = TimestampMillisecondBuilder::with_capacity(n);
                    for r in rows {
                        b.append_value(r.arrival_ms());
                    }
                    Arc::new(b.finish().with_timezone("UTC"))
                }
                schema::DATA => {
                    let mut b =
                        BinaryBuilder::with_capacity(n, rows.iter().map(|r| r.data().len()).sum());
                    for r in rows {
                        b.append_value(r.data());
                    }
                    Arc::new(b.finish())
                }
                d => {
                    let c = d - schema::METADATA.len();
                    match declared.iter().find(|(k, _)| *k == c) {
                        Some((_, a)) => Arc::clone(a),
                        None => datafusion::arrow::array::new_null_array(
                            &self
                                .def
                                .columns
                                .get(c)
                                .map(|c| c.ty.arrow())
                                .unwrap_or(DataType::Null),
                            n,
                        ),
                    }
                }
            };
            columns.push(col);
        }
        Ok(RecordBatch::try_new_with_options(
            self.schema(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )?)
    }

    /// The projected declared columns, by index into the declaration.
    fn declared_columns<R: RowLike>(&self, rows: &[R]) -> Result<Vec<(usize, ArrayRef)>> {
        let wanted: Vec<usize> = self
            .projection
            .iter()
            .filter_map(|&i| i.checked_sub(schema::METADATA.len()))
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        match self.def.format {
            Format::Json => self.json_columns(rows, &wanted),
            Format::Csv => self.csv_columns(rows, &wanted),
            Format::Raw => Ok(Vec::new()),
        }
    }

    fn json_columns<R: RowLike>(
        &self,
        rows: &[R],
        wanted: &[usize],
    ) -> Result<Vec<(usize, ArrayRef)>> {
        let Some(js) = &self.json_schema else {
            return Ok(Vec::new());
        };
        if let Some(cols) = self
            .flat
            .as_ref()
            .and_then(|f| f.decode(rows.iter().map(|r| r.data())))
        {
            return Ok(cols);
        }
        let good: Vec<usize> = (0..rows.len())
            .filter(|&i| looks_like_object(rows[i].data()))
            .collect();
        let (batch, index) = match decode_json(js, good.iter().map(|&i| rows[i].data())) {
            Some(b) if b.num_rows() == good.len() => (b, good_index(rows.len(), &good)),
            _ => one_by_one(js, rows, &good)?,
        };
        let batch = match index {
            Some(idx) => {
                let cols = batch
                    .columns()
                    .iter()
                    .map(|c| take(c.as_ref(), &idx, None))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                RecordBatch::try_new_with_options(
                    batch.schema(),
                    cols,
                    &RecordBatchOptions::new().with_row_count(Some(rows.len())),
                )?
            }
            None => batch,
        };
        let mut out = Vec::with_capacity(wanted.len());
        for &c in wanted {
            let Some(col) = self.def.columns.get(c) else {
                continue;
            };
            if let Some(a) = leaf(&batch, &col.path) {
                out.push((c, a));
            }
        }
        Ok(out)
    }

    fn csv_columns<R: RowLike>(
        &self,
        rows: &[R],
        wanted: &[usize],
    ) -> Result<Vec<(usize, ArrayRef)>> {
        let mut builders: Vec<StringBuilder> = wanted
            .iter()
            .map(|_| StringBuilder::with_capacity(rows.len(), rows.len() * 8))
            .collect();
        let mut fields = Vec::new();
        for r in rows {
            split_csv(r.data(), self.def.delimiter, &mut fields);
            for (b, &c) in builders.iter_mut().zip(wanted) {
                match fields.get(c) {
                    Some(Some(v)) => b.append_value(v),
                    _ => b.append_null(),
                }
            }
        }
        let opts = CastOptions {
            safe: true,
            ..Default::default()
        };
        let mut out = Vec::with_capacity(wanted.len());
        for (mut b, &c) in builders.into_iter().zip(wanted) {
            let Some(col) = self.def.columns.get(c) else {
                continue;
            };
            let s: ArrayRef = Arc::new(b.finish());
            out.push((c, cast_with_options(&s, &col.ty.arrow(), &opts)?));
        }
        Ok(out)
    }
}

/// `None` when every row decoded in order; else the row of each record (null: none).
fn good_index(n: usize, good: &[usize]) -> Option<UInt32Array> {
    if good.len() == n {
        return None;
    }
    let mut idx: Vec<Option<u32>> = vec![None; n];
    for (k, &i) in good.iter().enumerate() {
        if let Some(slot) = idx.get_mut(i) {
            *slot = u32::try_from(k).ok();
        }
    }
    Some(UInt32Array::from(idx))
}

/// Decodes the records one by one (after the batch failed): one that does not decode
/// gets a null row.
fn one_by_one<R: RowLike>(
    js: &SchemaRef,
    rows: &[R],
    good: &[usize],
) -> Result<(RecordBatch, Option<UInt32Array>)> {
    let mut batches = Vec::new();
    let mut idx: Vec<Option<u32>> = vec![None; rows.len()];
    for &i in good {
        if let Some(b) = decode_json(js, std::iter::once(rows[i].data())) {
            if b.num_rows() == 1 {
                if let Some(slot) = idx.get_mut(i) {
                    *slot = u32::try_from(batches.len()).ok();
                }
                batches.push(b);
            }
        }
    }
    let batch = concat_batches(js, &batches)?;
    Ok((batch, Some(UInt32Array::from(idx))))
}

/// Decodes concatenated JSON objects; `None` on any error.
fn decode_json<'a>(js: &SchemaRef, docs: impl Iterator<Item = &'a [u8]>) -> Option<RecordBatch> {
    let mut buf = Vec::new();
    let mut count = 0;
    for d in docs {
        buf.extend_from_slice(d);
        buf.push(b'\n');
        count += 1;
    }
    let mut dec = ReaderBuilder::new(Arc::clone(js))
        .with_batch_size(count.max(1))
        .with_coerce_primitive(true)
        .with_strict_mode(false)
        .build_decoder()
        .ok()?;
    let mut at = 0;
    while at < buf.len() {
        let used = dec.decode(buf.get(at..)?).ok()?;
        if used == 0 {
            break;
        }
        at += used;
    }
    if at < buf.len() {
        return None;
    }
    match dec.flush().ok()? {
        Some(b) => Some(b),
        None => Some(RecordBatch::new_empty(Arc::clone(js))),
    }
}

/// A member path's column out of the nested batch, nulls of its parents applied.
fn leaf(batch: &RecordBatch, path: &[String]) -> Option<ArrayRef> {
    let (first, rest) = path.split_first()?;
    let mut arr = Arc::clone(batch.column_by_name(first)?);
    for m in rest {
        let s = arr.as_any().downcast_ref::<StructArray>()?;
        let child = Arc::clone(s.column_by_name(m)?);
        arr = match s.nulls() {
            Some(parent) => {
                let nulls = NullBuffer::union(Some(parent), child.nulls());
                let data = child.to_data().into_builder().nulls(nulls).build().ok()?;
                make_array(data)
            }
            None => child,
        };
    }
    Some(arr)
}

/// A node of the tree of member paths.
#[derive(Debug)]
struct Node {
    name: String,
    ty: Option<DataType>,
    children: Vec<Node>,
}

fn insert(level: &mut Vec<Node>, path: &[String], ty: DataType) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let pos = match level.iter().position(|n| &n.name == first) {
        Some(p) => p,
        None => {
            level.push(Node {
                name: first.clone(),
                ty: None,
                children: Vec::new(),
            });
            level.len() - 1
        }
    };
    if let Some(node) = level.get_mut(pos) {
        if rest.is_empty() {
            node.ty = Some(ty);
        } else {
            insert(&mut node.children, rest, ty);
        }
    }
}

fn to_fields(level: &[Node]) -> Vec<Field> {
    level
        .iter()
        .map(|n| match &n.ty {
            Some(t) if n.children.is_empty() => Field::new(&n.name, t.clone(), true),
            _ => Field::new(
                &n.name,
                DataType::Struct(Fields::from(to_fields(&n.children))),
                true,
            ),
        })
        .collect()
}

/// Splits one CSV line into fields (double quotes, `""` inside them); `None` for an
/// empty unquoted field.
fn split_csv(line: &[u8], delimiter: u8, out: &mut Vec<Option<String>>) {
    out.clear();
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut cur = Vec::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut i = 0;
    while let Some(&c) = line.get(i) {
        if quoted {
            if c == b'"' {
                if line.get(i + 1) == Some(&b'"') {
                    cur.push(b'"');
                    i += 1;
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == b'"' {
            quoted = true;
            was_quoted = true;
        } else if c == delimiter {
            out.push(field(&mut cur, was_quoted));
            was_quoted = false;
        } else {
            cur.push(c);
        }
        i += 1;
    }
    out.push(field(&mut cur, was_quoted));
}

fn field(cur: &mut Vec<u8>, quoted: bool) -> Option<String> {
    let v = String::from_utf8_lossy(cur).trim().to_string();
    cur.clear();
    (quoted || !v.is_empty()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{ColumnDef, ColumnType};
    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};

    fn row(data: &str) -> Row {
        Row {
            sequence_number: SequenceNumber::new(0, 1),
            sub: 0,
            partition_key: Bytes::from_static(b"k"),
            arrival_ms: 1000,
            data: Bytes::from(data.to_string()),
        }
    }

    fn def(format: Format) -> Arc<TableDef> {
        Arc::new(TableDef {
            name: "t".into(),
            stream: "s".into(),
            format,
            delimiter: b',',
            columns: vec![
                ColumnDef {
                    name: "id".into(),
                    ty: ColumnType::Bigint,
                    path: vec!["id".into()],
                },
                ColumnDef {
                    name: "city".into(),
                    ty: ColumnType::Varchar,
                    path: vec!["addr".into(), "city".into()],
                },
                ColumnDef {
                    name: "price".into(),
                    ty: ColumnType::Double,
                    path: vec!["price".into()],
                },
            ],
            watermark: None,
        })
    }

    #[test]
    fn json_paths_and_bad_records_give_nulls() {
        let d = Decoder::new(def(Format::Json), Some(&[6, 7, 8]));
        let rows = vec![
            row(r#"{"id": 1, "addr": {"city": "Oslo"}, "price": 2.5}"#),
            row("not json"),
            row(r#"{"id": "x", "price": 1}"#),
            row(r#"{"id": 3, "extra": [1,2]}"#),
            row(r#"{"id": 4"#),
        ];
        let b = d.decode("shardId-000000000000", &rows).unwrap();
        assert_eq!(b.num_rows(), 5);
        let id = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(id.value(0), 1);
        assert!(id.is_null(1));
        assert!(id.is_null(2));
        assert_eq!(id.value(3), 3);
        assert!(id.is_null(4));
        let city = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(city.value(0), "Oslo");
        assert!(city.is_null(3));
        let price = b.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(price.value(0), 2.5);
    }

    #[test]
    fn flat_path_agrees_with_arrow_json() {
        let col = |name: &str, ty| ColumnDef {
            name: name.into(),
            ty,
            path: vec![name.into()],
        };
        let flat_def = Arc::new(TableDef {
            columns: vec![
                col("id", ColumnType::Bigint),
                col("k", ColumnType::Varchar),
                col("v", ColumnType::Double),
                col("ok", ColumnType::Boolean),
                col("n", ColumnType::Int),
                col("r", ColumnType::Real),
            ],
            ..(*def(Format::Json)).clone()
        });
        let fast = Decoder::new(Arc::clone(&flat_def), None);
        let slow = Decoder {
            flat: None,
            ..fast.clone()
        };
        let docs = [
            r#"{"id":1,"k":"key-001","v":12.34,"ok":true,"n":-5,"r":0.1,"pad":"xxxx"}"#,
            r#"{"id":-0,"k":12.50,"v":-1e-3,"ok":false,"n":2147483647,"r":3.4e38}"#,
            r#"{"k":true,"v":0,"id":null,"x":{"y":[1,"2",{"z":null}],"w":[]},"k":"last"}"#,
            r#"  {"v":1E2 , "r" : 16777217, "ok":null, "k": "é ✓"}  "#,
            r#"{"id":9007199254740993,"v":9007199254740993,"k":-0.0e0}"#,
            r#"{}"#,
            r#"[1,2]"#,
            r#"{"id":1"#,
            r#"{"id":"5"}"#,
            r#"{"n":2147483648}"#,
            r#"{"id":1.5}"#,
            r#"{"k":"a\u0041"}"#,
            r#"{"ok":"true"}"#,
            r#"{"v":1e999}"#,
            "{\"id\":1}\n{\"id\":2}",
            "not json",
        ];
        let mut fast_ones = 0;
        for doc in docs {
            let rows = [row(doc)];
            let want = slow.decode("s", &rows).unwrap();
            let got = fast.decode("s", &rows).unwrap();
            assert_eq!(want, got, "{doc}");
            let plan = fast.flat.as_ref().unwrap();
            fast_ones += usize::from(plan.decode(std::iter::once(doc.as_bytes())).is_some());
        }
        assert!(fast_ones >= 7, "{fast_ones}");
    }

    #[test]
    fn csv_by_position() {
        let d = Decoder::new(def(Format::Csv), None);
        let rows = vec![row("7,\"Oslo, N\",1.5"), row("x,,")];
        let b = d.decode("s", &rows).unwrap();
        let id = b.column(6).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(id.value(0), 7);
        assert!(id.is_null(1));
        let city = b.column(7).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(city.value(0), "Oslo, N");
    }
}
