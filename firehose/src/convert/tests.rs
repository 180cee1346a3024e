//! Tests of the conversion as a whole: configuration, files read back, failures.

use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    Int8Type, TimestampMillisecondType,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use serde_json::json;

use super::*;

fn config(table_name: &str, deserializer: Value, parquet: Value) -> Value {
    json!({
        "Enabled": true,
        "SchemaConfiguration": {"RoleARN": "arn:aws:iam::000000000000:role/r", "DatabaseName": "db", "TableName": table_name},
        "InputFormatConfiguration": {"Deserializer": deserializer},
        "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": parquet}},
    })
}

fn openx(table_name: &str) -> Conversion {
    Conversion::from_config(&config(
        table_name,
        json!({"OpenXJsonSerDe": {}}),
        json!({}),
    ))
    .unwrap()
    .unwrap()
}

fn records(lines: &[&str]) -> Vec<Bytes> {
    lines
        .iter()
        .map(|l| Bytes::from(format!("{l}\n")))
        .collect()
}

/// The file's rows as one batch.
fn read(parquet: &[u8]) -> RecordBatch {
    let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::copy_from_slice(parquet))
        .unwrap()
        .with_batch_size(1 << 20)
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
    assert_eq!(batches.len(), 1, "one batch expected");
    batches.into_iter().next().unwrap()
}

fn strings(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
    let array = batch.column_by_name(column).unwrap().as_string::<i32>();
    array.iter().map(|v| v.map(str::to_string)).collect()
}

fn bigints(batch: &RecordBatch, column: &str) -> Vec<Option<i64>> {
    batch
        .column_by_name(column)
        .unwrap()
        .as_primitive::<Int64Type>()
        .iter()
        .collect()
}

fn column_types(batch: &RecordBatch) -> Vec<String> {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| format!("{}:{}", f.name(), f.data_type()))
        .collect()
}

#[test]
fn inline_schema_every_type_read_back() {
    let table = "events:struct<b:boolean,t:tinyint,s:smallint,i:int,l:bigint,f:float,d:double,\
                 m:decimal(6,2),str:string,v:varchar(3),c:char(2),day:date,ts:timestamp,bin:binary,\
                 arr:array<int>,kv:map<string,double>,st:struct<x:int,y:array<string>>>";
    let conversion = openx(table);
    let input = records(&[
        r#"{"b":true,"t":-5,"s":"300","i":70000,"l":9007199254740993,"f":1.5,"d":"2.25","m":"1234.567","str":42,
            "v":"abcdef","c":"xyz","day":"2024-01-02","ts":"2024-01-02T03:04:05.678Z","bin":"aGk=",
            "arr":[1,null,3],"kv":{"a":1,"b":null},"st":{"X":7,"y":["p","q"]}}"#,
        r#"{"b":null,"arr":null,"st":null,"kv":{}}"#,
    ]);
    let converted = conversion.convert(&input).unwrap();
    assert_eq!(converted.failed, Vec::<(usize, String)>::new());
    assert_eq!(converted.rows, 2);
    let batch = read(&converted.parquet);
    assert_eq!(batch.num_rows(), 2);
    let types = column_types(&batch);
    assert_eq!(
        types[..14],
        [
            "b:Boolean",
            "t:Int8",
            "s:Int16",
            "i:Int32",
            "l:Int64",
            "f:Float32",
            "d:Float64",
            "m:Decimal128(6, 2)",
            "str:Utf8",
            "v:Utf8",
            "c:Utf8",
            "day:Date32",
            "ts:Timestamp(Millisecond, None)",
            "bin:Binary"
        ]
    );
    assert!(
        matches!(batch.schema().field(14).data_type(), DataType::List(f) if f.data_type() == &DataType::Int32)
    );
    assert!(matches!(
        batch.schema().field(15).data_type(),
        DataType::Map(..)
    ));
    assert!(matches!(batch.schema().field(16).data_type(), DataType::Struct(f) if f.len() == 2));
    assert!(batch.schema().fields().iter().all(|f| f.is_nullable()));

    let col = |name: &str| batch.column_by_name(name).unwrap().clone();
    assert_eq!(
        col("b").as_boolean().iter().collect::<Vec<_>>(),
        [Some(true), None]
    );
    assert_eq!(col("t").as_primitive::<Int8Type>().value(0), -5);
    assert_eq!(col("s").as_primitive::<Int16Type>().value(0), 300);
    assert_eq!(col("i").as_primitive::<Int32Type>().value(0), 70000);
    assert_eq!(
        col("l").as_primitive::<Int64Type>().value(0),
        9_007_199_254_740_993
    );
    assert_eq!(col("f").as_primitive::<Float32Type>().value(0), 1.5);
    assert_eq!(col("d").as_primitive::<Float64Type>().value(0), 2.25);
    assert_eq!(col("m").as_primitive::<Decimal128Type>().value(0), 123_457);
    assert_eq!(strings(&batch, "str"), [Some("42".to_string()), None]);
    assert_eq!(strings(&batch, "v")[0].as_deref(), Some("abc"));
    assert_eq!(strings(&batch, "c")[0].as_deref(), Some("xy"));
    assert_eq!(col("day").as_primitive::<Date32Type>().value(0), 19_724);
    assert_eq!(
        col("ts")
            .as_primitive::<TimestampMillisecondType>()
            .value(0),
        1_704_164_645_678
    );
    assert_eq!(col("bin").as_binary::<i32>().value(0), b"hi");
    assert!(col("t").is_null(1) && col("ts").is_null(1) && col("bin").is_null(1));

    let arr = col("arr");
    let arr = arr.as_list::<i32>();
    let first = arr.value(0);
    assert_eq!(
        first.as_primitive::<Int32Type>().iter().collect::<Vec<_>>(),
        [Some(1), None, Some(3)]
    );
    assert!(arr.is_null(1));

    let kv = col("kv");
    let kv = kv.as_map();
    assert_eq!(kv.value_length(0), 2);
    assert_eq!(
        kv.keys().as_string::<i32>().iter().collect::<Vec<_>>(),
        [Some("a"), Some("b")]
    );
    assert_eq!(
        kv.values()
            .as_primitive::<Float64Type>()
            .iter()
            .collect::<Vec<_>>(),
        [Some(1.0), None]
    );
    assert!(kv.is_valid(1) && kv.value_length(1) == 0);

    let st = col("st");
    let st = st.as_struct();
    assert_eq!(st.column(0).as_primitive::<Int32Type>().value(0), 7);
    let y = st.column(1).as_list::<i32>().value(0);
    assert_eq!(
        y.as_string::<i32>().iter().collect::<Vec<_>>(),
        [Some("p"), Some("q")]
    );
    assert!(st.is_null(1));
}

#[test]
fn inferred_schema() {
    let conversion = openx("plain_table");
    let input = records(&[
        r#"{"id":1,"name":"a","nested":{"k":1},"tags":["x"],"n":null}"#,
        r#"{"id":2,"score":2.5,"Name":"b","nested":{"k":2,"j":"z"},"ok":true}"#,
        r#"{"id":3,"score":3,"nested":null}"#,
    ]);
    let converted = conversion.convert(&input).unwrap();
    assert!(converted.failed.is_empty(), "{:?}", converted.failed);
    let batch = read(&converted.parquet);
    let names: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["id", "name", "nested", "tags", "n", "score", "ok"]);
    let types = column_types(&batch);
    assert_eq!(types[0], "id:Int64");
    assert_eq!(types[1], "name:Utf8");
    assert_eq!(types[4], "n:Utf8");
    assert_eq!(types[5], "score:Float64");
    assert_eq!(types[6], "ok:Boolean");
    assert!(matches!(batch.schema().field(2).data_type(), DataType::Struct(f) if f.len() == 2));
    assert_eq!(bigints(&batch, "id"), [Some(1), Some(2), Some(3)]);
    assert_eq!(
        strings(&batch, "name"),
        [Some("a".into()), Some("b".into()), None]
    );
    let score = batch
        .column_by_name("score")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(
        score.iter().collect::<Vec<_>>(),
        [None, Some(2.5), Some(3.0)]
    );
}

#[test]
fn invalid_records_do_not_shape_the_inferred_schema() {
    let conversion = openx("plain_table");
    let input = records(&[
        r#"{"a":1,"b":"x","#,
        r#"{"a":2}{"c":"y"}"#,
        r#"{"a":"3"} 4"#,
        r#"{"a":4}"#,
    ]);
    let converted = conversion.convert(&input).unwrap();
    assert_eq!(
        converted.failed.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [0, 2]
    );
    let batch = read(&converted.parquet);
    assert_eq!(column_types(&batch), ["a:Int64", "c:Utf8"]);
    assert_eq!(bigints(&batch, "a"), [Some(2), None, Some(4)]);
}

#[test]
fn key_matching_options() {
    // Case-insensitive by default.
    let conversion = openx("t:struct<userid:bigint,city:string>");
    let converted = conversion
        .convert(&records(&[r#"{"UserId":1,"CITY":"x"}"#]))
        .unwrap();
    let batch = read(&converted.parquet);
    assert_eq!(bigints(&batch, "userid"), [Some(1)]);
    assert_eq!(strings(&batch, "city"), [Some("x".into())]);

    // Exact when CaseInsensitive is false.
    let exact = json!({"OpenXJsonSerDe": {"CaseInsensitive": false}});
    let conversion = Conversion::from_config(&config(
        "t:struct<userId:bigint,city:string>",
        exact,
        json!({}),
    ))
    .unwrap()
    .unwrap();
    let converted = conversion
        .convert(&records(&[r#"{"userid":1,"userId":2,"CITY":"x"}"#]))
        .unwrap();
    let batch = read(&converted.parquet);
    assert_eq!(bigints(&batch, "userId"), [Some(2)]);
    assert_eq!(strings(&batch, "city"), [None]);

    // Dots to underscores, and mappings.
    let options = json!({"OpenXJsonSerDe": {
        "ConvertDotsInJsonKeysToUnderscores": true,
        "ColumnToJsonKeyMappings": {"ts": "timestamp", "who": "user.name"}
    }});
    let table = "t:struct<a_b:int,ts:bigint,who:string,timestamp:bigint>";
    let conversion = Conversion::from_config(&config(table, options.clone(), json!({})))
        .unwrap()
        .unwrap();
    let converted = conversion
        .convert(&records(&[
            r#"{"a.b":1,"Timestamp":5,"user.name":"kim","ts":99}"#,
        ]))
        .unwrap();
    assert!(converted.failed.is_empty(), "{:?}", converted.failed);
    let batch = read(&converted.parquet);
    assert_eq!(
        batch
            .column_by_name("a_b")
            .unwrap()
            .as_primitive::<Int32Type>()
            .value(0),
        1
    );
    assert_eq!(
        bigints(&batch, "ts"),
        [Some(5)],
        "ts reads the mapped key, not its own name"
    );
    assert_eq!(strings(&batch, "who"), [Some("kim".into())]);
    assert_eq!(bigints(&batch, "timestamp"), [Some(5)]);

    // Inference names the mapped column and converts dots.
    let conversion = Conversion::from_config(&config("plain", options, json!({})))
        .unwrap()
        .unwrap();
    let converted = conversion
        .convert(&records(&[r#"{"Timestamp":5,"a.b":1}"#]))
        .unwrap();
    let batch = read(&converted.parquet);
    assert_eq!(column_types(&batch), ["ts:Int64", "a_b:Int64"]);
    assert_eq!(bigints(&batch, "ts"), [Some(5)]);
}

#[test]
fn a_bad_record_fails_alone() {
    let conversion = openx("t:struct<id:int,name:string>");
    let input = records(&[
        r#"{"id":1,"name":"a"}"#,
        r#"{"id":"abc","name":"b"}"#,
        r#"{"id":3,"name":"c"}"#,
        r#"{"id":99999999999,"name":"d"}"#,
        r#"{"id":5}{"id":"x"}"#,
        r#"{"id":6,"extra":[1,2],"name":null}"#,
    ]);
    let converted = conversion.convert(&input).unwrap();
    assert_eq!(converted.rows, 3);
    let failed: Vec<usize> = converted.failed.iter().map(|(i, _)| *i).collect();
    assert_eq!(failed, [1, 3, 4]);
    assert_eq!(
        converted.failed[0].1,
        "column 'id': cannot convert string \"abc\" to int"
    );
    assert_eq!(
        converted.failed[1].1,
        "column 'id': number 99999999999 is out of range for int"
    );
    let batch = read(&converted.parquet);
    let ids = batch.column(0).as_primitive::<Int32Type>();
    assert_eq!(ids.iter().collect::<Vec<_>>(), [Some(1), Some(3), Some(6)]);
    assert_eq!(
        strings(&batch, "name"),
        [Some("a".into()), Some("c".into()), None]
    );
}

#[test]
fn aggregated_records_write_several_rows() {
    let conversion = openx("t:struct<a:int>");
    let converted = conversion
        .convert(&[Bytes::from_static(b"{\"a\":1}{\"a\":2}\n{\"a\":3}")])
        .unwrap();
    assert_eq!(converted.rows, 3);
    let batch = read(&converted.parquet);
    assert_eq!(
        batch.column(0).as_primitive::<Int32Type>().values(),
        &[1, 2, 3]
    );
}

#[test]
fn non_json_input() {
    for conversion in [openx("t:struct<a:int>"), openx("inferred")] {
        let input = vec![
            Bytes::from_static(b"not json"),
            Bytes::from_static(b"[1,2,3]"),
            Bytes::from_static(b""),
            Bytes::from_static(b"\xff\x00\x01"),
            Bytes::from_static(b"{\"a\":1"),
            Bytes::from_static(b"{\"a\":2}"),
        ];
        let converted = conversion.convert(&input).unwrap();
        assert_eq!(converted.rows, 1);
        let failed: Vec<usize> = converted.failed.iter().map(|(i, _)| *i).collect();
        assert_eq!(failed, [0, 1, 2, 3, 4]);
        assert!(
            converted.failed[0]
                .1
                .starts_with("record is not valid JSON"),
            "{}",
            converted.failed[0].1
        );
        assert!(
            converted.failed[1].1.contains("not a JSON object"),
            "{}",
            converted.failed[1].1
        );
        assert_eq!(read(&converted.parquet).num_rows(), 1);
    }
}

#[test]
fn all_failed_means_no_file() {
    let conversion = openx("t:struct<a:int>");
    let converted = conversion
        .convert(&records(&[r#"{"a":"x"}"#, "nope"]))
        .unwrap();
    assert_eq!(
        converted,
        Converted {
            parquet: Vec::new(),
            failed: converted.failed.clone(),
            rows: 0
        }
    );
    assert_eq!(converted.failed.len(), 2);

    let inferred = openx("inferred");
    let converted = inferred.convert(&records(&["{}", "nope"])).unwrap();
    assert!(converted.parquet.is_empty());
    assert!(
        converted.failed[0].1.contains("no column to write"),
        "{:?}",
        converted.failed
    );
    assert!(
        converted.failed[1].1.contains("not valid JSON"),
        "{:?}",
        converted.failed
    );

    assert_eq!(inferred.convert(&[]).unwrap(), Converted::default());
    assert_eq!(conversion.convert(&[]).unwrap(), Converted::default());
}

fn compression_of(parquet_serde: Value) -> (Compression, bool, Vec<u8>) {
    let conversion = Conversion::from_config(&config(
        "t:struct<s:string>",
        json!({"OpenXJsonSerDe": {}}),
        parquet_serde,
    ))
    .unwrap()
    .unwrap();
    let input: Vec<Bytes> = (0..1000)
        .map(|i| Bytes::from(format!("{{\"s\":\"value-{}\"}}", i % 10)))
        .collect();
    let converted = conversion.convert(&input).unwrap();
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(Bytes::from(converted.parquet.clone())).unwrap();
    let chunk = builder.metadata().row_group(0).column(0).clone();
    let dictionary = chunk.dictionary_page_offset().is_some();
    (chunk.compression(), dictionary, converted.parquet)
}

#[test]
fn parquet_serde_settings_are_honored() {
    assert_eq!(compression_of(json!({})).0, Compression::SNAPPY);
    assert_eq!(
        compression_of(json!({"Compression": "UNCOMPRESSED"})).0,
        Compression::UNCOMPRESSED
    );
    assert!(matches!(
        compression_of(json!({"Compression": "GZIP"})).0,
        Compression::GZIP(_)
    ));
    assert!(!compression_of(json!({})).1, "dictionary off by default");
    assert!(compression_of(json!({"EnableDictionaryCompression": true})).1);
    let (_, _, v2) = compression_of(
        json!({"WriterVersion": "V2", "PageSizeBytes": 65536, "BlockSizeBytes": 67108864}),
    );
    assert_eq!(read(&v2).num_rows(), 1000);
}

#[test]
fn configuration_errors() {
    let parquet = json!({});
    let openx = json!({"OpenXJsonSerDe": {}});
    assert!(Conversion::from_config(&json!({"Enabled": false}))
        .unwrap()
        .is_none());
    let orc = json!({
        "SchemaConfiguration": {"TableName": "t"},
        "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
        "OutputFormatConfiguration": {"Serializer": {"OrcSerDe": {}}},
    });
    assert_eq!(
        Conversion::from_config(&orc).unwrap_err(),
        "OrcSerDe is not supported by this server; use ParquetSerDe"
    );
    let cases = [
        (
            config("t:struct<a:nope>", openx.clone(), parquet.clone()),
            "unknown type 'nope'",
        ),
        (
            config("t", json!({}), parquet.clone()),
            "must specify OpenXJsonSerDe or HiveJsonSerDe",
        ),
        (
            config(
                "t",
                json!({"OpenXJsonSerDe": {}, "HiveJsonSerDe": {}}),
                parquet.clone(),
            ),
            "only one of OpenXJsonSerDe and HiveJsonSerDe",
        ),
        (
            config("t", openx.clone(), json!({"Compression": "ZSTD"})),
            "Member must satisfy enum value set: [UNCOMPRESSED, GZIP, SNAPPY]",
        ),
        (
            config("t", openx.clone(), json!({"WriterVersion": "V3"})),
            "[V1, V2]",
        ),
        (
            config("t", openx.clone(), json!({"PageSizeBytes": 100})),
            "greater than or equal to 65536",
        ),
        (
            config("t", openx.clone(), json!({"BlockSizeBytes": 100})),
            "greater than or equal to 67108864",
        ),
        (
            config(
                "t",
                json!({"HiveJsonSerDe": {"TimestampFormats": ["yyyy-ww"]}}),
                parquet.clone(),
            ),
            "pattern letter 'w'",
        ),
        (
            config(
                "t",
                json!({"OpenXJsonSerDe": {"CaseInsensitive": "yes"}}),
                parquet.clone(),
            ),
            "must be a boolean",
        ),
        (
            config("", openx.clone(), parquet.clone()),
            "TableName must be a non-empty string",
        ),
        (json!({"SchemaConfiguration": {}}), "TableName is required"),
        (json!([]), "must be an object"),
    ];
    for (value, want) in cases {
        let e = Conversion::from_config(&value).unwrap_err();
        assert!(e.contains(want), "{value}: {e}");
    }
    let no_serializer = json!({
        "SchemaConfiguration": {"TableName": "t"},
        "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
    });
    assert!(Conversion::from_config(&no_serializer)
        .unwrap_err()
        .contains("OutputFormatConfiguration is required"));
    assert_eq!(openx_conversion().extension(), ".parquet");
}

fn openx_conversion() -> Conversion {
    openx("t:struct<a:int>")
}

#[test]
fn hive_json_serde_timestamps() {
    let hive = json!({"HiveJsonSerDe": {"TimestampFormats": ["millis", "dd/MM/yyyy HH:mm"]}});
    let conversion = Conversion::from_config(&config("t:struct<Ts:timestamp>", hive, json!({})))
        .unwrap()
        .unwrap();
    let input = records(&[
        r#"{"TS":1704164645678}"#,
        r#"{"ts":"02/01/2024 03:04"}"#,
        r#"{"ts":"2024-01-02 03:04:05"}"#,
        r#"{"ts":"2024-01-02T03:04:05Z"}"#,
    ]);
    let converted = conversion.convert(&input).unwrap();
    assert_eq!(converted.failed.len(), 1, "{:?}", converted.failed);
    assert_eq!(converted.failed[0].0, 3);
    let batch = read(&converted.parquet);
    assert_eq!(
        batch.schema().field(0).data_type(),
        &DataType::Timestamp(TimeUnit::Millisecond, None)
    );
    let ts = batch.column(0).as_primitive::<TimestampMillisecondType>();
    assert_eq!(
        ts.values(),
        &[1_704_164_645_678, 1_704_164_640_000, 1_704_164_645_000]
    );
}

#[test]
fn many_rows_span_batches_and_row_groups() {
    let conversion = openx("t:struct<i:bigint,s:string>");
    let n = BATCH_ROWS * 2 + 17;
    let input: Vec<Bytes> = (0..n)
        .map(|i| Bytes::from(format!("{{\"i\":{i},\"s\":\"r{i}\"}}")))
        .collect();
    let converted = conversion.convert(&input).unwrap();
    assert_eq!(converted.rows, n);
    let batch = read(&converted.parquet);
    let values = batch.column(0).as_primitive::<Int64Type>();
    assert!(values
        .values()
        .iter()
        .enumerate()
        .all(|(i, v)| *v == i as i64));
    assert_eq!(
        batch.column(1).as_string::<i32>().value(n - 1),
        format!("r{}", n - 1)
    );
}

/// Garbage and mangled JSON never panic; every record either converts or fails.
#[test]
fn never_panics_on_mangled_input() {
    let base = br#"{"a":1,"b":"x","c":[1,{"d":null}],"e":{"f":2.5e3},"g":"2024-01-02T03:04:05Z","h":"aGk="}"#;
    let conversions = [
        openx("inferred"),
        openx("t:struct<a:tinyint,b:decimal(3,1),c:array<struct<d:int>>,e:map<int,date>,g:timestamp,h:binary>"),
    ];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut input = Vec::new();
    for _ in 0..2000 {
        let mut bytes = base.to_vec();
        for _ in 0..(next() % 4 + 1) {
            let at = (next() as usize) % bytes.len();
            match next() % 3 {
                0 => bytes[at] = next() as u8,
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, b"{}[]\":,.-e0\\"[(next() % 12) as usize]),
            }
        }
        input.push(Bytes::from(bytes));
    }
    input.push(Bytes::from(vec![b'['; 100_000]));
    input.push(Bytes::from(format!(
        "{{\"ignored\":{}}}",
        "[".repeat(100_000)
    )));
    input.push(Bytes::from(format!(
        "{{\"ignored\":{}1{}}}",
        "[".repeat(100),
        "]".repeat(100)
    )));
    input.push(Bytes::from(format!(
        "{}1{}",
        "{\"a\":".repeat(200),
        "}".repeat(200)
    )));
    for conversion in &conversions {
        let converted = conversion.convert(&input).unwrap();
        assert_eq!(converted.rows + converted.failed.len(), input.len());
        if converted.rows > 0 {
            assert_eq!(read(&converted.parquet).num_rows(), converted.rows);
        }
    }
}

fn sample_records(n: usize) -> Vec<Bytes> {
    (0..n)
        .map(|i| {
            Bytes::from(format!(
                "{{\"id\":{},\"user\":\"user-{}\",\"score\":{}.5,\"active\":{},\"ts\":\"2024-01-02T03:04:{:02}Z\",\"kind\":\"click\"}}\n",
                1_000_000 + i,
                i % 5000,
                i % 1000,
                i % 2 == 0,
                i % 60
            ))
        })
        .collect()
}

const SAMPLE_TABLE: &str =
    "t:struct<id:bigint,user:string,score:double,active:boolean,ts:timestamp,kind:string>";

fn measure(conversion: &Conversion, input: &[Bytes]) -> f64 {
    let started = Instant::now();
    let converted = conversion.convert(input).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(converted.rows, input.len());
    assert!(converted.failed.is_empty());
    input.len() as f64 / seconds
}

/// A quick sanity run of the hot path (timing is not asserted).
#[test]
fn throughput_sanity() {
    let input = sample_records(20_000);
    let rate = measure(&openx(SAMPLE_TABLE), &input);
    assert!(rate > 0.0);
}

/// Measures throughput on 1M records of about 100 bytes:
/// `cargo test --release -p freshet-firehose --lib convert:: -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput_one_million_records() {
    let input = sample_records(1_000_000);
    let bytes: usize = input.iter().map(Bytes::len).sum();
    println!(
        "{} records, {:.1} bytes each",
        input.len(),
        bytes as f64 / input.len() as f64
    );
    for (name, table) in [
        ("inline schema", SAMPLE_TABLE),
        ("inferred schema", "inferred"),
    ] {
        let conversion = openx(table);
        measure(&conversion, &input[..10_000]);
        let rate = measure(&conversion, &input);
        println!("{name}: {rate:.0} records/s");
    }
}

#[test]
fn the_deepest_schema_writes() {
    // The arrays, the struct and the int: MAX_NESTING levels.
    let levels = schema::MAX_NESTING - 2;
    let table = format!(
        "t:struct<a:{}struct<x:int>{}>",
        "array<".repeat(levels),
        ">".repeat(levels)
    );
    let value = format!("{}{{\"x\":7}}{}", "[".repeat(levels), "]".repeat(levels));
    let converted = openx(&table)
        .convert(&records(&[&format!("{{\"a\":{value}}}")]))
        .unwrap();
    assert!(converted.failed.is_empty(), "{:?}", converted.failed);
    assert_eq!(read(&converted.parquet).num_rows(), 1);
}
