//! What the commands print: aligned tables, the shard lineage tree, records as raw
//! lines, JSON objects or hex dumps, numbers and times for people. A closed stdout
//! (`freshet tail ... | head`) ends a command quietly.

use std::io::{ErrorKind, Write};

use base64::Engine as _;
use clap::ValueEnum;
use freshet_client::aggregation::UserRecord;
use freshet_client::Shard;
use serde::Serialize;

use super::{Failure, Outcome};

/// Writes `bytes` to stdout; a closed pipe counts as done.
pub fn write_stdout(bytes: &[u8]) -> Outcome {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) => stdout_error(e),
    }
}

/// A failed write to stdout: a closed pipe is a reader that has seen enough (exit 0);
/// anything else fails the command.
pub fn stdout_error(e: std::io::Error) -> Outcome {
    if e.kind() == ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(Failure::failed(format!("cannot write to stdout: {e}")))
    }
}

/// Writes a line to stderr, ignoring failures (nowhere left to report them).
pub fn note(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// A table with a header row, columns padded to their widest cell.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
    /// Text after the first cell of a row, not sized into the columns, by row index.
    notes: std::collections::BTreeMap<usize, String>,
}

impl Table {
    /// A table with these column titles; a title starting with `>` is right-aligned
    /// (numbers), the `>` not shown.
    pub fn new(titles: &[&str]) -> Self {
        Table {
            header: titles
                .iter()
                .map(|t| t.trim_start_matches('>').to_string())
                .collect(),
            right: titles.iter().map(|t| t.starts_with('>')).collect(),
            rows: Vec::new(),
            notes: Default::default(),
        }
    }

    /// Adds a row (missing cells are empty).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Adds a row of a first cell and a note written after it, outside the columns.
    pub fn row_with_note(&mut self, first: String, note: String) {
        self.notes.insert(self.rows.len(), note);
        self.rows.push(vec![first]);
    }

    /// The table as text, one line per row, two spaces between columns, no trailing
    /// spaces.
    pub fn render(&self) -> String {
        let n = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(n) {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let mut out = String::new();
        for (r, row) in std::iter::once(&self.header).chain(&self.rows).enumerate() {
            let note = r.checked_sub(1).and_then(|i| self.notes.get(&i));
            let mut line = String::new();
            for i in 0..n {
                if i > 0 {
                    if let Some(note) = note {
                        line.push_str("  ");
                        line.push_str(note);
                        break;
                    }
                }
                let cell = row.get(i).map(String::as_str).unwrap_or("");
                let width = widths.get(i).copied().unwrap_or(0);
                let pad = width.saturating_sub(cell.chars().count());
                if i > 0 {
                    line.push_str("  ");
                }
                if self.right.get(i).copied().unwrap_or(false) {
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate for people: `0`, `12.5`, `1,234`.
pub fn rate(per_second: f64) -> String {
    if !per_second.is_finite() || per_second <= 0.0 {
        "0".into()
    } else if per_second < 100.0 {
        let s = format!("{per_second:.1}");
        s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
    } else {
        thousands(per_second.round() as u64)
    }
}

/// Bytes in MiB with two decimals.
pub fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Milliseconds since the epoch as RFC 3339 UTC with milliseconds
/// (`2026-11-30T12:00:00.000Z`); the number itself when out of range.
pub fn time_ms(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => ms.to_string(),
    }
}

/// How `freshet tail` prints a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The data, then a newline: a file put line by line tails back identical.
    Raw,
    /// One JSON object a line: shard, sequence, subSequence, partitionKey,
    /// explicitHashKey (when set), arrival, encoding (`utf-8` or `base64`) and data.
    Json,
    /// A header line, then a hex dump of the data (offset, 16 bytes, text).
    Hex,
}

/// One record as JSON (`--format json`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonRecord<'a> {
    shard: &'a str,
    sequence: &'a str,
    sub_sequence: u64,
    partition_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    explicit_hash_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arrival: Option<String>,
    encoding: &'static str,
    data: std::borrow::Cow<'a, str>,
}

/// Appends `record` of `shard` in `format` to `out`.
pub fn format_record(format: Format, shard: &str, record: &UserRecord, out: &mut Vec<u8>) {
    match format {
        Format::Raw => {
            out.extend_from_slice(&record.data);
            out.push(b'\n');
        }
        Format::Json => {
            let (encoding, data) = match std::str::from_utf8(&record.data) {
                Ok(text) => ("utf-8", std::borrow::Cow::Borrowed(text)),
                Err(_) => (
                    "base64",
                    std::borrow::Cow::Owned(
                        base64::engine::general_purpose::STANDARD.encode(&record.data),
                    ),
                ),
            };
            let json = JsonRecord {
                shard,
                sequence: &record.sequence_number,
                sub_sequence: record.sub_sequence_number,
                partition_key: &record.partition_key,
                explicit_hash_key: record.explicit_hash_key.map(|k| k.to_string()),
                arrival: record.approximate_arrival_ms.map(time_ms),
                encoding,
                data,
            };
            // Serializing strings and numbers into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, &json);
            out.push(b'\n');
        }
        Format::Hex => {
            let arrival = record
                .approximate_arrival_ms
                .map(|ms| format!(" arrival {}", time_ms(ms)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{shard} {}:{} key {:?}{arrival} {} bytes",
                record.sequence_number,
                record.sub_sequence_number,
                record.partition_key,
                record.data.len()
            );
            hex_dump(&record.data, out);
            out.push(b'\n');
        }
    }
}

/// `hexdump -C` style lines: offset, 16 bytes in two groups of 8, printable text.
fn hex_dump(data: &[u8], out: &mut Vec<u8>) {
    for (i, chunk) in data.chunks(16).enumerate() {
        let _ = write!(out, "{:08x} ", i * 16);
        for j in 0..16 {
            if j == 8 {
                out.push(b' ');
            }
            match chunk.get(j) {
                Some(b) => {
                    let _ = write!(out, " {b:02x}");
                }
                None => out.extend_from_slice(b"   "),
            }
        }
        out.extend_from_slice(b"  |");
        for &b in chunk {
            out.push(if b.is_ascii_graphic() || b == b' ' {
                b
            } else {
                b'.'
            });
        }
        out.extend_from_slice(b"|\n");
    }
}

/// A shard's share of the hash-key space, as a percentage.
pub fn share(shard: &Shard) -> f64 {
    let range = &shard.hash_key_range;
    let width = range.end.saturating_sub(range.start) as f64 + 1.0;
    width / 2f64.powi(128) * 100.0
}

/// One line of the lineage tree: the drawn prefix and the shard, or a reference to a
/// merged child drawn under its other parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeLine {
    /// `├─ `, `│  └─ `, ... (empty for a root).
    pub prefix: String,
    /// The shard.
    pub shard_id: String,
    /// For a merged child listed again under its second parent: the parent it is drawn
    /// under.
    pub drawn_under: Option<String>,
}

/// The shards as a forest: roots (no retained parent) by hash range, each child under
/// its parent (a merged child under its first retained parent, and named again under
/// the other one).
pub fn lineage_tree(shards: &[Shard]) -> Vec<TreeLine> {
    use std::collections::{BTreeMap, BTreeSet};
    let known: BTreeSet<&str> = shards.iter().map(|s| s.shard_id.as_str()).collect();
    let parents_of = |s: &Shard| -> Vec<String> {
        [&s.parent_shard_id, &s.adjacent_parent_shard_id]
            .into_iter()
            .flatten()
            .filter(|p| known.contains(p.as_str()))
            .cloned()
            .collect()
    };
    // parent -> (children drawn under it, merged children named again under it)
    let mut children: BTreeMap<String, Vec<(&Shard, Option<String>)>> = BTreeMap::new();
    let mut roots: Vec<&Shard> = Vec::new();
    for s in shards {
        let parents = parents_of(s);
        match parents.split_first() {
            None => roots.push(s),
            Some((first, rest)) => {
                children.entry(first.clone()).or_default().push((s, None));
                for other in rest {
                    children
                        .entry(other.clone())
                        .or_default()
                        .push((s, Some(first.clone())));
                }
            }
        }
    }
    let order = |a: &&Shard, b: &&Shard| {
        (a.hash_key_range.start, &a.shard_id).cmp(&(b.hash_key_range.start, &b.shard_id))
    };
    roots.sort_by(order);
    for list in children.values_mut() {
        list.sort_by(|a, b| order(&a.0, &b.0));
    }
    let mut lines = Vec::new();
    // Iterative depth-first walk: (shard, drawn under, indent, is last child, is root).
    let mut stack: Vec<(&Shard, Option<String>, String, bool, bool)> = roots
        .iter()
        .rev()
        .map(|s| (*s, None, String::new(), true, true))
        .collect();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    while let Some((shard, drawn_under, indent, last, root)) = stack.pop() {
        let prefix = if root {
            String::new()
        } else {
            format!("{indent}{}", if last { "└─ " } else { "├─ " })
        };
        lines.push(TreeLine {
            prefix,
            shard_id: shard.shard_id.clone(),
            drawn_under: drawn_under.clone(),
        });
        // A reference line has no subtree; a shard is expanded once (lineage is a
        // DAG, never a cycle, but a bad answer must not loop).
        if drawn_under.is_some() || !seen.insert(shard.shard_id.clone()) {
            continue;
        }
        let child_indent = if root {
            String::new()
        } else {
            format!("{indent}{}", if last { "   " } else { "│  " })
        };
        if let Some(list) = children.get(&shard.shard_id) {
            let n = list.len();
            for (i, (child, under)) in list.iter().enumerate().rev() {
                stack.push((
                    *child,
                    under.clone(),
                    child_indent.clone(),
                    i + 1 == n,
                    false,
                ));
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use freshet_client::HashKeyRange;

    fn shard(id: &str, start: u128, end: u128, parents: &[&str], open: bool) -> Shard {
        Shard {
            shard_id: id.into(),
            parent_shard_id: parents.first().map(|p| p.to_string()),
            adjacent_parent_shard_id: parents.get(1).map(|p| p.to_string()),
            hash_key_range: HashKeyRange { start, end },
            starting_sequence_number: "1".into(),
            ending_sequence_number: (!open).then(|| "2".into()),
        }
    }

    #[test]
    fn tables_pad_columns_and_align_numbers_right() {
        let mut t = Table::new(&["NAME", ">N"]);
        t.row(vec!["a".into(), "1".into()]);
        t.row(vec!["long-name".into(), "1,000".into()]);
        t.row_with_note("b".into(), "a note longer than the columns".into());
        assert_eq!(
            t.render(),
            "NAME           N\na              1\nlong-name  1,000\nb          a note longer than the columns\n"
        );
    }

    #[test]
    fn numbers_and_times_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(rate(0.0), "0");
        assert_eq!(rate(2.0), "2");
        assert_eq!(rate(12.25), "12.2");
        assert_eq!(rate(4321.4), "4,321");
        assert_eq!(time_ms(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn hex_dumps_look_like_hexdump_c() {
        let mut out = Vec::new();
        hex_dump(b"hello, world!\n\x00\x01xyz", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "00000000  68 65 6c 6c 6f 2c 20 77  6f 72 6c 64 21 0a 00 01  |hello, world!...|\n\
             00000010  78 79 7a                                          |xyz|\n"
        );
    }

    #[test]
    fn json_records_say_when_data_is_base64() {
        let mut out = Vec::new();
        let r = UserRecord {
            sequence_number: "7".into(),
            sub_sequence_number: 2,
            partition_key: "k".into(),
            explicit_hash_key: None,
            data: bytes::Bytes::from_static(b"\xff\x00"),
            approximate_arrival_ms: Some(0),
            aggregated: true,
        };
        format_record(Format::Json, "shardId-000000000000", &r, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"shard\":\"shardId-000000000000\",\"sequence\":\"7\",\"subSequence\":2,\
             \"partitionKey\":\"k\",\"arrival\":\"1970-01-01T00:00:00.000Z\",\
             \"encoding\":\"base64\",\"data\":\"/wA=\"}\n"
        );
    }

    #[test]
    fn the_tree_draws_splits_and_names_merged_children_twice() {
        let half = u128::MAX / 2;
        let shards = vec![
            shard("s0", 0, u128::MAX, &[], false),
            shard("s1", 0, half, &["s0"], false),
            shard("s2", half + 1, u128::MAX, &["s0"], false),
            shard("s3", 0, u128::MAX, &["s1", "s2"], true),
        ];
        let drawn: Vec<String> = lineage_tree(&shards)
            .iter()
            .map(|l| {
                format!(
                    "{}{}{}",
                    l.prefix,
                    l.shard_id,
                    l.drawn_under
                        .as_deref()
                        .map(|u| format!(" (under {u})"))
                        .unwrap_or_default()
                )
            })
            .collect();
        assert_eq!(
            drawn,
            ["s0", "├─ s1", "│  └─ s3", "└─ s2", "   └─ s3 (under s1)"]
        );
    }
}
