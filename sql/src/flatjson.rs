//! The fast path of JSON decoding: records that are flat objects whose projected
//! members are top-level scalars, scanned once without a tape, straight into Arrow
//! builders. It takes only what it can read exactly as arrow-json would (strict JSON,
//! strings without escapes, numbers that fit the column); on anything else it gives
//! up for the whole batch and the caller decodes it with arrow-json, so the results
//! are the same either way.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Float32Builder, Float64Builder, Int32Builder,
    Int64Builder, StringArray,
};

use crate::catalog::{ColumnType, TableDef};

/// Deepest nesting a skipped value may have before the fast path gives up.
const MAX_DEPTH: u32 = 64;

/// Which declared columns the fast path fills, and from which member.
#[derive(Debug, Clone)]
pub struct FlatPlan {
    /// (index into the declaration, member name, type).
    cols: Vec<(usize, Vec<u8>, ColumnType)>,
}

/// One member's value, as read for its column.
#[derive(Debug, Clone, Copy)]
enum Cell<'a> {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    /// The bytes of a string's content or a number's text: ASCII or, the record
    /// being valid UTF-8 and the span cut at ASCII delimiters, UTF-8 (checked again,
    /// once per column, when the column is finished).
    Text(&'a [u8]),
}

/// A column being built.
enum Builder {
    I32(Int32Builder),
    I64(Int64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Bool(BooleanBuilder),
    /// Bytes of strings, made a `StringArray` (one UTF-8 check of all values) when
    /// finished.
    Str(BinaryBuilder),
}

impl Builder {
    fn new(ty: ColumnType, n: usize) -> Builder {
        match ty {
            ColumnType::Int => Builder::I32(Int32Builder::with_capacity(n)),
            ColumnType::Bigint => Builder::I64(Int64Builder::with_capacity(n)),
            ColumnType::Real => Builder::F32(Float32Builder::with_capacity(n)),
            ColumnType::Double => Builder::F64(Float64Builder::with_capacity(n)),
            ColumnType::Boolean => Builder::Bool(BooleanBuilder::with_capacity(n)),
            _ => Builder::Str(BinaryBuilder::with_capacity(n, n * 8)),
        }
    }

    /// Appends a cell already checked against the column's type.
    fn append(&mut self, c: Cell<'_>) {
        match (self, c) {
            (Builder::I32(b), Cell::Int(v)) => b.append_option(i32::try_from(v).ok()),
            (Builder::I64(b), Cell::Int(v)) => b.append_value(v),
            (Builder::F32(b), Cell::Float(v)) => b.append_value(v as f32),
            (Builder::F64(b), Cell::Float(v)) => b.append_value(v),
            (Builder::Bool(b), Cell::Bool(v)) => b.append_value(v),
            (Builder::Str(b), Cell::Text(v)) => b.append_value(v),
            (Builder::I32(b), _) => b.append_null(),
            (Builder::I64(b), _) => b.append_null(),
            (Builder::F32(b), _) => b.append_null(),
            (Builder::F64(b), _) => b.append_null(),
            (Builder::Bool(b), _) => b.append_null(),
            (Builder::Str(b), _) => b.append_null(),
        }
    }

    /// The column; `None` if a string column is not UTF-8 after all (never, when its
    /// records were: the caller then falls back to arrow-json).
    fn finish(self) -> Option<ArrayRef> {
        Some(match self {
            Builder::I32(mut b) => Arc::new(b.finish()),
            Builder::I64(mut b) => Arc::new(b.finish()),
            Builder::F32(mut b) => Arc::new(b.finish()),
            Builder::F64(mut b) => Arc::new(b.finish()),
            Builder::Bool(mut b) => Arc::new(b.finish()),
            Builder::Str(mut b) => Arc::new(StringArray::try_from_binary(b.finish()).ok()?),
        })
    }
}

impl FlatPlan {
    /// The plan for the declared columns `wanted`; `None` when one is nested or of a
    /// type the fast path leaves to arrow-json (timestamps, dates).
    pub fn new(def: &TableDef, wanted: &[usize]) -> Option<FlatPlan> {
        let mut cols = Vec::with_capacity(wanted.len());
        for &c in wanted {
            let col = def.columns.get(c)?;
            let [name] = col.path.as_slice() else {
                return None;
            };
            if matches!(col.ty, ColumnType::Timestamp | ColumnType::Date) {
                return None;
            }
            cols.push((c, name.as_bytes().to_vec(), col.ty));
        }
        Some(FlatPlan { cols })
    }

    /// The columns of `docs`, by index into the declaration; `None` when a record
    /// needs arrow-json.
    pub fn decode<'a>(
        &self,
        docs: impl ExactSizeIterator<Item = &'a [u8]>,
    ) -> Option<Vec<(usize, ArrayRef)>> {
        let n = docs.len();
        let mut builders: Vec<Builder> = self.cols.iter().map(|c| Builder::new(c.2, n)).collect();
        let mut cells: Vec<Cell<'a>> = vec![Cell::Null; self.cols.len()];
        for doc in docs {
            cells.iter_mut().for_each(|c| *c = Cell::Null);
            if looks_like_object(doc) {
                self.record(doc, &mut cells)?;
            }
            for (b, &c) in builders.iter_mut().zip(&cells) {
                b.append(c);
            }
        }
        self.cols
            .iter()
            .zip(builders)
            .map(|(c, b)| Some((c.0, b.finish()?)))
            .collect()
    }

    /// Reads one object's wanted members into `cells`.
    fn record<'a>(&self, doc: &'a [u8], cells: &mut [Cell<'a>]) -> Option<()> {
        // Valid UTF-8, as arrow-json wants (ASCII checked word by word first).
        if !ascii(doc) && std::str::from_utf8(doc).is_err() {
            return None;
        }
        let b = doc;
        let mut i = ws(b, 0);
        if b.get(i) != Some(&b'{') {
            return None;
        }
        i = ws(b, i + 1);
        if b.get(i) == Some(&b'}') {
            i += 1;
        } else {
            loop {
                let (ks, ke) = string(b, i)?;
                let key = b.get(ks..ke)?;
                i = ws(b, ke + 1);
                if b.get(i) != Some(&b':') {
                    return None;
                }
                i = ws(b, i + 1);
                let mut end = None;
                for (k, (_, name, ty)) in self.cols.iter().enumerate() {
                    if name.len() == key.len()
                        && name.first() == key.first()
                        && name.as_slice() == key
                    {
                        let (cell, e) = value(b, i, *ty)?;
                        if let Some(slot) = cells.get_mut(k) {
                            *slot = cell;
                        }
                        end = Some(e);
                    }
                }
                i = match end {
                    Some(e) => e,
                    None => skip(b, i, 0)?,
                };
                i = ws(b, i);
                match b.get(i) {
                    Some(b',') => i = ws(b, i + 1),
                    Some(b'}') => {
                        i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        (ws(b, i) == b.len()).then_some(())
    }
}

/// Whether `b` is ASCII: words OR-ed together, then the tail (`<[u8]>::is_ascii`
/// walks up to 63 trailing bytes one at a time, most of a ~100-byte record).
fn ascii(b: &[u8]) -> bool {
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut words = b.chunks_exact(8);
    let mut acc = 0u64;
    for w in &mut words {
        let mut x = [0u8; 8];
        x.copy_from_slice(w);
        acc |= u64::from_ne_bytes(x);
    }
    let mut tail = [0u8; 8];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    (acc | u64::from_ne_bytes(tail)) & HIGHS == 0
}

/// What the slow path also checks before decoding: trimmed, `{` ... `}`.
pub fn looks_like_object(d: &[u8]) -> bool {
    let t = d.trim_ascii();
    t.first() == Some(&b'{') && t.last() == Some(&b'}')
}

#[inline]
fn ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// A string without escapes at `i` (its opening quote): the span of its content.
#[inline]
fn string(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let rest = b.get(i + 1..)?;
    let off = quote_or_backslash(rest)?;
    if rest.get(off) != Some(&b'"') {
        return None;
    }
    Some((i + 1, i + 1 + off))
}

/// The first `"` or `\\` of `b`, eight bytes at a time (inlined: most strings here are
/// short, where a SIMD search's setup costs more than it saves).
fn quote_or_backslash(b: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let has = |w: u64, c: u8| {
        let x = w ^ (ONES * u64::from(c));
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    let mut at = 0;
    for chunk in b.chunks_exact(8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let w = u64::from_ne_bytes(w);
        if has(w, b'"') | has(w, b'\\') != 0 {
            break;
        }
        at += 8;
    }
    b.get(at..)?
        .iter()
        .position(|&c| c == b'"' || c == b'\\')
        .map(|p| at + p)
}

/// An optional `-` and at most 18 digits (a number [`number`] accepted as an integer):
/// its value, without the general parser; `None` for longer ones.
#[inline]
fn short_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix(b"-") {
        Some(t) => (true, t),
        None => (false, s),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(if neg { -v } else { v })
}

/// A decimal `digits[.digits]` of at most 15 significant digits, exactly (as the
/// quotient of two exact doubles: Clinger's fast path); `None` otherwise.
#[inline]
fn simple_f64(s: &[u8]) -> Option<f64> {
    let (neg, t) = match s.strip_prefix(b"-") {
        Some(t) => (true, t),
        None => (false, s),
    };
    let mut m: u64 = 0;
    let mut digits = 0;
    let mut frac = None;
    for (i, &c) in t.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                m = m * 10 + u64::from(c - b'0');
                digits += 1;
                if digits > 15 {
                    return None;
                }
            }
            b'.' if frac.is_none() => frac = Some(t.len() - i - 1),
            _ => return None,
        }
    }
    let pow = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let v = m as f64 / pow.get(frac.unwrap_or(0))?;
    Some(if neg { -v } else { v })
}

/// A strict JSON number at `i`: its end and whether it is an integer.
#[inline]
fn number(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let digits = |b: &[u8], mut i: usize| {
        let s = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (i > s).then_some(i)
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    let first = *b.get(i)?;
    i = if first == b'0' {
        i + 1
    } else if first.is_ascii_digit() {
        digits(b, i)?
    } else {
        return None;
    };
    let mut int = true;
    if b.get(i) == Some(&b'.') {
        i = digits(b, i + 1)?;
        int = false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(b, i)?;
        int = false;
    }
    Some((i, int))
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    (b.get(i..i + word.len())? == word).then_some(i + word.len())
}

/// A wanted member's value at `i`, read for a column of type `ty`: the cell and its
/// end. `None` where arrow-json would read it differently or fail.
#[inline(always)]
fn value(b: &[u8], i: usize, ty: ColumnType) -> Option<(Cell<'_>, usize)> {
    let text = |s: usize, e: usize| b.get(s..e);
    match (*b.get(i)?, ty) {
        (b'n', _) => Some((Cell::Null, literal(b, i, b"null")?)),
        (b't', ColumnType::Boolean) => Some((Cell::Bool(true), literal(b, i, b"true")?)),
        (b'f', ColumnType::Boolean) => Some((Cell::Bool(false), literal(b, i, b"false")?)),
        (b't', ColumnType::Varchar) => Some((Cell::Text(b"true"), literal(b, i, b"true")?)),
        (b'f', ColumnType::Varchar) => Some((Cell::Text(b"false"), literal(b, i, b"false")?)),
        (b'"', ColumnType::Varchar) => {
            let (s, e) = string(b, i)?;
            Some((Cell::Text(text(s, e)?), e + 1))
        }
        (c, ty) if c == b'-' || c.is_ascii_digit() => {
            let (e, int) = number(b, i)?;
            let s = text(i, e)?;
            let cell = match ty {
                ColumnType::Varchar => Cell::Text(s),
                ColumnType::Bigint if int => Cell::Int(match short_i64(s) {
                    Some(v) => v,
                    None => utf8(s)?.parse().ok()?,
                }),
                ColumnType::Int if int => Cell::Int(i64::from(utf8(s)?.parse::<i32>().ok()?)),
                ColumnType::Double => match simple_f64(s) {
                    Some(v) => Cell::Float(v),
                    None => Cell::Float(finite(utf8(s)?.parse().ok()?)?),
                },
                ColumnType::Real => Cell::Float(finite(f64::from(utf8(s)?.parse::<f32>().ok()?))?),
                _ => return None,
            };
            Some((cell, e))
        }
        _ => None,
    }
}

/// A number's text as a `str`, for the general parsers.
fn utf8(s: &[u8]) -> Option<&str> {
    std::str::from_utf8(s).ok()
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Skips a value at `i`; its end.
fn skip(b: &[u8], i: usize, depth: u32) -> Option<usize> {
    if depth > MAX_DEPTH {
        return None;
    }
    match *b.get(i)? {
        b'"' => string(b, i).map(|(_, e)| e + 1),
        b'{' => {
            let mut i = ws(b, i + 1);
            if b.get(i) == Some(&b'}') {
                return Some(i + 1);
            }
            loop {
                let (_, ke) = string(b, i)?;
                i = ws(b, ke + 1);
                if b.get(i) != Some(&b':') {
                    return None;
                }
                i = ws(b, skip(b, ws(b, i + 1), depth + 1)?);
                match b.get(i) {
                    Some(b',') => i = ws(b, i + 1),
                    Some(b'}') => return Some(i + 1),
                    _ => return None,
                }
            }
        }
        b'[' => {
            let mut i = ws(b, i + 1);
            if b.get(i) == Some(&b']') {
                return Some(i + 1);
            }
            loop {
                i = ws(b, skip(b, i, depth + 1)?);
                match b.get(i) {
                    Some(b',') => i = ws(b, i + 1),
                    Some(b']') => return Some(i + 1),
                    _ => return None,
                }
            }
        }
        b't' => literal(b, i, b"true"),
        b'f' => literal(b, i, b"false"),
        b'n' => literal(b, i, b"null"),
        _ => number(b, i).map(|(e, _)| e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{ColumnDef, Format};
    use datafusion::arrow::array::{Array, BooleanArray, Float64Array, Int64Array, StringArray};

    fn def() -> TableDef {
        let col = |name: &str, ty| ColumnDef {
            name: name.into(),
            ty,
            path: vec![name.into()],
        };
        TableDef {
            name: "t".into(),
            stream: "s".into(),
            format: Format::Json,
            delimiter: b',',
            columns: vec![
                col("id", ColumnType::Bigint),
                col("k", ColumnType::Varchar),
                col("v", ColumnType::Double),
                col("ok", ColumnType::Boolean),
            ],
            watermark: None,
        }
    }

    #[test]
    fn fast_helpers_agree_with_std() {
        for s in [
            "0",
            "-0",
            "12.34",
            "-1.5",
            "123456789012345",
            "0.1",
            "9.99999999999999",
            "3.14159",
        ] {
            assert_eq!(
                simple_f64(s.as_bytes()),
                Some(s.parse::<f64>().unwrap()),
                "{s}"
            );
        }
        assert_eq!(simple_f64(b"-0").map(f64::is_sign_negative), Some(true));
        assert_eq!(simple_f64(b"1234567890123456"), None);
        for s in [
            &b"abcdefghij\"k"[..],
            b"\"",
            b"0123456789abcdef\\",
            b"xx",
            b"01234567\"",
        ] {
            let want = s.iter().position(|&c| c == b'"' || c == b'\\');
            assert_eq!(quote_or_backslash(s), want, "{s:?}");
        }
        for s in [
            "0",
            "-0",
            "7",
            "-42",
            "123456789012345678",
            "-999999999999999999",
        ] {
            assert_eq!(
                short_i64(s.as_bytes()),
                Some(s.parse::<i64>().unwrap()),
                "{s}"
            );
        }
        // Longer than 18 digits, or not digits: left to the general parser.
        for s in [
            "9223372036854775807",
            "1234567890123456789",
            "",
            "-",
            "1.5",
            "+1",
        ] {
            assert_eq!(short_i64(s.as_bytes()), None, "{s}");
        }
    }

    #[test]
    fn flat_records_decode_and_the_rest_falls_back() {
        let plan = FlatPlan::new(&def(), &[0, 1, 2, 3]).unwrap();
        let docs: Vec<&[u8]> = vec![
            br#"{"id":1,"k":"a","v":1.5,"ok":true,"pad":"xx","n":{"a":[1,2,{}]}}"#,
            br#" { "k" : 7 , "v" : -2e3 , "id" : null } "#,
            b"not json",
            br#"{}"#,
        ];
        let cols = plan.decode(docs.into_iter()).unwrap();
        let id = cols[0].1.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(id.value(0), 1);
        assert!(id.is_null(1) && id.is_null(2) && id.is_null(3));
        let k = cols[1].1.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!((k.value(0), k.value(1)), ("a", "7"));
        let v = cols[2].1.as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!((v.value(0), v.value(1)), (1.5, -2000.0));
        let ok = cols[3].1.as_any().downcast_ref::<BooleanArray>().unwrap();
        assert!(ok.value(0) && ok.is_null(1));
        for bad in [
            &br#"{"id":"7"}"#[..],
            br#"{"id":1.0}"#,
            br#"{"k":"a\"b"}"#,
            br#"{"id":1}{"id":2}"#,
            br#"{"id":1,}"#,
            br#"{"id":99999999999999999999}"#,
            br#"{"ok":1}"#,
            br#"{"x":01}"#,
        ] {
            assert!(plan.decode(std::iter::once(bad)).is_none(), "{bad:?}");
        }
        let nested = TableDef {
            columns: vec![ColumnDef {
                name: "c".into(),
                ty: ColumnType::Varchar,
                path: vec!["a".into(), "c".into()],
            }],
            ..def()
        };
        assert!(FlatPlan::new(&nested, &[0]).is_none());
    }
}
