//! Arrow column builders fed with coerced [`Cell`]s, nested like the Hive type.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, Int8Builder, NullBufferBuilder,
    OffsetBufferBuilder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, ListArray, MapArray, StructArray};
use arrow_schema::{ArrowError, FieldRef, Fields};

use super::coerce::Cell;
use super::schema::{list_field, map_entries_field, map_entry_fields, struct_fields, HiveType};

/// Builds one column. Cells must come from coercion to the same type: a cell of another
/// kind (which coercion never makes) is appended as NULL.
pub(crate) enum ColumnBuilder {
    /// `boolean`.
    Boolean(BooleanBuilder),
    /// `tinyint`.
    Int8(Int8Builder),
    /// `smallint`.
    Int16(Int16Builder),
    /// `int`.
    Int32(Int32Builder),
    /// `bigint`.
    Int64(Int64Builder),
    /// `float`.
    Float32(Float32Builder),
    /// `double`.
    Float64(Float64Builder),
    /// `decimal(p,s)`.
    Decimal(Decimal128Builder),
    /// `string`, `varchar`, `char`.
    Utf8(StringBuilder),
    /// `date`.
    Date(Date32Builder),
    /// `timestamp`.
    Timestamp(TimestampMillisecondBuilder),
    /// `binary`.
    Binary(BinaryBuilder),
    /// `array<T>`.
    List {
        field: FieldRef,
        offsets: OffsetBufferBuilder<i32>,
        nulls: NullBufferBuilder,
        element: Box<ColumnBuilder>,
    },
    /// `map<K,V>`.
    Map {
        field: FieldRef,
        entry_fields: Fields,
        offsets: OffsetBufferBuilder<i32>,
        nulls: NullBufferBuilder,
        keys: Box<ColumnBuilder>,
        values: Box<ColumnBuilder>,
    },
    /// `struct<...>`.
    Struct {
        fields: Fields,
        nulls: NullBufferBuilder,
        children: Vec<ColumnBuilder>,
    },
}

/// Rows a builder makes room for up front.
const CAPACITY: usize = 1024;

impl ColumnBuilder {
    /// A builder of `ty`'s Arrow type.
    pub(crate) fn new(ty: &HiveType) -> Result<ColumnBuilder, ArrowError> {
        Ok(match ty {
            HiveType::Boolean => ColumnBuilder::Boolean(BooleanBuilder::with_capacity(CAPACITY)),
            HiveType::TinyInt => ColumnBuilder::Int8(Int8Builder::with_capacity(CAPACITY)),
            HiveType::SmallInt => ColumnBuilder::Int16(Int16Builder::with_capacity(CAPACITY)),
            HiveType::Int => ColumnBuilder::Int32(Int32Builder::with_capacity(CAPACITY)),
            HiveType::BigInt => ColumnBuilder::Int64(Int64Builder::with_capacity(CAPACITY)),
            HiveType::Float => ColumnBuilder::Float32(Float32Builder::with_capacity(CAPACITY)),
            HiveType::Double => ColumnBuilder::Float64(Float64Builder::with_capacity(CAPACITY)),
            HiveType::Decimal { precision, scale } => ColumnBuilder::Decimal(
                Decimal128Builder::with_capacity(CAPACITY)
                    .with_precision_and_scale(*precision, *scale)?,
            ),
            HiveType::String | HiveType::Varchar(_) | HiveType::Char(_) => {
                ColumnBuilder::Utf8(StringBuilder::with_capacity(CAPACITY, CAPACITY * 16))
            }
            HiveType::Date => ColumnBuilder::Date(Date32Builder::with_capacity(CAPACITY)),
            HiveType::Timestamp => {
                ColumnBuilder::Timestamp(TimestampMillisecondBuilder::with_capacity(CAPACITY))
            }
            HiveType::Binary => {
                ColumnBuilder::Binary(BinaryBuilder::with_capacity(CAPACITY, CAPACITY * 16))
            }
            HiveType::Array(element) => ColumnBuilder::List {
                field: list_field(element),
                offsets: OffsetBufferBuilder::new(CAPACITY),
                nulls: NullBufferBuilder::new(CAPACITY),
                element: Box::new(ColumnBuilder::new(element)?),
            },
            HiveType::Map(key, value) => ColumnBuilder::Map {
                field: map_entries_field(key, value),
                entry_fields: map_entry_fields(key, value),
                offsets: OffsetBufferBuilder::new(CAPACITY),
                nulls: NullBufferBuilder::new(CAPACITY),
                keys: Box::new(ColumnBuilder::new(key)?),
                values: Box::new(ColumnBuilder::new(value)?),
            },
            HiveType::Struct(columns) => ColumnBuilder::Struct {
                fields: struct_fields(columns),
                nulls: NullBufferBuilder::new(CAPACITY),
                children: columns
                    .iter()
                    .map(|c| ColumnBuilder::new(&c.ty))
                    .collect::<Result<_, _>>()?,
            },
        })
    }

    /// Appends one value.
    pub(crate) fn append(&mut self, cell: Cell<'_>) {
        match (self, cell) {
            (builder, Cell::Null) => builder.append_null(),
            (ColumnBuilder::Boolean(b), Cell::Bool(v)) => b.append_value(v),
            // Coercion range-checked the integers for their column.
            (ColumnBuilder::Int8(b), Cell::Int(v)) => b.append_value(v as i8),
            (ColumnBuilder::Int16(b), Cell::Int(v)) => b.append_value(v as i16),
            (ColumnBuilder::Int32(b), Cell::Int(v)) => b.append_value(v as i32),
            (ColumnBuilder::Int64(b), Cell::Int(v)) => b.append_value(v),
            (ColumnBuilder::Float32(b), Cell::Float(v)) => b.append_value(v as f32),
            (ColumnBuilder::Float64(b), Cell::Float(v)) => b.append_value(v),
            (ColumnBuilder::Decimal(b), Cell::Decimal(v)) => b.append_value(v),
            (ColumnBuilder::Utf8(b), Cell::Str(v)) => b.append_value(v),
            (ColumnBuilder::Date(b), Cell::Date(v)) => b.append_value(v),
            (ColumnBuilder::Timestamp(b), Cell::Timestamp(v)) => b.append_value(v),
            (ColumnBuilder::Binary(b), Cell::Binary(v)) => b.append_value(v),
            (
                ColumnBuilder::List {
                    offsets,
                    nulls,
                    element,
                    ..
                },
                Cell::List(items),
            ) => {
                offsets.push_length(items.len());
                nulls.append_non_null();
                for item in items {
                    element.append(item);
                }
            }
            (
                ColumnBuilder::Map {
                    offsets,
                    nulls,
                    keys,
                    values,
                    ..
                },
                Cell::Map(entries),
            ) => {
                offsets.push_length(entries.len());
                nulls.append_non_null();
                for (key, value) in entries {
                    keys.append(key);
                    values.append(value);
                }
            }
            (
                ColumnBuilder::Struct {
                    nulls, children, ..
                },
                Cell::Struct(cells),
            ) if cells.len() == children.len() => {
                nulls.append_non_null();
                for (child, cell) in children.iter_mut().zip(cells) {
                    child.append(cell);
                }
            }
            (builder, _) => builder.append_null(),
        }
    }

    /// Appends NULL.
    pub(crate) fn append_null(&mut self) {
        match self {
            ColumnBuilder::Boolean(b) => b.append_null(),
            ColumnBuilder::Int8(b) => b.append_null(),
            ColumnBuilder::Int16(b) => b.append_null(),
            ColumnBuilder::Int32(b) => b.append_null(),
            ColumnBuilder::Int64(b) => b.append_null(),
            ColumnBuilder::Float32(b) => b.append_null(),
            ColumnBuilder::Float64(b) => b.append_null(),
            ColumnBuilder::Decimal(b) => b.append_null(),
            ColumnBuilder::Utf8(b) => b.append_null(),
            ColumnBuilder::Date(b) => b.append_null(),
            ColumnBuilder::Timestamp(b) => b.append_null(),
            ColumnBuilder::Binary(b) => b.append_null(),
            ColumnBuilder::List { offsets, nulls, .. }
            | ColumnBuilder::Map { offsets, nulls, .. } => {
                offsets.push_length(0);
                nulls.append_null();
            }
            ColumnBuilder::Struct {
                nulls, children, ..
            } => {
                nulls.append_null();
                for child in children {
                    child.append_null();
                }
            }
        }
    }

    /// The values appended since the last finish, as an array; the builder starts over.
    pub(crate) fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        Ok(match self {
            ColumnBuilder::Boolean(b) => Arc::new(b.finish()),
            ColumnBuilder::Int8(b) => Arc::new(b.finish()),
            ColumnBuilder::Int16(b) => Arc::new(b.finish()),
            ColumnBuilder::Int32(b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(b) => Arc::new(b.finish()),
            ColumnBuilder::Float32(b) => Arc::new(b.finish()),
            ColumnBuilder::Float64(b) => Arc::new(b.finish()),
            ColumnBuilder::Decimal(b) => Arc::new(b.finish()),
            ColumnBuilder::Utf8(b) => Arc::new(b.finish()),
            ColumnBuilder::Date(b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(b) => Arc::new(b.finish()),
            ColumnBuilder::Binary(b) => Arc::new(b.finish()),
            ColumnBuilder::List {
                field,
                offsets,
                nulls,
                element,
            } => {
                let offsets =
                    std::mem::replace(offsets, OffsetBufferBuilder::new(CAPACITY)).finish();
                Arc::new(ListArray::try_new(
                    field.clone(),
                    offsets,
                    element.finish()?,
                    nulls.finish(),
                )?)
            }
            ColumnBuilder::Map {
                field,
                entry_fields,
                offsets,
                nulls,
                keys,
                values,
            } => {
                let offsets =
                    std::mem::replace(offsets, OffsetBufferBuilder::new(CAPACITY)).finish();
                let entries = StructArray::try_new(
                    entry_fields.clone(),
                    vec![keys.finish()?, values.finish()?],
                    None,
                )?;
                Arc::new(MapArray::try_new(
                    field.clone(),
                    offsets,
                    entries,
                    nulls.finish(),
                    false,
                )?)
            }
            ColumnBuilder::Struct {
                fields,
                nulls,
                children,
            } => {
                let arrays = children
                    .iter_mut()
                    .map(ColumnBuilder::finish)
                    .collect::<Result<Vec<_>, _>>()?;
                Arc::new(StructArray::try_new(
                    fields.clone(),
                    arrays,
                    nulls.finish(),
                )?)
            }
        })
    }
}
