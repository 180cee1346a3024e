//! Records to rows of PostgreSQL's COPY TEXT format (tab-separated, `\N` for NULL,
//! backslash, tab, newline and carriage return escaped), one line per row, with the
//! record each line came from. Records the client can tell are unloadable (not UTF-8,
//! not a JSON object, an unclosed quote) are refused here, before the database sees
//! them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use bytes::Bytes;

use super::config::{CopyOptions, Format, TextFormat};
use super::Refused;

/// A column rows are loaded into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Column {
    /// Its name, exactly as the database has it.
    pub name: String,
    /// A character type (`text`, `varchar`, `char`…): `EMPTYASNULL` and the like apply,
    /// and an empty text field loads `''` rather than NULL.
    pub is_string: bool,
    /// `varchar(n)` / `char(n)`: the longest value in characters (for `TRUNCATECOLUMNS`).
    pub max_chars: Option<usize>,
}

/// Encoded data is cut into chunks of about this size (the pieces COPY streams).
const CHUNK_BYTES: usize = 1 << 20;

/// Where one loadable record's rows are.
#[derive(Debug, Clone, Copy)]
struct Rec {
    /// Its index in the batch.
    index: usize,
    /// The chunk holding its rows.
    chunk: usize,
    /// Its rows: `chunks[chunk][start..end]`.
    start: usize,
    end: usize,
}

/// A batch encoded for COPY: the loadable records in batch order (each identified by
/// its position here), their rows, and the records refused before loading.
#[derive(Debug, Default)]
pub(super) struct Encoded {
    chunks: Vec<Bytes>,
    recs: Vec<Rec>,
    /// For each loadable record, the number of COPY lines up to and including its own.
    line_end: Vec<u64>,
    /// Records refused while encoding.
    pub refused: Vec<Refused>,
}

impl Encoded {
    /// The number of loadable records.
    pub fn len(&self) -> usize {
        self.recs.len()
    }

    /// The batch index of the loadable record at `pos`.
    pub fn index(&self, pos: usize) -> usize {
        self.recs[pos].index
    }

    /// The rows of the loadable records `range`, as slices of the encoded chunks.
    pub fn pieces(&self, range: Range<usize>) -> Vec<Bytes> {
        let mut out = Vec::new();
        let recs = &self.recs[range];
        let mut i = 0;
        while i < recs.len() {
            let first = recs[i];
            let mut last = first;
            while i + 1 < recs.len() && recs[i + 1].chunk == first.chunk {
                i += 1;
                last = recs[i];
            }
            i += 1;
            if last.end > first.start {
                out.push(self.chunks[first.chunk].slice(first.start..last.end));
            }
        }
        out
    }

    /// The position (relative to `range.start`) of the record holding `line` (1-based)
    /// of a COPY of the loadable records `range`; `None` when the line is past them.
    pub fn record_at_line(&self, range: Range<usize>, line: u64) -> Option<usize> {
        if line == 0 || range.is_empty() {
            return None;
        }
        let before = if range.start == 0 {
            0
        } else {
            self.line_end[range.start - 1]
        };
        let target = before + line;
        let pos = range.start + self.line_end[range.clone()].partition_point(|&e| e < target);
        (pos < range.end).then(|| pos - range.start)
    }
}

/// Why a record cannot be loaded: a message and the SQLSTATE PostgreSQL would give.
type Refusal = (String, &'static str);

/// Encodes `records` for a COPY into `columns` under `opts`.
pub(super) fn encode(records: &[Bytes], opts: &CopyOptions, columns: &[Column]) -> Encoded {
    let mut enc = Encoder {
        opts,
        columns,
        json_columns: JsonColumns::new(
            columns,
            !matches!(opts.format, Format::Json { ignore_case: false }),
        ),
        buf: Vec::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4),
        field: String::new(),
    };
    let mut out = Encoded::default();
    let mut lines = 0u64;
    for (index, record) in records.iter().enumerate() {
        let start = enc.buf.len();
        match enc.record(record) {
            Ok(n) => {
                lines += n;
                out.recs.push(Rec {
                    index,
                    chunk: out.chunks.len(),
                    start,
                    end: enc.buf.len(),
                });
                out.line_end.push(lines);
            }
            Err((message, sqlstate)) => {
                enc.buf.truncate(start);
                out.refused.push(Refused {
                    index,
                    message,
                    sqlstate: sqlstate.to_string(),
                });
            }
        }
        if enc.buf.len() >= CHUNK_BYTES {
            let full = std::mem::replace(
                &mut enc.buf,
                Vec::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4),
            );
            out.chunks.push(Bytes::from(full));
        }
    }
    if !enc.buf.is_empty() || out.recs.last().is_some_and(|r| r.chunk == out.chunks.len()) {
        out.chunks.push(Bytes::from(std::mem::take(&mut enc.buf)));
    }
    out
}

/// Column lookup by JSON key: exact, or by lower-cased name for `ignorecase`.
struct JsonColumns {
    by_name: HashMap<String, Vec<usize>>,
    ignore_case: bool,
}

impl JsonColumns {
    fn new(columns: &[Column], ignore_case: bool) -> JsonColumns {
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, c) in columns.iter().enumerate() {
            let key = if ignore_case {
                c.name.to_lowercase()
            } else {
                c.name.clone()
            };
            by_name.entry(key).or_default().push(i);
        }
        JsonColumns {
            by_name,
            ignore_case,
        }
    }

    fn lookup(&self, key: &str) -> &[usize] {
        let found =
            if self.ignore_case && !key.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
                self.by_name.get(&key.to_lowercase())
            } else {
                self.by_name.get(key)
            };
        found.map_or(&[], Vec::as_slice)
    }
}

struct Encoder<'a> {
    opts: &'a CopyOptions,
    columns: &'a [Column],
    json_columns: JsonColumns,
    buf: Vec<u8>,
    /// A field being unescaped (text formats).
    field: String,
}

impl Encoder<'_> {
    /// Appends the rows of one record; returns how many.
    fn record(&mut self, record: &[u8]) -> Result<u64, Refusal> {
        let text = match std::str::from_utf8(record) {
            Ok(s) => Cow::Borrowed(s),
            Err(e) => match self.opts.accept_inv_chars {
                Some(replacement) => Cow::Owned(replace_invalid_utf8(record, replacement)),
                None => {
                    return Err((
                        format!(
                            "invalid byte sequence for encoding \"UTF8\": 0x{:02x}",
                            record[e.valid_up_to()]
                        ),
                        "22021",
                    ))
                }
            },
        };
        match &self.opts.format {
            Format::Json { .. } => self.json(&text, false).map(|()| 1),
            Format::Text(fmt) => self.text(&text, fmt),
            Format::Detect => {
                let looks_like_json = text.trim_start().starts_with('{')
                    && serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok();
                if looks_like_json {
                    self.json(&text, true).map(|()| 1)
                } else {
                    self.text(&text, &TextFormat::pipe())
                }
            }
        }
    }

    /// One row from a JSON object: each column takes the member of its name.
    /// `validated`: the text is already known to be valid JSON.
    fn json(&mut self, text: &str, validated: bool) -> Result<(), Refusal> {
        if !validated {
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
                return Err((format!("record is not valid JSON: {e}"), "22P02"));
            }
        }
        let b = text.as_bytes();
        let mut i = skip_ws(b, 0);
        if b.get(i) != Some(&b'{') {
            return Err(("record is not a JSON object".into(), "22P04"));
        }
        let mut slots: Vec<Option<Cow<'_, str>>> = vec![None; self.columns.len()];
        i = skip_ws(b, i + 1);
        while b.get(i) == Some(&b'"') {
            let key_end = string_end(b, i);
            let key = json_string(&text[i..key_end])?;
            i = skip_ws(b, key_end);
            // The ':' (the JSON is valid).
            i = skip_ws(b, i + 1);
            let value_end = value_end(b, i);
            let raw = &text[i..value_end];
            for &col in self.json_columns.lookup(&key) {
                slots[col] = match raw.as_bytes()[0] {
                    b'"' => Some(json_string(raw)?),
                    b'n' => None,
                    _ => Some(Cow::Borrowed(raw)),
                };
            }
            i = skip_ws(b, value_end);
            if b.get(i) == Some(&b',') {
                i = skip_ws(b, i + 1);
            }
        }
        for (col, slot) in slots.iter().enumerate() {
            if col > 0 {
                self.buf.push(b'\t');
            }
            put_value(
                &mut self.buf,
                self.opts,
                self.columns.get(col),
                slot.as_deref(),
                false,
            );
        }
        self.buf.push(b'\n');
        Ok(())
    }

    /// Rows from delimited text (CSV or not): a row per line.
    fn text(&mut self, text: &str, fmt: &TextFormat) -> Result<u64, Refusal> {
        let mut rest = text;
        let mut lines = 0;
        while !rest.is_empty() {
            if self.opts.ignore_blank_lines {
                if let Some(r) = rest
                    .strip_prefix('\n')
                    .or_else(|| rest.strip_prefix("\r\n"))
                {
                    rest = r;
                    continue;
                }
            }
            let mut col = 0;
            loop {
                let field = read_field(rest, fmt, &mut self.field)?;
                if col > 0 {
                    self.buf.push(b'\t');
                }
                let value =
                    (field.quoted || field.raw != self.opts.null_as).then_some(self.field.as_str());
                put_value(&mut self.buf, self.opts, self.columns.get(col), value, true);
                col += 1;
                rest = field.rest;
                if !field.delimited {
                    break;
                }
            }
            if self.opts.fill_record {
                while col < self.columns.len() {
                    self.buf.extend_from_slice(b"\t\\N");
                    col += 1;
                }
            }
            self.buf.push(b'\n');
            lines += 1;
        }
        Ok(lines)
    }
}

/// A text field read by [`read_field`].
struct Field<'a> {
    /// Its text as written (for `NULL AS`).
    raw: &'a str,
    /// It was enclosed in quotes.
    quoted: bool,
    /// A delimiter ended it (more fields follow on the line); else a line end or the
    /// end of the record.
    delimited: bool,
    /// What follows the delimiter or the line end.
    rest: &'a str,
}

/// Reads one field of `s` into `out` (unescaped, unquoted).
fn read_field<'a>(s: &'a str, fmt: &TextFormat, out: &mut String) -> Result<Field<'a>, Refusal> {
    out.clear();
    let mut chars = s.char_indices().peekable();
    let mut quoted = false;
    // CSV: blanks before an opening quote are dropped.
    if let Some(q) = fmt.csv_quote {
        let mut ahead = s.char_indices().peekable();
        while ahead
            .next_if(|&(_, c)| (c == ' ' || c == '\t') && c != fmt.delimiter)
            .is_some()
        {}
        if ahead.peek().map(|&(_, c)| c) == Some(q) {
            chars = ahead;
        }
    }
    let open = match chars.peek() {
        Some(&(_, c)) if Some(c) == fmt.csv_quote => Some(c),
        Some(&(_, c)) if fmt.remove_quotes && (c == '"' || c == '\'') => Some(c),
        _ => None,
    };
    if let Some(q) = open {
        quoted = true;
        chars.next();
        loop {
            match chars.next() {
                None => return Err(("unterminated quoted field".into(), "22P04")),
                Some((_, c)) if c == q => {
                    if fmt.csv_quote.is_some() && chars.next_if(|&(_, n)| n == q).is_some() {
                        out.push(q);
                    } else {
                        break;
                    }
                }
                Some((_, '\\')) if fmt.escape => match chars.next() {
                    Some((_, n)) => out.push(n),
                    None => return Err(("unterminated quoted field".into(), "22P04")),
                },
                Some((_, c)) => out.push(c),
            }
        }
        // CSV: blanks between the closing quote and the delimiter are dropped.
        if fmt.csv_quote.is_some() {
            while chars
                .next_if(|&(_, c)| (c == ' ' || c == '\t') && c != fmt.delimiter)
                .is_some()
            {}
        }
    }
    let mut raw_cr = false;
    let mut raw_end = s.len();
    let mut next = None;
    while let Some((i, c)) = chars.next() {
        if c == fmt.delimiter {
            raw_end = i;
            next = Some((i + c.len_utf8(), true));
            break;
        }
        if c == '\n' {
            raw_end = if raw_cr { i - 1 } else { i };
            if raw_cr {
                out.pop();
            }
            next = Some((i + 1, false));
            break;
        }
        raw_cr = c == '\r';
        if c == '\\' && fmt.escape {
            if let Some((_, n)) = chars.next() {
                out.push(n);
                raw_cr = false;
                continue;
            }
        }
        out.push(c);
    }
    let (rest, delimited) = match next {
        Some((at, delimited)) => (&s[at..], delimited),
        None => ("", false),
    };
    Ok(Field {
        raw: &s[..raw_end],
        quoted,
        delimited,
        rest,
    })
}

/// Appends one field: `\N` for NULL, else the value escaped, after the options that
/// apply to character columns. In `text` mode an empty field of a non-character
/// column is NULL, as Redshift loads it.
fn put_value(
    out: &mut Vec<u8>,
    opts: &CopyOptions,
    column: Option<&Column>,
    value: Option<&str>,
    text: bool,
) {
    let Some(mut v) = value else {
        out.extend_from_slice(b"\\N");
        return;
    };
    match column {
        Some(c) if !c.is_string => {
            if text && v.is_empty() {
                out.extend_from_slice(b"\\N");
                return;
            }
        }
        _ => {
            if opts.trim_blanks {
                v = v.trim_end_matches(' ');
            }
            let blank = !v.is_empty() && v.chars().all(char::is_whitespace);
            if (opts.empty_as_null && v.is_empty()) || (opts.blanks_as_null && blank) {
                out.extend_from_slice(b"\\N");
                return;
            }
            if opts.truncate_columns {
                if let Some(max) = column.and_then(|c| c.max_chars) {
                    if let Some((cut, _)) = v.char_indices().nth(max) {
                        v = &v[..cut];
                    }
                }
            }
        }
    }
    push_escaped(out, v);
}

/// Appends `s` escaped for COPY TEXT: `\\`, `\t`, `\n`, `\r`.
pub(super) fn push_escaped(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => continue,
        };
        out.extend_from_slice(&b[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
}

/// `bytes` with each invalid UTF-8 sequence replaced by `replacement`.
fn replace_invalid_utf8(bytes: &[u8], replacement: char) -> String {
    let mut s = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        s.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            s.push(replacement);
        }
    }
    s
}

// A scanner over JSON already known to be valid.

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The index just past the string opening at `b[i]`.
fn string_end(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// The index just past the value starting at `b[i]`.
fn value_end(b: &[u8], mut i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => string_end(b, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            while i < b.len() {
                match b[i] {
                    b'"' => {
                        i = string_end(b, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            b.len()
        }
        _ => {
            while i < b.len() && !matches!(b[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                i += 1;
            }
            i
        }
    }
}

/// The text of a JSON string literal (with its quotes).
fn json_string(raw: &str) -> Result<Cow<'_, str>, Refusal> {
    let inner = &raw[1..raw.len().saturating_sub(1).max(1)];
    if !inner.contains('\\') {
        return Ok(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(raw)
        .map(Cow::Owned)
        .map_err(|e| (format!("record is not valid JSON: {e}"), "22P02"))
}

#[cfg(test)]
mod tests {
    use super::super::config::parse_copy_options;
    use super::*;

    fn col(name: &str, is_string: bool) -> Column {
        Column {
            name: name.into(),
            is_string,
            max_chars: None,
        }
    }

    fn cols() -> Vec<Column> {
        vec![col("id", false), col("name", true), col("Payload", false)]
    }

    /// The rows encoded for `records`, as text, and the refused indexes.
    fn rows(opts: &str, columns: &[Column], records: &[&[u8]]) -> (String, Vec<(usize, String)>) {
        let opts = parse_copy_options(opts).unwrap();
        let records: Vec<Bytes> = records.iter().map(|r| Bytes::copy_from_slice(r)).collect();
        let e = encode(&records, &opts, columns);
        let text: Vec<u8> = e.pieces(0..e.len()).concat();
        let refused = e
            .refused
            .iter()
            .map(|r| (r.index, r.sqlstate.clone()))
            .collect();
        (String::from_utf8(text).unwrap(), refused)
    }

    #[test]
    fn text_escaping() {
        let mut out = Vec::new();
        push_escaped(&mut out, "a\\b\tc\nd\re|f\u{e9}");
        assert_eq!(out, b"a\\\\b\\tc\\nd\\re|f\xc3\xa9");
        out.clear();
        push_escaped(&mut out, "");
        assert!(out.is_empty());
    }

    #[test]
    fn json_auto_maps_members_to_columns() {
        let (text, refused) = rows(
            "JSON 'auto'",
            &cols(),
            &[
                br#"{"id": 1, "name": "a\tb\\c\n", "Payload": {"x": [1, "}"]}}"#,
                br#"{"name": null, "extra": 5}"#,
                br#" {"id": 2.50, "name": "\u00e9\"", "Payload": true} "#,
                br#"{"ID": 3, "NAME": "upper", "payload": 1}"#,
            ],
        );
        assert_eq!(
            text,
            "1\ta\\tb\\\\c\\n\t{\"x\": [1, \"}\"]}\n\
             \\N\t\\N\t\\N\n\
             2.50\t\u{e9}\"\ttrue\n\
             \\N\t\\N\t\\N\n"
        );
        assert!(refused.is_empty());
    }

    #[test]
    fn json_auto_ignorecase_and_the_default() {
        for opts in ["JSON 'auto ignorecase'", ""] {
            let (text, _) = rows(
                opts,
                &cols(),
                &[br#"{"ID": 3, "NAME": "upper", "payload": [1]}"#],
            );
            assert_eq!(text, "3\tupper\t[1]\n", "{opts}");
        }
        // The default reads a record that is not a JSON object as pipe-delimited text.
        let (text, _) = rows("", &cols(), &[b"7|seven|{x}\n", b"{not json|x|\n"]);
        assert_eq!(text, "7\tseven\t{x}\n{not json\tx\t\\N\n");
    }

    #[test]
    fn json_refusals() {
        let (text, refused) = rows(
            "JSON 'auto'",
            &cols(),
            &[
                b"{\"id\": 1",
                b"[1, 2]",
                b"{\"id\": 1}",
                b"\xff{}",
                b"{\"id\": 2} {\"id\": 3}",
            ],
        );
        assert_eq!(text, "1\t\\N\t\\N\n");
        assert_eq!(
            refused,
            vec![
                (0, "22P02".to_string()),
                (1, "22P04".to_string()),
                (3, "22021".to_string()),
                (4, "22P02".to_string())
            ]
        );
        let (text, refused) = rows(
            "JSON 'auto' ACCEPTINVCHARS",
            &cols(),
            &[b"{\"name\": \"a\xffb\"}"],
        );
        assert_eq!((text.as_str(), refused.len()), ("\\N\ta?b\t\\N\n", 0));
    }

    #[test]
    fn character_column_options() {
        let mut columns = cols();
        columns[1].max_chars = Some(3);
        let (text, _) = rows(
            "JSON 'auto' EMPTYASNULL BLANKSASNULL TRUNCATECOLUMNS",
            &columns,
            &[
                br#"{"name": ""}"#,
                br#"{"name": "  "}"#,
                br#"{"name": "\u00e9t\u00e9s"}"#,
            ],
        );
        assert_eq!(
            text,
            "\\N\t\\N\t\\N\n\\N\t\\N\t\\N\n\\N\t\u{e9}t\u{e9}\t\\N\n"
        );
        let (text, _) = rows(
            "JSON 'auto' TRIMBLANKS",
            &columns,
            &[br#"{"name": "ab  "}"#],
        );
        assert_eq!(text, "\\N\tab\t\\N\n");
    }

    #[test]
    fn delimited_text() {
        // Several lines per record; empty non-character fields are NULL; `\N` is NULL;
        // CRLF line ends; no ESCAPE: backslashes are data.
        let (text, _) = rows(
            "DELIMITER '|'",
            &cols(),
            &[b"1|a|x\r\n2||\\N\n", b"|b\\n|\n", b"3|last|no newline"],
        );
        assert_eq!(
            text,
            "1\ta\tx\n2\t\t\\N\n\\N\tb\\\\n\t\\N\n3\tlast\tno newline\n"
        );
        // ESCAPE, REMOVEQUOTES, FILLRECORD, IGNOREBLANKLINES, NULL AS.
        let (text, refused) = rows(
            "DELIMITER ',' ESCAPE REMOVEQUOTES FILLRECORD IGNOREBLANKLINES NULL AS 'nil'",
            &cols(),
            &[b"1,a\\,b\\\nc\n\n2,'x,y'\n", b"nil,nil\n", b"3,\"open\n"],
        );
        assert_eq!(text, "1\ta,b\\nc\t\\N\n2\tx,y\t\\N\n\\N\t\\N\t\\N\n");
        assert_eq!(refused, vec![(2, "22P04".to_string())]);
        // Extra or missing fields are left for the database to refuse.
        let (text, _) = rows("DELIMITER '|'", &cols(), &[b"1|a|b|c\n", b"1\n"]);
        assert_eq!(text, "1\ta\tb\tc\n1\n");
    }

    #[test]
    fn csv() {
        let (text, refused) = rows(
            "CSV",
            &cols(),
            &[
                b"1,\"a, \"\"quoted\"\"\nword\",x\n",
                b"2, \"spaced\" ,\n",
                b"3,,\"\"\n",
                b"4,\\N,\"\\N\"\n",
                b"5,\"unterminated\n",
            ],
        );
        assert_eq!(
            text,
            "1\ta, \"quoted\"\\nword\tx\n2\tspaced\t\\N\n3\t\t\\N\n4\t\\N\t\\\\N\n"
        );
        assert_eq!(refused, vec![(4, "22P04".to_string())]);
        let (text, _) = rows(
            "CSV DELIMITER ';' QUOTE ''''",
            &cols(),
            &[b"1;'a;b';'it''s'\n"],
        );
        assert_eq!(text, "1\ta;b\tit's\n");
    }

    #[test]
    fn lines_map_back_to_records() {
        let opts = parse_copy_options("DELIMITER '|'").unwrap();
        let records: Vec<Bytes> = [
            &b"1|a|b\n2|c|d\n"[..],
            b"\xff",
            b"",
            b"3|e|f\n",
            b"4|g|h\n5|i|j\n6|k|l\n",
        ]
        .iter()
        .map(|r| Bytes::copy_from_slice(r))
        .collect();
        let e = encode(&records, &opts, &cols());
        assert_eq!(e.len(), 4);
        assert_eq!(
            (0..4).map(|p| e.index(p)).collect::<Vec<_>>(),
            vec![0, 2, 3, 4]
        );
        assert_eq!(e.record_at_line(0..4, 1), Some(0));
        assert_eq!(e.record_at_line(0..4, 2), Some(0));
        assert_eq!(e.record_at_line(0..4, 3), Some(2));
        assert_eq!(e.record_at_line(0..4, 4), Some(3));
        assert_eq!(e.record_at_line(0..4, 6), Some(3));
        assert_eq!(e.record_at_line(0..4, 7), None);
        assert_eq!(e.record_at_line(0..4, 0), None);
        assert_eq!(e.record_at_line(2..4, 1), Some(0));
        assert_eq!(e.record_at_line(2..4, 2), Some(1));
        assert_eq!(e.record_at_line(3..4, 3), Some(0));
        assert_eq!(e.record_at_line(0..2, 3), None);
        assert_eq!(e.pieces(3..4).concat(), b"4\tg\th\n5\ti\tj\n6\tk\tl\n");
        assert_eq!(e.pieces(1..3).concat(), b"3\te\tf\n");
    }

    #[test]
    fn records_span_chunks() {
        let opts = parse_copy_options("JSON 'auto'").unwrap();
        let big = format!("{{\"name\": \"{}\"}}", "x".repeat(700_000));
        let records: Vec<Bytes> = (0..5).map(|_| Bytes::from(big.clone())).collect();
        let e = encode(&records, &opts, &cols());
        assert!(e.chunks.len() >= 2);
        let all = e.pieces(0..5).concat();
        assert_eq!(all.len(), 5 * (700_000 + 7));
        assert_eq!(e.pieces(1..4).concat().len(), 3 * (700_000 + 7));
    }
}
