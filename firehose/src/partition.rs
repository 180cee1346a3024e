//! Dynamic partitioning: partition keys from JQ queries (MetadataExtraction).
//!
//! With inline parsing, a `MetadataExtraction` processor's `MetadataExtractionQuery` is a
//! jq program run on each (JSON) record, after the Lambda transform if any; it yields
//! one object whose fields are the partition keys, e.g.
//! `{customer_id: .customer_id, year: .event_timestamp | strftime("%Y")}`, read in
//! prefixes as `!{partitionKeyFromQuery:customer_id}`. AWS runs jq 1.6
//! (`JsonParsingEngine` must be `JQ-1.6`); Freshet runs the query with jaq (jaq-core,
//! with jaq-std's and jaq-json's definitions and native filters), compiled once per
//! query ([`KeyQuery`]).
//!
//! A record the query fails on (not JSON, a query error, no single object, a key that
//! is null, an array or an object) goes to the error output with
//! [`METADATA_EXTRACTION_FAILED`]. A delivery stream holds at most
//! [`MAX_ACTIVE_PARTITIONS`] partitions at a time; records for a new partition beyond
//! that go to the error output with [`ACTIVE_PARTITIONS_LIMIT_EXCEEDED`] under the
//! error output type [`ACTIVE_PARTITION_EXCEEDED`].

use std::fmt::Write as _;

use jaq_core::data::JustLut;
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars};
use jaq_json::{Num, Val};

/// AWS's default limit on the active partitions of a delivery stream (a quota AWS can
/// raise to 5,000).
pub const MAX_ACTIVE_PARTITIONS: usize = 500;
/// Error code of a record whose partition keys could not be extracted.
pub const METADATA_EXTRACTION_FAILED: &str = "DynamicPartitioning.MetadataExtractionFailed";
/// Error code of a record that would open a partition beyond [`MAX_ACTIVE_PARTITIONS`].
pub const ACTIVE_PARTITIONS_LIMIT_EXCEEDED: &str =
    "DynamicPartitioning.ActivePartitionsLimitExceeded";
/// What `!{firehose:error-output-type}` is for a record beyond the active partitions
/// limit.
pub const ACTIVE_PARTITION_EXCEEDED: &str = "activePartitionExceeded";
/// The only `JsonParsingEngine` AWS supports.
pub const JQ_1_6: &str = "JQ-1.6";

type Data = JustLut<Val>;

/// A compiled `MetadataExtractionQuery`: compile once, run on every record, from any
/// thread.
pub struct KeyQuery {
    query: String,
    filter: jaq_core::Filter<Data>,
}

impl std::fmt::Debug for KeyQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyQuery")
            .field("query", &self.query)
            .finish_non_exhaustive()
    }
}

impl KeyQuery {
    /// The query of a `MetadataExtraction` processor's parameters:
    /// `MetadataExtractionQuery` (required; a jq program) and `JsonParsingEngine`
    /// (required, `JQ-1.6`). `Err` holds the message of the `InvalidArgumentException`
    /// (a missing parameter, another engine, or a query that does not compile, named in
    /// the message).
    pub fn from_parameters(params: &[(String, String)]) -> Result<KeyQuery, String> {
        let mut query = None;
        let mut engine = None;
        for (name, value) in params {
            match name.as_str() {
                "MetadataExtractionQuery" => query = Some(value.as_str()),
                "JsonParsingEngine" => engine = Some(value.trim()),
                other => {
                    return Err(format!(
                        "Processor parameter {other} is not supported for processor type \
                         MetadataExtraction. Supported parameters: MetadataExtractionQuery, \
                         JsonParsingEngine."
                    ))
                }
            }
        }
        match engine {
            Some(JQ_1_6) => {}
            Some(other) => {
                return Err(format!(
                    "Invalid value '{other}' for processor parameter JsonParsingEngine: the \
                     only supported engine is {JQ_1_6}."
                ))
            }
            None => {
                return Err(
                    "Processor parameter JsonParsingEngine is required for processor \
                            type MetadataExtraction."
                        .to_owned(),
                )
            }
        }
        let query = query.filter(|q| !q.trim().is_empty()).ok_or(
            "Processor parameter MetadataExtractionQuery is required for processor type \
             MetadataExtraction.",
        )?;
        KeyQuery::compile(query)
    }

    /// Compiles a jq query. `Err` names the query and what is wrong with it.
    pub fn compile(query: &str) -> Result<KeyQuery, String> {
        let fail = |detail: String| format!("Invalid MetadataExtractionQuery '{query}': {detail}");
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        // `env` would hand the service's environment to whoever writes a query.
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs())
            .filter(|(name, _, _)| *name != "env");
        let arena = Arena::default();
        let modules = Loader::new(defs)
            .load(
                &arena,
                File {
                    code: query,
                    path: (),
                },
            )
            .map_err(|errors| fail(load_errors(errors)))?;
        let filter = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errors| {
                let mut detail = String::new();
                for (_, undefined) in errors {
                    for (name, kind) in undefined {
                        let _ = write!(detail, "undefined {} {name}; ", kind.as_str());
                    }
                }
                fail(detail.trim_end_matches("; ").to_owned())
            })?;
        Ok(KeyQuery {
            query: query.to_owned(),
            filter,
        })
    }

    /// The query's text.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// Runs the query on one record (JSON): the partition keys, name and value, in the
    /// order the object gives them. The query must yield exactly one object whose values
    /// are strings, numbers (written as jq 1.6 writes them: `1565382027`, `1.5`,
    /// `1e+17`) or booleans. `Err` says what was wrong (the record then goes to the
    /// error output with [`METADATA_EXTRACTION_FAILED`]).
    pub fn keys(&self, record: &[u8]) -> Result<Vec<(String, String)>, String> {
        let input = jaq_json::read::parse_single(record)
            .map_err(|e| format!("Non JSON record provided: {e}"))?;
        let ctx = Ctx::<Data>::new(&self.filter.lut, Vars::new([]));
        let mut outputs = self.filter.id.run((ctx, input));
        let first = match outputs.next() {
            None => return Err("The MetadataExtractionQuery yielded no value.".to_owned()),
            Some(result) => jaq_core::unwrap_valr(result)
                .map_err(|e| format!("The MetadataExtractionQuery failed: {e}"))?,
        };
        if outputs.next().is_some() {
            return Err("The MetadataExtractionQuery yielded more than one value.".to_owned());
        }
        let Val::Obj(object) = first else {
            return Err(format!(
                "The MetadataExtractionQuery yielded {first}, not an object of partition keys."
            ));
        };
        object
            .iter()
            .map(|(name, value)| {
                let name = match name {
                    Val::TStr(s) | Val::BStr(s) => String::from_utf8_lossy(s).into_owned(),
                    other => return Err(format!("Partition key name {other} is not a string.")),
                };
                let value = scalar_text(value).ok_or_else(|| {
                    format!(
                        "Partition key '{name}' is {value}; a partition key must be a string, a \
                         number or a boolean."
                    )
                })?;
                Ok((name, value))
            })
            .collect()
    }
}

/// A partition key's text: a string as is, a number as jq 1.6 writes it, a boolean as
/// `true`/`false`; `None` for null, arrays and objects.
fn scalar_text(value: &Val) -> Option<String> {
    match value {
        Val::TStr(s) | Val::BStr(s) => Some(String::from_utf8_lossy(s).into_owned()),
        Val::Bool(b) => Some(b.to_string()),
        Val::Num(n) => Some(jq_number(n)),
        Val::Null | Val::Arr(_) | Val::Obj(_) => None,
    }
}

/// A number as jq 1.6 writes it (`jvp_dtoa_fmt`): as a double (beyond ±DBL_MAX clamped
/// to it), in the shortest digits that read back the same, in positional notation unless
/// the decimal exponent is below -4 or beyond the digits by more than 15 (`1e-05`,
/// `1e+17`, `1.5e+300`); NaN is `null`.
pub fn jq_number(n: &Num) -> String {
    let x = match n {
        Num::Int(i) => *i as f64,
        Num::Float(f) => *f,
        Num::BigInt(_) | Num::Dec(_) => n.to_string().parse::<f64>().unwrap_or(f64::NAN),
    };
    format_double(x)
}

fn format_double(x: f64) -> String {
    if x.is_nan() {
        return "null".to_owned();
    }
    let x = x.clamp(-f64::MAX, f64::MAX);
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // Rust's `{:e}` writes the shortest round-trip digits: `d[.ddd]e<exp>`.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let decpt = exp.parse::<i32>().unwrap_or(0) + 1;
    let ndigits = digits.len() as i32;
    let mut out = String::with_capacity(32);
    if x < 0.0 {
        out.push('-');
    }
    if decpt <= -4 || decpt > ndigits + 15 {
        out.push_str(&digits[..1]);
        if ndigits > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        let _ = write!(out, "e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    } else if decpt <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-decpt) as usize));
        out.push_str(digits);
    } else if decpt >= ndigits {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', (decpt - ndigits) as usize));
    } else {
        out.push_str(&digits[..decpt as usize]);
        out.push('.');
        out.push_str(&digits[decpt as usize..]);
    }
    out
}

/// What a jq query failed to load on: each lexer or parser error, with where.
fn load_errors<P>(errors: jaq_core::load::Errors<&str, P>) -> String {
    use jaq_core::load::Error;
    let mut out = String::new();
    for (_, error) in errors {
        match error {
            Error::Io(io) => {
                for (path, message) in io {
                    let _ = write!(out, "cannot load {path}: {message}; ");
                }
            }
            Error::Lex(lex) => {
                for (expected, at) in lex {
                    let _ = write!(out, "expected {expected:?} at '{}'; ", excerpt(at));
                }
            }
            Error::Parse(parse) => {
                for (expected, at) in parse {
                    let _ = write!(out, "expected {} at '{}'; ", expected.as_str(), excerpt(at));
                }
            }
        }
    }
    let out = out.trim_end_matches("; ");
    if out.is_empty() {
        "the query does not parse".to_owned()
    } else {
        out.to_owned()
    }
}

/// The beginning of the rest of a query, where an error was found.
fn excerpt(at: &str) -> String {
    let excerpt: String = at.chars().take(24).collect();
    if excerpt.is_empty() {
        "end of query".to_owned()
    } else {
        excerpt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn query(q: &str) -> KeyQuery {
        KeyQuery::from_parameters(&params(&[
            ("MetadataExtractionQuery", q),
            ("JsonParsingEngine", "JQ-1.6"),
        ]))
        .unwrap()
    }

    fn keys(q: &str, record: &str) -> Vec<(String, String)> {
        query(q).keys(record.as_bytes()).unwrap()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        params(p)
    }

    const AWS_RECORD: &str = r#"{
        "type": {"device": "mobile", "event": "user_clicked_submit_button"},
        "customer_id": "1234567890",
        "event_timestamp": 1565382027,
        "region": "sample_region"
    }"#;

    #[test]
    fn awss_example_query() {
        let q = r#"{customer_id: .customer_id, device: .type.device,
            year: .event_timestamp | strftime("%Y"), month: .event_timestamp | strftime("%m"),
            day: .event_timestamp | strftime("%d"), hour: .event_timestamp | strftime("%H")}"#;
        assert_eq!(
            keys(q, AWS_RECORD),
            pairs(&[
                ("customer_id", "1234567890"),
                ("device", "mobile"),
                ("year", "2019"),
                ("month", "08"),
                ("day", "09"),
                ("hour", "20"),
            ])
        );
    }

    #[test]
    fn numbers_and_booleans_are_their_jq_text() {
        let record = r#"{"i": 42, "neg": -7, "f": 1.5, "big": 1e17, "small": 0.00001,
                         "dec": 2.50, "ms": 1700000000123, "t": true, "z": 0}"#;
        assert_eq!(
            keys(
                "{i: .i, neg: .neg, f: .f, big: .big, small: .small, dec: .dec, ms: .ms, \
                 t: .t, z: .z, sum: (.i + .f)}",
                record
            ),
            pairs(&[
                ("i", "42"),
                ("neg", "-7"),
                ("f", "1.5"),
                ("big", "1e+17"),
                ("small", "1e-05"),
                ("dec", "2.5"),
                ("ms", "1700000000123"),
                ("t", "true"),
                ("z", "0"),
                ("sum", "43.5"),
            ])
        );
    }

    #[test]
    fn jq_number_format() {
        for (x, text) in [
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (100.0, "100"),
            (1e15, "1000000000000000"),
            (1e16, "1e+16"),
            (1e17, "1e+17"),
            (123456789012345680.0, "123456789012345680"),
            (0.001, "0.001"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e300, "1.5e+300"),
            (-2.5e-7, "-2.5e-07"),
            (f64::INFINITY, "1.7976931348623157e+308"),
            (f64::NAN, "null"),
            (2.71, "2.71"),
            (1e100, "1e+100"),
        ] {
            assert_eq!(format_double(x), text, "{x}");
        }
    }

    #[test]
    fn nested_fields_and_string_functions() {
        let record = r#"{"a": {"b": {"c": "deep"}}, "name": "Ada Lovelace", "tags": ["x", "y"]}"#;
        assert_eq!(
            keys(
                r#"{c: .a.b.c, first: (.name | split(" ") | .[0] | ascii_downcase),
                   n: (.tags | length), joined: (.tags | join("-"))}"#,
                record
            ),
            pairs(&[
                ("c", "deep"),
                ("first", "ada"),
                ("n", "2"),
                ("joined", "x-y")
            ])
        );
    }

    #[test]
    fn bad_records_fail() {
        let q = query("{k: .k}");
        for (record, why) in [
            ("not json", "Non JSON"),
            ("{\"k\": 1", "Non JSON"),
            ("", "Non JSON"),
            ("{\"other\": 1}", "null"),
            ("{\"k\": null}", "null"),
            ("{\"k\": [1]}", "[1]"),
            ("{\"k\": {\"x\": 1}}", "{"),
            ("[1, 2]", "failed"),
            ("\"text\"", "failed"),
        ] {
            let err = q.keys(record.as_bytes()).unwrap_err();
            assert!(err.contains(why), "{record}: {err}");
        }
    }

    #[test]
    fn the_query_must_yield_one_object() {
        let record = br#"{"a": [1, 2], "k": "v"}"#;
        for (q, why) in [
            (".k", "not an object"),
            (".a[] | {k: .}", "more than one"),
            ("empty", "no value"),
            ("error(\"boom\")", "boom"),
            ("{k: (.k | tonumber)}", "failed"),
            ("{(.a[0] | tostring): .k} | .[] ", "not an object"),
        ] {
            let err = query(q).keys(record).unwrap_err();
            assert!(err.contains(why), "{q}: {err}");
        }
        assert_eq!(
            query("{(.k): .k}").keys(record).unwrap(),
            pairs(&[("v", "v")])
        );
        assert_eq!(query("{}").keys(record).unwrap(), vec![]);
    }

    #[test]
    fn record_with_trailing_newline_parses() {
        assert_eq!(keys("{k: .k}", "{\"k\":\"v\"}\n"), pairs(&[("k", "v")]));
    }

    #[test]
    fn parameter_errors() {
        for (pairs, why) in [
            (
                vec![("MetadataExtractionQuery", "{k:.k}")],
                "JsonParsingEngine",
            ),
            (
                vec![
                    ("MetadataExtractionQuery", "{k:.k}"),
                    ("JsonParsingEngine", "JQ-1.5"),
                ],
                "JQ-1.5",
            ),
            (
                vec![("JsonParsingEngine", "JQ-1.6")],
                "MetadataExtractionQuery",
            ),
            (
                vec![
                    ("MetadataExtractionQuery", " "),
                    ("JsonParsingEngine", "JQ-1.6"),
                ],
                "MetadataExtractionQuery",
            ),
            (
                vec![
                    ("MetadataExtractionQuery", "{k:.k}"),
                    ("JsonParsingEngine", "JQ-1.6"),
                    ("LambdaArn", "f"),
                ],
                "LambdaArn",
            ),
            (
                vec![
                    ("MetadataExtractionQuery", "{k: .k"),
                    ("JsonParsingEngine", "JQ-1.6"),
                ],
                "{k: .k",
            ),
            (
                vec![
                    ("MetadataExtractionQuery", "{k: nosuchfn}"),
                    ("JsonParsingEngine", "JQ-1.6"),
                ],
                "nosuchfn",
            ),
            (
                vec![
                    ("MetadataExtractionQuery", "{k: $x}"),
                    ("JsonParsingEngine", "JQ-1.6"),
                ],
                "x",
            ),
            (
                vec![
                    ("MetadataExtractionQuery", "{k: env}"),
                    ("JsonParsingEngine", "JQ-1.6"),
                ],
                "env",
            ),
            (
                vec![
                    ("MetadataExtractionQuery", "{k: \"\\q\"}"),
                    ("JsonParsingEngine", "JQ-1.6"),
                ],
                "Invalid MetadataExtractionQuery",
            ),
        ] {
            let err = KeyQuery::from_parameters(&params(&pairs)).unwrap_err();
            assert!(err.contains(why), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn key_query_is_send_and_sync() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        let q = query("{k: .k}");
        send_sync(&q);
        let shared = std::sync::Arc::new(q);
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let q = shared.clone();
                std::thread::spawn(move || q.keys(format!("{{\"k\": {i}}}").as_bytes()).unwrap())
            })
            .collect();
        for (i, t) in threads.into_iter().enumerate() {
            assert_eq!(t.join().unwrap(), pairs(&[("k", &i.to_string())]));
        }
    }

    /// `cargo test --release -p freshet-firehose --lib partition::tests::throughput -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn throughput() {
        let q = query("{k: .k}");
        let records: Vec<Vec<u8>> = (0..1000)
            .map(|i| {
                format!(
                    r#"{{"k": "customer-{i}", "ts": 1700000000, "payload": "{}"}}"#,
                    "x".repeat(100)
                )
                .into_bytes()
            })
            .collect();
        let n = 200_000;
        let start = std::time::Instant::now();
        for i in 0..n {
            q.keys(&records[i % records.len()]).unwrap();
        }
        let elapsed = start.elapsed();
        println!(
            "{{k: .k}}: {n} records in {elapsed:?}: {:.0} records/s",
            n as f64 / elapsed.as_secs_f64()
        );
        let q =
            query(r#"{customer_id: .k, year: .ts | strftime("%Y"), month: .ts | strftime("%m")}"#);
        let start = std::time::Instant::now();
        for i in 0..n {
            q.keys(&records[i % records.len()]).unwrap();
        }
        let elapsed = start.elapsed();
        println!(
            "3 keys with strftime: {n} records in {elapsed:?}: {:.0} records/s",
            n as f64 / elapsed.as_secs_f64()
        );
    }
}
