//! The statements Freshet answers itself, recognised before DataFusion sees the text:
//! stream table declarations, continuous jobs, push queries and session settings.
//!
//! ```sql
//! CREATE [OR REPLACE] TABLE clicks (
//!     user_id BIGINT,
//!     page VARCHAR PATH '$.page.url',
//!     ts TIMESTAMP,
//!     WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
//! ) WITH (stream = 'clicks', format = 'json');
//! DROP TABLE [IF EXISTS] clicks;
//! CREATE STREAM counts [WITH (shards = 1)] AS SELECT ... GROUP BY tumble(INTERVAL '1' MINUTE), page;
//! SHOW JOBS; STOP JOB counts; START JOB counts; DROP JOB [IF EXISTS] counts;
//! SELECT ... EMIT CHANGES;
//! SET freshet.scan_limit = 0; SHOW freshet.scan_limit;
//! ```

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::catalog::{ColumnDef, ColumnType, Format, TableDef, Watermark};
use crate::error::{Error, Result};

/// A statement Freshet carries out itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Declares a table over a stream.
    CreateTable {
        /// The declaration.
        def: TableDef,
        /// `OR REPLACE`.
        replace: bool,
    },
    /// Removes a declaration (the stream stays).
    DropTable {
        /// The table.
        name: String,
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// Starts a continuous job writing into a new stream.
    CreateStream {
        /// Job and output stream name.
        name: String,
        /// Shards of the output stream.
        shards: u32,
        /// The SELECT.
        query: String,
    },
    /// Lists the jobs.
    ShowJobs,
    /// Stops a job (kept, resumable).
    StopJob(String),
    /// Resumes a stopped job.
    StartJob(String),
    /// Stops and removes a job (its output stream stays).
    DropJob {
        /// The job.
        name: String,
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// A query over a stream with no end: rows stream until the client stops.
    Continuous {
        /// The SELECT without `EMIT CHANGES`.
        query: String,
    },
    /// `SET freshet.scan_limit = N` (0: no limit; DEFAULT: the server's).
    SetScanLimit(Option<u64>),
    /// `SHOW freshet.scan_limit`.
    ShowScanLimit,
}

/// Tokens without whitespace and comments, with their positions.
struct Tokens {
    toks: Vec<TokenWithSpan>,
    at: usize,
}

impl Tokens {
    fn new(sql: &str) -> Option<Tokens> {
        let toks = Tokenizer::new(&PostgreSqlDialect {}, sql)
            .tokenize_with_location()
            .ok()?
            .into_iter()
            .filter(|t| !matches!(t.token, Token::Whitespace(_)))
            .collect();
        Some(Tokens { toks, at: 0 })
    }

    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.at).map(|t| &t.token)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.at).map(|t| t.token.clone());
        self.at += 1;
        t
    }

    fn error(&self, message: impl Into<String>) -> Error {
        let (line, column) = self
            .toks
            .get(self.at.min(self.toks.len().saturating_sub(1)))
            .map(|t| (t.span.start.line, t.span.start.column))
            .unwrap_or((1, 1));
        Error::Syntax {
            position: column as usize,
            message: format!("{} (line {line}, column {column})", message.into()),
        }
    }

    /// Whether the next token is the keyword (or word) `kw`; consumes it if so.
    fn eat(&mut self, kw: &str) -> bool {
        match self.peek() {
            Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw) => {
                self.at += 1;
                true
            }
            _ => false,
        }
    }

    fn eat_token(&mut self, t: &Token) -> bool {
        if self.peek() == Some(t) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, kw: &str) -> Result<()> {
        if self.eat(kw) {
            Ok(())
        } else {
            Err(self.error(format!("expected {kw}")))
        }
    }

    fn expect_token(&mut self, t: &Token) -> Result<()> {
        if self.eat_token(t) {
            Ok(())
        } else {
            Err(self.error(format!("expected {t}")))
        }
    }

    /// An identifier: unquoted ones fold to lower case, as PostgreSQL does.
    fn ident(&mut self) -> Result<String> {
        match self.peek() {
            Some(Token::Word(w)) => {
                let v = if w.quote_style.is_some() {
                    w.value.clone()
                } else {
                    w.value.to_lowercase()
                };
                self.at += 1;
                Ok(v)
            }
            _ => Err(self.error("expected a name")),
        }
    }

    /// A name given as an identifier or a string (stream names may hold `-` and `.`).
    fn name_or_string(&mut self) -> Result<String> {
        if let Some(Token::SingleQuotedString(s)) = self.peek() {
            let s = s.clone();
            self.at += 1;
            return Ok(s);
        }
        self.ident()
    }

    fn string(&mut self) -> Result<String> {
        match self.next() {
            Some(Token::SingleQuotedString(s)) => Ok(s),
            Some(Token::Number(n, _)) => Ok(n),
            Some(Token::Word(w)) => Ok(w.value),
            _ => {
                self.at -= 1;
                Err(self.error("expected a quoted string"))
            }
        }
    }

    fn end(&mut self) -> Result<()> {
        while self.eat_token(&Token::SemiColon) {}
        if self.at < self.toks.len() && self.peek() != Some(&Token::EOF) {
            return Err(self.error("unexpected text after the statement"));
        }
        Ok(())
    }

    fn words_are(&self, words: &[&str]) -> bool {
        words.iter().enumerate().all(|(i, w)| {
            matches!(self.toks.get(self.at + i).map(|t| &t.token),
                Some(Token::Word(x)) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w))
        })
    }
}

/// The statement as Freshet's own command, `Ok(None)` when DataFusion should plan it.
pub fn classify(sql: &str) -> Result<Option<Command>> {
    let Some(mut t) = Tokens::new(sql) else {
        return Ok(None);
    };
    if t.words_are(&["create", "stream"]) {
        t.at += 2;
        return create_stream(&mut t, sql).map(Some);
    }
    if t.words_are(&["create", "table"]) || t.words_are(&["create", "or", "replace", "table"]) {
        let save = t.at;
        // Only a declaration naming a stream is ours.
        let ours = t.toks.iter().any(|x| {
            matches!(&x.token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("stream"))
        });
        if ours {
            t.at = save;
            return create_table(&mut t).map(Some);
        }
        return Ok(None);
    }
    if t.words_are(&["drop", "table"]) {
        let (name, if_exists) = drop_target(&mut t)?;
        return Ok(Some(Command::DropTable { name, if_exists }));
    }
    if t.words_are(&["show", "jobs"]) {
        t.at += 2;
        t.end()?;
        return Ok(Some(Command::ShowJobs));
    }
    for (words, make) in [
        (["stop", "job"], Command::StopJob as fn(String) -> Command),
        (["start", "job"], Command::StartJob as fn(String) -> Command),
    ] {
        if t.words_are(&words) {
            t.at += 2;
            let name = t.name_or_string()?;
            t.end()?;
            return Ok(Some(make(name)));
        }
    }
    if t.words_are(&["drop", "job"]) {
        let (name, if_exists) = drop_target(&mut t)?;
        return Ok(Some(Command::DropJob { name, if_exists }));
    }
    if t.words_are(&["set", "freshet"]) || t.words_are(&["show", "freshet"]) {
        let set = t.eat("set");
        if !set {
            t.at += 1;
        }
        t.at += 1;
        t.expect_token(&Token::Period)?;
        t.expect("scan_limit")?;
        if !set {
            t.end()?;
            return Ok(Some(Command::ShowScanLimit));
        }
        if !t.eat_token(&Token::Eq) {
            t.expect("to")?;
        }
        if t.eat("default") {
            t.end()?;
            return Ok(Some(Command::SetScanLimit(None)));
        }
        let v = t.string()?;
        let n = v
            .parse::<u64>()
            .map_err(|_| t.error(format!("freshet.scan_limit takes a record count, not {v}")))?;
        t.end()?;
        return Ok(Some(Command::SetScanLimit(Some(n))));
    }
    if t.words_are(&["select"]) || t.words_are(&["with"]) {
        return Ok(continuous(&t, sql).map(|query| Command::Continuous { query }));
    }
    Ok(None)
}

/// A SELECT that never ends: `... EMIT CHANGES`, or one grouping by a window.
fn continuous(t: &Tokens, sql: &str) -> Option<String> {
    let toks: Vec<&Token> = t
        .toks
        .iter()
        .map(|x| &x.token)
        .filter(|x| !matches!(x, Token::SemiColon | Token::EOF))
        .collect();
    let n = toks.len();
    let is_word = |tok: &Token, w: &str| matches!(tok, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w));
    if n >= 2 && is_word(toks[n - 2], "emit") && is_word(toks[n - 1], "changes") {
        let lower = sql.to_ascii_lowercase();
        let cut = lower.rfind("emit")?;
        return Some(sql[..cut].trim().to_string());
    }
    let windowed = toks.windows(2).any(|w| {
        (is_word(w[0], "tumble") || is_word(w[0], "hop") || is_word(w[0], "session"))
            && *w[1] == Token::LParen
    });
    windowed.then(|| sql.trim().trim_end_matches(';').trim().to_string())
}

fn create_stream(t: &mut Tokens, sql: &str) -> Result<Command> {
    let name = t.name_or_string()?;
    let mut shards = 1;
    if t.eat("with") {
        for (k, v) in options(t)? {
            match k.as_str() {
                "shards" => {
                    shards = v
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=64).contains(n))
                        .ok_or_else(|| Error::Invalid(format!("shards must be 1 to 64, not {v}")))?
                }
                other => return Err(Error::Invalid(format!("unknown stream option {other}"))),
            }
        }
    }
    if !matches!(t.peek(), Some(Token::Word(w)) if w.keyword == Keyword::AS) {
        return Err(t.error("expected AS SELECT ..."));
    }
    let at = t
        .toks
        .get(t.at)
        .map(|x| x.span.start)
        .ok_or_else(|| t.error("expected AS"))?;
    let offset = byte_offset(sql, at.line, at.column) + 2;
    let query = sql.get(offset..).unwrap_or_default().trim();
    let query = query.trim_end_matches(';').trim().to_string();
    if query.is_empty() {
        return Err(t.error("expected a SELECT after AS"));
    }
    Ok(Command::CreateStream {
        name,
        shards,
        query,
    })
}

/// The byte offset of a 1-based line and column (in characters).
fn byte_offset(sql: &str, line: u64, column: u64) -> usize {
    let mut offset = 0;
    for (i, l) in sql.split_inclusive('\n').enumerate() {
        if i as u64 + 1 == line {
            return offset
                + l.char_indices()
                    .nth(column.saturating_sub(1) as usize)
                    .map(|(b, _)| b)
                    .unwrap_or(l.len());
        }
        offset += l.len();
    }
    sql.len()
}

/// `( key = 'value', ... )`.
/// `DROP TABLE|JOB [IF EXISTS] name` after its two words: the name and whether
/// `IF EXISTS` was given.
fn drop_target(t: &mut Tokens) -> Result<(String, bool)> {
    t.at += 2;
    let if_exists = t.words_are(&["if", "exists"]);
    if if_exists {
        t.at += 2;
    }
    let name = t.name_or_string()?;
    t.end()?;
    Ok((name, if_exists))
}

fn options(t: &mut Tokens) -> Result<Vec<(String, String)>> {
    t.expect_token(&Token::LParen)?;
    let mut out = Vec::new();
    loop {
        let k = t.ident()?;
        t.expect_token(&Token::Eq)?;
        let v = t.string()?;
        out.push((k, v));
        if t.eat_token(&Token::Comma) {
            continue;
        }
        t.expect_token(&Token::RParen)?;
        return Ok(out);
    }
}

fn create_table(t: &mut Tokens) -> Result<Command> {
    t.expect("create")?;
    let replace = t.eat("or");
    if replace {
        t.expect("replace")?;
    }
    t.expect("table")?;
    let name = t.name_or_string()?;
    let mut columns = Vec::new();
    let mut watermark = None;
    if t.eat_token(&Token::LParen) {
        loop {
            if t.eat("watermark") {
                t.expect("for")?;
                let column = t.ident()?;
                t.expect("as")?;
                let again = t.ident()?;
                if again != column {
                    return Err(t.error(format!("expected {column} - INTERVAL '...'")));
                }
                let delay_ms = if t.eat_token(&Token::Minus) {
                    t.expect("interval")?;
                    let v = t.string()?;
                    let unit = match t.peek() {
                        Some(Token::Word(w)) if w.quote_style.is_none() => {
                            let u = w.value.clone();
                            t.at += 1;
                            Some(u)
                        }
                        _ => None,
                    };
                    interval_ms(&v, unit.as_deref())
                        .ok_or_else(|| t.error(format!("cannot read the interval '{v}'")))?
                } else {
                    0
                };
                watermark = Some(Watermark { column, delay_ms });
            } else {
                columns.push(column_def(t)?);
            }
            if t.eat_token(&Token::Comma) {
                continue;
            }
            t.expect_token(&Token::RParen)?;
            break;
        }
    }
    t.expect("with")?;
    let mut stream = None;
    let mut format = if columns.is_empty() {
        Format::Raw
    } else {
        Format::Json
    };
    let mut delimiter = b',';
    for (k, v) in options(t)? {
        match k.as_str() {
            "stream" => stream = Some(v),
            "format" => {
                format = match v.to_ascii_lowercase().as_str() {
                    "json" => Format::Json,
                    "csv" => Format::Csv,
                    "raw" => Format::Raw,
                    _ => {
                        return Err(Error::Invalid(format!(
                            "format must be json, csv or raw, not '{v}'"
                        )))
                    }
                }
            }
            "delimiter" => {
                delimiter = match v.as_bytes() {
                    [b] => *b,
                    _ => return Err(Error::Invalid("delimiter must be one character".into())),
                }
            }
            other => {
                return Err(Error::Invalid(format!(
                    "unknown table option {other} (stream, format, delimiter)"
                )))
            }
        }
    }
    t.end()?;
    let stream =
        stream.ok_or_else(|| Error::Invalid("WITH (stream = '...') is required".into()))?;
    if let Some(w) = &watermark {
        let ok = w.column == "arrival_time"
            || columns
                .iter()
                .any(|c| c.name == w.column && c.ty == ColumnType::Timestamp);
        if !ok {
            return Err(Error::Invalid(format!(
                "WATERMARK FOR {}: not a TIMESTAMP column of the table",
                w.column
            )));
        }
    }
    check_columns(&columns)?;
    Ok(Command::CreateTable {
        def: TableDef {
            name,
            stream,
            format,
            delimiter,
            columns,
            watermark,
        },
        replace,
    })
}

/// Names unique, not a metadata column, no path both a leaf and a parent.
fn check_columns(columns: &[ColumnDef]) -> Result<()> {
    for (i, c) in columns.iter().enumerate() {
        if crate::schema::METADATA.contains(&c.name.as_str()) {
            return Err(Error::Invalid(format!(
                "column {} is a metadata column of every stream table",
                c.name
            )));
        }
        for d in &columns[..i] {
            if d.name == c.name {
                return Err(Error::Invalid(format!("column {} declared twice", c.name)));
            }
            let (short, long) = if d.path.len() <= c.path.len() {
                (&d.path, &c.path)
            } else {
                (&c.path, &d.path)
            };
            if long.starts_with(short) {
                return Err(Error::Invalid(format!(
                    "columns {} and {} map overlapping paths",
                    d.name, c.name
                )));
            }
        }
    }
    Ok(())
}

fn column_def(t: &mut Tokens) -> Result<ColumnDef> {
    let name = t.ident()?;
    let mut words = Vec::new();
    while let Some(Token::Word(w)) = t.peek() {
        if w.value.eq_ignore_ascii_case("path") || w.value.eq_ignore_ascii_case("not") {
            break;
        }
        words.push(w.value.to_ascii_uppercase());
        t.at += 1;
    }
    // A length or precision: VARCHAR(20), DECIMAL(10, 2).
    if t.eat_token(&Token::LParen) {
        while !t.eat_token(&Token::RParen) {
            if t.next().is_none() {
                return Err(t.error("unclosed ("));
            }
        }
    }
    let type_name = words.join(" ");
    let ty = ColumnType::parse(&type_name)
        .ok_or_else(|| t.error(format!("unknown column type '{type_name}' for {name}")))?;
    if t.eat("not") {
        t.expect("null")?;
    }
    let path = if t.eat("path") {
        let p = t.string()?;
        parse_path(&p)
            .ok_or_else(|| t.error(format!("path '{p}' is not of the form $.member.member")))?
    } else {
        vec![name.clone()]
    };
    Ok(ColumnDef { name, ty, path })
}

/// `$.a.b` (or `$.a."b c"`) into its members.
pub fn parse_path(p: &str) -> Option<Vec<String>> {
    let rest = p.strip_prefix("$.")?;
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in rest.chars() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    (!quoted && out.iter().all(|m| !m.is_empty())).then_some(out)
}

/// Milliseconds of an interval: `'5'` with a unit word, or `'5 seconds'`.
pub fn interval_ms(value: &str, unit: Option<&str>) -> Option<i64> {
    let mut parts = value.split_whitespace();
    let n: f64 = parts.next()?.parse().ok()?;
    let unit = parts
        .next()
        .or(unit)
        .unwrap_or("second")
        .to_ascii_lowercase();
    let scale = match unit.trim_end_matches('s') {
        "millisecond" | "m" if unit == "ms" => 1.0,
        "millisecond" => 1.0,
        "" | "second" | "sec" => 1000.0,
        "minute" | "min" => 60_000.0,
        "hour" | "h" => 3_600_000.0,
        "day" | "d" => 86_400_000.0,
        _ => return None,
    };
    let ms = n * scale;
    (ms.is_finite() && ms > 0.0 && ms < 1e15).then_some(ms as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declares_a_json_table_with_paths_and_watermark() {
        let c = classify(
            "CREATE TABLE clicks (user_id BIGINT, page VARCHAR(40) PATH '$.page.url', ts TIMESTAMP, \
             WATERMARK FOR ts AS ts - INTERVAL '2' SECOND) WITH (stream = 'click-s', format = 'json');",
        )
        .unwrap()
        .unwrap();
        let Command::CreateTable { def, replace } = c else {
            panic!("{c:?}")
        };
        assert!(!replace);
        assert_eq!(def.stream, "click-s");
        assert_eq!(def.columns[1].path, vec!["page", "url"]);
        assert_eq!(def.watermark.unwrap().delay_ms, 2000);
    }

    #[test]
    fn drops_with_and_without_if_exists() {
        let drop = |sql| classify(sql).unwrap().unwrap();
        assert_eq!(
            drop("DROP TABLE clicks"),
            Command::DropTable {
                name: "clicks".into(),
                if_exists: false
            }
        );
        assert_eq!(
            drop("drop table if exists 'my-t';"),
            Command::DropTable {
                name: "my-t".into(),
                if_exists: true
            }
        );
        assert_eq!(
            drop("DROP JOB IF EXISTS counts"),
            Command::DropJob {
                name: "counts".into(),
                if_exists: true
            }
        );
        assert_eq!(
            drop("DROP JOB counts"),
            Command::DropJob {
                name: "counts".into(),
                if_exists: false
            }
        );
        assert!(classify("DROP JOB counts extra").is_err());
    }

    #[test]
    fn plain_sql_is_left_to_datafusion() {
        assert_eq!(classify("SELECT 1").unwrap(), None);
        assert_eq!(classify("CREATE TABLE t (a INT)").unwrap(), None);
        assert_eq!(classify("").unwrap(), None);
    }

    #[test]
    fn jobs_push_queries_and_settings() {
        let c = classify("CREATE STREAM out WITH (shards = 2) AS SELECT count(*) FROM t GROUP BY tumble(INTERVAL '1' SECOND);").unwrap();
        assert_eq!(
            c,
            Some(Command::CreateStream {
                name: "out".into(),
                shards: 2,
                query: "SELECT count(*) FROM t GROUP BY tumble(INTERVAL '1' SECOND)".into()
            })
        );
        assert_eq!(
            classify("select * from t emit changes").unwrap(),
            Some(Command::Continuous {
                query: "select * from t".into()
            })
        );
        assert_eq!(
            classify("SET freshet.scan_limit = 0").unwrap(),
            Some(Command::SetScanLimit(Some(0)))
        );
        assert_eq!(classify("show jobs").unwrap(), Some(Command::ShowJobs));
        assert!(classify("CREATE TABLE t (a BLOB) WITH (stream = 's')").is_err());
        assert!(
            classify("CREATE TABLE t (a INT) WITH (format = 'json', stream = 's') extra").is_err()
        );
    }

    #[test]
    fn intervals() {
        assert_eq!(interval_ms("5 seconds", None), Some(5000));
        assert_eq!(interval_ms("1", Some("MINUTE")), Some(60_000));
        assert_eq!(interval_ms("250 ms", None), Some(250));
        assert_eq!(interval_ms("x", None), None);
    }
}
