//! Firehose's built-in processors: RecordDeAggregation, Decompression,
//! CloudWatchLogProcessing and AppendDelimiterToRecord.
//!
//! A ProcessingConfiguration lists processors in any order; Firehose applies them in a
//! fixed order of [`Stage`]s, whatever the list's order:
//!
//! 1. `Decompression` (GZIP: CloudWatch Logs subscription records);
//! 2. `CloudWatchLogProcessing` (`DataMessageExtraction`: the log events' messages);
//! 3. `RecordDeAggregation` (one record of several JSON objects or delimited records
//!    becomes several records; AWS: "Deaggregation → Data Transformation via Lambda →
//!    Partitioning Keys");
//! 4. `Lambda` (the transformation function, [`crate::transform`]);
//! 5. `MetadataExtraction` (partition keys from a JQ query, [`crate::partition`]);
//! 6. `AppendDelimiterToRecord` (a delimiter after each record, last, as records are
//!    written to the object).
//!
//! Record format conversion, when configured, comes after the partition keys and before
//! the delimiter. A record a built-in processor fails on goes to the error output as it
//! was before processing: under `decompression-failed` for a decompression failure,
//! `processing-failed` otherwise ([`Builtin::error_output_type`]).

use std::io::Read;

use bytes::Bytes;
use serde::de::IgnoredAny;
use serde::Deserialize;

/// When a processor runs: stages sort in the order Firehose applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// `Decompression`.
    Decompression,
    /// `CloudWatchLogProcessing`.
    CloudWatchLogProcessing,
    /// `RecordDeAggregation`.
    RecordDeAggregation,
    /// `Lambda`.
    Lambda,
    /// `MetadataExtraction`.
    MetadataExtraction,
    /// `AppendDelimiterToRecord`.
    AppendDelimiterToRecord,
}

impl Stage {
    /// All stages, in order of application.
    pub const ALL: [Stage; 6] = [
        Stage::Decompression,
        Stage::CloudWatchLogProcessing,
        Stage::RecordDeAggregation,
        Stage::Lambda,
        Stage::MetadataExtraction,
        Stage::AppendDelimiterToRecord,
    ];

    /// The stage of a processor `Type` (AWS's name, case-sensitive), if it is one.
    pub fn of(kind: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.as_str() == kind)
    }

    /// AWS's processor `Type` of the stage.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Decompression => "Decompression",
            Stage::CloudWatchLogProcessing => "CloudWatchLogProcessing",
            Stage::RecordDeAggregation => "RecordDeAggregation",
            Stage::Lambda => "Lambda",
            Stage::MetadataExtraction => "MetadataExtraction",
            Stage::AppendDelimiterToRecord => "AppendDelimiterToRecord",
        }
    }
}

/// How `RecordDeAggregation` splits a record (`SubRecordType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubRecords {
    /// `JSON`: consecutive JSON objects, with nothing or whitespace (JSON Lines) between
    /// them; each object becomes a record. An array of objects is not valid input.
    Json,
    /// `DELIMITED`: pieces between occurrences of the delimiter become records.
    Delimited {
        /// The delimiter (the `Delimiter` parameter, base64-decoded).
        delimiter: Vec<u8>,
    },
}

/// A built-in processor, ready to apply to records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Builtin {
    /// `RecordDeAggregation`: one record becomes its sub-records (at most
    /// [`MAX_SUB_RECORDS`]).
    DeAggregate {
        /// How to split (`SubRecordType`, `Delimiter`).
        sub_records: SubRecords,
    },
    /// `Decompression` with `CompressionFormat` `GZIP`.
    Decompress,
    /// `AppendDelimiterToRecord`: the delimiter is appended to each record.
    AppendDelimiter {
        /// The delimiter (`Delimiter`, base64-decoded; `\n` by default).
        delimiter: Vec<u8>,
    },
    /// `CloudWatchLogProcessing`: with `DataMessageExtraction` true, a (decompressed)
    /// CloudWatch Logs subscription record becomes one record per log event, holding the
    /// event's `message` only; `CONTROL_MESSAGE` records become nothing. With it false,
    /// records pass through.
    CloudWatchLogs {
        /// `DataMessageExtraction`.
        extract_messages: bool,
    },
}

/// Most sub-records one record may deaggregate into (AWS: "Record deaggregation by JSON
/// or by delimiter is capped at 500 per record").
pub const MAX_SUB_RECORDS: usize = 500;
/// Largest decompressed record `Decompression` produces; a larger one fails (guards
/// against decompression bombs).
pub const MAX_DECOMPRESSED_BYTES: u64 = 64 * 1024 * 1024;
/// What `!{firehose:error-output-type}` is for a record decompression failed on.
pub const DECOMPRESSION_FAILED: &str = "decompression-failed";
/// What `!{firehose:error-output-type}` is for a record another processor failed on.
pub const PROCESSING_FAILED: &str = "processing-failed";

impl Builtin {
    /// The built-in processor of a processor `Type` and its parameters (name and value,
    /// as given), `None` for `Lambda` and `MetadataExtraction` (see
    /// [`crate::transform::LambdaProcessor`] and [`crate::partition::KeyQuery`]). `Err`
    /// holds the message of the `InvalidArgumentException`: an unknown type, a parameter
    /// the type does not take, a value out of its set, a `Delimiter` that is not
    /// base64.
    ///
    /// Parameters: `RecordDeAggregation` takes `SubRecordType` (`JSON` or `DELIMITED`,
    /// required) and `Delimiter` (base64; `\n` when `DELIMITED` has none);
    /// `Decompression` takes `CompressionFormat` (`GZIP`, the default);
    /// `CloudWatchLogProcessing` takes `DataMessageExtraction` (`true` or `false`, default
    /// `false`); `AppendDelimiterToRecord` takes `Delimiter` (base64, default `\n`).
    pub fn from_processor(
        kind: &str,
        params: &[(String, String)],
    ) -> Result<Option<Builtin>, String> {
        let stage = Stage::of(kind).ok_or_else(|| {
            format!(
                "Value '{kind}' at 'processor.type' failed to satisfy constraint: Member must \
                 satisfy enum value set: [RecordDeAggregation, Decompression, \
                 CloudWatchLogProcessing, Lambda, MetadataExtraction, AppendDelimiterToRecord]"
            )
        })?;
        let builtin = match stage {
            Stage::Lambda | Stage::MetadataExtraction => return Ok(None),
            Stage::RecordDeAggregation => {
                let p = Params::new(kind, params, &["SubRecordType", "Delimiter"])?;
                let sub_records = match p.get("SubRecordType") {
                    Some("JSON") => SubRecords::Json,
                    Some("DELIMITED") => SubRecords::Delimited {
                        delimiter: p.delimiter()?.unwrap_or_else(|| b"\n".to_vec()),
                    },
                    Some(other) => {
                        return Err(format!(
                            "Invalid value '{other}' for processor parameter SubRecordType: it \
                             must be JSON or DELIMITED."
                        ))
                    }
                    None => {
                        return Err(
                            "Processor parameter SubRecordType is required for processor \
                                    type RecordDeAggregation."
                                .to_owned(),
                        )
                    }
                };
                Builtin::DeAggregate { sub_records }
            }
            Stage::Decompression => {
                let p = Params::new(kind, params, &["CompressionFormat"])?;
                match p.get("CompressionFormat") {
                    None | Some("GZIP") => Builtin::Decompress,
                    Some(other) => {
                        return Err(format!(
                            "Invalid value '{other}' for processor parameter CompressionFormat: \
                             the only supported format is GZIP."
                        ))
                    }
                }
            }
            Stage::CloudWatchLogProcessing => {
                let p = Params::new(kind, params, &["DataMessageExtraction"])?;
                let extract_messages = match p.get("DataMessageExtraction") {
                    None => false,
                    Some(v) if v.eq_ignore_ascii_case("true") => true,
                    Some(v) if v.eq_ignore_ascii_case("false") => false,
                    Some(other) => {
                        return Err(format!(
                            "Invalid value '{other}' for processor parameter \
                             DataMessageExtraction: it must be true or false."
                        ))
                    }
                };
                Builtin::CloudWatchLogs { extract_messages }
            }
            Stage::AppendDelimiterToRecord => {
                let p = Params::new(kind, params, &["Delimiter"])?;
                Builtin::AppendDelimiter {
                    delimiter: p.delimiter()?.unwrap_or_else(|| b"\n".to_vec()),
                }
            }
        };
        Ok(Some(builtin))
    }

    /// When the processor runs.
    pub fn stage(&self) -> Stage {
        match self {
            Builtin::DeAggregate { .. } => Stage::RecordDeAggregation,
            Builtin::Decompress => Stage::Decompression,
            Builtin::AppendDelimiter { .. } => Stage::AppendDelimiterToRecord,
            Builtin::CloudWatchLogs { .. } => Stage::CloudWatchLogProcessing,
        }
    }

    /// What `!{firehose:error-output-type}` is for a record this processor fails on.
    pub fn error_output_type(&self) -> &'static str {
        match self {
            Builtin::Decompress => DECOMPRESSION_FAILED,
            _ => PROCESSING_FAILED,
        }
    }

    /// Applies the processor to one record: the records it becomes (deaggregation and
    /// message extraction: any number, possibly none; the others: one), or what was
    /// wrong with it (the record then goes to the error output).
    pub fn apply(&self, data: &[u8]) -> Result<Vec<Bytes>, String> {
        match self {
            Builtin::DeAggregate {
                sub_records: SubRecords::Json,
            } => split_json(data),
            Builtin::DeAggregate {
                sub_records: SubRecords::Delimited { delimiter },
            } => split_delimited(data, delimiter),
            Builtin::Decompress => gunzip(data).map(|d| vec![Bytes::from(d)]),
            Builtin::AppendDelimiter { delimiter } => {
                let mut out = Vec::with_capacity(data.len() + delimiter.len());
                out.extend_from_slice(data);
                out.extend_from_slice(delimiter);
                Ok(vec![Bytes::from(out)])
            }
            Builtin::CloudWatchLogs {
                extract_messages: false,
            } => Ok(vec![Bytes::copy_from_slice(data)]),
            Builtin::CloudWatchLogs {
                extract_messages: true,
            } => extract_messages(data),
        }
    }
}

/// A processor's parameters, checked against the names its type takes.
struct Params<'a> {
    params: &'a [(String, String)],
}

impl<'a> Params<'a> {
    fn new(
        kind: &str,
        params: &'a [(String, String)],
        allowed: &[&str],
    ) -> Result<Params<'a>, String> {
        if let Some((name, _)) = params.iter().find(|(n, _)| !allowed.contains(&n.as_str())) {
            return Err(format!(
                "Processor parameter {name} is not supported for processor type {kind}. \
                 Supported parameters: {}.",
                allowed.join(", ")
            ));
        }
        Ok(Params { params })
    }

    /// The value of a parameter (the last one given), trimmed.
    fn get(&self, name: &str) -> Option<&'a str> {
        self.params
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
    }

    /// `Delimiter`, base64-decoded.
    fn delimiter(&self) -> Result<Option<Vec<u8>>, String> {
        let Some(text) = self.get("Delimiter") else {
            return Ok(None);
        };
        match base64_simd::STANDARD.decode_to_vec(text.as_bytes()) {
            Ok(d) if !d.is_empty() => Ok(Some(d)),
            _ => Err(format!(
                "Invalid value '{text}' for processor parameter Delimiter: it must be a \
                 non-empty base64-encoded string (for example IyMjIw== for ####)."
            )),
        }
    }
}

/// Consecutive JSON objects, each as its own record (its text as it appears, without
/// the whitespace around it).
fn split_json(data: &[u8]) -> Result<Vec<Bytes>, String> {
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(data).into_iter::<IgnoredAny>();
    let mut start = 0;
    while let Some(item) = stream.next() {
        item.map_err(|e| {
            format!(
                "The record is not a sequence of JSON objects (multi record deaggregation): {e}"
            )
        })?;
        let end = stream.byte_offset();
        let text = data[start..end].trim_ascii();
        if !text.starts_with(b"{") {
            return Err(
                "The record is not a sequence of JSON objects (multi record \
                        deaggregation): only JSON objects can be deaggregated, not arrays or \
                        other values."
                    .to_owned(),
            );
        }
        out.push(Bytes::copy_from_slice(text));
        if out.len() > MAX_SUB_RECORDS {
            return Err(too_many());
        }
        start = end;
    }
    if out.is_empty() {
        return Err("The record holds no JSON object to deaggregate.".to_owned());
    }
    Ok(out)
}

/// The non-empty pieces between delimiters.
fn split_delimited(data: &[u8], delimiter: &[u8]) -> Result<Vec<Bytes>, String> {
    let mut out = Vec::new();
    let mut rest = data;
    loop {
        let (piece, next) = match find(rest, delimiter) {
            Some(at) => (&rest[..at], Some(&rest[at + delimiter.len()..])),
            None => (rest, None),
        };
        if !piece.is_empty() {
            out.push(Bytes::copy_from_slice(piece));
            if out.len() > MAX_SUB_RECORDS {
                return Err(too_many());
            }
        }
        match next {
            Some(next) => rest = next,
            None => break,
        }
    }
    if out.is_empty() {
        return Err("The record holds no delimited record to deaggregate.".to_owned());
    }
    Ok(out)
}

fn too_many() -> String {
    format!("The record deaggregates into more than {MAX_SUB_RECORDS} records.")
}

/// The first occurrence of `needle` (non-empty) in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, tail) = needle.split_first()?;
    let mut from = 0;
    while let Some(i) = haystack[from..].iter().position(|&b| b == first) {
        let at = from + i;
        if haystack[at + 1..].starts_with(tail) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The record gunzipped (all members of a multi-member gzip stream).
fn gunzip(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(data.len().saturating_mul(4));
    flate2::read::MultiGzDecoder::new(data)
        .take(MAX_DECOMPRESSED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("The record could not be decompressed as GZIP: {e}"))?;
    if out.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(format!(
            "The record decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes."
        ));
    }
    Ok(out)
}

#[derive(Deserialize)]
struct LogsMessage {
    #[serde(rename = "messageType")]
    message_type: String,
    #[serde(rename = "logEvents", default)]
    log_events: Vec<LogEvent>,
}

#[derive(Deserialize)]
struct LogEvent {
    message: String,
}

/// The messages of a CloudWatch Logs subscription record, one record each.
fn extract_messages(data: &[u8]) -> Result<Vec<Bytes>, String> {
    let logs: LogsMessage = serde_json::from_slice(data).map_err(|e| {
        format!("The record is not a decompressed CloudWatch Logs subscription record: {e}")
    })?;
    match logs.message_type.as_str() {
        "DATA_MESSAGE" => Ok(logs
            .log_events
            .into_iter()
            .map(|e| Bytes::from(e.message))
            .collect()),
        "CONTROL_MESSAGE" => Ok(Vec::new()),
        other => Err(format!(
            "The record has CloudWatch Logs messageType '{other}', not DATA_MESSAGE or \
             CONTROL_MESSAGE."
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn builtin(kind: &str, pairs: &[(&str, &str)]) -> Builtin {
        Builtin::from_processor(kind, &params(pairs))
            .unwrap()
            .unwrap()
    }

    fn texts(records: Vec<Bytes>) -> Vec<String> {
        records
            .into_iter()
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .collect()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn stages_sort_in_awss_order() {
        let mut stages = vec![
            Stage::AppendDelimiterToRecord,
            Stage::MetadataExtraction,
            Stage::Lambda,
            Stage::RecordDeAggregation,
            Stage::CloudWatchLogProcessing,
            Stage::Decompression,
        ];
        stages.sort();
        assert_eq!(stages, Stage::ALL.to_vec());
        for stage in Stage::ALL {
            assert_eq!(Stage::of(stage.as_str()), Some(stage));
        }
        assert_eq!(Stage::of("lambda"), None);
        assert_eq!(builtin("Decompression", &[]).stage(), Stage::Decompression);
        assert_eq!(
            builtin("AppendDelimiterToRecord", &[]).stage(),
            Stage::AppendDelimiterToRecord
        );
    }

    #[test]
    fn lambda_and_metadata_extraction_are_not_builtins() {
        assert_eq!(
            Builtin::from_processor("Lambda", &params(&[("LambdaArn", "f")])),
            Ok(None)
        );
        assert_eq!(
            Builtin::from_processor("MetadataExtraction", &params(&[])),
            Ok(None)
        );
        assert!(Builtin::from_processor("Gzip", &[]).is_err());
    }

    #[test]
    fn deaggregates_concatenated_json_objects() {
        let p = builtin("RecordDeAggregation", &[("SubRecordType", "JSON")]);
        assert_eq!(
            texts(p.apply(br#"{"a":1}{"a":2}"#).unwrap()),
            vec![r#"{"a":1}"#, r#"{"a":2}"#]
        );
        assert_eq!(
            texts(p.apply(b"{\"a\":1}\n{\"a\": {\"b\":[1,2]}}\n").unwrap()),
            vec![r#"{"a":1}"#, r#"{"a": {"b":[1,2]}}"#]
        );
        assert_eq!(
            texts(p.apply(br#" {"a":"}{"} "#).unwrap()),
            vec![r#"{"a":"}{"}"#]
        );
    }

    #[test]
    fn json_deaggregation_rejects_what_aws_rejects() {
        let p = builtin("RecordDeAggregation", &[("SubRecordType", "JSON")]);
        for bad in [
            &br#"[{"a":1}, {"a":2}]"#[..],
            br#"{"a":1},{"a":2}"#,
            br#"{"a":1"#,
            br#"{"a":1} 7"#,
            b"",
            b"   ",
            b"not json",
        ] {
            assert!(p.apply(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn deaggregation_is_capped_at_500() {
        let p = builtin("RecordDeAggregation", &[("SubRecordType", "JSON")]);
        assert_eq!(p.apply(&b"{}".repeat(500)).unwrap().len(), 500);
        assert!(p.apply(&b"{}".repeat(501)).is_err());
        let d = builtin("RecordDeAggregation", &[("SubRecordType", "DELIMITED")]);
        assert_eq!(d.apply(&b"x\n".repeat(500)).unwrap().len(), 500);
        assert!(d.apply(&b"x\n".repeat(501)).is_err());
    }

    #[test]
    fn deaggregates_delimited_records() {
        // AWS's example: #### is given as IyMjIw==.
        let p = builtin(
            "RecordDeAggregation",
            &[("SubRecordType", "DELIMITED"), ("Delimiter", "IyMjIw==")],
        );
        assert_eq!(
            p,
            Builtin::DeAggregate {
                sub_records: SubRecords::Delimited {
                    delimiter: b"####".to_vec()
                }
            }
        );
        assert_eq!(
            texts(p.apply(b"a####b#c########d####").unwrap()),
            vec!["a", "b#c", "d"]
        );
        assert_eq!(texts(p.apply(b"###a###").unwrap()), vec!["###a###"]);
        assert!(p.apply(b"####").is_err());
        // Without Delimiter, DELIMITED splits lines.
        let lines = builtin("RecordDeAggregation", &[("SubRecordType", "DELIMITED")]);
        assert_eq!(texts(lines.apply(b"x\ny\n").unwrap()), vec!["x", "y"]);
    }

    #[test]
    fn decompresses_gzip() {
        let p = builtin("Decompression", &[("CompressionFormat", "GZIP")]);
        assert_eq!(p, Builtin::Decompress);
        assert_eq!(p.error_output_type(), "decompression-failed");
        let data = b"{\"messageType\":\"DATA_MESSAGE\"}".repeat(100);
        assert_eq!(
            p.apply(&gzip(&data)).unwrap(),
            vec![Bytes::from(data.clone())]
        );
        // Two members concatenated decompress as one.
        let mut two = gzip(b"ab");
        two.extend(gzip(b"cd"));
        assert_eq!(p.apply(&two).unwrap(), vec![Bytes::from_static(b"abcd")]);
        assert!(p.apply(b"not gzip").is_err());
        let truncated = gzip(&data);
        assert!(p.apply(&truncated[..truncated.len() / 2]).is_err());
        assert!(
            Builtin::from_processor("Decompression", &params(&[("CompressionFormat", "ZIP")]))
                .is_err()
        );
    }

    #[test]
    fn appends_the_delimiter() {
        let p = builtin("AppendDelimiterToRecord", &[]);
        assert_eq!(p.apply(b"abc").unwrap(), vec![Bytes::from_static(b"abc\n")]);
        assert_eq!(p.error_output_type(), "processing-failed");
        let p = builtin("AppendDelimiterToRecord", &[("Delimiter", "LA==")]);
        assert_eq!(p.apply(b"").unwrap(), vec![Bytes::from_static(b",")]);
    }

    #[test]
    fn extracts_cloudwatch_log_messages() {
        let record = br#"{"owner":"111111111111","logGroup":"CloudTrail/logs",
            "logStream":"111111111111_CloudTrail/logs_us-east-1",
            "subscriptionFilters":["Destination"],"messageType":"DATA_MESSAGE",
            "logEvents":[
              {"id":"31953106606966983378809025079804211143289615424298221568",
               "timestamp":1432826855000,"message":"{\"eventVersion\":\"1.03\"}"},
              {"id":"31953106606966983378809025079804211143289615424298221569",
               "timestamp":1432826855000,"message":"plain text"}]}"#;
        let p = builtin(
            "CloudWatchLogProcessing",
            &[("DataMessageExtraction", "true")],
        );
        assert_eq!(
            texts(p.apply(record).unwrap()),
            vec![r#"{"eventVersion":"1.03"}"#, "plain text"]
        );
        let control = br#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs",
            "logGroup":"","logStream":"","subscriptionFilters":[],
            "logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#;
        assert_eq!(p.apply(control).unwrap(), Vec::<Bytes>::new());
        assert!(p.apply(b"\x1f\x8b not decompressed").is_err());
        assert!(p.apply(br#"{"messageType":"OTHER"}"#).is_err());
        let off = builtin(
            "CloudWatchLogProcessing",
            &[("DataMessageExtraction", "false")],
        );
        assert_eq!(off.apply(record).unwrap(), vec![Bytes::from_static(record)]);
    }

    #[test]
    fn parameter_errors() {
        for (kind, pairs) in [
            ("RecordDeAggregation", vec![]),
            ("RecordDeAggregation", vec![("SubRecordType", "json")]),
            ("RecordDeAggregation", vec![("SubRecordType", "KPL")]),
            (
                "RecordDeAggregation",
                vec![("SubRecordType", "DELIMITED"), ("Delimiter", "###")],
            ),
            (
                "RecordDeAggregation",
                vec![("SubRecordType", "JSON"), ("LambdaArn", "f")],
            ),
            ("Decompression", vec![("CompressionFormat", "Snappy")]),
            ("Decompression", vec![("Delimiter", "Cg==")]),
            (
                "CloudWatchLogProcessing",
                vec![("DataMessageExtraction", "yes")],
            ),
            ("AppendDelimiterToRecord", vec![("Delimiter", "\n")]),
            ("AppendDelimiterToRecord", vec![("SubRecordType", "JSON")]),
            ("Nope", vec![]),
        ] {
            let err = Builtin::from_processor(kind, &params(&pairs)).unwrap_err();
            assert!(!err.is_empty(), "{kind} {pairs:?}");
        }
        let err = Builtin::from_processor(
            "RecordDeAggregation",
            &params(&[("SubRecordType", "DELIMITED"), ("Delimiter", "###")]),
        )
        .unwrap_err();
        assert!(err.contains("Delimiter") && err.contains("base64"), "{err}");
    }
}
