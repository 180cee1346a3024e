//! AWS Lambda event filtering (an event source mapping's `FilterCriteria`) for Kinesis
//! records, with the semantics of Lambda's event filtering (which uses the EventBridge
//! pattern language, as implemented by `aws/event-ruler`).
//!
//! Sources: the Lambda developer guide's "Control which events Lambda sends to your
//! function" (`invocation-eventfiltering`) and "Using event filtering with a Kinesis event
//! source" (`with-kinesis-filtering`) pages, the EventBridge Pipes filtering page (the same
//! engine as Lambda's), EventBridge's comparison-operator table (its "Pipe support"
//! column), the Lambda API reference for `Filter` (pattern length at most 4096), and
//! event-ruler's `JsonRuleCompiler` for the shape rules of a pattern.
//!
//! What a filter sees of a Kinesis record is the record's `kinesis` object, with `data`
//! base64-decoded and parsed as JSON:
//!
//! ```json
//! { "kinesisSchemaVersion": "1.0", "partitionKey": "1", "sequenceNumber": "4959...",
//!   "approximateArrivalTimestamp": 1545084650.987, "data": { "City": "Seattle" } }
//! ```
//!
//! * Metadata keys sit at the top level of the pattern (`{"partitionKey": ["1"]}`), as in
//!   the guide's example; the fields Lambda adds around the record after filtering
//!   (`eventSource`, `eventID`, `awsRegion`, ...) are not there, so a pattern naming them
//!   (or any other unknown key) sees the field as absent.
//! * Data keys sit under `data` (`{"data": {"City": ["Seattle"]}}`). The pattern under
//!   `data` must be an object (the guide: a non-JSON filter pattern for data properties
//!   is rejected when the mapping is created or updated).
//! * Data that is not valid JSON: a filter whose pattern reaches into `data` does not
//!   match it (the guide's table: non-JSON data with a JSON data pattern, "Lambda drops
//!   the record"); a filter with metadata keys only still applies ("Lambda filters (on
//!   the other metadata properties only)").
//! * Filters are ORed (at most 5, the default quota); the keys of a pattern are ANDed; the
//!   values of a key's list are ORed; `$or` ORs whole sub-patterns.
//! * A key matches an array in the event when any element matches; nested objects are
//!   matched level by level.
//! * Strings match exactly, without normalisation; numbers in a value list match by their
//!   representation (the guide: `300`, `300.0` and `3.0e2` are not equal — here an
//!   integer never equals a float; use `numeric` to compare values); `null` matches only
//!   an explicit JSON `null`, `""` only the empty string.
//! * Operators: `prefix`, `suffix` (a string, or `{"equals-ignore-case": "..."}`),
//!   `equals-ignore-case`, `numeric` (`=`, `>`, `>=`, `<`, `<=`, or a lower bound followed
//!   by an upper bound), `exists` (`true`/`false`), `anything-but` (a string, a number, or
//!   a list of strings or of numbers). Forms that EventBridge event buses accept but Pipes
//!   and Lambda do not (`anything-but` with `prefix`/`suffix`/`equals-ignore-case`/
//!   `wildcard`, `wildcard`, `cidr`) are rejected.
//! * `anything-but` and all other value operators need the field to be present;
//!   `{"exists": false}` is the only way to match an absent field.
//!
//! An invalid pattern is rejected with the message of Lambda's
//! `InvalidParameterValueException` for it, [`INVALID_PATTERN`]; the detailed reason is
//! logged at debug level.

use serde_json::{Map, Number, Value};
use std::cell::OnceCell;

/// The message Lambda's `InvalidParameterValueException` carries for a pattern that is
/// not a valid filter pattern.
pub const INVALID_PATTERN: &str = "Invalid filter pattern definition.";

/// How many filters a mapping may have (Lambda's default quota).
pub const MAX_FILTERS: usize = 5;

/// The longest filter pattern, in characters (the `Filter.Pattern` length constraint).
pub const MAX_PATTERN_LENGTH: usize = 4096;

/// The `kinesisSchemaVersion` of every record.
const KINESIS_SCHEMA_VERSION: &str = "1.0";

/// A mapping's parsed filters.
#[derive(Debug, Clone, Default)]
pub struct FilterCriteria {
    filters: Vec<ObjectPattern>,
}

/// What filters see of one Kinesis record.
pub struct KinesisRecordView<'a> {
    /// The record's partition key.
    pub partition_key: &'a str,
    /// The record's sequence number.
    pub sequence_number: &'a str,
    /// Seconds since the epoch, with ms fraction, as in the event.
    pub approximate_arrival_timestamp: f64,
    /// The raw (already base64-decoded) data bytes.
    pub data: &'a [u8],
}

impl FilterCriteria {
    /// Parses the Pattern strings of FilterCriteria.Filters; Err(message) for an invalid one.
    ///
    /// More than [`MAX_FILTERS`] patterns, a pattern longer than [`MAX_PATTERN_LENGTH`]
    /// characters, or a pattern that is not a valid filter pattern (the message is then
    /// [`INVALID_PATTERN`]) are errors. No patterns give empty criteria.
    pub fn parse(patterns: &[String]) -> Result<FilterCriteria, String> {
        if patterns.len() > MAX_FILTERS {
            return Err(format!(
                "The number of filters in FilterCriteria ({}) exceeds the limit of {MAX_FILTERS} filters per event source mapping.",
                patterns.len()
            ));
        }
        let mut filters = Vec::with_capacity(patterns.len());
        for (i, pattern) in patterns.iter().enumerate() {
            if pattern.chars().count() > MAX_PATTERN_LENGTH {
                return Err(format!(
                    "1 validation error detected: Value at 'filterCriteria.filters.{}.member.pattern' failed to satisfy constraint: Member must have length less than or equal to {MAX_PATTERN_LENGTH}",
                    i + 1
                ));
            }
            match compile_pattern(pattern) {
                Ok(compiled) => filters.push(compiled),
                Err(reason) => {
                    tracing::debug!(filter = i + 1, %reason, "invalid filter pattern");
                    return Err(INVALID_PATTERN.to_string());
                }
            }
        }
        Ok(FilterCriteria { filters })
    }

    /// No filters: every record passes.
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    /// Whether a Kinesis record passes (true when there are no filters).
    ///
    /// The record's data is parsed as JSON at most once, and only when a filter's
    /// evaluation reaches a `data` key.
    pub fn matches(&self, record: &KinesisRecordView<'_>) -> bool {
        if self.filters.is_empty() {
            return true;
        }
        let fields = RecordFields {
            record,
            timestamp: Number::from_f64(record.approximate_arrival_timestamp),
            data: OnceCell::new(),
        };
        self.filters.iter().any(|filter| filter.matches(&fields))
    }
}

// ---------------------------------------------------------------------------------------
// The compiled tree.

/// An object level of a pattern: every field must match, and each `$or` group must have
/// a matching alternative.
#[derive(Debug, Clone)]
struct ObjectPattern {
    fields: Vec<(String, Node)>,
    ors: Vec<Vec<ObjectPattern>>,
}

/// What a pattern key holds.
#[derive(Debug, Clone)]
enum Node {
    /// A list of matchers, any of which may match.
    Leaf(Vec<Matcher>),
    /// A nested object.
    Object(ObjectPattern),
}

/// One entry of a key's value list.
#[derive(Debug, Clone)]
enum Matcher {
    ExactStr(String),
    ExactNum(Number),
    Bool(bool),
    Null,
    Prefix(String),
    /// Lower-cased.
    PrefixIgnoreCase(String),
    Suffix(String),
    /// Lower-cased.
    SuffixIgnoreCase(String),
    /// Lower-cased.
    EqualsIgnoreCase(String),
    NumericEq(f64),
    NumericRange {
        /// (bound, inclusive)
        lower: Option<(f64, bool)>,
        /// (bound, inclusive)
        upper: Option<(f64, bool)>,
    },
    Exists(bool),
    AnythingButStr(Vec<String>),
    AnythingButNum(Vec<f64>),
}

/// A leaf value of the event.
#[derive(Clone, Copy)]
enum Scalar<'x> {
    Str(&'x str),
    Num(&'x Number),
    Bool(bool),
    Null,
}

/// What a field lookup finds.
enum Field<'x> {
    Absent,
    Scalar(Scalar<'x>),
    Json(&'x Value),
    /// The record's data, which is not JSON.
    Unparsable,
}

/// Something with named fields: the record's top level or a JSON object.
trait Fields {
    fn field(&self, key: &str) -> Field<'_>;
}

/// The top level of a Kinesis record as filters see it.
struct RecordFields<'r, 'a> {
    record: &'r KinesisRecordView<'a>,
    timestamp: Option<Number>,
    /// The data parsed as JSON (None: not JSON), parsed on first use.
    data: OnceCell<Option<Value>>,
}

impl Fields for RecordFields<'_, '_> {
    fn field(&self, key: &str) -> Field<'_> {
        match key {
            "data" => match self
                .data
                .get_or_init(|| serde_json::from_slice::<Value>(self.record.data).ok())
            {
                Some(value) => Field::Json(value),
                None => Field::Unparsable,
            },
            "partitionKey" => Field::Scalar(Scalar::Str(self.record.partition_key)),
            "sequenceNumber" => Field::Scalar(Scalar::Str(self.record.sequence_number)),
            "approximateArrivalTimestamp" => match &self.timestamp {
                Some(number) => Field::Scalar(Scalar::Num(number)),
                None => Field::Absent,
            },
            "kinesisSchemaVersion" => Field::Scalar(Scalar::Str(KINESIS_SCHEMA_VERSION)),
            _ => Field::Absent,
        }
    }
}

/// A JSON object of the data (None: the pattern's parent was missing or not an object).
struct JsonObject<'x>(Option<&'x Map<String, Value>>);

impl Fields for JsonObject<'_> {
    fn field(&self, key: &str) -> Field<'_> {
        match self.0.and_then(|map| map.get(key)) {
            Some(value) => Field::Json(value),
            None => Field::Absent,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Matching.

impl ObjectPattern {
    fn matches<F: Fields>(&self, fields: &F) -> bool {
        self.fields
            .iter()
            .all(|(key, node)| node.matches(fields.field(key)))
            && self
                .ors
                .iter()
                .all(|group| group.iter().any(|alt| alt.matches(fields)))
    }

    /// Matches the pattern against a JSON value: an object level by level, an array by any
    /// element, anything else as an object without fields.
    fn matches_json(&self, value: &Value) -> bool {
        match value {
            Value::Object(map) => self.matches(&JsonObject(Some(map))),
            Value::Array(items) => items.iter().any(|item| self.matches_json(item)),
            _ => self.matches(&JsonObject(None)),
        }
    }
}

impl Node {
    fn matches(&self, field: Field<'_>) -> bool {
        match self {
            Node::Leaf(matchers) => match field {
                Field::Absent => matchers.iter().any(|m| matches!(m, Matcher::Exists(false))),
                Field::Unparsable => false,
                Field::Scalar(scalar) => matchers.iter().any(|m| m.matches(scalar)),
                Field::Json(value) => matchers.iter().any(|m| match m {
                    Matcher::Exists(wanted) => any_leaf(value, &mut |_| true) == *wanted,
                    _ => any_leaf(value, &mut |scalar| m.matches(scalar)),
                }),
            },
            Node::Object(pattern) => match field {
                Field::Unparsable => false,
                Field::Absent | Field::Scalar(_) => pattern.matches(&JsonObject(None)),
                Field::Json(value) => pattern.matches_json(value),
            },
        }
    }
}

/// Whether `test` holds for any leaf (non-object value) of `value`, looking through arrays.
fn any_leaf(value: &Value, test: &mut dyn FnMut(Scalar<'_>) -> bool) -> bool {
    match value {
        Value::String(s) => test(Scalar::Str(s)),
        Value::Number(n) => test(Scalar::Num(n)),
        Value::Bool(b) => test(Scalar::Bool(*b)),
        Value::Null => test(Scalar::Null),
        Value::Array(items) => items.iter().any(|item| any_leaf(item, test)),
        Value::Object(_) => false,
    }
}

impl Matcher {
    fn matches(&self, value: Scalar<'_>) -> bool {
        match (self, value) {
            (Matcher::Exists(wanted), _) => *wanted,
            (Matcher::ExactStr(want), Scalar::Str(s)) => s == want,
            (Matcher::ExactNum(want), Scalar::Num(n)) => n == want,
            (Matcher::Bool(want), Scalar::Bool(b)) => b == *want,
            (Matcher::Null, Scalar::Null) => true,
            (Matcher::Prefix(p), Scalar::Str(s)) => s.starts_with(p.as_str()),
            (Matcher::Suffix(p), Scalar::Str(s)) => s.ends_with(p.as_str()),
            (Matcher::PrefixIgnoreCase(p), Scalar::Str(s)) => prefix_ignore_case(s, p),
            (Matcher::SuffixIgnoreCase(p), Scalar::Str(s)) => suffix_ignore_case(s, p),
            (Matcher::EqualsIgnoreCase(want), Scalar::Str(s)) => equals_ignore_case(s, want),
            (Matcher::NumericEq(want), Scalar::Num(n)) => n.as_f64() == Some(*want),
            (Matcher::NumericRange { lower, upper }, Scalar::Num(n)) => {
                let Some(v) = n.as_f64() else {
                    return false;
                };
                let above = match lower {
                    Some((bound, true)) => v >= *bound,
                    Some((bound, false)) => v > *bound,
                    None => true,
                };
                let below = match upper {
                    Some((bound, true)) => v <= *bound,
                    Some((bound, false)) => v < *bound,
                    None => true,
                };
                above && below
            }
            // A string anything-but matches any value that is not one of its strings
            // (numbers, booleans and null included), as in event-ruler.
            (Matcher::AnythingButStr(excluded), Scalar::Str(s)) => !excluded.iter().any(|e| e == s),
            (Matcher::AnythingButStr(_), _) => true,
            (Matcher::AnythingButNum(excluded), Scalar::Num(n)) => match n.as_f64() {
                Some(v) => !excluded.contains(&v),
                None => false,
            },
            _ => false,
        }
    }
}

/// Lower-cases like [`lower`] does, char by char.
fn lower_chars(s: &str) -> impl DoubleEndedIterator<Item = char> + '_ {
    s.chars().flat_map(char::to_lowercase)
}

/// The char-by-char lower case of `s` (what ignore-case matchers store).
fn lower(s: &str) -> String {
    lower_chars(s).collect()
}

fn equals_ignore_case(s: &str, lowered: &str) -> bool {
    if s.is_ascii() && lowered.is_ascii() {
        s.eq_ignore_ascii_case(lowered)
    } else {
        lower_chars(s).eq(lowered.chars())
    }
}

fn prefix_ignore_case(s: &str, lowered: &str) -> bool {
    if s.is_ascii() && lowered.is_ascii() {
        return s.len() >= lowered.len()
            && s.as_bytes()[..lowered.len()].eq_ignore_ascii_case(lowered.as_bytes());
    }
    let mut chars = lower_chars(s);
    lowered.chars().all(|c| chars.next() == Some(c))
}

fn suffix_ignore_case(s: &str, lowered: &str) -> bool {
    if s.is_ascii() && lowered.is_ascii() {
        return s.len() >= lowered.len()
            && s.as_bytes()[s.len() - lowered.len()..].eq_ignore_ascii_case(lowered.as_bytes());
    }
    let mut chars = s.chars().rev().flat_map(|c| c.to_lowercase().rev());
    lowered.chars().rev().all(|c| chars.next() == Some(c))
}

// ---------------------------------------------------------------------------------------
// Compiling a pattern.

/// Compiles one pattern; Err(reason) when it is not a valid filter pattern.
fn compile_pattern(text: &str) -> Result<ObjectPattern, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("the pattern is not JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err("the pattern is not a JSON object".to_string());
    };
    compile_object(&map, true)
}

fn compile_object(map: &Map<String, Value>, top: bool) -> Result<ObjectPattern, String> {
    if map.is_empty() {
        return Err("empty objects are not allowed".to_string());
    }
    let mut pattern = ObjectPattern {
        fields: Vec::with_capacity(map.len()),
        ors: Vec::new(),
    };
    for (key, value) in map {
        if key == "$or" {
            let Value::Array(alternatives) = value else {
                return Err("\"$or\" must be an array".to_string());
            };
            if alternatives.len() < 2 {
                return Err("\"$or\" needs at least 2 objects".to_string());
            }
            let mut group = Vec::with_capacity(alternatives.len());
            for alternative in alternatives {
                let Value::Object(alt) = alternative else {
                    return Err("\"$or\" may only hold objects".to_string());
                };
                group.push(compile_object(alt, top)?);
            }
            pattern.ors.push(group);
            continue;
        }
        let node = match value {
            Value::Object(sub) => Node::Object(compile_object(sub, false)?),
            Value::Array(_) if top && key == "data" => {
                return Err("the pattern for \"data\" must be a JSON object".to_string());
            }
            Value::Array(items) => Node::Leaf(compile_leaf(key, items)?),
            _ => return Err(format!("\"{key}\" must be an object or an array")),
        };
        pattern.fields.push((key.clone(), node));
    }
    if top {
        // The cheap metadata keys first: `data` is parsed only when they all match.
        pattern.fields.sort_by_key(|(key, _)| key == "data");
    }
    Ok(pattern)
}

fn compile_leaf(key: &str, items: &[Value]) -> Result<Vec<Matcher>, String> {
    if items.is_empty() {
        return Err(format!("\"{key}\": empty arrays are not allowed"));
    }
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => Ok(Matcher::ExactStr(s.clone())),
            Value::Number(n) => Ok(Matcher::ExactNum(n.clone())),
            Value::Bool(b) => Ok(Matcher::Bool(*b)),
            Value::Null => Ok(Matcher::Null),
            Value::Object(expr) => compile_match_expression(key, expr),
            Value::Array(_) => Err(format!(
                "\"{key}\": a match value must be a string, number, true, false, null or a match expression"
            )),
        })
        .collect()
}

fn compile_match_expression(key: &str, expr: &Map<String, Value>) -> Result<Matcher, String> {
    let mut entries = expr.iter();
    let Some((op, arg)) = entries.next() else {
        return Err(format!("\"{key}\": match expression name not found"));
    };
    if entries.next().is_some() {
        return Err(format!(
            "\"{key}\": only one key allowed in a match expression"
        ));
    }
    match op.as_str() {
        "prefix" | "suffix" => {
            let prefix = op == "prefix";
            match arg {
                Value::String(s) if prefix => Ok(Matcher::Prefix(s.clone())),
                Value::String(s) => Ok(Matcher::Suffix(s.clone())),
                Value::Object(inner) => match ignore_case_argument(inner) {
                    Some(s) if prefix => Ok(Matcher::PrefixIgnoreCase(lower(s))),
                    Some(s) => Ok(Matcher::SuffixIgnoreCase(lower(s))),
                    None => Err(format!(
                        "\"{key}\": {op} takes a string or {{\"equals-ignore-case\": string}}"
                    )),
                },
                _ => Err(format!("\"{key}\": {op} match pattern must be a string")),
            }
        }
        "equals-ignore-case" => match arg {
            Value::String(s) => Ok(Matcher::EqualsIgnoreCase(lower(s))),
            _ => Err(format!(
                "\"{key}\": equals-ignore-case match pattern must be a string"
            )),
        },
        "numeric" => match arg {
            Value::Array(terms) => compile_numeric(key, terms),
            _ => Err(format!("\"{key}\": value of numeric must be an array")),
        },
        "exists" => match arg {
            Value::Bool(b) => Ok(Matcher::Exists(*b)),
            _ => Err(format!(
                "\"{key}\": exists match pattern must be either true or false"
            )),
        },
        "anything-but" => compile_anything_but(key, arg),
        _ => Err(format!("\"{key}\": unrecognized match type {op}")),
    }
}

/// The string of `{"equals-ignore-case": "..."}`.
fn ignore_case_argument(inner: &Map<String, Value>) -> Option<&str> {
    if inner.len() != 1 {
        return None;
    }
    inner.get("equals-ignore-case").and_then(Value::as_str)
}

fn compile_anything_but(key: &str, arg: &Value) -> Result<Matcher, String> {
    match arg {
        Value::String(s) => Ok(Matcher::AnythingButStr(vec![s.clone()])),
        Value::Number(n) => Ok(Matcher::AnythingButNum(vec![number_f64(n)?])),
        Value::Array(items) => {
            if items.iter().all(Value::is_string) && !items.is_empty() {
                Ok(Matcher::AnythingButStr(
                    items
                        .iter()
                        .filter_map(|item| item.as_str().map(str::to_string))
                        .collect(),
                ))
            } else if items.iter().all(Value::is_number) && !items.is_empty() {
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    if let Value::Number(n) = item {
                        values.push(number_f64(n)?);
                    }
                }
                Ok(Matcher::AnythingButNum(values))
            } else {
                Err(format!(
                    "\"{key}\": inside an anything-but list, either all values are numbers or all are strings"
                ))
            }
        }
        // EventBridge event buses accept {"anything-but": {"prefix"|"suffix"|
        // "equals-ignore-case"|"wildcard": ...}}; Pipes and Lambda do not.
        Value::Object(_) => Err(format!(
            "\"{key}\": anything-but with a match expression is not supported by Lambda event filtering"
        )),
        _ => Err(format!(
            "\"{key}\": value of anything-but must be an array or a single string/number"
        )),
    }
}

fn number_f64(n: &Number) -> Result<f64, String> {
    n.as_f64()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("{n} is not a usable number"))
}

fn compile_numeric(key: &str, terms: &[Value]) -> Result<Matcher, String> {
    let bad = |what: &str| Err(format!("\"{key}\": numeric: {what}"));
    let operator = |i: usize| terms.get(i).and_then(Value::as_str);
    let operand = |i: usize| match terms.get(i) {
        Some(Value::Number(n)) => number_f64(n).ok(),
        _ => None,
    };
    let Some(op) = operator(0) else {
        return bad("the first term must be an operator");
    };
    let Some(first) = operand(1) else {
        return bad("an operator must be followed by a number");
    };
    match op {
        "=" => {
            if terms.len() != 2 {
                return bad("too many elements");
            }
            Ok(Matcher::NumericEq(first))
        }
        "<" | "<=" => {
            if terms.len() != 2 {
                return bad("too many elements");
            }
            Ok(Matcher::NumericRange {
                lower: None,
                upper: Some((first, op == "<=")),
            })
        }
        ">" | ">=" => {
            let lower = Some((first, op == ">="));
            match terms.len() {
                2 => Ok(Matcher::NumericRange { lower, upper: None }),
                4 => {
                    let upper_inclusive = match operator(2) {
                        Some("<") => false,
                        Some("<=") => true,
                        _ => return bad("the upper bound's operator must be < or <="),
                    };
                    let Some(top) = operand(3) else {
                        return bad("an operator must be followed by a number");
                    };
                    if top <= first {
                        return bad("the lower bound must be less than the upper bound");
                    }
                    Ok(Matcher::NumericRange {
                        lower,
                        upper: Some((top, upper_inclusive)),
                    })
                }
                _ => bad("too many elements"),
            }
        }
        _ => bad("unrecognized numeric range operator"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEQ: &str = "49590338271490256608559692538361571095921575989136588898";
    const TS: f64 = 1545084650.987;

    fn record(data: &[u8]) -> KinesisRecordView<'_> {
        KinesisRecordView {
            partition_key: "pk-1",
            sequence_number: SEQ,
            approximate_arrival_timestamp: TS,
            data,
        }
    }

    fn criteria(patterns: &[&str]) -> FilterCriteria {
        let owned: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        match FilterCriteria::parse(&owned) {
            Ok(c) => c,
            Err(e) => panic!("{patterns:?} should parse: {e}"),
        }
    }

    /// Whether one pattern matches a record with `data`.
    fn m(pattern: &str, data: &str) -> bool {
        criteria(&[pattern]).matches(&record(data.as_bytes()))
    }

    /// The internal reason a pattern is invalid (and that parse rejects it with AWS's message).
    fn invalid(pattern: &str) -> String {
        let parsed = FilterCriteria::parse(&[pattern.to_string()]);
        assert_eq!(
            parsed.err().as_deref(),
            Some(INVALID_PATTERN),
            "{pattern} should be rejected"
        );
        match compile_pattern(pattern) {
            Ok(_) => panic!("{pattern} compiled"),
            Err(reason) => reason,
        }
    }

    // ---- no filters, AND, OR --------------------------------------------------------

    #[test]
    fn no_filters_pass_everything() {
        let c = criteria(&[]);
        assert!(c.is_empty());
        assert!(c.matches(&record(b"not json")));
        assert!(FilterCriteria::default().matches(&record(b"{}")));
        assert!(!criteria(&[r#"{"partitionKey": ["pk-1"]}"#]).is_empty());
    }

    #[test]
    fn keys_are_anded() {
        let p = r#"{"data": {"a": ["x"], "b": ["y"]}}"#;
        assert!(m(p, r#"{"a": "x", "b": "y"}"#));
        assert!(!m(p, r#"{"a": "x", "b": "z"}"#));
        assert!(!m(p, r#"{"a": "x"}"#));
    }

    #[test]
    fn values_of_a_key_are_ored() {
        let p = r#"{"data": {"PaymentType": ["Credit", "Debit"]}}"#;
        assert!(m(p, r#"{"PaymentType": "Credit"}"#));
        assert!(m(p, r#"{"PaymentType": "Debit"}"#));
        assert!(!m(p, r#"{"PaymentType": "Cash"}"#));
    }

    #[test]
    fn filters_are_ored() {
        let c = criteria(&[r#"{"data": {"a": ["1"]}}"#, r#"{"data": {"b": ["2"]}}"#]);
        assert!(c.matches(&record(br#"{"a": "1"}"#)));
        assert!(c.matches(&record(br#"{"b": "2"}"#)));
        assert!(!c.matches(&record(br#"{"a": "2", "b": "1"}"#)));
    }

    #[test]
    fn dollar_or_ors_sub_patterns() {
        let p = r#"{"data": {"$or": [{"a": ["1"]}, {"b": ["2"], "c": ["3"]}]}}"#;
        assert!(m(p, r#"{"a": "1"}"#));
        assert!(m(p, r#"{"b": "2", "c": "3"}"#));
        assert!(!m(p, r#"{"b": "2"}"#));
        // At the top level, mixing metadata and data.
        let p = r#"{"$or": [{"partitionKey": ["other"]}, {"data": {"a": ["1"]}}]}"#;
        assert!(m(p, r#"{"a": "1"}"#));
        assert!(!m(p, r#"{"a": "2"}"#));
        let p = r#"{"$or": [{"partitionKey": ["pk-1"]}, {"data": {"a": ["1"]}}]}"#;
        assert!(m(p, "not json"));
        // $or alongside plain keys: both must hold.
        let p =
            r#"{"partitionKey": ["pk-1"], "$or": [{"data": {"a": [1]}}, {"data": {"b": [2]}}]}"#;
        assert!(m(p, r#"{"b": 2}"#));
        assert!(!m(p, r#"{"c": 2}"#));
    }

    // ---- exact values ---------------------------------------------------------------

    #[test]
    fn exact_strings_are_case_and_type_sensitive() {
        let p = r#"{"data": {"Name": ["Alice"]}}"#;
        assert!(m(p, r#"{"Name": "Alice"}"#));
        assert!(!m(p, r#"{"Name": "alice"}"#));
        assert!(!m(p, r#"{"Name": "Alice "}"#));
        assert!(!m(p, r#"{"Other": "Alice"}"#));
        assert!(!m(r#"{"data": {"n": ["1"]}}"#, r#"{"n": 1}"#));
        assert!(!m(r#"{"data": {"n": [1]}}"#, r#"{"n": "1"}"#));
    }

    #[test]
    fn exact_numbers_match_by_representation() {
        assert!(m(r#"{"data": {"n": [1]}}"#, r#"{"n": 1}"#));
        assert!(m(r#"{"data": {"n": [-7]}}"#, r#"{"n": -7}"#));
        assert!(m(r#"{"data": {"n": [2.5]}}"#, r#"{"n": 2.5}"#));
        assert!(!m(r#"{"data": {"n": [1]}}"#, r#"{"n": 2}"#));
        // 300 and 300.0 are not equal (use numeric for that).
        assert!(!m(r#"{"data": {"n": [300]}}"#, r#"{"n": 300.0}"#));
        assert!(m(
            r#"{"data": {"n": [{"numeric": ["=", 300]}]}}"#,
            r#"{"n": 300.0}"#
        ));
    }

    #[test]
    fn null_empty_and_booleans() {
        let p = r#"{"data": {"UserID": [null]}}"#;
        assert!(m(p, r#"{"UserID": null}"#));
        assert!(!m(p, r#"{}"#));
        assert!(!m(p, r#"{"UserID": "null"}"#));
        assert!(!m(p, r#"{"UserID": ""}"#));
        let p = r#"{"data": {"LastName": [""]}}"#;
        assert!(m(p, r#"{"LastName": ""}"#));
        assert!(!m(p, r#"{"LastName": null}"#));
        assert!(!m(p, r#"{}"#));
        let p = r#"{"data": {"ok": [true]}}"#;
        assert!(m(p, r#"{"ok": true}"#));
        assert!(!m(p, r#"{"ok": false}"#));
        assert!(!m(p, r#"{"ok": "true"}"#));
        assert!(m(r#"{"data": {"ok": [false]}}"#, r#"{"ok": false}"#));
    }

    // ---- operators ------------------------------------------------------------------

    #[test]
    fn prefix() {
        let p = r#"{"data": {"Region": [{"prefix": "us-"}]}}"#;
        assert!(m(p, r#"{"Region": "us-east-1"}"#));
        assert!(m(p, r#"{"Region": "us-"}"#));
        assert!(!m(p, r#"{"Region": "eu-west-1"}"#));
        assert!(!m(p, r#"{"Region": "US-east-1"}"#));
        assert!(!m(p, r#"{}"#));
        assert!(!m(r#"{"data": {"n": [{"prefix": "1"}]}}"#, r#"{"n": 12}"#));
        let p = r#"{"data": {"s": [{"prefix": {"equals-ignore-case": "EventB"}}]}}"#;
        assert!(m(p, r#"{"s": "eventbridge"}"#));
        assert!(m(p, r#"{"s": "EVENTBRIDGE"}"#));
        assert!(!m(p, r#"{"s": "event"}"#));
        assert!(!m(p, r#"{"s": "xeventb"}"#));
        let p = r#"{"data": {"s": [{"prefix": {"equals-ignore-case": "ÉTÉ"}}]}}"#;
        assert!(m(p, r#"{"s": "été-2024"}"#));
    }

    #[test]
    fn suffix() {
        let p = r#"{"data": {"FileName": [{"suffix": ".png"}]}}"#;
        assert!(m(p, r#"{"FileName": "a.png"}"#));
        assert!(!m(p, r#"{"FileName": "a.PNG"}"#));
        assert!(!m(p, r#"{"FileName": "a.png.txt"}"#));
        assert!(!m(p, r#"{"FileName": 5}"#));
        let p = r#"{"data": {"s": [{"suffix": {"equals-ignore-case": "tBridge"}}]}}"#;
        assert!(m(p, r#"{"s": "EventBridge"}"#));
        assert!(m(p, r#"{"s": "TBRIDGE"}"#));
        assert!(!m(p, r#"{"s": "bridge"}"#));
        let p = r#"{"data": {"s": [{"suffix": {"equals-ignore-case": "STRASSE"}}]}}"#;
        assert!(m(p, r#"{"s": "hauptstrasse"}"#));
        assert!(!m(p, r#"{"s": "hauptstraße"}"#));
        let p = r#"{"data": {"s": [{"suffix": {"equals-ignore-case": "ÜBER"}}]}}"#;
        assert!(m(p, r#"{"s": "Drüber"}"#));
    }

    #[test]
    fn equals_ignore_case() {
        let p = r#"{"data": {"Name": [{"equals-ignore-case": "alice"}]}}"#;
        assert!(m(p, r#"{"Name": "Alice"}"#));
        assert!(m(p, r#"{"Name": "ALICE"}"#));
        assert!(!m(p, r#"{"Name": "Alicia"}"#));
        assert!(m(p, r#"{"Name": ["Bob", "aLiCe"]}"#));
        let p = r#"{"data": {"Name": [{"equals-ignore-case": "ÅSA"}]}}"#;
        assert!(m(p, r#"{"Name": "åsa"}"#));
        assert!(!m(p, r#"{"Name": "asa"}"#));
    }

    #[test]
    fn numeric() {
        let p = r#"{"data": {"Price": [{"numeric": [">", 10, "<=", 20]}]}}"#;
        assert!(!m(p, r#"{"Price": 10}"#));
        assert!(m(p, r#"{"Price": 10.5}"#));
        assert!(m(p, r#"{"Price": 20}"#));
        assert!(!m(p, r#"{"Price": 20.01}"#));
        assert!(!m(p, r#"{"Price": "15"}"#));
        let p = r#"{"data": {"Price": [{"numeric": [">=", 10, "<", 20]}]}}"#;
        assert!(m(p, r#"{"Price": 10}"#));
        assert!(!m(p, r#"{"Price": 20}"#));
        assert!(m(
            r#"{"data": {"n": [{"numeric": [">", 0]}]}}"#,
            r#"{"n": 0.001}"#
        ));
        assert!(!m(
            r#"{"data": {"n": [{"numeric": [">", 0]}]}}"#,
            r#"{"n": 0}"#
        ));
        assert!(m(
            r#"{"data": {"n": [{"numeric": [">=", 0]}]}}"#,
            r#"{"n": 0}"#
        ));
        assert!(m(
            r#"{"data": {"n": [{"numeric": ["<", 0]}]}}"#,
            r#"{"n": -1e3}"#
        ));
        assert!(!m(
            r#"{"data": {"n": [{"numeric": ["<", 0]}]}}"#,
            r#"{"n": 0}"#
        ));
        assert!(m(
            r#"{"data": {"n": [{"numeric": ["<=", 0]}]}}"#,
            r#"{"n": 0}"#
        ));
        let p = r#"{"data": {"Price": [{"numeric": ["=", 100]}]}}"#;
        assert!(m(p, r#"{"Price": 100}"#));
        assert!(m(p, r#"{"Price": 100.0}"#));
        assert!(m(p, r#"{"Price": 1e2}"#));
        assert!(!m(p, r#"{"Price": 100.5}"#));
        assert!(!m(p, r#"{"Price": "100"}"#));
        assert!(!m(p, r#"{}"#));
    }

    #[test]
    fn exists() {
        let p = r#"{"data": {"ProductName": [{"exists": true}]}}"#;
        assert!(m(p, r#"{"ProductName": "x"}"#));
        assert!(m(p, r#"{"ProductName": null}"#));
        assert!(m(p, r#"{"ProductName": ["x"]}"#));
        assert!(!m(p, r#"{"Other": "x"}"#));
        // An object or an empty array is no leaf value.
        assert!(!m(p, r#"{"ProductName": {"a": 1}}"#));
        assert!(!m(p, r#"{"ProductName": []}"#));
        let p = r#"{"data": {"ProductName": [{"exists": false}]}}"#;
        assert!(!m(p, r#"{"ProductName": "x"}"#));
        assert!(m(p, r#"{"Other": "x"}"#));
        assert!(m(p, r#"{}"#));
        assert!(m(p, r#"{"ProductName": {"a": 1}}"#));
        // Nested under a missing parent.
        let p = r#"{"data": {"a": {"b": [{"exists": false}]}}}"#;
        assert!(m(p, r#"{}"#));
        assert!(m(p, r#"{"a": 5}"#));
        assert!(!m(p, r#"{"a": {"b": 1}}"#));
        let p = r#"{"data": {"a": {"b": [{"exists": true}]}}}"#;
        assert!(!m(p, r#"{}"#));
        assert!(m(p, r#"{"a": {"b": 1}}"#));
        // exists ORed with a value.
        let p = r#"{"data": {"a": ["x", {"exists": false}]}}"#;
        assert!(m(p, r#"{"a": "x"}"#));
        assert!(m(p, r#"{}"#));
        assert!(!m(p, r#"{"a": "y"}"#));
    }

    #[test]
    fn anything_but() {
        let p = r#"{"data": {"Weather": [{"anything-but": ["Raining", "Snowing"]}]}}"#;
        assert!(m(p, r#"{"Weather": "Sunny"}"#));
        assert!(!m(p, r#"{"Weather": "Raining"}"#));
        assert!(!m(p, r#"{"Weather": "Snowing"}"#));
        // The field must be present.
        assert!(!m(p, r#"{}"#));
        // Values of other types are not among the strings.
        assert!(m(p, r#"{"Weather": 3}"#));
        assert!(m(p, r#"{"Weather": null}"#));
        let p = r#"{"data": {"state": [{"anything-but": "initializing"}]}}"#;
        assert!(m(p, r#"{"state": "running"}"#));
        assert!(!m(p, r#"{"state": "initializing"}"#));
        assert!(m(p, r#"{"state": "Initializing"}"#));
        let p = r#"{"data": {"n": [{"anything-but": [1, 2.5]}]}}"#;
        assert!(m(p, r#"{"n": 3}"#));
        assert!(!m(p, r#"{"n": 1}"#));
        assert!(!m(p, r#"{"n": 1.0}"#));
        assert!(!m(p, r#"{"n": 2.5}"#));
        assert!(!m(p, r#"{"n": "3"}"#));
        let p = r#"{"data": {"n": [{"anything-but": 100}]}}"#;
        assert!(m(p, r#"{"n": 99}"#));
        assert!(!m(p, r#"{"n": 100}"#));
        // Over an array: any element that is not excluded.
        let p = r#"{"data": {"tags": [{"anything-but": "a"}]}}"#;
        assert!(m(p, r#"{"tags": ["a", "b"]}"#));
        assert!(!m(p, r#"{"tags": ["a", "a"]}"#));
    }

    // ---- structure ------------------------------------------------------------------

    #[test]
    fn nested_objects() {
        let p = r#"{"data": {"order": {"type": ["buy"], "details": {"qty": [{"numeric": [">", 100]}]}}}}"#;
        assert!(m(
            p,
            r#"{"record": 1, "order": {"type": "buy", "details": {"qty": 1000}}}"#
        ));
        assert!(!m(
            p,
            r#"{"order": {"type": "sell", "details": {"qty": 1000}}}"#
        ));
        assert!(!m(
            p,
            r#"{"order": {"type": "buy", "details": {"qty": 1}}}"#
        ));
        assert!(!m(p, r#"{"order": {"type": "buy"}}"#));
        assert!(!m(p, r#"{"order": "buy"}"#));
        // A nested pattern does not match a flat key with a dot.
        assert!(!m(r#"{"data": {"a": {"b": ["x"]}}}"#, r#"{"a.b": "x"}"#));
        // A key named data inside the data is an ordinary key.
        assert!(m(r#"{"data": {"data": ["x"]}}"#, r#"{"data": "x"}"#));
    }

    #[test]
    fn arrays_in_the_data() {
        let p = r#"{"data": {"tags": ["red"]}}"#;
        assert!(m(p, r#"{"tags": ["blue", "red"]}"#));
        assert!(!m(p, r#"{"tags": ["blue"]}"#));
        assert!(!m(p, r#"{"tags": []}"#));
        assert!(m(p, r#"{"tags": [["red"]]}"#));
        assert!(m(
            r#"{"data": {"n": [{"numeric": [">", 5]}]}}"#,
            r#"{"n": [1, 2, 9]}"#
        ));
        // Arrays of objects: an element must match the whole sub-pattern.
        let p = r#"{"data": {"items": {"sku": ["a"], "qty": [2]}}}"#;
        assert!(m(
            p,
            r#"{"items": [{"sku": "b", "qty": 2}, {"sku": "a", "qty": 2}]}"#
        ));
        assert!(!m(
            p,
            r#"{"items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]}"#
        ));
        assert!(!m(p, r#"{"items": []}"#));
        // Top-level data that is an array of objects.
        assert!(m(r#"{"data": {"a": [1]}}"#, r#"[{"a": 0}, {"a": 1}]"#));
    }

    #[test]
    fn data_that_is_not_json() {
        let data_filter = r#"{"data": {"a": [{"exists": false}]}}"#;
        assert!(!m(data_filter, "plain text"));
        assert!(!m(data_filter, ""));
        assert!(!m(r#"{"data": {"a": ["x"]}}"#, "{\"a\": \"x\""));
        assert!(!m(
            r#"{"partitionKey": ["pk-1"], "data": {"a": ["x"]}}"#,
            "plain"
        ));
        // Invalid UTF-8 is not JSON either.
        assert!(!criteria(&[data_filter]).matches(&record(&[0xff, 0xfe, b'{', b'}'])));
        // Filters without a data key filter on the metadata only.
        assert!(m(r#"{"partitionKey": ["pk-1"]}"#, "plain text"));
        assert!(!m(r#"{"partitionKey": ["pk-2"]}"#, "plain text"));
        // Any filter may keep the record.
        let c = criteria(&[
            r#"{"data": {"a": ["x"]}}"#,
            r#"{"partitionKey": [{"prefix": "pk"}]}"#,
        ]);
        assert!(c.matches(&record(b"\x00\x01binary")));
        // JSON data that is not an object has no fields.
        assert!(m(r#"{"data": {"a": [{"exists": false}]}}"#, "42"));
        assert!(!m(r#"{"data": {"a": [{"exists": true}]}}"#, "\"text\""));
        assert!(m(r#"{"data": {"a": ["x"]}}"#, " \n{\"a\": \"x\"}\n "));
    }

    #[test]
    fn metadata_keys() {
        let data = r#"{"a": 1}"#;
        assert!(m(r#"{"partitionKey": ["pk-1"]}"#, data));
        assert!(!m(r#"{"partitionKey": ["pk-2"]}"#, data));
        assert!(m(r#"{"partitionKey": [{"prefix": "pk-"}]}"#, data));
        assert!(m(r#"{"partitionKey": [{"anything-but": ["pk-2"]}]}"#, data));
        assert!(m(&format!(r#"{{"sequenceNumber": ["{SEQ}"]}}"#), data));
        assert!(m(r#"{"sequenceNumber": [{"prefix": "4959"}]}"#, data));
        assert!(m(r#"{"kinesisSchemaVersion": ["1.0"]}"#, data));
        assert!(m(
            r#"{"approximateArrivalTimestamp": [{"numeric": [">", 1545084650, "<", 1545084651]}]}"#,
            data
        ));
        assert!(m(
            r#"{"approximateArrivalTimestamp": [1545084650.987]}"#,
            data
        ));
        assert!(!m(
            r#"{"approximateArrivalTimestamp": [{"numeric": ["<", 1000]}]}"#,
            data
        ));
        assert!(m(r#"{"partitionKey": [{"exists": true}]}"#, data));
        // Fields Lambda adds after filtering, and unknown keys, are absent.
        assert!(!m(r#"{"eventSource": ["aws:kinesis"]}"#, data));
        assert!(!m(r#"{"kinesis": {"partitionKey": ["pk-1"]}}"#, data));
        assert!(m(r#"{"eventID": [{"exists": false}]}"#, data));
        // A metadata key is not a data key, and the reverse.
        assert!(!m(r#"{"data": {"partitionKey": ["pk-1"]}}"#, data));
        assert!(!m(r#"{"a": [1]}"#, data));
        // Metadata and data together.
        let p = r#"{"partitionKey": ["pk-1"], "data": {"a": [1]}}"#;
        assert!(m(p, data));
        assert!(!m(p, r#"{"a": 2}"#));
        // A nested pattern under a scalar metadata field sees no fields.
        assert!(!m(r#"{"partitionKey": {"x": ["pk-1"]}}"#, data));
    }

    #[test]
    fn documented_examples() {
        // invocation-eventfiltering: partitionKey and a data property.
        let p = r#"{ "partitionKey": [ "1" ], "data": { "Location": [ "Los Angeles" ] }}"#;
        let c = criteria(&[p]);
        let rec = |pk, data: &'static [u8]| KinesisRecordView {
            partition_key: pk,
            sequence_number: SEQ,
            approximate_arrival_timestamp: TS,
            data,
        };
        assert!(c.matches(&rec("1", br#"{"Location": "Los Angeles"}"#)));
        assert!(!c.matches(&rec("2", br#"{"Location": "Los Angeles"}"#)));
        assert!(!c.matches(&rec("1", br#"{"Location": "Seattle"}"#)));
        // with-kinesis-filtering: order type buy.
        let p = r#"{ "data" : { "order" : { "type" : [ "buy" ] } } }"#;
        assert!(m(
            p,
            r#"{"record": 12345, "order": {"type": "buy", "stock": "ANYCO", "quantity": 1000}}"#
        ));
        assert!(!m(p, r#"{"record": 12345, "order": {"type": "sell"}}"#));
        // Temperature range.
        let p = r#"{ "data": { "Temperature": [ {"numeric": [ ">", 50, "<=", 60 ] } ]}}"#;
        assert!(m(p, r#"{"Temperature": 55}"#));
        assert!(!m(p, r#"{"Temperature": 50}"#));
    }

    #[test]
    fn data_is_parsed_lazily() {
        // Metadata keys are checked first: a failing one means the data is never parsed.
        let c = criteria(&[r#"{"data": {"a": [1]}, "partitionKey": ["nope"]}"#]);
        let view = record(br#"{"a": 1}"#);
        let fields = RecordFields {
            record: &view,
            timestamp: None,
            data: OnceCell::new(),
        };
        assert!(!c.filters.iter().any(|f| f.matches(&fields)));
        assert!(fields.data.get().is_none());
        // Several data filters share one parse.
        let c = criteria(&[r#"{"data": {"a": [2]}}"#, r#"{"data": {"a": [1]}}"#]);
        assert!(c.filters.iter().any(|f| f.matches(&fields)));
        assert!(fields.data.get().is_some());
    }

    // ---- limits and invalid patterns -------------------------------------------------

    #[test]
    fn at_most_five_filters() {
        let five = vec![r#"{"partitionKey": ["a"]}"#.to_string(); 5];
        assert!(FilterCriteria::parse(&five).is_ok());
        let six = vec![r#"{"partitionKey": ["a"]}"#.to_string(); 6];
        let err = FilterCriteria::parse(&six).err().unwrap_or_default();
        assert!(err.contains("limit of 5"), "{err}");
    }

    #[test]
    fn patterns_up_to_4096_characters() {
        let make = |len: usize| {
            let shell = r#"{"data": {"a": [""]}}"#.len();
            format!(r#"{{"data": {{"a": ["{}"]}}}}"#, "é".repeat(len - shell))
        };
        let ok = make(4096);
        assert_eq!(ok.chars().count(), 4096);
        assert!(ok.len() > 4096, "counted in characters, not bytes");
        assert!(FilterCriteria::parse(&[ok]).is_ok());
        let long = make(4097);
        let err = FilterCriteria::parse(&["{\"a\": [1]}".to_string(), long])
            .err()
            .unwrap_or_default();
        assert!(
            err.contains("filterCriteria.filters.2.member.pattern"),
            "{err}"
        );
        assert!(err.contains("4096"), "{err}");
    }

    #[test]
    fn invalid_json() {
        for p in [
            "",
            "   ",
            "{",
            "not json",
            r#"{"a": ["x"],}"#,
            r#"{"a": ["x"]} extra"#,
        ] {
            assert!(invalid(p).contains("not JSON"), "{p}");
        }
        for p in ["[]", r#"["a"]"#, r#""a""#, "1", "null", "true"] {
            assert!(invalid(p).contains("not a JSON object"), "{p}");
        }
    }

    #[test]
    fn invalid_structure() {
        assert!(invalid("{}").contains("empty objects"));
        assert!(invalid(r#"{"data": {}}"#).contains("empty objects"));
        assert!(invalid(r#"{"data": {"a": {}}}"#).contains("empty objects"));
        for p in [
            r#"{"a": "x"}"#,
            r#"{"a": 1}"#,
            r#"{"a": null}"#,
            r#"{"a": true}"#,
            r#"{"data": {"a": "x"}}"#,
        ] {
            assert!(invalid(p).contains("must be an object or an array"), "{p}");
        }
        assert!(invalid(r#"{"a": []}"#).contains("empty arrays"));
        assert!(invalid(r#"{"data": {"a": []}}"#).contains("empty arrays"));
        assert!(invalid(r#"{"a": [["x"]]}"#).contains("match value"));
        // The data pattern must be an object.
        assert!(invalid(r#"{"data": ["x"]}"#).contains("\"data\""));
        assert!(invalid(r#"{"data": [{"exists": true}]}"#).contains("\"data\""));
        assert!(invalid(r#"{"$or": [{"a": ["1"]}, {"data": ["x"]}]}"#).contains("\"data\""));
    }

    #[test]
    fn invalid_or() {
        assert!(invalid(r#"{"$or": {"a": ["1"]}}"#).contains("must be an array"));
        assert!(invalid(r#"{"$or": [{"a": ["1"]}]}"#).contains("at least 2"));
        assert!(invalid(r#"{"$or": []}"#).contains("at least 2"));
        assert!(invalid(r#"{"$or": [{"a": ["1"]}, ["b"]]}"#).contains("only hold objects"));
        assert!(invalid(r#"{"$or": [{"a": ["1"]}, {}]}"#).contains("empty objects"));
    }

    #[test]
    fn invalid_match_expressions() {
        let cases = [
            (r#"{"a": [{}]}"#, "name not found"),
            (r#"{"a": [{"prefix": "x", "suffix": "y"}]}"#, "only one key"),
            (r#"{"a": [{"wildcard": "x*"}]}"#, "unrecognized match type"),
            (
                r#"{"a": [{"cidr": "10.0.0.0/24"}]}"#,
                "unrecognized match type",
            ),
            (r#"{"a": [{"exactly": "x"}]}"#, "unrecognized match type"),
            (r#"{"a": [{"Prefix": "x"}]}"#, "unrecognized match type"),
            (r#"{"a": [{"prefix": 1}]}"#, "must be a string"),
            (r#"{"a": [{"prefix": null}]}"#, "must be a string"),
            (r#"{"a": [{"prefix": ["x"]}]}"#, "must be a string"),
            (
                r#"{"a": [{"prefix": {"equals-ignore-case": 1}}]}"#,
                "equals-ignore-case",
            ),
            (
                r#"{"a": [{"prefix": {"wildcard": "x"}}]}"#,
                "equals-ignore-case",
            ),
            (
                r#"{"a": [{"prefix": {"equals-ignore-case": "x", "b": "y"}}]}"#,
                "equals-ignore-case",
            ),
            (r#"{"a": [{"suffix": true}]}"#, "must be a string"),
            (r#"{"a": [{"equals-ignore-case": 5}]}"#, "must be a string"),
            (
                r#"{"a": [{"equals-ignore-case": ["x"]}]}"#,
                "must be a string",
            ),
            (r#"{"a": [{"exists": "true"}]}"#, "true or false"),
            (r#"{"a": [{"exists": 1}]}"#, "true or false"),
            (r#"{"a": [{"exists": null}]}"#, "true or false"),
        ];
        for (p, reason) in cases {
            let got = invalid(p);
            assert!(got.contains(reason), "{p}: {got}");
        }
    }

    #[test]
    fn invalid_numeric() {
        let cases = [
            (r#"{"a": [{"numeric": 5}]}"#, "must be an array"),
            (r#"{"a": [{"numeric": ">"}]}"#, "must be an array"),
            (r#"{"a": [{"numeric": []}]}"#, "first term"),
            (r#"{"a": [{"numeric": [5]}]}"#, "first term"),
            (r#"{"a": [{"numeric": [">"]}]}"#, "followed by a number"),
            (
                r#"{"a": [{"numeric": [">", "5"]}]}"#,
                "followed by a number",
            ),
            (r#"{"a": [{"numeric": ["==", 5]}]}"#, "unrecognized"),
            (r#"{"a": [{"numeric": ["!=", 5]}]}"#, "unrecognized"),
            (r#"{"a": [{"numeric": ["=", 5, "<", 6]}]}"#, "too many"),
            (r#"{"a": [{"numeric": ["<", 5, ">", 1]}]}"#, "too many"),
            (r#"{"a": [{"numeric": [">", 1, "<"]}]}"#, "too many"),
            (r#"{"a": [{"numeric": [">", 1, ">", 5]}]}"#, "< or <="),
            (
                r#"{"a": [{"numeric": [">", 1, "<", "5"]}]}"#,
                "followed by a number",
            ),
            (
                r#"{"a": [{"numeric": [">", 5, "<", 1]}]}"#,
                "less than the upper",
            ),
            (
                r#"{"a": [{"numeric": [">=", 5, "<=", 5]}]}"#,
                "less than the upper",
            ),
            (
                r#"{"a": [{"numeric": [">", 1, "<", 5, "<", 6]}]}"#,
                "too many",
            ),
        ];
        for (p, reason) in cases {
            let got = invalid(p);
            assert!(got.contains(reason), "{p}: {got}");
        }
    }

    #[test]
    fn invalid_anything_but() {
        let cases = [
            (r#"{"a": [{"anything-but": []}]}"#, "either all"),
            (r#"{"a": [{"anything-but": ["x", 1]}]}"#, "either all"),
            (r#"{"a": [{"anything-but": [null]}]}"#, "either all"),
            (r#"{"a": [{"anything-but": [true]}]}"#, "either all"),
            (r#"{"a": [{"anything-but": [["x"]]}]}"#, "either all"),
            (r#"{"a": [{"anything-but": null}]}"#, "single string/number"),
            (r#"{"a": [{"anything-but": true}]}"#, "single string/number"),
            (
                r#"{"a": [{"anything-but": {"prefix": "us-"}}]}"#,
                "not supported",
            ),
            (
                r#"{"a": [{"anything-but": {"suffix": ".png"}}]}"#,
                "not supported",
            ),
            (
                r#"{"a": [{"anything-but": {"equals-ignore-case": "x"}}]}"#,
                "not supported",
            ),
            (
                r#"{"a": [{"anything-but": {"wildcard": "*x"}}]}"#,
                "not supported",
            ),
        ];
        for (p, reason) in cases {
            let got = invalid(p);
            assert!(got.contains(reason), "{p}: {got}");
        }
    }

    #[test]
    fn an_invalid_filter_among_valid_ones_fails_the_whole_criteria() {
        let patterns = vec![
            r#"{"partitionKey": ["a"]}"#.to_string(),
            r#"{"partitionKey": "a"}"#.to_string(),
        ];
        assert_eq!(
            FilterCriteria::parse(&patterns).err().as_deref(),
            Some(INVALID_PATTERN)
        );
    }
}
