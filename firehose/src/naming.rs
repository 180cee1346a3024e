//! S3 object keys as Firehose names them, and the rules for `Prefix` and
//! `ErrorOutputPrefix`.
//!
//! A delivered object's key is `<evaluated prefix><suffix>`, the suffix being
//! `<stream name>-<stream version>-<yyyy>-<MM>-<dd>-<HH>-<mm>-<ss>-<uuid><file extension>`
//! (AWS Firehose Developer Guide, "Amazon S3 Object Name Format" and "Custom Prefixes for
//! Amazon S3 Objects"). The time in the prefix and the suffix is the approximate arrival
//! time of the oldest record in the object, in UTC.
//!
//! The prefix may hold expressions `!{namespace:value}`:
//!
//! - `!{timestamp:PATTERN}`: the oldest record's arrival time formatted with a Java
//!   `DateTimeFormatter` pattern (`yyyy`, `MM`, `dd`, `HH`, `mm`, `ss`, … and `'quoted'`
//!   literals); every instance in one prefix evaluates the same instant;
//! - `!{firehose:random-string}`: 11 random characters, a new one for each instance;
//! - `!{firehose:error-output-type}`: the kind of failure (`processing-failed`, …), only
//!   in `ErrorOutputPrefix`;
//! - `!{partitionKeyFromQuery:KEY}` and `!{partitionKeyFromLambda:KEY}`: a dynamic
//!   partitioning key, only when dynamic partitioning is enabled.
//!
//! A prefix with no `timestamp` expression (and no partitioning key) gets the default
//! time prefix `yyyy/MM/dd/HH/` appended; no prefix at all is that default alone.
//!
//! Everything here is deterministic but [`random_string`] and [`random_prefix_string`]:
//! the delivery engine draws the random part once, records it with its intent, and
//! rebuilds the very same key after a crash. The random strings of
//! `!{firehose:random-string}` are derived from that recorded random part unless the
//! caller gives them ([`ObjectKey::with_random_strings`]).

use std::collections::BTreeMap;

use time::OffsetDateTime;

/// The longest `Prefix` or `ErrorOutputPrefix` the API accepts, in characters
/// (API reference, `ExtendedS3DestinationConfiguration`: length 0 to 1024).
pub const MAX_PREFIX_LEN: usize = 1024;

/// The longest an evaluated `Prefix` or `ErrorOutputPrefix` may be, in characters
/// ("Neither Prefix nor ErrorOutputPrefix can be greater than 512 characters after
/// they're evaluated").
pub const MAX_EVALUATED_PREFIX_LEN: usize = 512;

/// The length of what `!{firehose:random-string}` evaluates to.
pub const RANDOM_STRING_LEN: usize = 11;

/// The time prefix Firehose uses by default and appends to a prefix with no
/// `timestamp` expression, as a Java `DateTimeFormatter` pattern.
pub const DEFAULT_TIME_PATTERN: &str = "yyyy/MM/dd/HH/";

/// What `!{firehose:error-output-type}` evaluates to, by the kind of failure.
pub mod error_output_type {
    /// A record the data-transformation Lambda function failed or that dynamic
    /// partitioning could not evaluate.
    pub const PROCESSING_FAILED: &str = "processing-failed";
    /// A record record-format conversion failed on.
    pub const FORMAT_CONVERSION_FAILED: &str = "format-conversion-failed";
    /// A record an HTTP endpoint destination refused until the retry duration ran out.
    pub const HTTP_ENDPOINT_FAILED: &str = "http-endpoint-failed";
    /// A record the Elasticsearch/OpenSearch destination refused.
    pub const ELASTICSEARCH_FAILED: &str = "elasticsearch-failed";
    /// A record the Splunk destination refused.
    pub const SPLUNK_FAILED: &str = "splunk-failed";
}

// ---------------------------------------------------------------------------------
// Prefix templates
// ---------------------------------------------------------------------------------

/// One piece of a prefix template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Text taken as it is.
    Literal(String),
    /// `!{timestamp:PATTERN}`, the pattern parsed.
    Timestamp(Vec<Tok>),
    /// `!{firehose:random-string}`.
    RandomString,
    /// `!{firehose:error-output-type}`.
    ErrorOutputType,
    /// `!{partitionKeyFromQuery:KEY}`.
    PartitionKeyFromQuery(String),
    /// `!{partitionKeyFromLambda:KEY}`.
    PartitionKeyFromLambda(String),
}

impl Segment {
    fn is_expression(&self) -> bool {
        !matches!(self, Segment::Literal(_))
    }

    fn is_partition_key(&self) -> bool {
        matches!(
            self,
            Segment::PartitionKeyFromQuery(_) | Segment::PartitionKeyFromLambda(_)
        )
    }
}

/// Splits `template` into literal text and `!{namespace:value}` expressions.
/// `field` names the parameter in error messages (`Prefix`, `ErrorOutputPrefix`).
fn parse_template(template: &str, field: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("!{") {
        if start > 0 {
            out.push(Segment::Literal(rest[..start].to_string()));
        }
        let body_and_after = &rest[start + 2..];
        let Some(end) = body_and_after.find('}') else {
            return Err(format!(
                "{field} contains an unterminated expression: the sequence !{{ can only appear in \
                 !{{namespace:value}} expressions"
            ));
        };
        let body = &body_and_after[..end];
        if body.contains("!{") {
            return Err(format!(
                "{field} contains a nested expression: the sequence !{{ can only appear in \
                 !{{namespace:value}} expressions"
            ));
        }
        out.push(parse_expression(body, field)?);
        rest = &body_and_after[end + 1..];
    }
    if !rest.is_empty() {
        out.push(Segment::Literal(rest.to_string()));
    }
    Ok(out)
}

/// Parses the inside of one `!{…}`.
fn parse_expression(body: &str, field: &str) -> Result<Segment, String> {
    let Some((namespace, value)) = body.split_once(':') else {
        return Err(format!(
            "{field} contains the expression !{{{body}}}, which is not of the form !{{namespace:value}}"
        ));
    };
    match namespace {
        "timestamp" => {
            if value.is_empty() {
                return Err(format!("{field} contains an empty timestamp expression !{{timestamp:}}"));
            }
            let toks = parse_java_pattern(value)
                .map_err(|e| format!("{field} contains an invalid timestamp expression !{{{body}}}: {e}"))?;
            Ok(Segment::Timestamp(toks))
        }
        "firehose" => match value {
            "random-string" => Ok(Segment::RandomString),
            "error-output-type" => Ok(Segment::ErrorOutputType),
            _ => Err(format!(
                "{field} contains the unknown firehose expression !{{{body}}}: the firehose namespace \
                 takes random-string or error-output-type"
            )),
        },
        "partitionKeyFromQuery" | "partitionKeyFromLambda" => {
            if value.is_empty() {
                return Err(format!("{field} contains the expression !{{{body}}} without a key name"));
            }
            if namespace == "partitionKeyFromQuery" {
                Ok(Segment::PartitionKeyFromQuery(value.to_string()))
            } else {
                Ok(Segment::PartitionKeyFromLambda(value.to_string()))
            }
        }
        _ => Err(format!(
            "{field} contains the expression !{{{body}}} of the unknown namespace '{namespace}': \
             namespaces are timestamp, firehose, partitionKeyFromQuery and partitionKeyFromLambda"
        )),
    }
}

/// Whether `template` holds any `!{…}` expression.
pub fn contains_expressions(template: &str) -> bool {
    template.contains("!{")
}

// ---------------------------------------------------------------------------------
// Java DateTimeFormatter patterns
// ---------------------------------------------------------------------------------

/// One element of a Java `DateTimeFormatter` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// Literal text.
    Lit(String),
    /// A pattern letter and how many times it is repeated.
    Field(char, usize),
}

/// Letters Java's `DateTimeFormatter.ofPattern` knows but that Freshet does not format.
const JAVA_LETTERS_UNSUPPORTED: &str = "QqYwWecFAnNVvzOXxZp";

/// Parses a Java `DateTimeFormatter` pattern, with Java's error messages.
fn parse_java_pattern(pattern: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();
    let mut optional_depth = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphabetic() {
            let mut n = 1;
            while i + n < chars.len() && chars[i + n] == c {
                n += 1;
            }
            check_letter(c, n)?;
            toks.push(Tok::Field(c, n));
            i += n;
        } else if c == '\'' {
            // '' is a quote; otherwise text up to the closing quote, '' inside being one quote.
            if chars.get(i + 1) == Some(&'\'') {
                toks.push(Tok::Lit("'".to_string()));
                i += 2;
                continue;
            }
            let mut lit = String::new();
            let mut j = i + 1;
            let mut closed = false;
            while j < chars.len() {
                if chars[j] == '\'' {
                    if chars.get(j + 1) == Some(&'\'') {
                        lit.push('\'');
                        j += 2;
                        continue;
                    }
                    closed = true;
                    break;
                }
                lit.push(chars[j]);
                j += 1;
            }
            if !closed {
                return Err(format!(
                    "Pattern ends with an incomplete string literal: {pattern}"
                ));
            }
            toks.push(Tok::Lit(lit));
            i = j + 1;
        } else if c == '[' {
            // Optional sections: every field is available for an instant, so they print.
            optional_depth += 1;
            i += 1;
        } else if c == ']' {
            if optional_depth == 0 {
                return Err("Pattern invalid as it contains ] without previous [".to_string());
            }
            optional_depth -= 1;
            i += 1;
        } else if matches!(c, '{' | '}' | '#') {
            return Err(format!("Pattern includes reserved character: '{c}'"));
        } else {
            toks.push(Tok::Lit(c.to_string()));
            i += 1;
        }
    }
    Ok(toks)
}

/// Checks a pattern letter and its count as Java's `DateTimeFormatterBuilder` does.
fn check_letter(c: char, n: usize) -> Result<(), String> {
    let max = match c {
        'G' | 'M' | 'L' | 'E' => 5,
        'y' | 'u' => 19,
        'd' | 'H' | 'h' | 'K' | 'k' | 'm' | 's' => 2,
        'D' => 3,
        'a' => 1,
        'S' => 9,
        _ if JAVA_LETTERS_UNSUPPORTED.contains(c) => {
            return Err(format!(
                "Pattern letter {c} is valid in Java's DateTimeFormatter but not supported here; use \
                 G, u, y, M, L, d, D, E, a, H, h, K, k, m, s or S"
            ));
        }
        _ => return Err(format!("Unknown pattern letter: {c}")),
    };
    if n > max {
        return Err(format!("Too many pattern letters: {c}"));
    }
    Ok(())
}

/// Formats `at` with a parsed pattern.
fn format_pattern(toks: &[Tok], at: OffsetDateTime) -> String {
    let mut out = String::new();
    for t in toks {
        match t {
            Tok::Lit(s) => out.push_str(s),
            Tok::Field(c, n) => format_field(&mut out, *c, *n, at),
        }
    }
    out
}

/// Appends `v` padded with zeros to `width` digits (a minus sign before, if negative).
fn push_padded(out: &mut String, v: i64, width: usize) {
    if v < 0 {
        out.push('-');
    }
    out.push_str(&format!("{:0width$}", v.unsigned_abs()));
}

fn format_field(out: &mut String, c: char, n: usize, at: OffsetDateTime) {
    let year = i64::from(at.year());
    let hour = i64::from(at.hour());
    match c {
        'G' => {
            let ad = year > 0;
            out.push_str(match (n, ad) {
                (1..=3, true) => "AD",
                (1..=3, false) => "BC",
                (4, true) => "Anno Domini",
                (4, false) => "Before Christ",
                (_, true) => "A",
                (_, false) => "B",
            });
        }
        'y' | 'u' => {
            // y is the year of the era (no year 0), u the proleptic year.
            let v = if c == 'y' && year <= 0 {
                1 - year
            } else {
                year
            };
            if n == 2 {
                push_padded(out, v.rem_euclid(100), 2);
            } else {
                push_padded(out, v, n);
            }
        }
        'M' | 'L' => {
            let month = at.month();
            match n {
                1 | 2 => push_padded(out, i64::from(u8::from(month)), n),
                3 => out.extend(month.to_string().chars().take(3)),
                4 => out.push_str(&month.to_string()),
                _ => out.extend(month.to_string().chars().take(1)),
            }
        }
        'd' => push_padded(out, i64::from(at.day()), n),
        'D' => push_padded(out, i64::from(at.ordinal()), n),
        'E' => {
            let day = at.weekday().to_string();
            match n {
                1..=3 => out.extend(day.chars().take(3)),
                4 => out.push_str(&day),
                _ => out.extend(day.chars().take(1)),
            }
        }
        'a' => out.push_str(if hour < 12 { "AM" } else { "PM" }),
        'H' => push_padded(out, hour, n),
        'h' => push_padded(out, if hour % 12 == 0 { 12 } else { hour % 12 }, n),
        'K' => push_padded(out, hour % 12, n),
        'k' => push_padded(out, if hour == 0 { 24 } else { hour }, n),
        'm' => push_padded(out, i64::from(at.minute()), n),
        's' => push_padded(out, i64::from(at.second()), n),
        'S' => {
            let nanos = format!("{:09}", at.nanosecond());
            out.push_str(&nanos[..n.min(9)]);
        }
        // Letters are checked when parsing; nothing else reaches here.
        _ => {}
    }
}

/// The UTC date-time of a Unix time in milliseconds (the epoch if out of range).
fn utc(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `yyyy/MM/dd/HH/` of a Unix time in milliseconds, in UTC.
pub fn default_time_prefix(ms: i64) -> String {
    let at = utc(ms);
    format!(
        "{:04}/{:02}/{:02}/{:02}/",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour()
    )
}

/// Formats a Unix time in milliseconds, in UTC, with a Java `DateTimeFormatter` pattern
/// as `!{timestamp:PATTERN}` does.
pub fn format_timestamp(pattern: &str, ms: i64) -> Result<String, String> {
    Ok(format_pattern(&parse_java_pattern(pattern)?, utc(ms)))
}

// ---------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------

/// Checks a destination's `Prefix` and `ErrorOutputPrefix` by Firehose's rules, as
/// `CreateDeliveryStream` and `UpdateDestination` do; `Err` holds the message of the
/// `InvalidArgumentException`. An empty string counts as absent.
///
/// The rules ("Custom Prefixes for Amazon S3 Objects", semantic rules; "Dynamic
/// partitioning"):
/// - neither is longer than [`MAX_PREFIX_LEN`] characters;
/// - the sequence `!{` only appears in `!{namespace:value}` expressions, of the
///   namespaces `timestamp`, `firehose`, `partitionKeyFromQuery` and
///   `partitionKeyFromLambda`; `firehose` takes `random-string` or `error-output-type`;
///   a `timestamp` value is a valid Java `DateTimeFormatter` pattern;
/// - `Prefix` can't contain `!{firehose:error-output-type}`;
/// - `ErrorOutputPrefix` can be absent only if `Prefix` contains no expressions;
/// - an `ErrorOutputPrefix` with expressions includes at least one
///   `!{firehose:error-output-type}`;
/// - `partitionKeyFrom…` expressions appear only in `Prefix`, and only with dynamic
///   partitioning; with it, `Prefix` is required and holds at least one of them.
pub fn validate_prefixes(
    prefix: Option<&str>,
    error_output_prefix: Option<&str>,
    dynamic_partitioning: bool,
) -> Result<(), String> {
    let prefix = prefix.filter(|p| !p.is_empty());
    let error_output_prefix = error_output_prefix.filter(|p| !p.is_empty());
    for (field, value) in [
        ("Prefix", prefix),
        ("ErrorOutputPrefix", error_output_prefix),
    ] {
        if let Some(v) = value {
            let len = v.chars().count();
            if len > MAX_PREFIX_LEN {
                return Err(format!(
                    "{field} is {len} characters long; it can be at most {MAX_PREFIX_LEN} characters"
                ));
            }
        }
    }
    let prefix_segments = prefix
        .map(|p| parse_template(p, "Prefix"))
        .transpose()?
        .unwrap_or_default();
    let error_segments = error_output_prefix
        .map(|p| parse_template(p, "ErrorOutputPrefix"))
        .transpose()?
        .unwrap_or_default();

    if prefix_segments.contains(&Segment::ErrorOutputType) {
        return Err(
            "Prefix can't contain !{firehose:error-output-type}: the error-output-type value can \
                    only be used in the ErrorOutputPrefix field"
                .to_string(),
        );
    }
    if error_segments.iter().any(Segment::is_partition_key) {
        return Err(
            "ErrorOutputPrefix can't contain partitionKeyFromQuery or partitionKeyFromLambda \
                    expressions"
                .to_string(),
        );
    }
    let prefix_has_keys = prefix_segments.iter().any(Segment::is_partition_key);
    if dynamic_partitioning {
        if !prefix_has_keys {
            return Err(
                "When dynamic partitioning is enabled, Prefix must contain at least one \
                        !{partitionKeyFromQuery:key} or !{partitionKeyFromLambda:key} expression"
                    .to_string(),
            );
        }
    } else if prefix_has_keys {
        return Err(
            "Prefix can contain partitionKeyFromQuery or partitionKeyFromLambda expressions only \
                    when dynamic partitioning is enabled"
                .to_string(),
        );
    }
    if prefix_segments.iter().any(Segment::is_expression) && error_output_prefix.is_none() {
        return Err("ErrorOutputPrefix can't be null when Prefix contains expressions".to_string());
    }
    if error_segments.iter().any(Segment::is_expression)
        && !error_segments.contains(&Segment::ErrorOutputType)
    {
        return Err("ErrorOutputPrefix must contain at least one instance of !{firehose:error-output-type} \
                    when it contains expressions"
            .to_string());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Random parts
// ---------------------------------------------------------------------------------

/// A new random part for an object key's suffix: a version-4 UUID in its hyphenated
/// lowercase form (`3f0d6b52-3c8e-4f5e-9a4b-1c2d3e4f5a6b`), as Firehose's `<uuid>`.
pub fn random_string() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// A new value of `!{firehose:random-string}`: [`RANDOM_STRING_LEN`] characters, the
/// head of a random UUID (`046b6c7f-0b`, as in AWS's example).
pub fn random_prefix_string() -> String {
    random_string().chars().take(RANDOM_STRING_LEN).collect()
}

/// The `index`-th `!{firehose:random-string}` value derived from `seed` (the key's
/// recorded random part): the same arguments always give the same string, shaped as
/// [`random_prefix_string`]'s.
pub fn derived_prefix_string(seed: &str, index: usize) -> String {
    // FNV-1a over the seed, then a SplitMix64 finalizer with the index mixed in.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = h
        ^ (index as u64)
            .wrapping_add(1)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    format!("{:08x}-{:02x}", (z >> 32) as u32, (z & 0xff) as u8)
}

// ---------------------------------------------------------------------------------
// Object keys
// ---------------------------------------------------------------------------------

/// Everything an object's key is made of but its prefix: builds the key of a delivered
/// object ([`ObjectKey::key`]) or of an object of failed records
/// ([`ObjectKey::error_key`]).
///
/// ```
/// use freshet_firehose::naming::ObjectKey;
/// // 2018-08-27T10:30:05Z
/// let k = ObjectKey::new("orders", 1, 1_535_365_805_000, "3f0d6b52-3c8e-4f5e-9a4b-1c2d3e4f5a6b", ".gz");
/// assert_eq!(
///     k.key(Some("logs/")),
///     "logs/2018/08/27/10/orders-1-2018-08-27-10-30-05-3f0d6b52-3c8e-4f5e-9a4b-1c2d3e4f5a6b.gz"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey {
    delivery_stream: String,
    version: u64,
    oldest_arrival_ms: i64,
    random: String,
    extension: String,
    random_strings: Vec<String>,
    partition_keys_from_query: BTreeMap<String, String>,
    partition_keys_from_lambda: BTreeMap<String, String>,
}

impl ObjectKey {
    /// A key of the delivery stream `delivery_stream` at configuration version
    /// `version` (from 1, one more at each configuration change), for an object whose
    /// oldest record arrived at `oldest_arrival_ms` (Unix milliseconds), with the random
    /// part `random` (see [`random_string`]) and the file extension `extension`
    /// (`""`, `".gz"`, …, see [`crate::compress::Compression::extension`]).
    pub fn new(
        delivery_stream: &str,
        version: u64,
        oldest_arrival_ms: i64,
        random: &str,
        extension: &str,
    ) -> Self {
        ObjectKey {
            delivery_stream: delivery_stream.to_string(),
            version,
            oldest_arrival_ms,
            random: random.to_string(),
            extension: extension.to_string(),
            random_strings: Vec::new(),
            partition_keys_from_query: BTreeMap::new(),
            partition_keys_from_lambda: BTreeMap::new(),
        }
    }

    /// The values of the prefix's `!{firehose:random-string}` expressions, in order;
    /// those past the end are derived from the random part ([`derived_prefix_string`]).
    pub fn with_random_strings(mut self, values: Vec<String>) -> Self {
        self.random_strings = values;
        self
    }

    /// The value of `!{partitionKeyFromQuery:KEY}`.
    pub fn with_partition_key_from_query(mut self, key: &str, value: &str) -> Self {
        self.partition_keys_from_query
            .insert(key.to_string(), value.to_string());
        self
    }

    /// The value of `!{partitionKeyFromLambda:KEY}`.
    pub fn with_partition_key_from_lambda(mut self, key: &str, value: &str) -> Self {
        self.partition_keys_from_lambda
            .insert(key.to_string(), value.to_string());
        self
    }

    /// The suffix: `<name>-<version>-yyyy-MM-dd-HH-mm-ss-<random><extension>`.
    pub fn suffix(&self) -> String {
        let at = utc(self.oldest_arrival_ms);
        format!(
            "{}-{}-{:04}-{:02}-{:02}-{:02}-{:02}-{:02}-{}{}",
            self.delivery_stream,
            self.version,
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
            self.random,
            self.extension
        )
    }

    /// Evaluates segments; `missing` collects partition keys without a value (they
    /// evaluate to nothing).
    fn evaluate(
        &self,
        segments: &[Segment],
        error_output_type: Option<&str>,
        missing: &mut Vec<String>,
    ) -> String {
        let at = utc(self.oldest_arrival_ms);
        let mut out = String::new();
        let mut randoms = 0usize;
        for s in segments {
            match s {
                Segment::Literal(l) => out.push_str(l),
                Segment::Timestamp(toks) => out.push_str(&format_pattern(toks, at)),
                Segment::RandomString => {
                    match self.random_strings.get(randoms) {
                        Some(v) => out.push_str(v),
                        None => out.push_str(&derived_prefix_string(&self.random, randoms)),
                    }
                    randoms += 1;
                }
                Segment::ErrorOutputType => out.push_str(error_output_type.unwrap_or_default()),
                Segment::PartitionKeyFromQuery(k) => match self.partition_keys_from_query.get(k) {
                    Some(v) => out.push_str(v),
                    None => missing.push(format!("partitionKeyFromQuery:{k}")),
                },
                Segment::PartitionKeyFromLambda(k) => {
                    match self.partition_keys_from_lambda.get(k) {
                        Some(v) => out.push_str(v),
                        None => missing.push(format!("partitionKeyFromLambda:{k}")),
                    }
                }
            }
        }
        out
    }

    fn prefix_with_missing(&self, prefix: Option<&str>, missing: &mut Vec<String>) -> String {
        let Some(prefix) = prefix.filter(|p| !p.is_empty()) else {
            return default_time_prefix(self.oldest_arrival_ms);
        };
        // A prefix that is not a valid template (never validated) is taken literally.
        let segments = parse_template(prefix, "Prefix")
            .unwrap_or_else(|_| vec![Segment::Literal(prefix.to_string())]);
        let mut out = self.evaluate(&segments, None, missing);
        let has_time = segments.iter().any(|s| matches!(s, Segment::Timestamp(_)));
        let has_keys = segments.iter().any(Segment::is_partition_key);
        if !has_time && !has_keys {
            out.push_str(&default_time_prefix(self.oldest_arrival_ms));
        }
        out
    }

    /// The evaluated prefix of a delivered object: `yyyy/MM/dd/HH/` when there is no
    /// prefix; the prefix evaluated, followed by `yyyy/MM/dd/HH/` when it holds no
    /// `timestamp` expression (nor partitioning key), otherwise.
    pub fn evaluated_prefix(&self, prefix: Option<&str>) -> String {
        self.prefix_with_missing(prefix, &mut Vec::new())
    }

    /// The key of a delivered object: [`ObjectKey::evaluated_prefix`] then
    /// [`ObjectKey::suffix`].
    pub fn key(&self, prefix: Option<&str>) -> String {
        format!("{}{}", self.evaluated_prefix(prefix), self.suffix())
    }

    /// [`ObjectKey::key`], or why Firehose would not deliver under it: a partitioning
    /// key of the prefix without a value, or an evaluated prefix longer than
    /// [`MAX_EVALUATED_PREFIX_LEN`].
    pub fn try_key(&self, prefix: Option<&str>) -> Result<String, String> {
        let mut missing = Vec::new();
        let evaluated = self.prefix_with_missing(prefix, &mut missing);
        check_evaluated("Prefix", &evaluated, &missing)?;
        Ok(format!("{evaluated}{}", self.suffix()))
    }

    fn error_prefix_with_missing(
        &self,
        error_output_prefix: Option<&str>,
        prefix: Option<&str>,
        error_output_type: &str,
        missing: &mut Vec<String>,
    ) -> String {
        if let Some(ep) = error_output_prefix.filter(|p| !p.is_empty()) {
            let segments = parse_template(ep, "ErrorOutputPrefix")
                .unwrap_or_else(|_| vec![Segment::Literal(ep.to_string())]);
            return self.evaluate(&segments, Some(error_output_type), missing);
        }
        // No ErrorOutputPrefix (only allowed when Prefix has no expressions):
        // <prefix><error-output-type>/yyyy/MM/dd/HH/.
        let base = match prefix.filter(|p| !p.is_empty()) {
            Some(p) => {
                let segments = parse_template(p, "Prefix")
                    .unwrap_or_else(|_| vec![Segment::Literal(p.to_string())]);
                self.evaluate(&segments, None, missing)
            }
            None => String::new(),
        };
        format!(
            "{base}{error_output_type}/{}",
            default_time_prefix(self.oldest_arrival_ms)
        )
    }

    /// The evaluated prefix of an object of failed records: `ErrorOutputPrefix`
    /// evaluated with `!{firehose:error-output-type}` as `error_output_type`; without an
    /// `ErrorOutputPrefix`, `<prefix><error-output-type>/yyyy/MM/dd/HH/`.
    pub fn evaluated_error_prefix(
        &self,
        error_output_prefix: Option<&str>,
        prefix: Option<&str>,
        error_output_type: &str,
    ) -> String {
        self.error_prefix_with_missing(
            error_output_prefix,
            prefix,
            error_output_type,
            &mut Vec::new(),
        )
    }

    /// The key of an object of failed records: [`ObjectKey::evaluated_error_prefix`]
    /// then [`ObjectKey::suffix`].
    pub fn error_key(
        &self,
        error_output_prefix: Option<&str>,
        prefix: Option<&str>,
        error_output_type: &str,
    ) -> String {
        format!(
            "{}{}",
            self.evaluated_error_prefix(error_output_prefix, prefix, error_output_type),
            self.suffix()
        )
    }

    /// [`ObjectKey::error_key`], or why it can't be used (see [`ObjectKey::try_key`]).
    pub fn try_error_key(
        &self,
        error_output_prefix: Option<&str>,
        prefix: Option<&str>,
        error_output_type: &str,
    ) -> Result<String, String> {
        let mut missing = Vec::new();
        let evaluated = self.error_prefix_with_missing(
            error_output_prefix,
            prefix,
            error_output_type,
            &mut missing,
        );
        check_evaluated("ErrorOutputPrefix", &evaluated, &missing)?;
        Ok(format!("{evaluated}{}", self.suffix()))
    }
}

fn check_evaluated(field: &str, evaluated: &str, missing: &[String]) -> Result<(), String> {
    if let Some(m) = missing.first() {
        return Err(format!(
            "{field} expression !{{{m}}} has no value for this record"
        ));
    }
    let len = evaluated.chars().count();
    if len > MAX_EVALUATED_PREFIX_LEN {
        return Err(format!(
            "{field} is {len} characters long after evaluation; it can be at most {MAX_EVALUATED_PREFIX_LEN}"
        ));
    }
    Ok(())
}

/// The key of a delivered object, exactly as Firehose forms it (see [`ObjectKey`]):
/// `<evaluated prefix><delivery_stream>-<version>-yyyy-MM-dd-HH-mm-ss-<random><extension>`,
/// the times being those of `oldest_arrival_ms` in UTC. `random` is the caller's
/// recorded random part ([`random_string`]); `!{firehose:random-string}` values are
/// derived from it, so the same arguments always give the same key.
pub fn object_key(
    prefix: Option<&str>,
    delivery_stream: &str,
    version: u64,
    oldest_arrival_ms: i64,
    random: &str,
    extension: &str,
) -> String {
    ObjectKey::new(
        delivery_stream,
        version,
        oldest_arrival_ms,
        random,
        extension,
    )
    .key(prefix)
}

/// The key of an object of failed records (see [`ObjectKey::error_key`]);
/// `error_output_type` is one of [`error_output_type`]'s values.
#[allow(clippy::too_many_arguments)]
pub fn error_key(
    error_output_prefix: Option<&str>,
    prefix: Option<&str>,
    delivery_stream: &str,
    version: u64,
    oldest_arrival_ms: i64,
    random: &str,
    extension: &str,
    error_output_type: &str,
) -> String {
    ObjectKey::new(
        delivery_stream,
        version,
        oldest_arrival_ms,
        random,
        extension,
    )
    .error_key(error_output_prefix, prefix, error_output_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2018-08-27T10:30:05.123Z
    const T: i64 = 1_535_365_805_123;
    const R: &str = "3f0d6b52-3c8e-4f5e-9a4b-1c2d3e4f5a6b";

    fn key(prefix: Option<&str>) -> String {
        object_key(prefix, "s", 1, T, R, "")
    }

    #[test]
    fn time_is_what_we_think() {
        assert_eq!(default_time_prefix(T), "2018/08/27/10/");
        assert_eq!(
            format_timestamp("yyyy-MM-dd'T'HH:mm:ss.SSS", T).unwrap(),
            "2018-08-27T10:30:05.123"
        );
    }

    #[test]
    fn no_prefix_is_the_default_time_prefix() {
        assert_eq!(
            key(None),
            format!("2018/08/27/10/s-1-2018-08-27-10-30-05-{R}")
        );
        assert_eq!(key(Some("")), key(None));
    }

    #[test]
    fn literal_prefix_gets_the_time_appended_without_a_slash() {
        assert_eq!(
            key(Some("logs/")),
            format!("logs/2018/08/27/10/s-1-2018-08-27-10-30-05-{R}")
        );
        assert_eq!(
            key(Some("myFirehosePrefix")),
            format!("myFirehosePrefix2018/08/27/10/s-1-2018-08-27-10-30-05-{R}")
        );
    }

    #[test]
    fn timestamp_expressions_replace_the_default() {
        assert_eq!(
            key(Some("myPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/")),
            format!("myPrefix/year=2018/month=08/day=27/hour=10/s-1-2018-08-27-10-30-05-{R}")
        );
        assert_eq!(
            key(Some(
                "!{timestamp:'year='yyyy'/month='MM'/day='dd'/hour='HH}/"
            )),
            format!("year=2018/month=08/day=27/hour=10/s-1-2018-08-27-10-30-05-{R}")
        );
        assert_eq!(
            key(Some("!{timestamp:yyyy/MM/dd}")),
            format!("2018/08/27s-1-2018-08-27-10-30-05-{R}")
        );
    }

    #[test]
    fn random_string_alone_still_gets_the_time_appended() {
        let k = ObjectKey::new("s", 1, T, R, "");
        let p = k.evaluated_prefix(Some("r=!{firehose:random-string}/"));
        assert_eq!(
            p.len(),
            "r=".len() + RANDOM_STRING_LEN + 1 + "2018/08/27/10/".len()
        );
        assert!(p.starts_with("r="));
        assert!(p.ends_with("/2018/08/27/10/"));
    }

    #[test]
    fn random_strings_are_deterministic_and_distinct() {
        let k = ObjectKey::new("s", 1, T, R, "");
        let p = "!{firehose:random-string}/!{firehose:random-string}/!{timestamp:yyyy}/";
        let a = k.evaluated_prefix(Some(p));
        assert_eq!(a, k.evaluated_prefix(Some(p)));
        let parts: Vec<&str> = a.split('/').collect();
        assert_eq!(parts[0].len(), RANDOM_STRING_LEN);
        assert_eq!(parts[1].len(), RANDOM_STRING_LEN);
        assert_ne!(parts[0], parts[1], "every instance is a new random string");
        assert_eq!(parts[2], "2018");
        // Another random part, other strings.
        let other = ObjectKey::new("s", 1, T, "00000000-0000-4000-8000-000000000000", "");
        assert_ne!(other.evaluated_prefix(Some(p)), a);
        // Given values are used first.
        let given = k
            .clone()
            .with_random_strings(vec!["abcdefghijk".to_string()]);
        let g = given.evaluated_prefix(Some(p));
        assert!(g.starts_with(&format!("abcdefghijk/{}/", parts[1])), "{g}");
    }

    #[test]
    fn derived_prefix_string_shape() {
        for i in 0..50 {
            let s = derived_prefix_string(R, i);
            assert_eq!(s.len(), RANDOM_STRING_LEN);
            assert_eq!(&s[8..9], "-");
            assert!(s
                .chars()
                .filter(|c| *c != '-')
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        }
    }

    #[test]
    fn random_string_is_a_uuid_v4() {
        let r = random_string();
        assert_eq!(r.len(), 36);
        let groups: Vec<&str> = r.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            vec![8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('4'));
        assert_ne!(random_string(), r);
        let p = random_prefix_string();
        assert_eq!(p.len(), RANDOM_STRING_LEN);
        assert_eq!(&p[8..9], "-");
    }

    #[test]
    fn suffix_and_extension() {
        assert_eq!(
            object_key(Some("x/!{timestamp:yyyy}/"), "orders", 7, T, R, ".gz"),
            format!("x/2018/orders-7-2018-08-27-10-30-05-{R}.gz")
        );
    }

    #[test]
    fn the_suffix_is_padded() {
        // 2001-02-03T04:05:06Z
        let t = 981_173_106_000;
        assert_eq!(
            object_key(None, "s", 12, t, "r", ".snappy"),
            "2001/02/03/04/s-12-2001-02-03-04-05-06-r.snappy"
        );
    }

    #[test]
    fn error_keys() {
        // ErrorOutputPrefix given: evaluated, nothing appended (AWS's examples).
        assert_eq!(
            error_key(
                Some("myFirehoseFailures/!{firehose:error-output-type}/"),
                None,
                "s",
                1,
                T,
                R,
                "",
                error_output_type::PROCESSING_FAILED
            ),
            format!("myFirehoseFailures/processing-failed/s-1-2018-08-27-10-30-05-{R}")
        );
        let k = ObjectKey::new("s", 1, T, R, ".gz");
        assert_eq!(
            k.evaluated_error_prefix(
                Some("myErrorPrefix/!{timestamp:'year='yyyy'/month='MM'/day='dd'/hour='HH}/!{firehose:error-output-type}"),
                Some("myPrefix/"),
                "processing-failed"
            ),
            "myErrorPrefix/year=2018/month=08/day=27/hour=10/processing-failed"
        );
        // No ErrorOutputPrefix: <prefix><type>/yyyy/MM/dd/HH/.
        assert_eq!(
            k.error_key(None, Some("logs/"), "format-conversion-failed"),
            format!("logs/format-conversion-failed/2018/08/27/10/s-1-2018-08-27-10-30-05-{R}.gz")
        );
        assert_eq!(
            k.error_key(None, None, "processing-failed"),
            format!("processing-failed/2018/08/27/10/s-1-2018-08-27-10-30-05-{R}.gz")
        );
    }

    #[test]
    fn partition_keys() {
        let k = ObjectKey::new("s", 1, T, R, "")
            .with_partition_key_from_query("customer_id", "1234")
            .with_partition_key_from_lambda("device", "mobile");
        let p = "customer_id=!{partitionKeyFromQuery:customer_id}/device=!{partitionKeyFromLambda:device}/";
        // No time appended with partitioning keys.
        assert_eq!(
            k.key(Some(p)),
            format!("customer_id=1234/device=mobile/s-1-2018-08-27-10-30-05-{R}")
        );
        assert_eq!(k.try_key(Some(p)).unwrap(), k.key(Some(p)));
        let missing = ObjectKey::new("s", 1, T, R, "");
        assert!(missing
            .try_key(Some(p))
            .unwrap_err()
            .contains("partitionKeyFromQuery:customer_id"));
    }

    #[test]
    fn evaluated_length_limit() {
        let k = ObjectKey::new("s", 1, T, R, "");
        let long = "a".repeat(600);
        assert!(k.try_key(Some(&long)).unwrap_err().contains("512"));
        assert!(k.try_key(Some(&"a".repeat(498))).is_ok()); // 498 + 14 = 512
        assert!(k.try_key(Some(&"a".repeat(499))).is_err());
        assert!(k
            .try_error_key(
                Some(&format!("{long}!{{firehose:error-output-type}}")),
                None,
                "processing-failed"
            )
            .is_err());
    }

    #[test]
    fn java_patterns() {
        let f = |p: &str| format_timestamp(p, T).unwrap();
        assert_eq!(f("yyyy"), "2018");
        assert_eq!(f("yy"), "18");
        assert_eq!(f("y"), "2018");
        assert_eq!(f("uuuu"), "2018");
        assert_eq!(f("M"), "8");
        assert_eq!(f("MM"), "08");
        assert_eq!(f("MMM"), "Aug");
        assert_eq!(f("MMMM"), "August");
        assert_eq!(f("MMMMM"), "A");
        assert_eq!(f("d/dd"), "27/27");
        assert_eq!(f("D"), "239");
        assert_eq!(f("DDD"), "239");
        assert_eq!(f("E EEEE"), "Mon Monday");
        assert_eq!(f("H HH h hh K k a"), "10 10 10 10 10 10 AM");
        assert_eq!(f("m mm s ss"), "30 30 5 05");
        assert_eq!(f("S SS SSS SSSSSS"), "1 12 123 123000");
        assert_eq!(f("G"), "AD");
        assert_eq!(f("'it''s' ''"), "it's '");
        assert_eq!(f("[yyyy]-MM"), "2018-08");
        assert_eq!(f("yyyy_MM.dd HH:mm"), "2018_08.27 10:30");
        // Midnight and afternoon hours.
        let midnight = 1_535_328_000_000; // 2018-08-27T00:00:00Z
        assert_eq!(
            format_timestamp("H h K k a", midnight).unwrap(),
            "0 12 0 24 AM"
        );
        let pm = midnight + 15 * 3_600_000;
        assert_eq!(
            format_timestamp("HH hh KK kk a", pm).unwrap(),
            "15 03 03 15 PM"
        );
    }

    #[test]
    fn java_pattern_errors() {
        let e = |p: &str| format_timestamp(p, T).unwrap_err();
        assert_eq!(e("ddd"), "Too many pattern letters: d");
        assert_eq!(e("HHH"), "Too many pattern letters: H");
        assert_eq!(e("aa"), "Too many pattern letters: a");
        assert_eq!(e("MMMMMM"), "Too many pattern letters: M");
        assert_eq!(e("b"), "Unknown pattern letter: b");
        assert_eq!(
            e("yyyy'"),
            "Pattern ends with an incomplete string literal: yyyy'"
        );
        assert_eq!(e("#"), "Pattern includes reserved character: '#'");
        assert_eq!(
            e("yyyy]"),
            "Pattern invalid as it contains ] without previous ["
        );
        assert!(e("ww").contains("not supported"));
    }

    #[test]
    fn valid_prefixes() {
        let ok = |p: Option<&str>, e: Option<&str>, dp: bool| validate_prefixes(p, e, dp);
        assert_eq!(ok(None, None, false), Ok(()));
        assert_eq!(ok(Some("logs/"), None, false), Ok(()));
        assert_eq!(ok(Some(""), Some(""), false), Ok(()));
        assert_eq!(ok(None, Some("errors/"), false), Ok(()));
        assert_eq!(
            ok(
                None,
                Some("myFirehoseFailures/!{firehose:error-output-type}/"),
                false
            ),
            Ok(())
        );
        assert_eq!(
            ok(
                Some("myFirehose/DeliveredYear=!{timestamp:yyyy}/anyMonth/rand=!{firehose:random-string}"),
                Some("myFirehoseFailures/!{firehose:error-output-type}/!{timestamp:yyyy}/anyMonth/!{timestamp:dd}"),
                false
            ),
            Ok(())
        );
        assert_eq!(
            ok(
                Some("myPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"),
                Some("myErrorPrefix/!{timestamp:'year='yyyy'/month='MM'/day='dd'/hour='HH}/!{firehose:error-output-type}"),
                false
            ),
            Ok(())
        );
        assert_eq!(
            ok(
                Some("customer_id=!{partitionKeyFromQuery:customer_id}/h=!{partitionKeyFromLambda:h}/!{timestamp:yyyy}/"),
                Some("errors/!{firehose:error-output-type}/"),
                true
            ),
            Ok(())
        );
        assert_eq!(ok(Some(&"a".repeat(MAX_PREFIX_LEN)), None, false), Ok(()));
    }

    #[test]
    fn invalid_prefixes() {
        let err =
            |p: Option<&str>, e: Option<&str>, dp: bool| validate_prefixes(p, e, dp).unwrap_err();
        // AWS's example: an expression in Prefix and no ErrorOutputPrefix.
        assert_eq!(
            err(Some("!{timestamp:yyyy/MM/dd}"), None, false),
            "ErrorOutputPrefix can't be null when Prefix contains expressions"
        );
        assert_eq!(
            err(Some("r=!{firehose:random-string}/"), Some(""), false),
            "ErrorOutputPrefix can't be null when Prefix contains expressions"
        );
        assert!(err(
            Some("!{firehose:error-output-type}/"),
            Some("e/!{firehose:error-output-type}"),
            false
        )
        .starts_with("Prefix can't contain !{firehose:error-output-type}"));
        assert!(err(None, Some("errors/!{timestamp:yyyy}/"), false)
            .starts_with("ErrorOutputPrefix must contain at least one instance of !{firehose:error-output-type}"));
        assert!(err(
            Some("!{foo:bar}/"),
            Some("e/!{firehose:error-output-type}"),
            false
        )
        .contains("unknown namespace 'foo'"));
        assert!(err(
            Some("!{firehose:uuid}/"),
            Some("e/!{firehose:error-output-type}"),
            false
        )
        .contains("unknown firehose expression"));
        assert!(err(Some("a/!{timestamp"), None, false).contains("unterminated"));
        assert!(
            err(Some("a/!{timestamp:!{x}"), None, false).contains("unterminated")
                || err(Some("a/!{timestamp:!{x}"), None, false).contains("nested")
        );
        assert!(err(Some("a/!{timestamp}"), None, false).contains("not of the form"));
        assert!(err(Some("a/!{timestamp:}"), None, false).contains("empty timestamp"));
        assert!(err(
            Some("!{timestamp:ddd}"),
            Some("e/!{firehose:error-output-type}"),
            false
        )
        .contains("Too many pattern letters: d"));
        assert!(err(None, Some("!{timestamp:yyyy'}"), false).contains("incomplete string literal"));
        assert!(err(Some(&"a".repeat(MAX_PREFIX_LEN + 1)), None, false).contains("at most 1024"));
        assert!(err(None, Some(&"a".repeat(MAX_PREFIX_LEN + 1)), false)
            .starts_with("ErrorOutputPrefix"));
        // Dynamic partitioning.
        assert!(err(
            Some("c=!{partitionKeyFromQuery:c}/"),
            Some("e/!{firehose:error-output-type}"),
            false
        )
        .contains("only when dynamic partitioning is enabled"));
        assert!(err(None, Some("e/!{firehose:error-output-type}"), true).contains("at least one"));
        assert!(err(
            Some("!{timestamp:yyyy}/"),
            Some("e/!{firehose:error-output-type}"),
            true
        )
        .contains("at least one"));
        assert_eq!(
            err(Some("c=!{partitionKeyFromQuery:c}/"), None, true),
            "ErrorOutputPrefix can't be null when Prefix contains expressions"
        );
        assert!(err(
            Some("c=!{partitionKeyFromQuery:c}/"),
            Some("e/!{firehose:error-output-type}/!{partitionKeyFromQuery:c}"),
            true
        )
        .starts_with("ErrorOutputPrefix can't contain partitionKey"));
        assert!(err(
            Some("c=!{partitionKeyFromQuery:}/"),
            Some("e/!{firehose:error-output-type}"),
            true
        )
        .contains("without a key name"));
    }

    #[test]
    fn contains_expressions_detects_the_sequence() {
        assert!(contains_expressions("a/!{timestamp:yyyy}"));
        assert!(!contains_expressions("a/{b}/!c"));
    }

    #[test]
    fn arrival_times_out_of_range_fall_back_to_the_epoch() {
        assert_eq!(default_time_prefix(i64::MAX), "1970/01/01/00/");
        assert_eq!(default_time_prefix(-1), "1969/12/31/23/");
    }
}
