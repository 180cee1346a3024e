//! Dates and timestamps as the JSON SerDes read them.
//!
//! - OpenX JSON SerDe (as Firehose documents it): `yyyy-MM-dd'T'HH:mm:ss[.S]'Z'` (or an
//!   offset, `+01:00`, `+0100`, `+01`), `yyyy-[M]M-[d]d HH:mm:ss[.S]` (a fraction of up to
//!   9 digits), and numbers or numeric strings: an integer of 13 or more characters is
//!   epoch milliseconds, a shorter one epoch seconds, one with a `.` floating-point epoch
//!   seconds (OpenX's `ParsePrimitiveUtils.parseTimestamp`).
//! - Hive JSON SerDe: each of `TimestampFormats` in turn (`millis`: epoch milliseconds; or
//!   a Joda-Time `DateTimeFormat` pattern), then `java.sql.Timestamp.valueOf`'s
//!   `yyyy-[M]M-[d]d HH:mm:ss[.S]`, as Hive's `TimestampParser`.
//!
//! Times without an offset are UTC (Firehose's converters run in UTC). Timestamps keep
//! milliseconds; further digits of a fraction are dropped.

use super::json::Json;

const MILLIS_PER_DAY: i64 = 86_400_000;

/// How a delivery stream's deserializer reads timestamps.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TimestampParsing {
    /// The OpenX JSON SerDe's formats.
    OpenX,
    /// The Hive JSON SerDe: these formats, then `Timestamp.valueOf`.
    Hive(Vec<TimestampFormat>),
}

/// One of the Hive JSON SerDe's `TimestampFormats`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TimestampFormat {
    /// `millis`: epoch milliseconds.
    Millis,
    /// A Joda-Time pattern, compiled.
    Pattern(Vec<Token>),
}

/// A compiled element of a Joda-Time pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    /// Text that must be there.
    Literal(String),
    /// A numeric field and how many pattern letters wrote it.
    Number(Field, usize),
    /// `MMM` (`Jan`) or `MMMM` (`January`): a month's name, any case.
    MonthName,
    /// `E…`: a day's name, read and ignored.
    DayName,
    /// `a`: `AM` or `PM`.
    HalfDay,
    /// `Z`, `ZZ`: `Z`, `+hh:mm`, `+hhmm` or `+hh`.
    Offset,
}

/// A numeric field of a Joda-Time pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    /// `y`, `Y`.
    Year,
    /// `M`, `MM`.
    Month,
    /// `d`.
    Day,
    /// `H`: 0 to 23.
    Hour,
    /// `h`: 1 to 12, with `a`.
    ClockHour,
    /// `m`.
    Minute,
    /// `s`.
    Second,
    /// `S`: a fraction of the second.
    Fraction,
}

impl TimestampFormat {
    /// Compiles one of `TimestampFormats`: `millis`, or a Joda-Time pattern of the letters
    /// `y Y M d H h m s S a Z E` and literals. `Err` names the unsupported part.
    pub(crate) fn compile(format: &str) -> Result<TimestampFormat, String> {
        if format == "millis" {
            return Ok(TimestampFormat::Millis);
        }
        let unsupported = |what: String| {
            format!("TimestampFormats '{format}' is not supported by this server: {what}")
        };
        let chars: Vec<char> = format.chars().collect();
        let mut tokens: Vec<Token> = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(unsupported("unterminated quote".to_string())),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            text.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&other) => {
                            text.push(other);
                            i += 1;
                        }
                    }
                }
                if text.is_empty() {
                    text.push('\'');
                }
                push_literal(&mut tokens, &text);
                continue;
            }
            if !c.is_ascii_alphabetic() {
                push_literal(&mut tokens, &c.to_string());
                i += 1;
                continue;
            }
            let mut count = 1;
            while chars.get(i + count) == Some(&c) {
                count += 1;
            }
            i += count;
            tokens.push(match c {
                'y' | 'Y' => Token::Number(Field::Year, count),
                'M' if count >= 3 => Token::MonthName,
                'M' => Token::Number(Field::Month, count),
                'd' => Token::Number(Field::Day, count),
                'H' => Token::Number(Field::Hour, count),
                'h' => Token::Number(Field::ClockHour, count),
                'm' => Token::Number(Field::Minute, count),
                's' => Token::Number(Field::Second, count),
                'S' => Token::Number(Field::Fraction, count),
                'a' => Token::HalfDay,
                'Z' => Token::Offset,
                'E' => Token::DayName,
                other => {
                    return Err(unsupported(format!(
                        "the pattern letter '{other}' (supported: y Y M d H h m s S a Z E and quoted text)"
                    )))
                }
            });
        }
        let has = |f: Field| {
            tokens
                .iter()
                .any(|t| matches!(t, Token::Number(g, _) if *g == f))
        };
        if has(Field::ClockHour) != tokens.contains(&Token::HalfDay) {
            return Err(unsupported("'h' and 'a' go together".to_string()));
        }
        Ok(TimestampFormat::Pattern(tokens))
    }

    /// Epoch milliseconds of `text`, or `None` when it does not fit the format.
    fn parse_text(&self, text: &str) -> Option<i64> {
        match self {
            TimestampFormat::Millis => text.parse().ok(),
            TimestampFormat::Pattern(tokens) => parse_pattern(tokens, text),
        }
    }
}

fn push_literal(tokens: &mut Vec<Token>, text: &str) {
    if let Some(Token::Literal(previous)) = tokens.last_mut() {
        previous.push_str(text);
    } else {
        tokens.push(Token::Literal(text.to_string()));
    }
}

impl TimestampParsing {
    /// Epoch milliseconds of a JSON value, or why it is not a timestamp.
    pub(crate) fn parse(&self, value: &Json) -> Result<i64, String> {
        let parsed = match (self, value) {
            (TimestampParsing::OpenX, Json::Int(i)) => openx_integer(*i, &i.to_string()),
            (TimestampParsing::OpenX, Json::Float(f)) => openx_seconds(*f),
            (TimestampParsing::OpenX, Json::Str(s)) => openx_text(s),
            (TimestampParsing::Hive(formats), Json::Int(i)) => hive_text(formats, &i.to_string()),
            (TimestampParsing::Hive(formats), Json::Str(s)) => hive_text(formats, s),
            _ => None,
        };
        parsed.ok_or_else(|| format!("cannot convert {} to timestamp", value.describe()))
    }
}

fn openx_integer(i: i64, text: &str) -> Option<i64> {
    if text.len() >= 13 {
        Some(i)
    } else {
        i.checked_mul(1000)
    }
}

fn openx_seconds(seconds: f64) -> Option<i64> {
    let millis = seconds * 1000.0;
    // Java's `(long)` cast truncates toward zero.
    (millis.is_finite() && millis.abs() < 9.2e18).then_some(millis as i64)
}

fn openx_text(s: &str) -> Option<i64> {
    if s.find(':').is_some_and(|at| at > 0) {
        parse_timestamp_text(s, true)
    } else if s.contains('.') {
        openx_seconds(s.parse().ok()?)
    } else {
        openx_integer(s.parse().ok()?, s)
    }
}

fn hive_text(formats: &[TimestampFormat], s: &str) -> Option<i64> {
    formats
        .iter()
        .find_map(|f| f.parse_text(s))
        .or_else(|| parse_timestamp_text(s, false))
}

/// A cursor over text being parsed.
struct Cursor<'s> {
    bytes: &'s [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// `min..=max` digits as a number, and how many there were.
    fn digits(&mut self, min: usize, max: usize) -> Option<(i64, usize)> {
        let mut value: i64 = 0;
        let mut n = 0;
        while n < max {
            match self.peek() {
                Some(b @ b'0'..=b'9') => {
                    value = value * 10 + i64::from(b - b'0');
                    self.pos += 1;
                    n += 1;
                }
                _ => break,
            }
        }
        (n >= min).then_some((value, n))
    }

    fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    /// An offset, `Z`, `±hh:mm`, `±hhmm` or `±hh`, in milliseconds east of UTC.
    fn offset(&mut self) -> Option<i64> {
        if self.eat(b'Z') {
            return Some(0);
        }
        let sign = if self.eat(b'+') {
            1
        } else if self.eat(b'-') {
            -1
        } else {
            return None;
        };
        let (hours, _) = self.digits(2, 2)?;
        let minutes = if self.eat(b':') {
            self.digits(2, 2)?.0
        } else {
            self.digits(2, 2).map_or(0, |(m, _)| m)
        };
        (hours <= 18 && minutes < 60).then_some(sign * (hours * 3_600_000 + minutes * 60_000))
    }
}

/// Milliseconds of a fraction's digits (`"39256"` is 392 ms).
fn fraction_millis(value: i64, digits: usize) -> i64 {
    match digits {
        0 => 0,
        1 => value * 100,
        2 => value * 10,
        3 => value,
        n => value / 10_i64.pow(u32::try_from(n - 3).unwrap_or(0).min(18)),
    }
}

/// `yyyy-[M]M-[d]d HH:mm:ss[.S]` (`Timestamp.valueOf`) and, when `iso`, also with `T`
/// for the space and an optional offset.
fn parse_timestamp_text(s: &str, iso: bool) -> Option<i64> {
    let mut c = Cursor {
        bytes: s.as_bytes(),
        pos: 0,
    };
    let (year, _) = c.digits(4, 4)?;
    let month = dash_number(&mut c)?;
    let day = dash_number(&mut c)?;
    if !(c.eat(b' ') || (iso && c.eat(b'T'))) {
        return None;
    }
    let (hour, _) = c.digits(1, 2)?;
    let (minute, second) = (colon_two(&mut c)?, colon_two(&mut c)?);
    let mut millis = 0;
    if c.eat(b'.') {
        let (value, n) = c.digits(1, 9)?;
        millis = fraction_millis(value, n);
    }
    let offset = if iso && !c.at_end() { c.offset()? } else { 0 };
    if !c.at_end() {
        return None;
    }
    to_millis(year, month, day, hour, minute, second, millis, offset)
}

fn dash_number(c: &mut Cursor) -> Option<i64> {
    c.eat(b'-').then_some(())?;
    Some(c.digits(1, 2)?.0)
}

fn colon_two(c: &mut Cursor) -> Option<i64> {
    c.eat(b':').then_some(())?;
    Some(c.digits(2, 2)?.0)
}

/// Days since 1970-01-01 of `yyyy-[M]M-[d]d` (`java.sql.Date.valueOf`).
pub(crate) fn parse_date(s: &str) -> Result<i32, String> {
    let mut c = Cursor {
        bytes: s.as_bytes(),
        pos: 0,
    };
    let parsed = (|| {
        let (year, _) = c.digits(4, 4)?;
        let month = dash_number(&mut c)?;
        let day = dash_number(&mut c)?;
        if !c.at_end() || !valid_date(year, month, day) {
            return None;
        }
        i32::try_from(days_from_civil(year, month, day)).ok()
    })();
    parsed.ok_or_else(|| {
        format!(
            "cannot convert string {:?} to date (expected yyyy-MM-dd)",
            super::json::shorten(s, 48)
        )
    })
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn valid_date(year: i64, month: i64, day: i64) -> bool {
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days_in_month).contains(&day)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Epoch milliseconds of a validated date and time at `offset` milliseconds east of UTC.
#[allow(clippy::too_many_arguments)]
fn to_millis(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    millis: i64,
    offset: i64,
) -> Option<i64> {
    if !valid_date(year, month, day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let time = ((hour * 60 + minute) * 60 + second) * 1000 + millis - offset;
    days_from_civil(year, month, day)
        .checked_mul(MILLIS_PER_DAY)?
        .checked_add(time)
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Parses `text` by a compiled Joda-Time pattern; the whole text must match.
fn parse_pattern(tokens: &[Token], text: &str) -> Option<i64> {
    let mut c = Cursor {
        bytes: text.as_bytes(),
        pos: 0,
    };
    let (mut year, mut month, mut day, mut hour, mut minute, mut second, mut millis) =
        (1970, 1, 1, 0, 0, 0, 0);
    let mut pm: Option<bool> = None;
    let mut offset = 0;
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Literal(literal) => {
                let rest = &c.bytes[c.pos..];
                if !rest.starts_with(literal.as_bytes()) {
                    return None;
                }
                c.pos += literal.len();
            }
            Token::Number(field, count) => {
                // Adjacent numeric fields (`yyyyMMdd`) take exactly their width.
                let adjacent = matches!(tokens.get(i + 1), Some(Token::Number(..)));
                let (min, max) = match (field, adjacent) {
                    (_, true) => (*count, *count),
                    (Field::Year, false) => (1, 9),
                    (Field::Fraction, false) => (1, 9),
                    (_, false) => (1, (*count).max(2)),
                };
                let negative = *field == Field::Year && c.eat(b'-');
                let (value, n) = c.digits(min, max)?;
                match field {
                    Field::Year => year = if negative { -value } else { value },
                    Field::Month => month = value,
                    Field::Day => day = value,
                    Field::Hour | Field::ClockHour => hour = value,
                    Field::Minute => minute = value,
                    Field::Second => second = value,
                    Field::Fraction => millis = fraction_millis(value, n),
                }
            }
            Token::MonthName => {
                let rest = text.get(c.pos..)?;
                let (index, len) = MONTHS.iter().enumerate().find_map(|(i, name)| {
                    let full = rest
                        .get(..name.len())
                        .filter(|r| r.eq_ignore_ascii_case(name))
                        .map(|_| name.len());
                    full.or_else(|| {
                        rest.get(..3)
                            .filter(|r| r.eq_ignore_ascii_case(&name[..3]))
                            .map(|_| 3)
                    })
                    .map(|len| (i, len))
                })?;
                month = i64::try_from(index).ok()? + 1;
                c.pos += len;
            }
            Token::DayName => {
                let start = c.pos;
                while c.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
                    c.pos += 1;
                }
                if c.pos == start {
                    return None;
                }
            }
            Token::HalfDay => {
                let rest = c.bytes.get(c.pos..c.pos + 2)?;
                pm = Some(if rest.eq_ignore_ascii_case(b"pm") {
                    true
                } else if rest.eq_ignore_ascii_case(b"am") {
                    false
                } else {
                    return None;
                });
                c.pos += 2;
            }
            Token::Offset => offset = c.offset()?,
        }
    }
    if !c.at_end() {
        return None;
    }
    if let Some(pm) = pm {
        if !(1..=12).contains(&hour) {
            return None;
        }
        hour = hour % 12 + if pm { 12 } else { 0 };
    }
    to_millis(year, month, day, hour, minute, second, millis, offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn s(text: &str) -> Json<'_> {
        Json::Str(Cow::Borrowed(text))
    }

    const T: i64 = 1_518_033_528_000; // 2018-02-07T19:58:48Z

    #[test]
    fn openx_formats() {
        let p = TimestampParsing::OpenX;
        assert_eq!(p.parse(&s("2018-02-07T19:58:48Z")), Ok(T));
        assert_eq!(p.parse(&s("2018-02-07T19:58:48.39256Z")), Ok(T + 392));
        assert_eq!(p.parse(&s("2018-02-07T20:58:48+01:00")), Ok(T));
        assert_eq!(p.parse(&s("2018-02-07T18:58:48-0100")), Ok(T));
        assert_eq!(p.parse(&s("2018-02-07 19:58:48")), Ok(T));
        assert_eq!(p.parse(&s("2018-2-7 19:58:48.1")), Ok(T + 100));
        assert_eq!(p.parse(&Json::Int(1_518_033_528)), Ok(T));
        assert_eq!(p.parse(&Json::Int(1_518_033_528_123)), Ok(T + 123));
        assert_eq!(p.parse(&Json::Float(1_518_033_528.123)), Ok(T + 123));
        assert_eq!(p.parse(&s("1518033528")), Ok(T));
        assert_eq!(p.parse(&s("1518033528123")), Ok(T + 123));
        assert_eq!(p.parse(&s("1970-01-01 00:00:00")), Ok(0));
        assert_eq!(p.parse(&s("1969-12-31 23:59:59.5")), Ok(-500));
        for bad in [
            "2018-02-30 00:00:00",
            "2018-02-07",
            "yesterday",
            "2018-02-07 25:00:00",
            "2018-02-07T19:58:48Zx",
            "",
        ] {
            let e = p.parse(&s(bad)).unwrap_err();
            assert!(e.contains("to timestamp"), "{bad}: {e}");
        }
        assert_eq!(p.parse(&Json::Int(-1)), Ok(-1000));
        assert!(p.parse(&Json::UInt(u64::MAX)).is_err());
        assert!(p.parse(&Json::Bool(true)).is_err());
    }

    #[test]
    fn hive_default_is_timestamp_value_of() {
        let p = TimestampParsing::Hive(Vec::new());
        assert_eq!(p.parse(&s("2018-02-07 19:58:48.000")), Ok(T));
        assert!(p.parse(&s("2018-02-07T19:58:48Z")).is_err());
        assert!(p.parse(&Json::Int(1_518_033_528)).is_err());
    }

    #[test]
    fn hive_formats() {
        let formats = [
            "millis",
            "dd/MM/yyyy HH:mm:ss Z",
            "yyyyMMdd'T'HHmmss",
            "MMM d, yyyy h:mm a",
            "EEE, dd MMM yyyy HH:mm:ss.SSS",
        ];
        let compiled = formats
            .iter()
            .map(|f| TimestampFormat::compile(f))
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let p = TimestampParsing::Hive(compiled);
        assert_eq!(p.parse(&Json::Int(T)), Ok(T));
        assert_eq!(p.parse(&s("1518033528000")), Ok(T));
        assert_eq!(p.parse(&s("07/02/2018 20:58:48 +0100")), Ok(T));
        assert_eq!(p.parse(&s("20180207T195848")), Ok(T));
        assert_eq!(p.parse(&s("Feb 7, 2018 7:58 PM")), Ok(T - 48_000));
        assert_eq!(
            p.parse(&s("feb 7, 2018 12:00 am")),
            Ok(T - (19 * 3600 + 58 * 60 + 48) * 1000)
        );
        assert_eq!(
            p.parse(&s("Wed, 07 February 2018 19:58:48.250")),
            Ok(T + 250)
        );
        assert_eq!(
            p.parse(&s("2018-02-07 19:58:48")),
            Ok(T),
            "falls back to Timestamp.valueOf"
        );
        assert!(p.parse(&s("07/02/2018")).is_err());
        assert!(p.parse(&Json::Float(1.5)).is_err());
    }

    #[test]
    fn unsupported_patterns() {
        let e = TimestampFormat::compile("yyyy-ww").unwrap_err();
        assert!(e.contains("'yyyy-ww'") && e.contains("'w'"), "{e}");
        assert!(TimestampFormat::compile("yyyy 'T").is_err());
        assert!(TimestampFormat::compile("hh:mm").is_err());
        assert_eq!(
            TimestampFormat::compile("yyyy''MM").unwrap(),
            TimestampFormat::Pattern(vec![
                Token::Number(Field::Year, 4),
                Token::Literal("'".into()),
                Token::Number(Field::Month, 2)
            ])
        );
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Ok(0));
        assert_eq!(parse_date("2000-3-1"), Ok(11_017));
        assert_eq!(parse_date("1969-12-31"), Ok(-1));
        assert_eq!(parse_date("2024-02-29"), Ok(19_782));
        assert!(parse_date("2023-02-29").is_err());
        assert!(parse_date("2023-02-01T00:00:00").is_err());
        let e = parse_date("soon").unwrap_err();
        assert_eq!(
            e,
            "cannot convert string \"soon\" to date (expected yyyy-MM-dd)"
        );
    }
}
