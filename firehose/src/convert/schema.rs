//! Hive/Glue column types: the parser of Freshet's inline schema
//! (`NAME:struct<col:type,...>` in `SchemaConfiguration.TableName`) and their Arrow types.

use std::fmt;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, TimeUnit};

/// The deepest nesting of column types (`array<array<int>>` is 2 levels): the Parquet
/// writer recurses per level with large frames, so deeper types could overflow a
/// thread's stack. Inference makes deeper values `string`s of their JSON.
pub(crate) const MAX_NESTING: usize = 16;

/// The deepest nesting the parser accepts: the table's struct and its columns' types.
const MAX_DEPTH: usize = MAX_NESTING + 1;

/// A Hive (Glue Data Catalog) column type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum HiveType {
    /// `boolean`.
    Boolean,
    /// `tinyint`: 8-bit signed.
    TinyInt,
    /// `smallint`: 16-bit signed.
    SmallInt,
    /// `int` (or `integer`): 32-bit signed.
    Int,
    /// `bigint`: 64-bit signed.
    BigInt,
    /// `float`: 32-bit IEEE 754.
    Float,
    /// `double`: 64-bit IEEE 754.
    Double,
    /// `decimal(p,s)`; bare `decimal` is `decimal(10,0)`, as in Hive.
    Decimal {
        /// Total digits, 1 to 38.
        precision: u8,
        /// Digits after the point, 0 to `precision`.
        scale: i8,
    },
    /// `string`.
    String,
    /// `varchar(n)`: a string cut to `n` characters.
    Varchar(u32),
    /// `char(n)`: a string cut to `n` characters.
    Char(u32),
    /// `date`: days since 1970-01-01.
    Date,
    /// `timestamp`: milliseconds since 1970-01-01 00:00:00, no time zone.
    Timestamp,
    /// `binary`: base64 text in JSON.
    Binary,
    /// `array<T>`.
    Array(Box<HiveType>),
    /// `map<K,V>`, `K` a primitive type.
    Map(Box<HiveType>, Box<HiveType>),
    /// `struct<name:T,...>`.
    Struct(Vec<Column>),
}

/// A named column of a table, or a field of a struct.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Column {
    /// The name as written (the Parquet column's name).
    pub name: String,
    /// The type.
    pub ty: HiveType,
}

impl HiveType {
    /// Whether the type is a primitive (not `array`, `map` or `struct`).
    pub(crate) fn is_primitive(&self) -> bool {
        !matches!(
            self,
            HiveType::Array(_) | HiveType::Map(..) | HiveType::Struct(_)
        )
    }

    /// The Arrow type of the column (every field nullable but a map's key).
    pub(crate) fn data_type(&self) -> DataType {
        match self {
            HiveType::Boolean => DataType::Boolean,
            HiveType::TinyInt => DataType::Int8,
            HiveType::SmallInt => DataType::Int16,
            HiveType::Int => DataType::Int32,
            HiveType::BigInt => DataType::Int64,
            HiveType::Float => DataType::Float32,
            HiveType::Double => DataType::Float64,
            HiveType::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale),
            HiveType::String | HiveType::Varchar(_) | HiveType::Char(_) => DataType::Utf8,
            HiveType::Date => DataType::Date32,
            HiveType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, None),
            HiveType::Binary => DataType::Binary,
            HiveType::Array(element) => DataType::List(list_field(element)),
            HiveType::Map(key, value) => DataType::Map(map_entries_field(key, value), false),
            HiveType::Struct(fields) => DataType::Struct(struct_fields(fields)),
        }
    }
}

/// The child field of a list: `element`, as the Parquet spec names it.
pub(crate) fn list_field(element: &HiveType) -> Arc<Field> {
    Arc::new(Field::new("element", element.data_type(), true))
}

/// The entries field of a map: `key_value` of a non-null `key` and a nullable `value`.
pub(crate) fn map_entries_field(key: &HiveType, value: &HiveType) -> Arc<Field> {
    Arc::new(Field::new(
        "key_value",
        DataType::Struct(map_entry_fields(key, value)),
        false,
    ))
}

/// The two fields of a map's entries.
pub(crate) fn map_entry_fields(key: &HiveType, value: &HiveType) -> Fields {
    Fields::from(vec![
        Field::new("key", key.data_type(), false),
        Field::new("value", value.data_type(), true),
    ])
}

/// The fields of a struct, all nullable.
pub(crate) fn struct_fields(columns: &[Column]) -> Fields {
    columns
        .iter()
        .map(|c| Field::new(c.name.clone(), c.ty.data_type(), true))
        .collect()
}

impl fmt::Display for HiveType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HiveType::Boolean => f.write_str("boolean"),
            HiveType::TinyInt => f.write_str("tinyint"),
            HiveType::SmallInt => f.write_str("smallint"),
            HiveType::Int => f.write_str("int"),
            HiveType::BigInt => f.write_str("bigint"),
            HiveType::Float => f.write_str("float"),
            HiveType::Double => f.write_str("double"),
            HiveType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            HiveType::String => f.write_str("string"),
            HiveType::Varchar(n) => write!(f, "varchar({n})"),
            HiveType::Char(n) => write!(f, "char({n})"),
            HiveType::Date => f.write_str("date"),
            HiveType::Timestamp => f.write_str("timestamp"),
            HiveType::Binary => f.write_str("binary"),
            HiveType::Array(element) => write!(f, "array<{element}>"),
            HiveType::Map(key, value) => write!(f, "map<{key},{value}>"),
            HiveType::Struct(fields) => {
                f.write_str("struct<")?;
                for (i, c) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{}:{}", c.name, c.ty)?;
                }
                f.write_str(">")
            }
        }
    }
}

/// An inline schema: `SchemaConfiguration.TableName` of the form `NAME:struct<...>`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InlineSchema {
    /// The table's name (the text before the first `:`).
    pub table: String,
    /// The table's columns, in order.
    pub columns: Vec<Column>,
}

/// Reads `SchemaConfiguration.TableName`: `Ok(None)` for a plain table name (the schema
/// is then inferred), the columns of `NAME:struct<col:type,...>`, or `Err` naming the
/// offending text.
pub(crate) fn parse_table_name(table_name: &str) -> Result<Option<InlineSchema>, String> {
    let Some((table, schema)) = table_name.split_once(':') else {
        return Ok(None);
    };
    if table.trim().is_empty() {
        return Err(format!(
            "invalid inline schema in TableName '{table_name}': the table name before ':' is empty"
        ));
    }
    let mut parser = Parser {
        text: schema,
        pos: 0,
        depth: 0,
    };
    let parsed = parser.parse_type().and_then(|ty| {
        parser.skip_space();
        if parser.pos < parser.text.len() {
            Err(parser.error("unexpected text after the schema"))
        } else {
            Ok(ty)
        }
    });
    let ty =
        parsed.map_err(|e| format!("invalid inline schema in TableName '{table_name}': {e}"))?;
    match ty {
        HiveType::Struct(columns) => Ok(Some(InlineSchema {
            table: table.to_string(),
            columns,
        })),
        other => Err(format!(
            "invalid inline schema in TableName '{table_name}': the schema must be a \
             struct<col:type,...>, not {other}"
        )),
    }
}

/// A recursive-descent parser of Hive type text.
struct Parser<'s> {
    text: &'s str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn error(&self, what: &str) -> String {
        let rest = self.rest();
        if rest.is_empty() {
            format!("{what} at the end of '{}'", self.text)
        } else {
            format!(
                "{what} at '{}' (character {} of '{}')",
                super::json::shorten(rest, 24),
                self.text[..self.pos].chars().count() + 1,
                self.text
            )
        }
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.text.len() - trimmed.len();
    }

    /// Consumes `c` (after any white space) or fails.
    fn expect(&mut self, c: char) -> Result<(), String> {
        self.skip_space();
        if self.rest().starts_with(c) {
            self.pos += c.len_utf8();
            Ok(())
        } else {
            Err(self.error(&format!("expected '{c}'")))
        }
    }

    /// Consumes `c` (after any white space) if it is next.
    fn eat(&mut self, c: char) -> bool {
        self.skip_space();
        if self.rest().starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn word(&mut self) -> &str {
        self.skip_space();
        let start = self.pos;
        let len = self
            .rest()
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .unwrap_or(self.rest().len());
        self.pos += len;
        &self.text[start..self.pos]
    }

    fn number(&mut self, what: &str) -> Result<u32, String> {
        self.skip_space();
        let len = self
            .rest()
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(self.rest().len());
        let digits = &self.rest()[..len];
        match digits.parse::<u32>() {
            Ok(n) => {
                self.pos += len;
                Ok(n)
            }
            Err(_) => Err(self.error(&format!("expected {what}"))),
        }
    }

    fn parse_type(&mut self) -> Result<HiveType, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(&format!("types nested deeper than {MAX_NESTING} levels")));
        }
        let start = self.pos;
        let name = self.word().to_ascii_lowercase();
        let ty = match name.as_str() {
            "boolean" => HiveType::Boolean,
            "tinyint" => HiveType::TinyInt,
            "smallint" => HiveType::SmallInt,
            "int" | "integer" => HiveType::Int,
            "bigint" => HiveType::BigInt,
            "float" => HiveType::Float,
            "double" => HiveType::Double,
            "string" => HiveType::String,
            "date" => HiveType::Date,
            "timestamp" => HiveType::Timestamp,
            "binary" => HiveType::Binary,
            "decimal" | "numeric" => self.decimal()?,
            "varchar" => HiveType::Varchar(self.length("varchar", 65535)?),
            "char" => HiveType::Char(self.length("char", 255)?),
            "array" => {
                self.expect('<')?;
                let element = self.parse_type()?;
                self.expect('>')?;
                HiveType::Array(Box::new(element))
            }
            "map" => {
                self.expect('<')?;
                let key_at = self.pos;
                let key = self.parse_type()?;
                if !key.is_primitive() {
                    self.pos = key_at;
                    self.skip_space();
                    return Err(self.error("a map's key must be a primitive type"));
                }
                self.expect(',')?;
                let value = self.parse_type()?;
                self.expect('>')?;
                HiveType::Map(Box::new(key), Box::new(value))
            }
            "struct" => self.struct_fields()?,
            _ => {
                self.pos = start;
                self.skip_space();
                let what = if name.is_empty() {
                    "expected a type".to_string()
                } else {
                    format!("unknown type '{name}'")
                };
                return Err(self.error(&what));
            }
        };
        self.depth -= 1;
        Ok(ty)
    }

    fn decimal(&mut self) -> Result<HiveType, String> {
        if !self.eat('(') {
            return Ok(HiveType::Decimal {
                precision: 10,
                scale: 0,
            });
        }
        let at = self.pos;
        let precision = self.number("the precision of decimal")?;
        let scale = if self.eat(',') {
            self.number("the scale of decimal")?
        } else {
            0
        };
        if !(1..=38).contains(&precision) || scale > precision {
            self.pos = at;
            self.skip_space();
            return Err(self.error(&format!(
                "decimal({precision},{scale}) needs a precision of 1 to 38 and a scale of 0 to the precision"
            )));
        }
        self.expect(')')?;
        // Both fit: precision <= 38, scale <= precision.
        Ok(HiveType::Decimal {
            precision: precision as u8,
            scale: scale as i8,
        })
    }

    fn length(&mut self, name: &str, max: u32) -> Result<u32, String> {
        self.expect('(')?;
        let at = self.pos;
        let n = self.number(&format!("the length of {name}"))?;
        if !(1..=max).contains(&n) {
            self.pos = at;
            self.skip_space();
            return Err(self.error(&format!("{name}({n}) needs a length of 1 to {max}")));
        }
        self.expect(')')?;
        Ok(n)
    }

    fn struct_fields(&mut self) -> Result<HiveType, String> {
        self.expect('<')?;
        let mut fields: Vec<Column> = Vec::new();
        loop {
            let at = self.pos;
            let name = self.field_name()?;
            if fields.iter().any(|f| f.name.eq_ignore_ascii_case(&name)) {
                self.pos = at;
                self.skip_space();
                return Err(self.error(&format!("duplicate field name '{name}'")));
            }
            self.expect(':')?;
            let ty = self.parse_type()?;
            fields.push(Column { name, ty });
            if !self.eat(',') {
                break;
            }
        }
        self.expect('>')?;
        Ok(HiveType::Struct(fields))
    }

    /// A field name: `` `any text` `` or a run of characters other than white space and
    /// `` :,<>()` ``.
    fn field_name(&mut self) -> Result<String, String> {
        self.skip_space();
        if let Some(quoted) = self.rest().strip_prefix('`') {
            return match quoted.find('`') {
                Some(0) => Err(self.error("empty field name")),
                Some(end) => {
                    let name = quoted[..end].to_string();
                    self.pos += end + 2;
                    Ok(name)
                }
                None => Err(self.error("unterminated ` in a field name")),
            };
        }
        let len = self
            .rest()
            .find(|c: char| c.is_whitespace() || ":,<>()`".contains(c))
            .unwrap_or(self.rest().len());
        if len == 0 {
            return Err(self.error("expected a field name"));
        }
        let name = self.rest()[..len].to_string();
        self.pos += len;
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(text: &str) -> Vec<Column> {
        parse_table_name(text).unwrap().unwrap().columns
    }

    #[test]
    fn plain_names_mean_inference() {
        assert_eq!(parse_table_name("events").unwrap(), None);
    }

    #[test]
    fn parses_every_type() {
        let text = "t:struct<a:boolean,b:TINYINT,c:smallint,d:int,e:integer,f:bigint,g:float,h:double,\
                    i:decimal(12,3),j:decimal,k:string,l:varchar(10),m:char(3),n:date,o:timestamp,\
                    p:binary,q:array<int>,r:map<string,array<double>>,s:struct<x:int,y:struct<z:string>>>";
        let parsed = parse_table_name(text).unwrap().unwrap();
        assert_eq!(parsed.table, "t");
        let types: Vec<String> = parsed.columns.iter().map(|c| c.ty.to_string()).collect();
        assert_eq!(
            types,
            [
                "boolean",
                "tinyint",
                "smallint",
                "int",
                "int",
                "bigint",
                "float",
                "double",
                "decimal(12,3)",
                "decimal(10,0)",
                "string",
                "varchar(10)",
                "char(3)",
                "date",
                "timestamp",
                "binary",
                "array<int>",
                "map<string,array<double>>",
                "struct<x:int,y:struct<z:string>>"
            ]
        );
        let names: String = parsed.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, "abcdefghijklmnopqrs");
    }

    #[test]
    fn arrow_types() {
        let cols =
            columns("t:struct<a:array<struct<b:decimal(5,2)>>,m:map<string,timestamp>,d:date>");
        assert_eq!(
            cols[0].ty.data_type(),
            DataType::List(Arc::new(Field::new(
                "element",
                DataType::Struct(Fields::from(vec![Field::new(
                    "b",
                    DataType::Decimal128(5, 2),
                    true
                )])),
                true
            )))
        );
        let DataType::Map(entries, false) = cols[1].ty.data_type() else {
            panic!("not a map")
        };
        assert_eq!(
            entries.data_type(),
            &DataType::Struct(Fields::from(vec![
                Field::new("key", DataType::Utf8, false),
                Field::new(
                    "value",
                    DataType::Timestamp(TimeUnit::Millisecond, None),
                    true
                ),
            ]))
        );
        assert_eq!(cols[2].ty.data_type(), DataType::Date32);
    }

    #[test]
    fn quoted_names_and_spaces() {
        let cols = columns("t: struct< `a b` : int , c:array< string > >");
        assert_eq!(cols[0].name, "a b");
        assert_eq!(cols[1].ty, HiveType::Array(Box::new(HiveType::String)));
    }

    #[test]
    fn errors_name_the_offending_text() {
        let cases = [
            ("t:struct<a:integr>", "unknown type 'integr' at 'integr>'"),
            ("t:struct<a:int", "expected '>' at the end"),
            ("t:struct<a int>", "expected ':' at 'int>'"),
            (
                "t:struct<a:int,a:string>",
                "duplicate field name 'a' at 'a:string>'",
            ),
            (
                "t:struct<a:decimal(40,2)>",
                "decimal(40,2) needs a precision",
            ),
            ("t:struct<a:decimal(5,6)>", "decimal(5,6)"),
            ("t:struct<a:varchar(0)>", "varchar(0) needs a length"),
            ("t:struct<a:char>", "expected '('"),
            (
                "t:struct<a:map<array<int>,int>>",
                "a map's key must be a primitive type at 'array<int>",
            ),
            (
                "t:struct<a:int>x",
                "unexpected text after the schema at 'x'",
            ),
            ("t:int", "must be a struct"),
            (":struct<a:int>", "table name before ':' is empty"),
            ("t:struct<>", "expected a field name at '>'"),
            ("t:struct<:int>", "expected a field name"),
            ("t:struct<a:>", "expected a type at '>'"),
            ("t:struct<a:uniontype<int>>", "unknown type 'uniontype'"),
            ("t:", "expected a type at the end"),
        ];
        for (text, want) in cases {
            let e = parse_table_name(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
            assert!(e.contains(text), "{text}: {e}");
        }
    }

    #[test]
    fn nesting_up_to_the_limit() {
        let text = format!(
            "t:struct<a:{}int{}>",
            "array<".repeat(MAX_NESTING - 1),
            ">".repeat(MAX_NESTING - 1)
        );
        assert!(parse_table_name(&text).is_ok());
        let text = format!(
            "t:struct<a:{}int{}>",
            "array<".repeat(MAX_NESTING),
            ">".repeat(MAX_NESTING)
        );
        assert!(parse_table_name(&text)
            .unwrap_err()
            .contains("nested deeper than 16 levels"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = format!(
            "t:struct<a:{}int{}>",
            "array<".repeat(10_000),
            ">".repeat(10_000)
        );
        let e = parse_table_name(&text).unwrap_err();
        assert!(e.contains("nested deeper"), "{}", &e[..200]);
    }
}
