//! The Arrow schema of a stream table: the record's metadata columns, then the
//! declared ones.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::catalog::TableDef;

/// The metadata columns every stream table starts with, in order.
pub const METADATA: [&str; 6] = [
    "shard_id",
    "sequence_number",
    "sub_sequence_number",
    "partition_key",
    "arrival_time",
    "data",
];

/// Index of `shard_id`.
pub const SHARD_ID: usize = 0;
/// Index of `sequence_number`.
pub const SEQUENCE_NUMBER: usize = 1;
/// Index of `sub_sequence_number`.
pub const SUB_SEQUENCE_NUMBER: usize = 2;
/// Index of `partition_key`.
pub const PARTITION_KEY: usize = 3;
/// Index of `arrival_time`.
pub const ARRIVAL_TIME: usize = 4;
/// Index of `data`.
pub const DATA: usize = 5;

/// The type of timestamps (ms, UTC).
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// The full schema of a table.
pub fn table_schema(def: &TableDef) -> SchemaRef {
    let mut fields = vec![
        Field::new("shard_id", DataType::Utf8, false),
        Field::new("sequence_number", DataType::Utf8, false),
        Field::new("sub_sequence_number", DataType::Int64, false),
        Field::new("partition_key", DataType::Utf8, false),
        Field::new("arrival_time", timestamp_type(), false),
        Field::new("data", DataType::Binary, false),
    ];
    fields.extend(
        def.columns
            .iter()
            .map(|c| Field::new(&c.name, c.ty.arrow(), true)),
    );
    Arc::new(Schema::new(fields))
}
