//! Record format conversion: JSON records to Apache Parquet, as Firehose's
//! `DataFormatConversionConfiguration` asks.
//!
//! Freshet has no Glue Data Catalog, so `SchemaConfiguration.TableName` carries the
//! schema itself or asks for it to be inferred:
//!
//! - `NAME:struct<col:type,...>` (no white space, which `TableName` forbids) gives the
//!   columns with Hive/Glue types: `boolean`, `tinyint`, `smallint`, `int`, `bigint`,
//!   `float`, `double`, `decimal(p,s)`, `string`, `varchar(n)`, `char(n)`, `date`,
//!   `timestamp`, `binary`, `array<T>`, `map<K,T>` and `struct<a:T,...>`;
//! - a plain name infers the schema from each object's records (see `infer`): the union
//!   of their keys in first-seen order, integers `bigint` (`double` if any value of the key
//!   has a fraction), objects `struct`, arrays `array`, conflicting or only-`null` values
//!   `string`. Column names are the keys as matched (lower-cased by `CaseInsensitive`,
//!   dots made underscores by `ConvertDotsInJsonKeysToUnderscores`, renamed by
//!   `ColumnToJsonKeyMappings`).
//!
//! Arrow and Parquet types: `tinyint` Int8 … `bigint` Int64, `float` Float32, `double`
//! Float64, `decimal` Decimal128, the string types Utf8, `date` Date32, `timestamp`
//! Timestamp(Millisecond, no zone: Parquet `TIMESTAMP(MILLIS, isAdjustedToUTC=false)`),
//! `binary` Binary (base64 in JSON), `array` List (child `element`), `map` Map
//! (`key_value` of `key`, `value`), `struct` Struct. Every column is nullable.
//!
//! Each record holds one or more JSON objects (Firehose accepts `{"a":1}{"a":2}`), each
//! one row. A missing key or `null` is NULL, extra keys are ignored, and values are
//! coerced as the SerDes do (`"42"` into `int`, a number into `string` as its text, an
//! object into `string` as its JSON; timestamps as described in `time`). A record that
//! is not JSON objects, or has a value its column cannot hold, fails alone, with a
//! message naming the column and the reason, and leaves no row.
//!
//! `ParquetSerDe` maps to the writer: `Compression` (`SNAPPY` by default),
//! `EnableDictionaryCompression` (off by default), `PageSizeBytes` (the data page size
//! limit, 1 MiB by default), `WriterVersion` (`V1` by default: Parquet 1.0 pages) and
//! `BlockSizeBytes` (256 MiB by default: a row group is closed once its encoded size
//! reaches it). `MaxPaddingBytes` is accepted and has no effect (the writer does not pad
//! row groups to HDFS blocks). `OrcSerDe` is refused.

mod build;
mod coerce;
mod infer;
mod json;
mod schema;
mod time;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema, SchemaRef};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, GzipLevel};
use parquet::file::properties::{WriterProperties, WriterVersion};
use serde_json::{Map, Value};

use build::ColumnBuilder;
use coerce::{Cell, Coercer, KeyMatching, NormalizedFields};
use json::{parse_record, parse_single_object, Json, Members, Object};
use schema::Column;
use time::{TimestampFormat, TimestampParsing};

/// Rows per Arrow record batch handed to the Parquet writer.
const BATCH_ROWS: usize = 65_536;
/// Record bytes per record batch, at most: bounds the builders' memory for big records.
const BATCH_BYTES: usize = 32 << 20;

/// A compiled `DataFormatConversionConfiguration`: converts an object's JSON records to
/// one Parquet file. Cheap to clone (the configuration is shared).
#[derive(Debug, Clone)]
pub struct Conversion {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The inline schema's plan, or `None` to infer one per object.
    plan: Option<Plan>,
    keys: KeyMatching,
    /// `ColumnToJsonKeyMappings`: (column name, JSON key).
    mappings: Vec<(String, String)>,
    /// The mappings for inference: (normalized JSON key, column name).
    renames: Vec<(String, String)>,
    timestamps: TimestampParsing,
    parquet: ParquetOptions,
}

/// The writer settings of a `ParquetSerDe`.
#[derive(Debug, Clone, PartialEq)]
struct ParquetOptions {
    compression: Compression,
    dictionary: bool,
    page_size: usize,
    block_size: usize,
    writer_version: WriterVersion,
}

/// The result of converting one object's records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Converted {
    /// The Parquet file (empty when every record failed: then no object is written).
    pub parquet: Vec<u8>,
    /// Records that did not convert: (index into the input, message).
    pub failed: Vec<(usize, String)>,
    /// Rows written (a record of several JSON objects writes several).
    pub rows: usize,
}

impl Conversion {
    /// Compiles a `DataFormatConversionConfiguration` (AWS member names). `Ok(None)` when
    /// `Enabled` is false; `Err` says what is wrong or unsupported (an unknown type in
    /// the inline schema, a Joda pattern this server cannot read, `OrcSerDe`, ...).
    pub fn from_config(config: &Value) -> Result<Option<Conversion>, String> {
        let root = object(config, "DataFormatConversionConfiguration")?;
        if !optional_bool(root, "Enabled", "DataFormatConversionConfiguration")?.unwrap_or(true) {
            return Ok(None);
        }
        let schema_config = required_object(
            root,
            "SchemaConfiguration",
            "DataFormatConversionConfiguration",
        )?;
        let table_name = match member(schema_config, "TableName") {
            Some(Value::String(s)) if !s.is_empty() => s.as_str(),
            Some(_) => {
                return Err("SchemaConfiguration.TableName must be a non-empty string".to_string())
            }
            None => return Err(
                "SchemaConfiguration.TableName is required: a table name (to infer the schema) \
                            or NAME:struct<col:type,...>"
                    .to_string(),
            ),
        };
        let input = required_object(
            root,
            "InputFormatConfiguration",
            "DataFormatConversionConfiguration",
        )?;
        let deserializer = required_object(input, "Deserializer", "InputFormatConfiguration")?;
        let (keys, mappings, timestamps) = deserializer_config(deserializer)?;
        let output = required_object(
            root,
            "OutputFormatConfiguration",
            "DataFormatConversionConfiguration",
        )?;
        let serializer = required_object(output, "Serializer", "OutputFormatConfiguration")?;
        let parquet = serializer_config(serializer)?;

        let renames = mappings
            .iter()
            .map(|(column, key)| (keys.normalize(key).into_owned(), column.clone()))
            .collect();
        let plan = match schema::parse_table_name(table_name)? {
            Some(inline) => Some(Plan::new(inline.columns, &keys, &mappings)),
            None => None,
        };
        Ok(Some(Conversion {
            inner: Arc::new(Inner {
                plan,
                keys,
                mappings,
                renames,
                timestamps,
                parquet,
            }),
        }))
    }

    /// The object key's extension: `.parquet` (Parquet compresses inside the file).
    pub fn extension(&self) -> &'static str {
        ".parquet"
    }

    /// Converts one object's records to a Parquet file. Records that do not convert are
    /// listed in [`Converted::failed`] and leave no row; `Err` only when writing fails.
    /// Never panics, whatever the bytes.
    pub fn convert(&self, records: &[Bytes]) -> Result<Converted, String> {
        let inner = &*self.inner;
        let inferred;
        let plan = match &inner.plan {
            Some(plan) => plan,
            None => match inner.infer(records) {
                Some(plan) => {
                    inferred = plan;
                    &inferred
                }
                None => return Ok(inner.no_columns(records)),
            },
        };
        let mut writer = ObjectWriter::new(plan, &inner.parquet)?;
        let coercer = Coercer {
            keys: &inner.keys,
            timestamps: &inner.timestamps,
        };
        let mut stage = Stage::new(plan.columns.len());
        let mut failed = Vec::new();
        for (index, record) in records.iter().enumerate() {
            match stage.record(plan, &coercer, &inner.keys, record) {
                Ok(()) => writer.append(&mut stage.cells, record.len())?,
                Err(message) => failed.push((index, message)),
            }
        }
        let (parquet, rows) = writer.finish()?;
        Ok(Converted {
            parquet,
            failed,
            rows,
        })
    }
}

impl Inner {
    /// The plan of the columns inferred from `records`; `None` when they have none.
    fn infer(&self, records: &[Bytes]) -> Option<Plan> {
        let mut inference = infer::Inference::new(&self.keys, &self.renames);
        let mut objects = Vec::new();
        // A reused buffer for records of one object, the common case.
        let mut members: Object = Vec::new();
        for record in records {
            members.clear();
            if parse_single_object(record, &mut members) {
                inference.add(&members);
                continue;
            }
            objects.clear();
            if parse_record(record, &mut objects).is_ok() {
                objects.iter().for_each(|o| inference.add(o));
            }
        }
        let columns = inference.finish();
        if columns.is_empty() {
            return None;
        }
        Some(Plan::new(columns, &self.keys, &self.mappings))
    }

    /// Every record failed, when no column could be inferred.
    fn no_columns(&self, records: &[Bytes]) -> Converted {
        let mut objects = Vec::new();
        let failed = records
            .iter()
            .enumerate()
            .map(|(index, record)| {
                objects.clear();
                let message = match parse_record(record, &mut objects) {
                    Err(e) => e,
                    Ok(()) => "no column to write: the object's records hold no keys to infer a schema from".to_string(),
                };
                (index, message)
            })
            .collect();
        Converted {
            parquet: Vec::new(),
            failed,
            rows: 0,
        }
    }
}

/// The columns of an object's file and how JSON keys find them.
#[derive(Debug)]
struct Plan {
    columns: Vec<Column>,
    /// The normalized names of each column's struct fields.
    fields: Vec<NormalizedFields>,
    /// Normalized JSON key to the columns that read it (more than one only when a
    /// mapping points a column at another column's key).
    lookup: HashMap<String, Vec<usize>, BuildHasherDefault<KeyHasher>>,
    schema: SchemaRef,
}

/// A fast hash of short keys (FxHash's mixing) for the lookup of a plan's own column
/// names, which records cannot choose.
#[derive(Default, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(SEED);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(SEED);
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.write(&[byte]);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl Plan {
    fn new(columns: Vec<Column>, keys: &KeyMatching, mappings: &[(String, String)]) -> Plan {
        let mut lookup: HashMap<String, Vec<usize>, BuildHasherDefault<KeyHasher>> =
            HashMap::default();
        for (i, column) in columns.iter().enumerate() {
            let json_key = mappings
                .iter()
                .find(|(name, _)| name.to_lowercase() == column.name.to_lowercase())
                .map_or(column.name.as_str(), |(_, key)| key.as_str());
            lookup
                .entry(keys.normalize(json_key).into_owned())
                .or_default()
                .push(i);
        }
        let fields = coerce::column_fields(&columns, keys);
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(c.name.clone(), c.ty.data_type(), true))
                .collect::<Vec<_>>(),
        ));
        Plan {
            columns,
            fields,
            lookup,
            schema,
        }
    }
}

/// The reusable buffers of a record being converted.
struct Stage<'r> {
    objects: Vec<Object<'r>>,
    /// One value per column of the object at hand.
    slots: Vec<Json<'r>>,
    /// The record's coerced rows, column after column.
    cells: Vec<Cell<'r>>,
    key: String,
}

impl<'r> Stage<'r> {
    fn new(columns: usize) -> Self {
        Stage {
            objects: Vec::new(),
            slots: vec![Json::Null; columns],
            cells: Vec::new(),
            key: String::new(),
        }
    }

    /// Parses and coerces one record into `cells`, or says why it cannot convert (then
    /// `cells` is empty).
    fn record(
        &mut self,
        plan: &Plan,
        coercer: &Coercer,
        keys: &KeyMatching,
        record: &'r [u8],
    ) -> Result<(), String> {
        self.cells.clear();
        let staged = self.stage(plan, coercer, keys, record);
        if staged.is_err() {
            self.cells.clear();
        }
        staged
    }

    fn stage(
        &mut self,
        plan: &Plan,
        coercer: &Coercer,
        keys: &KeyMatching,
        record: &'r [u8],
    ) -> Result<(), String> {
        let Stage {
            objects,
            slots,
            cells,
            key,
        } = self;
        slots.iter_mut().for_each(|slot| *slot = Json::Null);
        let mut filler = SlotFiller {
            plan,
            keys,
            slots,
            key,
            targets: &[],
        };
        if parse_single_object(record, &mut filler) {
            return coerce_slots(plan, coercer, slots, cells);
        }
        // Several objects, or not valid: the general path, which also says what is wrong.
        objects.clear();
        parse_record(record, objects)?;
        for object in objects.drain(..) {
            slots.iter_mut().for_each(|slot| *slot = Json::Null);
            let mut filler = SlotFiller {
                plan,
                keys,
                slots,
                key,
                targets: &[],
            };
            for (name, value) in object {
                if filler.wants(&name) {
                    filler.member(name, value);
                }
            }
            coerce_slots(plan, coercer, slots, cells)?;
        }
        Ok(())
    }
}

/// Coerces an object's column values (`slots`, left NULL) onto `cells`.
fn coerce_slots<'r>(
    plan: &Plan,
    coercer: &Coercer,
    slots: &mut [Json<'r>],
    cells: &mut Vec<Cell<'r>>,
) -> Result<(), String> {
    for ((slot, column), fields) in slots.iter_mut().zip(&plan.columns).zip(&plan.fields) {
        let cell = coercer
            .coerce(std::mem::take(slot), &column.ty, fields)
            .map_err(|e| format!("column '{}': {e}", column.name))?;
        cells.push(cell);
    }
    Ok(())
}

/// Puts an object's members in the slots of the columns that read them.
struct SlotFiller<'a, 'r> {
    plan: &'a Plan,
    keys: &'a KeyMatching,
    slots: &'a mut [Json<'r>],
    /// A buffer for normalized keys.
    key: &'a mut String,
    /// The columns of the key last wanted.
    targets: &'a [usize],
}

impl<'r> json::Members<'r> for SlotFiller<'_, 'r> {
    fn wants(&mut self, key: &str) -> bool {
        let name: &str = if self.keys.needs_normalizing(key) {
            self.keys.normalize_into(key, self.key);
            self.key
        } else {
            key
        };
        self.targets = self.plan.lookup.get(name).map_or(&[], Vec::as_slice);
        !self.targets.is_empty()
    }

    fn member(&mut self, _key: std::borrow::Cow<'r, str>, value: Json<'r>) {
        match self.targets {
            [] => {}
            [only] => self.slots[*only] = value,
            several => several.iter().for_each(|&i| self.slots[i] = value.clone()),
        }
    }
}

/// Appends rows to column builders and writes them as record batches into one file.
struct ObjectWriter {
    schema: SchemaRef,
    builders: Vec<ColumnBuilder>,
    writer: ArrowWriter<Vec<u8>>,
    block_size: usize,
    pending_rows: usize,
    pending_bytes: usize,
    rows: usize,
}

impl ObjectWriter {
    fn new(plan: &Plan, options: &ParquetOptions) -> Result<ObjectWriter, String> {
        let builders = plan
            .columns
            .iter()
            .map(|c| ColumnBuilder::new(&c.ty))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("cannot build the columns: {e}"))?;
        let properties = WriterProperties::builder()
            .set_compression(options.compression)
            .set_dictionary_enabled(options.dictionary)
            .set_data_page_size_limit(options.page_size)
            .set_writer_version(options.writer_version)
            .build();
        let writer = ArrowWriter::try_new(Vec::new(), plan.schema.clone(), Some(properties))
            .map_err(|e| format!("cannot start the Parquet file: {e}"))?;
        Ok(ObjectWriter {
            schema: plan.schema.clone(),
            builders,
            writer,
            block_size: options.block_size,
            pending_rows: 0,
            pending_bytes: 0,
            rows: 0,
        })
    }

    /// Appends a record's coerced rows (its `cells`, which this empties).
    fn append(&mut self, cells: &mut Vec<Cell<'_>>, record_bytes: usize) -> Result<(), String> {
        let columns = self.builders.len();
        let rows = cells.len() / columns.max(1);
        for (i, cell) in cells.drain(..).enumerate() {
            self.builders[i % columns].append(cell);
        }
        self.rows += rows;
        self.pending_rows += rows;
        self.pending_bytes += record_bytes;
        if self.pending_rows >= BATCH_ROWS || self.pending_bytes >= BATCH_BYTES {
            self.write_batch()?;
        }
        Ok(())
    }

    fn write_batch(&mut self) -> Result<(), String> {
        if self.pending_rows == 0 {
            return Ok(());
        }
        let arrays = self
            .builders
            .iter_mut()
            .map(ColumnBuilder::finish)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("cannot build a record batch: {e}"))?;
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| format!("cannot build a record batch: {e}"))?;
        self.writer
            .write(&batch)
            .map_err(|e| format!("cannot write Parquet: {e}"))?;
        if self.writer.in_progress_size() >= self.block_size {
            self.writer
                .flush()
                .map_err(|e| format!("cannot write Parquet: {e}"))?;
        }
        self.pending_rows = 0;
        self.pending_bytes = 0;
        Ok(())
    }

    /// The file and its row count; an empty file when no row was written.
    fn finish(mut self) -> Result<(Vec<u8>, usize), String> {
        if self.rows == 0 {
            return Ok((Vec::new(), 0));
        }
        self.write_batch()?;
        let parquet = self
            .writer
            .into_inner()
            .map_err(|e| format!("cannot finish the Parquet file: {e}"))?;
        Ok((parquet, self.rows))
    }
}

// --- configuration -------------------------------------------------------------------

/// A member, `null` counting as absent.
fn member<'v>(map: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    map.get(name).filter(|v| !v.is_null())
}

fn object<'v>(value: &'v Value, what: &str) -> Result<&'v Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("{what} must be an object"))
}

fn required_object<'v>(
    map: &'v Map<String, Value>,
    name: &str,
    parent: &str,
) -> Result<&'v Map<String, Value>, String> {
    match member(map, name) {
        Some(value) => object(value, &format!("{parent}.{name}")),
        None => Err(format!(
            "{parent}.{name} is required when format conversion is enabled"
        )),
    }
}

fn optional_bool(
    map: &Map<String, Value>,
    name: &str,
    parent: &str,
) -> Result<Option<bool>, String> {
    match member(map, name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(format!("{parent}.{name} must be a boolean")),
    }
}

/// An optional integer member of at least `min`, in AWS's validation wording.
fn optional_int(
    map: &Map<String, Value>,
    name: &str,
    path: &str,
    min: i64,
) -> Result<Option<usize>, String> {
    let Some(value) = member(map, name) else {
        return Ok(None);
    };
    let Some(n) = value.as_i64() else {
        return Err(format!("{path} must be an integer"));
    };
    if n < min {
        return Err(format!(
            "1 validation error detected: Value '{n}' at '{path}' failed to satisfy constraint: \
             Member must have value greater than or equal to {min}"
        ));
    }
    usize::try_from(n)
        .map(Some)
        .map_err(|_| format!("{path} is too large"))
}

fn optional_enum<'v>(
    map: &'v Map<String, Value>,
    name: &str,
    path: &str,
    allowed: &[&str],
) -> Result<Option<&'v str>, String> {
    match member(map, name) {
        None => Ok(None),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(Some(s.as_str())),
        Some(other) => {
            let shown = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_string);
            Err(format!(
                "1 validation error detected: Value '{shown}' at '{path}' failed to satisfy constraint: \
                 Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ))
        }
    }
}

type DeserializerConfig = (KeyMatching, Vec<(String, String)>, TimestampParsing);

/// `Deserializer`: exactly one of `OpenXJsonSerDe` and `HiveJsonSerDe`.
fn deserializer_config(deserializer: &Map<String, Value>) -> Result<DeserializerConfig, String> {
    const OPENX: &str = "Deserializer.OpenXJsonSerDe";
    const HIVE: &str = "Deserializer.HiveJsonSerDe";
    match (member(deserializer, "OpenXJsonSerDe"), member(deserializer, "HiveJsonSerDe")) {
        (Some(openx), None) => {
            let openx = object(openx, OPENX)?;
            let keys = KeyMatching {
                case_insensitive: optional_bool(openx, "CaseInsensitive", OPENX)?.unwrap_or(true),
                dots_to_underscores: optional_bool(openx, "ConvertDotsInJsonKeysToUnderscores", OPENX)?.unwrap_or(false),
            };
            let mut mappings = Vec::new();
            if let Some(value) = member(openx, "ColumnToJsonKeyMappings") {
                let what = format!("{OPENX}.ColumnToJsonKeyMappings");
                for (column, key) in object(value, &what)? {
                    match key.as_str() {
                        Some(key) if !key.trim().is_empty() && !column.is_empty() => {
                            mappings.push((column.clone(), key.to_string()))
                        }
                        _ => return Err(format!("{what} must map column names to non-empty JSON key strings")),
                    }
                }
            }
            Ok((keys, mappings, TimestampParsing::OpenX))
        }
        (None, Some(hive)) => {
            let hive = object(hive, HIVE)?;
            let mut formats = Vec::new();
            if let Some(value) = member(hive, "TimestampFormats") {
                let what = format!("{HIVE}.TimestampFormats");
                let list = value.as_array().ok_or_else(|| format!("{what} must be a list of strings"))?;
                for format in list {
                    match format.as_str() {
                        Some(f) if !f.trim().is_empty() => formats.push(TimestampFormat::compile(f)?),
                        _ => return Err(format!("{what} must be a list of non-empty strings")),
                    }
                }
            }
            // Hive's JsonSerDe matches keys case-insensitively and knows no key options.
            let keys = KeyMatching { case_insensitive: true, dots_to_underscores: false };
            Ok((keys, Vec::new(), TimestampParsing::Hive(formats)))
        }
        (None, None) => Err("InputFormatConfiguration.Deserializer must specify OpenXJsonSerDe or HiveJsonSerDe".to_string()),
        (Some(_), Some(_)) => Err(
            "InputFormatConfiguration.Deserializer must specify only one of OpenXJsonSerDe and HiveJsonSerDe".to_string(),
        ),
    }
}

/// `Serializer`: `ParquetSerDe` (`OrcSerDe` is refused).
fn serializer_config(serializer: &Map<String, Value>) -> Result<ParquetOptions, String> {
    const PATH: &str =
        "dataFormatConversionConfiguration.outputFormatConfiguration.serializer.parquetSerDe";
    match (
        member(serializer, "ParquetSerDe"),
        member(serializer, "OrcSerDe"),
    ) {
        (_, Some(_)) => {
            Err("OrcSerDe is not supported by this server; use ParquetSerDe".to_string())
        }
        (None, None) => {
            Err("OutputFormatConfiguration.Serializer must specify ParquetSerDe".to_string())
        }
        (Some(parquet), None) => {
            let parquet = object(parquet, "Serializer.ParquetSerDe")?;
            let compression = match optional_enum(
                parquet,
                "Compression",
                &format!("{PATH}.compression"),
                &["UNCOMPRESSED", "GZIP", "SNAPPY"],
            )? {
                Some("UNCOMPRESSED") => Compression::UNCOMPRESSED,
                Some("GZIP") => Compression::GZIP(GzipLevel::default()),
                _ => Compression::SNAPPY,
            };
            let writer_version = match optional_enum(
                parquet,
                "WriterVersion",
                &format!("{PATH}.writerVersion"),
                &["V1", "V2"],
            )? {
                Some("V2") => WriterVersion::PARQUET_2_0,
                _ => WriterVersion::PARQUET_1_0,
            };
            let block_size = optional_int(
                parquet,
                "BlockSizeBytes",
                &format!("{PATH}.blockSizeBytes"),
                64 << 20,
            )?;
            let page_size = optional_int(
                parquet,
                "PageSizeBytes",
                &format!("{PATH}.pageSizeBytes"),
                64 << 10,
            )?;
            optional_int(
                parquet,
                "MaxPaddingBytes",
                &format!("{PATH}.maxPaddingBytes"),
                0,
            )?;
            Ok(ParquetOptions {
                compression,
                dictionary: optional_bool(
                    parquet,
                    "EnableDictionaryCompression",
                    "Serializer.ParquetSerDe",
                )?
                .unwrap_or(false),
                page_size: page_size.unwrap_or(1 << 20),
                block_size: block_size.unwrap_or(256 << 20),
                writer_version,
            })
        }
    }
}

#[cfg(test)]
mod tests;
