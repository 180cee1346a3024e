//! Coercion of JSON values to Hive column types, as the OpenX and Hive JSON SerDes do:
//! a value becomes a [`Cell`] ready to append, or an error saying why it cannot.

use std::borrow::Cow;

use super::json::{shorten, Json};
use super::schema::{Column, HiveType};
use super::time::{parse_date, TimestampParsing};

/// A value coerced to its column's type, ready to append (it cannot fail any more).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell<'a> {
    /// NULL.
    Null,
    /// A `boolean`.
    Bool(bool),
    /// A `tinyint`, `smallint`, `int` or `bigint`, already range-checked.
    Int(i64),
    /// A `float` or `double`.
    Float(f64),
    /// A `decimal`'s unscaled value.
    Decimal(i128),
    /// A `date`: days since 1970-01-01.
    Date(i32),
    /// A `timestamp`: milliseconds since 1970-01-01 00:00:00.
    Timestamp(i64),
    /// A `string`, `varchar` or `char`.
    Str(Cow<'a, str>),
    /// A `binary`.
    Binary(Vec<u8>),
    /// An `array`.
    List(Vec<Cell<'a>>),
    /// A `map`: keys never NULL.
    Map(Vec<(Cell<'a>, Cell<'a>)>),
    /// A `struct`: one cell per field.
    Struct(Vec<Cell<'a>>),
}

/// How JSON keys are matched to column and field names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyMatching {
    /// Compare lower-cased keys (OpenX `CaseInsensitive`, default true; always for Hive).
    pub case_insensitive: bool,
    /// Read `.` in keys as `_` (OpenX `ConvertDotsInJsonKeysToUnderscores`).
    pub dots_to_underscores: bool,
}

impl KeyMatching {
    /// `key` as it is compared to the (equally normalized) names: lower-cased when case
    /// insensitive, dots made underscores when asked. Borrowed when nothing changes.
    pub(crate) fn normalize<'k>(&self, key: &'k str) -> Cow<'k, str> {
        if !self.needs_normalizing(key) {
            return Cow::Borrowed(key);
        }
        let mut out = String::with_capacity(key.len());
        self.normalize_into(key, &mut out);
        Cow::Owned(out)
    }

    /// Whether normalizing may change `key` (a quick byte scan).
    pub(crate) fn needs_normalizing(&self, key: &str) -> bool {
        key.bytes().any(|b| {
            (self.case_insensitive && (b.is_ascii_uppercase() || !b.is_ascii()))
                || (self.dots_to_underscores && b == b'.')
        })
    }

    /// Writes the normalized `key` into `out` (cleared first).
    pub(crate) fn normalize_into(&self, key: &str, out: &mut String) {
        out.clear();
        for c in key.chars() {
            if self.dots_to_underscores && c == '.' {
                out.push('_');
            } else if self.case_insensitive {
                out.extend(c.to_lowercase());
            } else {
                out.push(c);
            }
        }
    }

    /// Whether `key`, normalized, equals `normalized_name`, without allocating.
    pub(crate) fn matches(&self, key: &str, normalized_name: &str) -> bool {
        let mut name = normalized_name.chars();
        for c in key.chars() {
            if self.dots_to_underscores && c == '.' {
                if name.next() != Some('_') {
                    return false;
                }
            } else if self.case_insensitive {
                for l in c.to_lowercase() {
                    if name.next() != Some(l) {
                        return false;
                    }
                }
            } else if name.next() != Some(c) {
                return false;
            }
        }
        name.next().is_none()
    }
}

/// What coercion needs besides the value and the type.
pub(crate) struct Coercer<'c> {
    /// Key matching for the fields of structs.
    pub keys: &'c KeyMatching,
    /// How timestamps are read.
    pub timestamps: &'c TimestampParsing,
}

impl Coercer<'_> {
    /// Coerces `value` to `ty`. `fields` holds the normalized names of a struct's fields
    /// (see [`NormalizedFields`]).
    pub(crate) fn coerce<'a>(
        &self,
        value: Json<'a>,
        ty: &HiveType,
        names: &NormalizedFields,
    ) -> Result<Cell<'a>, String> {
        if matches!(value, Json::Null) {
            return Ok(Cell::Null);
        }
        match ty {
            HiveType::Boolean => boolean(&value).map(Cell::Bool),
            HiveType::TinyInt => integer(&value, i8::MIN.into(), i8::MAX.into(), ty).map(Cell::Int),
            HiveType::SmallInt => {
                integer(&value, i16::MIN.into(), i16::MAX.into(), ty).map(Cell::Int)
            }
            HiveType::Int => integer(&value, i32::MIN.into(), i32::MAX.into(), ty).map(Cell::Int),
            HiveType::BigInt => integer(&value, i64::MIN, i64::MAX, ty).map(Cell::Int),
            HiveType::Float | HiveType::Double => floating(&value, ty).map(Cell::Float),
            HiveType::Decimal { precision, scale } => {
                decimal(&value, *precision, *scale).map(Cell::Decimal)
            }
            HiveType::String => Ok(Cell::Str(text(value))),
            HiveType::Varchar(n) | HiveType::Char(n) => Ok(Cell::Str(truncate(text(value), *n))),
            HiveType::Date => match &value {
                Json::Str(s) => parse_date(s).map(Cell::Date),
                other => Err(cannot(other, ty)),
            },
            HiveType::Timestamp => self.timestamps.parse(&value).map(Cell::Timestamp),
            HiveType::Binary => binary(&value).map(Cell::Binary),
            HiveType::Array(element) => {
                let Json::Array(items) = value else {
                    return Err(cannot(&value, ty));
                };
                let element_names = names.child(0);
                let mut cells = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    cells.push(
                        self.coerce(item, element, element_names)
                            .map_err(|e| format!("element {i}: {e}"))?,
                    );
                }
                Ok(Cell::List(cells))
            }
            HiveType::Map(key_ty, value_ty) => {
                let Json::Object(members) = value else {
                    return Err(cannot(&value, ty));
                };
                let value_names = names.child(1);
                let mut entries = Vec::with_capacity(members.len());
                for (key, item) in members {
                    let key_cell = self
                        .coerce(Json::Str(key.clone()), key_ty, &NormalizedFields::NONE)
                        .map_err(|e| format!("key {:?}: {e}", shorten(&key, 48)))?;
                    let value_cell = self
                        .coerce(item, value_ty, value_names)
                        .map_err(|e| format!("key {:?}: {e}", shorten(&key, 48)))?;
                    entries.push((key_cell, value_cell));
                }
                Ok(Cell::Map(entries))
            }
            HiveType::Struct(fields) => {
                let Json::Object(members) = value else {
                    return Err(cannot(&value, ty));
                };
                let mut slots: Vec<Json<'a>> = vec![Json::Null; fields.len()];
                for (key, item) in members {
                    if let Some(i) = names.names.iter().position(|n| self.keys.matches(&key, n)) {
                        slots[i] = item;
                    }
                }
                let mut cells = Vec::with_capacity(fields.len());
                for (i, (slot, field)) in slots.into_iter().zip(fields).enumerate() {
                    let cell = self
                        .coerce(slot, &field.ty, names.child(i))
                        .map_err(|e| format!("field '{}': {e}", field.name))?;
                    cells.push(cell);
                }
                Ok(Cell::Struct(cells))
            }
        }
    }
}

/// The normalized names of a type's struct fields, nested like the type: a struct's
/// `names` and one child per field; an array's one child (its element); a map's two
/// children (key, value).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct NormalizedFields {
    /// The normalized field names (structs only).
    pub names: Vec<String>,
    /// The children, as described above.
    pub children: Vec<NormalizedFields>,
}

impl NormalizedFields {
    /// The empty tree, for types with no struct inside.
    pub(crate) const NONE: NormalizedFields = NormalizedFields {
        names: Vec::new(),
        children: Vec::new(),
    };

    /// The tree of `ty` under `keys`.
    pub(crate) fn of(ty: &HiveType, keys: &KeyMatching) -> NormalizedFields {
        match ty {
            HiveType::Array(element) => NormalizedFields {
                names: Vec::new(),
                children: vec![Self::of(element, keys)],
            },
            HiveType::Map(key, value) => NormalizedFields {
                names: Vec::new(),
                children: vec![Self::of(key, keys), Self::of(value, keys)],
            },
            HiveType::Struct(fields) => NormalizedFields {
                names: fields
                    .iter()
                    .map(|f| keys.normalize(&f.name).into_owned())
                    .collect(),
                children: fields.iter().map(|f| Self::of(&f.ty, keys)).collect(),
            },
            _ => NormalizedFields::NONE,
        }
    }

    /// The `i`th child, or the empty tree.
    fn child(&self, i: usize) -> &NormalizedFields {
        static EMPTY: NormalizedFields = NormalizedFields::NONE;
        self.children.get(i).unwrap_or(&EMPTY)
    }
}

/// The normalized names of a table's columns, for [`NormalizedFields`] of a struct.
pub(crate) fn column_fields(columns: &[Column], keys: &KeyMatching) -> Vec<NormalizedFields> {
    columns
        .iter()
        .map(|c| NormalizedFields::of(&c.ty, keys))
        .collect()
}

/// The message for a value that `ty` cannot hold.
pub(crate) fn cannot(value: &Json, ty: &HiveType) -> String {
    format!("cannot convert {} to {ty}", value.describe())
}

fn boolean(value: &Json) -> Result<bool, String> {
    match value {
        Json::Bool(b) => Ok(*b),
        Json::Str(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Json::Str(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(cannot(other, &HiveType::Boolean)),
    }
}

/// An integer in `min..=max`: a JSON integer, or a string of one (decimal, or hex after
/// `0x`, as OpenX's `ParsePrimitiveUtils`).
fn integer(value: &Json, min: i64, max: i64, ty: &HiveType) -> Result<i64, String> {
    let parsed = match value {
        Json::Int(i) => Some(*i),
        Json::Str(s) => parse_integer(s),
        _ => None,
    };
    match parsed {
        Some(i) if (min..=max).contains(&i) => Ok(i),
        Some(_) => Err(format!("{} is out of range for {ty}", value.describe())),
        None if matches!(value, Json::UInt(_)) => {
            Err(format!("{} is out of range for {ty}", value.describe()))
        }
        None => Err(cannot(value, ty)),
    }
}

fn parse_integer(s: &str) -> Option<i64> {
    let (negative, unsigned) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let hex = unsigned
        .strip_prefix("0x")
        .or_else(|| unsigned.strip_prefix("0X"));
    match hex {
        Some(digits) if !digits.starts_with(['+', '-']) => {
            let magnitude = i128::from_str_radix(digits, 16).ok()?;
            i64::try_from(if negative { -magnitude } else { magnitude }).ok()
        }
        Some(_) => None,
        None => s.parse().ok(),
    }
}

fn floating(value: &Json, ty: &HiveType) -> Result<f64, String> {
    match value {
        Json::Int(i) => Ok(*i as f64),
        Json::UInt(u) => Ok(*u as f64),
        Json::Float(f) => Ok(*f),
        Json::Str(s) => s.trim().parse::<f64>().map_err(|_| cannot(value, ty)),
        other => Err(cannot(other, ty)),
    }
}

fn decimal(value: &Json, precision: u8, scale: i8) -> Result<i128, String> {
    let ty = HiveType::Decimal { precision, scale };
    let text: Cow<str> = match value {
        Json::Int(i) => Cow::Owned(i.to_string()),
        Json::UInt(u) => Cow::Owned(u.to_string()),
        Json::Float(_) => Cow::Owned(value.to_json_text()),
        Json::Str(s) => Cow::Borrowed(s.trim()),
        other => return Err(cannot(other, &ty)),
    };
    parse_decimal(&text, precision, scale)
        .map_err(|why| format!("cannot convert {} to {ty}: {why}", value.describe()))
}

/// The unscaled value of decimal text (`-12.345`, `1e3`) at `scale`, rounded half up
/// (as Hive's `HiveDecimal`), or why not: not a number, or more than `precision` digits.
pub(crate) fn parse_decimal(text: &str, precision: u8, scale: i8) -> Result<i128, &'static str> {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) => {
            let exp: i64 = rest[at + 1..].parse().map_err(|_| "not a number")?;
            (&rest[..at], exp)
        }
        None => (rest, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err("not a number");
    }
    // digits × 10^(exponent - frac_len), as unscaled at `scale`: digits × 10^shift.
    let digits: Vec<u8> = int_part
        .bytes()
        .chain(frac_part.bytes())
        .map(|b| b - b'0')
        .skip_while(|&d| d == 0)
        .collect();
    if digits.is_empty() {
        return Ok(0);
    }
    let shift = exponent
        .checked_sub(frac_part.len() as i64)
        .and_then(|s| s.checked_add(i64::from(scale)))
        .ok_or("out of range")?;
    let (kept, round_up) = if shift < 0 {
        let drop = usize::try_from(-shift).unwrap_or(usize::MAX);
        if drop > digits.len() {
            (&digits[..0], false)
        } else {
            let keep = digits.len() - drop;
            (&digits[..keep], digits[keep] >= 5)
        }
    } else {
        (&digits[..], false)
    };
    const TOO_MANY: &str = "more digits than the precision allows";
    let mut unscaled: i128 = 0;
    for &d in kept {
        unscaled = unscaled
            .checked_mul(10)
            .and_then(|v| v.checked_add(i128::from(d)))
            .ok_or(TOO_MANY)?;
    }
    if round_up {
        unscaled += 1;
    }
    if shift > 0 && unscaled != 0 {
        let factor = u32::try_from(shift)
            .ok()
            .and_then(|s| 10_i128.checked_pow(s))
            .ok_or(TOO_MANY)?;
        unscaled = unscaled.checked_mul(factor).ok_or(TOO_MANY)?;
    }
    if unscaled >= 10_i128.pow(u32::from(precision)) {
        return Err(TOO_MANY);
    }
    Ok(if negative { -unscaled } else { unscaled })
}

/// A value as a string column's text: strings themselves, numbers and booleans as their
/// JSON text, arrays and objects as their JSON (as OpenX does).
fn text(value: Json<'_>) -> Cow<'_, str> {
    match value {
        Json::Str(s) => s,
        Json::Bool(true) => Cow::Borrowed("true"),
        Json::Bool(false) => Cow::Borrowed("false"),
        Json::Int(i) => Cow::Owned(i.to_string()),
        other => Cow::Owned(other.to_json_text()),
    }
}

/// `text` cut to at most `n` characters (`varchar(n)`, `char(n)`).
fn truncate(text: Cow<'_, str>, n: u32) -> Cow<'_, str> {
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    match text.char_indices().nth(n) {
        None => text,
        Some((end, _)) => match text {
            Cow::Borrowed(s) => Cow::Borrowed(&s[..end]),
            Cow::Owned(mut s) => {
                s.truncate(end);
                Cow::Owned(s)
            }
        },
    }
}

/// Base64 text (standard alphabet, padded or not) as bytes.
fn binary(value: &Json) -> Result<Vec<u8>, String> {
    let Json::Str(s) = value else {
        return Err(cannot(value, &HiveType::Binary));
    };
    base64_simd::STANDARD
        .decode_to_vec(s.as_bytes())
        .or_else(|_| base64_simd::STANDARD_NO_PAD.decode_to_vec(s.as_bytes()))
        .map_err(|_| format!("cannot convert {} to binary: not base64", value.describe()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coerce<'a>(value: Json<'a>, ty: &HiveType) -> Result<Cell<'a>, String> {
        let keys = KeyMatching {
            case_insensitive: true,
            dots_to_underscores: false,
        };
        let names = NormalizedFields::of(ty, &keys);
        Coercer {
            keys: &keys,
            timestamps: &TimestampParsing::OpenX,
        }
        .coerce(value, ty, &names)
    }

    fn s(text: &str) -> Json<'_> {
        Json::Str(Cow::Borrowed(text))
    }

    #[test]
    fn integers() {
        assert_eq!(coerce(Json::Int(42), &HiveType::Int), Ok(Cell::Int(42)));
        assert_eq!(coerce(s("42"), &HiveType::BigInt), Ok(Cell::Int(42)));
        assert_eq!(coerce(s("-0x1F"), &HiveType::SmallInt), Ok(Cell::Int(-31)));
        assert_eq!(coerce(s("+7"), &HiveType::TinyInt), Ok(Cell::Int(7)));
        assert_eq!(coerce(Json::Null, &HiveType::Int), Ok(Cell::Null));
        let e = coerce(Json::Int(128), &HiveType::TinyInt).unwrap_err();
        assert_eq!(e, "number 128 is out of range for tinyint");
        let e = coerce(s("abc"), &HiveType::Int).unwrap_err();
        assert_eq!(e, "cannot convert string \"abc\" to int");
        assert!(coerce(Json::Float(1.5), &HiveType::BigInt).is_err());
        assert!(coerce(Json::UInt(u64::MAX), &HiveType::BigInt)
            .unwrap_err()
            .contains("out of range"));
        assert!(coerce(Json::Bool(true), &HiveType::Int).is_err());
        assert!(coerce(s(" 1"), &HiveType::Int).is_err());
    }

    #[test]
    fn floats_booleans_strings() {
        assert_eq!(
            coerce(Json::Int(2), &HiveType::Double),
            Ok(Cell::Float(2.0))
        );
        assert_eq!(coerce(s("1.25"), &HiveType::Float), Ok(Cell::Float(1.25)));
        assert_eq!(coerce(s("TRUE"), &HiveType::Boolean), Ok(Cell::Bool(true)));
        assert!(coerce(s("yes"), &HiveType::Boolean).is_err());
        assert!(coerce(Json::Int(1), &HiveType::Boolean).is_err());
        assert_eq!(
            coerce(Json::Int(5), &HiveType::String),
            Ok(Cell::Str("5".into()))
        );
        assert_eq!(
            coerce(Json::Float(0.5), &HiveType::String),
            Ok(Cell::Str("0.5".into()))
        );
        assert_eq!(
            coerce(Json::Bool(false), &HiveType::String),
            Ok(Cell::Str("false".into()))
        );
        let object = Json::Object(vec![("a".into(), Json::Array(vec![Json::Int(1)]))]);
        assert_eq!(
            coerce(object, &HiveType::String),
            Ok(Cell::Str(r#"{"a":[1]}"#.into()))
        );
        assert_eq!(
            coerce(s("héllo"), &HiveType::Varchar(2)),
            Ok(Cell::Str("hé".into()))
        );
        assert_eq!(
            coerce(s("ab"), &HiveType::Char(5)),
            Ok(Cell::Str("ab".into()))
        );
    }

    #[test]
    fn decimals() {
        let d = |p, s| HiveType::Decimal {
            precision: p,
            scale: s,
        };
        assert_eq!(coerce(s("12.345"), &d(5, 2)), Ok(Cell::Decimal(1235)));
        assert_eq!(coerce(s("-12.344"), &d(5, 2)), Ok(Cell::Decimal(-1234)));
        assert_eq!(coerce(Json::Float(0.1), &d(3, 2)), Ok(Cell::Decimal(10)));
        assert_eq!(coerce(Json::Int(7), &d(3, 2)), Ok(Cell::Decimal(700)));
        assert_eq!(coerce(s("1.5e2"), &d(5, 0)), Ok(Cell::Decimal(150)));
        assert_eq!(coerce(s("0.0001"), &d(5, 2)), Ok(Cell::Decimal(0)));
        assert_eq!(coerce(s("0.005"), &d(5, 2)), Ok(Cell::Decimal(1)));
        assert_eq!(coerce(s("000"), &d(5, 2)), Ok(Cell::Decimal(0)));
        assert_eq!(coerce(s(".5"), &d(2, 1)), Ok(Cell::Decimal(5)));
        assert!(coerce(s("1000"), &d(5, 2))
            .unwrap_err()
            .contains("more digits than the precision"));
        assert!(coerce(s("99.995"), &d(4, 2)).is_err());
        assert!(coerce(s("1e99999999999999999999"), &d(5, 2)).is_err());
        assert!(coerce(s("1e-99999999999"), &d(5, 2)).is_ok());
        assert!(coerce(s("abc"), &d(5, 2))
            .unwrap_err()
            .contains("not a number"));
        assert!(coerce(s("."), &d(5, 2)).is_err());
        assert!(coerce(s("1.2.3"), &d(5, 2)).is_err());
        assert_eq!(
            coerce(s("99999999999999999999999999999999999999"), &d(38, 0)),
            Ok(Cell::Decimal(
                99_999_999_999_999_999_999_999_999_999_999_999_999
            ))
        );
        assert!(coerce(s("999999999999999999999999999999999999999"), &d(38, 0)).is_err());
    }

    #[test]
    fn binary_dates_nested() {
        assert_eq!(
            coerce(s("aGk="), &HiveType::Binary),
            Ok(Cell::Binary(b"hi".to_vec()))
        );
        assert_eq!(
            coerce(s("aGk"), &HiveType::Binary),
            Ok(Cell::Binary(b"hi".to_vec()))
        );
        assert!(coerce(s("!!"), &HiveType::Binary).is_err());
        assert_eq!(coerce(s("1970-01-02"), &HiveType::Date), Ok(Cell::Date(1)));
        let ty = HiveType::Array(Box::new(HiveType::Int));
        assert_eq!(
            coerce(Json::Array(vec![Json::Int(1), Json::Null]), &ty),
            Ok(Cell::List(vec![Cell::Int(1), Cell::Null]))
        );
        let e = coerce(Json::Array(vec![Json::Int(1), s("x")]), &ty).unwrap_err();
        assert_eq!(e, "element 1: cannot convert string \"x\" to int");
        let ty = HiveType::Struct(vec![
            Column {
                name: "Id".into(),
                ty: HiveType::Int,
            },
            Column {
                name: "m".into(),
                ty: HiveType::Map(Box::new(HiveType::Int), Box::new(HiveType::String)),
            },
        ]);
        let value = Json::Object(vec![
            ("ID".into(), Json::Int(3)),
            (
                "m".into(),
                Json::Object(vec![("1".into(), s("a")), ("2".into(), Json::Null)]),
            ),
            ("other".into(), Json::Int(0)),
        ]);
        assert_eq!(
            coerce(value, &ty),
            Ok(Cell::Struct(vec![
                Cell::Int(3),
                Cell::Map(vec![
                    (Cell::Int(1), Cell::Str("a".into())),
                    (Cell::Int(2), Cell::Null)
                ])
            ]))
        );
        let value = Json::Object(vec![("m".into(), Json::Object(vec![("x".into(), s("a"))]))]);
        assert_eq!(
            coerce(value, &ty).unwrap_err(),
            "field 'm': key \"x\": cannot convert string \"x\" to int"
        );
    }

    #[test]
    fn key_matching() {
        let ci = KeyMatching {
            case_insensitive: true,
            dots_to_underscores: true,
        };
        assert_eq!(ci.normalize("User.Id"), "user_id");
        assert!(matches!(ci.normalize("user_id"), Cow::Borrowed(_)));
        assert!(ci.matches("User.ID", "user_id"));
        assert!(!ci.matches("User.IDs", "user_id"));
        assert!(!ci.matches("User", "user_id"));
        let exact = KeyMatching {
            case_insensitive: false,
            dots_to_underscores: false,
        };
        assert!(!exact.matches("User", "user"));
        assert!(exact.matches("a.b", "a.b"));
        assert_eq!(exact.normalize("A.b"), "A.b");
    }
}
