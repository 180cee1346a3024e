//! The pure parts of a `RedshiftDestinationConfiguration`: the JDBC URL, SQL identifiers
//! (`DataTableName`, `DataTableColumns`) and Redshift's `CopyOptions`.

use std::fmt;

/// Where the database listens, from `ClusterJDBCURL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Endpoint {
    /// Host name or IP address (an IPv6 address without its brackets).
    pub host: String,
    /// TCP port: as written, else 5439 for `jdbc:redshift:` and 5432 for `jdbc:postgresql:`.
    pub port: u16,
    /// The database to connect to.
    pub database: String,
}

/// The port Redshift listens on by default.
const REDSHIFT_PORT: u16 = 5439;
/// The port PostgreSQL listens on by default.
const POSTGRES_PORT: u16 = 5432;

/// Parses `jdbc:redshift://host[:port]/database[?k=v&…]` or the same with
/// `jdbc:postgresql:`. TLS is not available, so a URL that asks for it
/// (`sslmode=require`, `verify-ca`, `verify-full`, or `ssl=true`) is refused; other
/// parameters are ignored.
pub(super) fn parse_jdbc_url(url: &str) -> Result<Endpoint, String> {
    let bad = |why: &str| {
        format!(
            "ClusterJDBCURL '{url}' is not usable: {why} (expected \
             jdbc:redshift://host:port/database or jdbc:postgresql://host:port/database)"
        )
    };
    let lower = url.to_ascii_lowercase();
    let (rest, default_port) = if lower.starts_with("jdbc:redshift://") {
        (&url["jdbc:redshift://".len()..], REDSHIFT_PORT)
    } else if lower.starts_with("jdbc:postgresql://") {
        (&url["jdbc:postgresql://".len()..], POSTGRES_PORT)
    } else if lower.starts_with("jdbc:redshift:iam:") {
        return Err(bad(
            "IAM authentication is not supported; give Username and Password instead",
        ));
    } else {
        return Err(bad(
            "it does not start with jdbc:redshift:// or jdbc:postgresql://",
        ));
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, q),
        None => (rest, ""),
    };
    let Some((authority, database)) = before_query.split_once('/') else {
        return Err(bad("no database name"));
    };
    let database = percent_decode(database).ok_or_else(|| bad("bad %-escape in the database"))?;
    if database.is_empty() || database.contains('/') {
        return Err(bad("no database name"));
    }
    if authority.contains('@') {
        return Err(bad(
            "user information in the URL; give Username and Password instead",
        ));
    }
    if authority.contains(',') {
        return Err(bad("more than one host"));
    }
    let (host, port) = split_host_port(authority).ok_or_else(|| bad("bad host or port"))?;
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => return Err(bad("bad port")),
        },
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(k).unwrap_or_default().to_ascii_lowercase();
        let v = percent_decode(v).unwrap_or_default().to_ascii_lowercase();
        let wants_tls = match k.as_str() {
            "sslmode" => !matches!(v.as_str(), "disable" | "allow" | "prefer"),
            "ssl" => !matches!(v.as_str(), "false" | "0" | "off" | "no"),
            _ => false,
        };
        if wants_tls {
            return Err(format!(
                "ClusterJDBCURL '{url}' asks for TLS ({k}={v}), which Freshet's Redshift \
                 (PostgreSQL) destination does not offer: use sslmode=disable or leave it out"
            ));
        }
    }
    Ok(Endpoint {
        host,
        port,
        database,
    })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(authority: &str) -> Option<(String, Option<&str>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        match after {
            "" => (h, None),
            _ => (h, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    ok.then(|| (host.to_string(), port))
}

/// Decodes `%XX` escapes; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A table name, optionally schema-qualified, as PostgreSQL resolves it: unquoted parts
/// folded to lower case, quoted parts kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TableName {
    /// The schema, when qualified.
    pub schema: Option<String>,
    /// The table's own name.
    pub name: String,
}

impl TableName {
    /// Parses `table`, `schema.table`, with `"quoted"` parts where needed.
    pub fn parse(s: &str) -> Result<TableName, String> {
        let parts = split_identifiers(s, '.')
            .map_err(|why| format!("DataTableName '{s}' is not a table name: {why}"))?;
        match <[String; 2]>::try_from(parts) {
            Ok([schema, name]) => Ok(TableName {
                schema: Some(schema),
                name,
            }),
            Err(parts) => match <[String; 1]>::try_from(parts) {
                Ok([name]) => Ok(TableName { schema: None, name }),
                Err(_) => Err(format!(
                    "DataTableName '{s}' is not a table name: give table or schema.table"
                )),
            },
        }
    }

    /// The name as SQL, every part quoted.
    pub fn sql(&self) -> String {
        match &self.schema {
            Some(s) => format!("{}.{}", quote_ident(s), quote_ident(&self.name)),
            None => quote_ident(&self.name),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sql())
    }
}

/// Parses `DataTableColumns`: comma-separated column names (folded as SQL folds them);
/// `None` when empty.
pub(super) fn parse_columns(s: &str) -> Result<Option<Vec<String>>, String> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    let columns = split_identifiers(s, ',')
        .map_err(|why| format!("DataTableColumns '{s}' is not a list of column names: {why}"))?;
    for (i, c) in columns.iter().enumerate() {
        if columns[..i].contains(c) {
            return Err(format!("DataTableColumns '{s}' names column {c} twice"));
        }
    }
    Ok(Some(columns))
}

/// Splits `a<sep>"B"<sep>c` into identifiers: whitespace around each is dropped,
/// unquoted ones are folded to lower case (ASCII, as PostgreSQL does), quoted ones keep
/// their case and `""` stands for `"`.
fn split_identifiers(s: &str, sep: char) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut ident = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    Some('"') if chars.next_if_eq(&'"').is_some() => ident.push('"'),
                    Some('"') => break,
                    Some(c) => ident.push(c),
                    None => return Err("a quoted name is not closed".into()),
                }
            }
            if ident.is_empty() {
                return Err("an empty quoted name".into());
            }
        } else {
            while let Some(c) = chars.next_if(|&c| c != sep && c != '"' && !c.is_whitespace()) {
                ident.push(c.to_ascii_lowercase());
            }
            if ident.is_empty() {
                return Err("an empty name".into());
            }
            if ident.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(format!("name {ident} starts with a digit (quote it)"));
            }
        }
        out.push(ident);
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.next() {
            None => return Ok(out),
            Some(c) if c == sep => {}
            Some(c) => return Err(format!("unexpected '{c}'")),
        }
    }
}

/// `"name"`, with `"` doubled.
pub(super) fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// How records are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Format {
    /// `CopyOptions` absent: a record that is a JSON object is read as by
    /// `JSON 'auto ignorecase'`; any other record as pipe-delimited text (Redshift's
    /// default format).
    Detect,
    /// `JSON 'auto'` (keys match column names exactly) or `JSON 'auto ignorecase'`.
    Json {
        /// Keys match column names whatever their case.
        ignore_case: bool,
    },
    /// Delimited text, `CSV` or not.
    Text(TextFormat),
}

/// Delimited text as Redshift reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TextFormat {
    /// Separates fields: `|` by default, `,` for CSV.
    pub delimiter: char,
    /// `CSV`: fields may be enclosed in this quote character.
    pub csv_quote: Option<char>,
    /// `ESCAPE`: a backslash makes the next character literal.
    pub escape: bool,
    /// `REMOVEQUOTES`: a field enclosed in `"` or `'` loses them, keeping delimiters
    /// inside literal.
    pub remove_quotes: bool,
}

impl TextFormat {
    /// Redshift's default: `|`-delimited text.
    pub fn pipe() -> TextFormat {
        TextFormat {
            delimiter: '|',
            csv_quote: None,
            escape: false,
            remove_quotes: false,
        }
    }
}

/// The `CopyOptions` Freshet applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CopyOptions {
    /// How records are read.
    pub format: Format,
    /// `NULL AS`: an unquoted text field equal to it loads NULL (`\N` by default).
    pub null_as: String,
    /// `EMPTYASNULL`: an empty string loads NULL into a character column.
    pub empty_as_null: bool,
    /// `BLANKSASNULL`: a string of white space only loads NULL into a character column.
    pub blanks_as_null: bool,
    /// `TRIMBLANKS`: trailing blanks are removed from strings for character columns.
    pub trim_blanks: bool,
    /// `TRUNCATECOLUMNS`: a string longer than a `varchar(n)`/`char(n)` column is cut.
    pub truncate_columns: bool,
    /// `FILLRECORD`: missing trailing fields of a text row load NULL.
    pub fill_record: bool,
    /// `IGNOREBLANKLINES`: empty lines of text are skipped.
    pub ignore_blank_lines: bool,
    /// `ACCEPTINVCHARS`: invalid UTF-8 is replaced by this character instead of refusing
    /// the record.
    pub accept_inv_chars: Option<char>,
    /// `EXPLICIT_IDS`: identity columns (and `serial` ones) are loaded from the data
    /// rather than left out of the table's default column list.
    pub explicit_ids: bool,
}

impl Default for CopyOptions {
    fn default() -> CopyOptions {
        CopyOptions {
            format: Format::Detect,
            null_as: "\\N".to_string(),
            empty_as_null: false,
            blanks_as_null: false,
            trim_blanks: false,
            truncate_columns: false,
            fill_record: false,
            ignore_blank_lines: false,
            accept_inv_chars: None,
            explicit_ids: false,
        }
    }
}

/// A piece of `CopyOptions`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A keyword or number, upper-cased.
    Word(String),
    /// A `'quoted'` argument (`''` read as `'`; backslashes kept).
    Quoted(String),
}

fn tokenize(s: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() || c == ',' || c == ';' {
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut q = String::new();
            loop {
                match chars.next() {
                    Some('\'') if chars.next_if_eq(&'\'').is_some() => q.push('\''),
                    Some('\'') => break,
                    Some('\\') => {
                        q.push('\\');
                        if let Some(n) = chars.next() {
                            q.push(n);
                        }
                    }
                    Some(c) => q.push(c),
                    None => return Err("a quoted argument is not closed".into()),
                }
            }
            out.push(Token::Quoted(q));
        } else if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            let mut w = String::new();
            while let Some(c) =
                chars.next_if(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
            {
                w.push(c.to_ascii_uppercase());
            }
            out.push(Token::Word(w));
        } else {
            return Err(format!("unexpected '{c}'"));
        }
    }
    Ok(out)
}

/// Reads a one-character argument (`DELIMITER`, `QUOTE`, `ACCEPTINVCHARS`): a
/// character, or `\t`, `\\`, `\'`, or an octal `\NNN`.
fn one_char(option: &str, arg: &str) -> Result<char, String> {
    let bad = || format!("{option} '{arg}' is not a single character");
    let c = match arg.strip_prefix('\\') {
        None => {
            let mut cs = arg.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) => c,
                _ => return Err(bad()),
            }
        }
        Some("t") => '\t',
        Some("\\") => '\\',
        Some("'") => '\'',
        Some(oct)
            if !oct.is_empty()
                && oct.len() <= 3
                && oct.bytes().all(|b| (b'0'..=b'7').contains(&b)) =>
        {
            u32::from_str_radix(oct, 8)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(bad)?
        }
        Some(_) => return Err(bad()),
    };
    if c == '\n' || c == '\r' {
        return Err(format!("{option} cannot be a line break"));
    }
    Ok(c)
}

/// Options that only matter to Redshift's loading from S3 files, or that Freshet's
/// refusal of rows one by one makes moot: accepted, with no effect.
const IGNORED: &[&str] = &[
    "GZIP",
    "LZOP",
    "BZIP2",
    "ZSTD",
    "MANIFEST",
    "ROUNDEC",
    "ACCEPTANYDATE",
];

/// Parses Redshift `CopyOptions` (keywords are case-insensitive). The data formats
/// Freshet reads are `JSON 'auto'`, `JSON 'auto ignorecase'`, `CSV`, and delimited text;
/// options that cannot be honoured (`FIXEDWIDTH`, `AVRO`, JSONPaths files, date
/// formats other than `'auto'`, `IGNOREHEADER`, …) are refused with a message saying so.
pub(super) fn parse_copy_options(s: &str) -> Result<CopyOptions, String> {
    let err = |why: String| format!("CopyOptions '{s}' cannot be applied: {why}");
    let tokens = tokenize(s).map_err(err)?;
    let mut opts = CopyOptions::default();
    let mut json: Option<bool> = None;
    let mut csv = false;
    let mut delimiter: Option<char> = None;
    let mut quote: Option<char> = None;
    let mut escape = false;
    let mut remove_quotes = false;
    let mut it = tokens.into_iter().peekable();
    // The argument of an option, after an optional AS.
    fn arg(
        it: &mut std::iter::Peekable<std::vec::IntoIter<Token>>,
        option: &str,
    ) -> Result<Token, String> {
        if it.peek() == Some(&Token::Word("AS".into())) {
            it.next();
        }
        it.next()
            .ok_or_else(|| format!("{option} needs an argument"))
    }
    fn quoted(
        it: &mut std::iter::Peekable<std::vec::IntoIter<Token>>,
        option: &str,
    ) -> Result<String, String> {
        match arg(it, option)? {
            Token::Quoted(q) => Ok(q),
            Token::Word(w) => Err(format!("{option} takes a quoted argument, not {w}")),
        }
    }
    while let Some(tok) = it.next() {
        let word = match tok {
            Token::Word(w) => w,
            Token::Quoted(q) => return Err(err(format!("unexpected '{q}'"))),
        };
        match word.as_str() {
            "FORMAT" => {
                if it.peek() == Some(&Token::Word("AS".into())) {
                    it.next();
                }
                // The format keyword itself comes next and is handled on the next turn.
                match it.peek() {
                    Some(Token::Word(w)) if matches!(w.as_str(), "JSON" | "CSV") => {}
                    Some(Token::Word(w)) => {
                        return Err(err(format!("FORMAT {w} is not supported (JSON or CSV)")));
                    }
                    _ => return Err(err("FORMAT needs JSON or CSV".into())),
                }
            }
            "JSON" => {
                let a = quoted(&mut it, "JSON").map_err(err)?;
                let ignore_case = match a
                    .to_ascii_lowercase()
                    .split_whitespace()
                    .collect::<Vec<_>>()[..]
                {
                    ["auto"] => false,
                    ["auto", "ignorecase"] => true,
                    _ => {
                        return Err(err(format!(
                            "JSON '{a}' is not supported: only 'auto' and 'auto ignorecase' \
                             (no JSONPaths files, no 'noshred')"
                        )))
                    }
                };
                json = Some(ignore_case);
            }
            "CSV" => csv = true,
            "QUOTE" => {
                let a = quoted(&mut it, "QUOTE").map_err(err)?;
                quote = Some(one_char("QUOTE", &a).map_err(err)?);
            }
            "DELIMITER" => {
                let a = quoted(&mut it, "DELIMITER").map_err(err)?;
                delimiter = Some(one_char("DELIMITER", &a).map_err(err)?);
            }
            "NULL" => {
                let a = quoted(&mut it, "NULL AS").map_err(err)?;
                opts.null_as = match a.as_str() {
                    "\\0" | "\\000" => "\0".to_string(),
                    _ => a,
                };
            }
            "ESCAPE" => escape = true,
            "REMOVEQUOTES" => remove_quotes = true,
            "EMPTYASNULL" => opts.empty_as_null = true,
            "BLANKSASNULL" => opts.blanks_as_null = true,
            "TRIMBLANKS" => opts.trim_blanks = true,
            "TRUNCATECOLUMNS" => opts.truncate_columns = true,
            "FILLRECORD" => opts.fill_record = true,
            "IGNOREBLANKLINES" => opts.ignore_blank_lines = true,
            "EXPLICIT_IDS" => opts.explicit_ids = true,
            "ACCEPTINVCHARS" => {
                if it.peek() == Some(&Token::Word("AS".into())) {
                    it.next();
                }
                let replacement = match it.next_if(|t| matches!(t, Token::Quoted(_))) {
                    Some(Token::Quoted(q)) => one_char("ACCEPTINVCHARS", &q).map_err(err)?,
                    _ => '?',
                };
                opts.accept_inv_chars = Some(replacement);
            }
            "DATEFORMAT" | "TIMEFORMAT" => {
                let a = quoted(&mut it, &word).map_err(err)?;
                if !a.eq_ignore_ascii_case("auto") {
                    return Err(err(format!(
                        "{word} '{a}' is not supported: only 'auto' (PostgreSQL reads dates \
                         and times in its own formats)"
                    )));
                }
            }
            "ENCODING" => match arg(&mut it, "ENCODING").map_err(err)? {
                Token::Word(w) if w == "UTF8" => {}
                Token::Word(w) | Token::Quoted(w) => {
                    return Err(err(format!("ENCODING {w} is not supported (only UTF8)")));
                }
            },
            "MAXERROR" => match arg(&mut it, "MAXERROR").map_err(err)? {
                // Freshet refuses bad rows one by one and loads the others.
                Token::Word(w) if w.bytes().all(|b| b.is_ascii_digit()) => {}
                _ => return Err(err("MAXERROR needs a number".into())),
            },
            "COMPUPDATE" | "STATUPDATE" => {
                // Redshift's statistics options; an optional ON/OFF/TRUE/FALSE/PRESET.
                it.next_if(|t| {
                    matches!(t, Token::Word(w) if matches!(w.as_str(), "ON" | "OFF" | "TRUE" | "FALSE" | "PRESET"))
                });
            }
            "REGION" => {
                quoted(&mut it, "REGION").map_err(err)?;
            }
            w if IGNORED.contains(&w) => {}
            "FIXEDWIDTH" | "AVRO" | "PARQUET" | "ORC" | "SHAPEFILE" => {
                return Err(err(format!(
                    "{word} data is not supported (JSON, CSV or delimited text)"
                )));
            }
            "IGNOREHEADER" => {
                return Err(err(
                    "IGNOREHEADER is not supported: Freshet loads records, not files with headers"
                        .into(),
                ));
            }
            "NOLOAD" => return Err(err("NOLOAD would load nothing".into())),
            _ => return Err(err(format!("{word} is not a COPY option Freshet supports"))),
        }
    }
    if let Some(ignore_case) = json {
        if csv || delimiter.is_some() || quote.is_some() || escape || remove_quotes {
            return Err(err(
                "JSON cannot be combined with CSV, DELIMITER, QUOTE, ESCAPE or REMOVEQUOTES".into(),
            ));
        }
        opts.format = Format::Json { ignore_case };
        return Ok(opts);
    }
    if csv && (escape || remove_quotes) {
        return Err(err(
            "CSV cannot be combined with ESCAPE or REMOVEQUOTES".into()
        ));
    }
    if quote.is_some() && !csv {
        return Err(err("QUOTE needs CSV".into()));
    }
    let text = TextFormat {
        delimiter: delimiter.unwrap_or(if csv { ',' } else { '|' }),
        csv_quote: csv.then(|| quote.unwrap_or('"')),
        escape,
        remove_quotes,
    };
    if Some(text.delimiter) == text.csv_quote {
        return Err(err(
            "the delimiter and the quote character are the same".into()
        ));
    }
    if text.escape && text.delimiter == '\\' {
        return Err(err("the delimiter cannot be a backslash with ESCAPE".into()));
    }
    // No format option at all: records are detected (JSON object or pipe text).
    let any_format = csv || delimiter.is_some() || escape || remove_quotes;
    opts.format = if any_format {
        Format::Text(text)
    } else {
        Format::Detect
    };
    Ok(opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jdbc_urls_of_both_kinds_with_default_ports() {
        let e =
            parse_jdbc_url("jdbc:redshift://cluster.abc.us-east-1.redshift.amazonaws.com:5439/dev")
                .unwrap();
        assert_eq!(e.host, "cluster.abc.us-east-1.redshift.amazonaws.com");
        assert_eq!(e.port, 5439);
        assert_eq!(e.database, "dev");
        let e = parse_jdbc_url("jdbc:postgresql://127.0.0.1/app?sslmode=disable&ApplicationName=x")
            .unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.database.as_str()),
            ("127.0.0.1", 5432, "app")
        );
        let e = parse_jdbc_url("JDBC:REDSHIFT://h/db").unwrap();
        assert_eq!(e.port, 5439);
        let e = parse_jdbc_url("jdbc:postgresql://[::1]:6000/my%20db").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.database.as_str()),
            ("::1", 6000, "my db")
        );
    }

    #[test]
    fn jdbc_urls_that_are_refused_say_why() {
        for (url, why) in [
            ("postgresql://h:1/db", "does not start with"),
            ("jdbc:mysql://h:1/db", "does not start with"),
            ("jdbc:redshift://h:1", "no database"),
            ("jdbc:redshift://h:1/", "no database"),
            ("jdbc:redshift://h:0/db", "bad port"),
            ("jdbc:redshift://h:99999/db", "bad port"),
            ("jdbc:redshift://h:x/db", "bad port"),
            ("jdbc:redshift://:5439/db", "bad host"),
            ("jdbc:redshift://u:p@h:5439/db", "user information"),
            ("jdbc:postgresql://a:1,b:2/db", "more than one host"),
            ("jdbc:redshift:iam://cluster:us-east-1/dev", "IAM"),
        ] {
            let e = parse_jdbc_url(url).unwrap_err();
            assert!(e.contains(why), "{url}: {e}");
            assert!(e.contains(url), "{e}");
        }
        for url in [
            "jdbc:postgresql://h/db?sslmode=require",
            "jdbc:postgresql://h/db?sslmode=verify-full",
            "jdbc:redshift://h/db?ssl=true",
        ] {
            let e = parse_jdbc_url(url).unwrap_err();
            assert!(e.contains("TLS"), "{e}");
        }
        for url in [
            "jdbc:postgresql://h/db?sslmode=prefer",
            "jdbc:redshift://h/db?ssl=false",
        ] {
            assert!(parse_jdbc_url(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn table_names_fold_unquoted_parts() {
        assert_eq!(
            TableName::parse("Events").unwrap(),
            TableName {
                schema: None,
                name: "events".into()
            }
        );
        let t = TableName::parse(r#" Analytics."Page ""Views""" "#).unwrap();
        assert_eq!(t.schema.as_deref(), Some("analytics"));
        assert_eq!(t.name, "Page \"Views\"");
        assert_eq!(t.sql(), r#""analytics"."Page ""Views""""#);
        for bad in ["", "a.b.c", "\"unclosed", "a..b", "1abc", "a b", "\"\""] {
            assert!(TableName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn column_lists() {
        assert_eq!(parse_columns("").unwrap(), None);
        assert_eq!(parse_columns("  ").unwrap(), None);
        assert_eq!(
            parse_columns("id, Name ,\"Mixed,Case\"").unwrap(),
            Some(vec!["id".to_string(), "name".into(), "Mixed,Case".into()])
        );
        assert!(parse_columns("a,,b").is_err());
        assert!(parse_columns("a,A").unwrap_err().contains("twice"));
    }

    #[test]
    fn copy_options_formats() {
        let o = parse_copy_options("").unwrap();
        assert_eq!(o.format, Format::Detect);
        assert_eq!(o.null_as, "\\N");
        for (s, ignore_case) in [
            ("JSON 'auto'", false),
            ("json 'auto ignorecase'", true),
            ("FORMAT AS JSON 'auto'", false),
            ("format json AS 'AUTO IGNORECASE' gzip", true),
            (
                "JSON 'auto' TIMEFORMAT 'auto' TRUNCATECOLUMNS BLANKSASNULL EMPTYASNULL",
                false,
            ),
        ] {
            assert_eq!(
                parse_copy_options(s).unwrap().format,
                Format::Json { ignore_case },
                "{s}"
            );
        }
        let o = parse_copy_options("CSV").unwrap();
        assert_eq!(
            o.format,
            Format::Text(TextFormat {
                delimiter: ',',
                csv_quote: Some('"'),
                escape: false,
                remove_quotes: false
            })
        );
        let o = parse_copy_options("FORMAT AS CSV DELIMITER AS ';' QUOTE AS '''' NULL AS 'null'")
            .unwrap();
        assert_eq!(
            o.format,
            Format::Text(TextFormat {
                delimiter: ';',
                csv_quote: Some('\''),
                escape: false,
                remove_quotes: false
            })
        );
        assert_eq!(o.null_as, "null");
        let o =
            parse_copy_options("delimiter '\\t' ESCAPE REMOVEQUOTES FILLRECORD IGNOREBLANKLINES")
                .unwrap();
        assert_eq!(
            o.format,
            Format::Text(TextFormat {
                delimiter: '\t',
                csv_quote: None,
                escape: true,
                remove_quotes: true
            })
        );
        assert!(o.fill_record && o.ignore_blank_lines);
        let o = parse_copy_options("DELIMITER '\\001' ACCEPTINVCHARS AS '^'").unwrap();
        assert!(matches!(
            o.format,
            Format::Text(TextFormat {
                delimiter: '\u{1}',
                ..
            })
        ));
        assert_eq!(o.accept_inv_chars, Some('^'));
        let o = parse_copy_options(
            "ACCEPTINVCHARS COMPUPDATE OFF STATUPDATE OFF MAXERROR 10 REGION 'us-east-1'",
        )
        .unwrap();
        assert_eq!(o.accept_inv_chars, Some('?'));
        assert_eq!(o.format, Format::Detect);
        assert_eq!(parse_copy_options("NULL AS '\\0'").unwrap().null_as, "\0");
    }

    #[test]
    fn copy_options_refused_with_reasons() {
        for (s, why) in [
            ("JSON 's3://bucket/jsonpaths.json'", "JSONPaths"),
            ("JSON", "needs an argument"),
            ("JSON 'auto' CSV", "cannot be combined"),
            ("CSV ESCAPE", "cannot be combined"),
            ("QUOTE '\"'", "needs CSV"),
            ("DELIMITER '||'", "single character"),
            ("FIXEDWIDTH 'a:1'", "not supported"),
            ("FORMAT AS PARQUET", "not supported"),
            ("AVRO 'auto'", "not supported"),
            ("TIMEFORMAT 'epochsecs'", "only 'auto'"),
            ("IGNOREHEADER 1", "IGNOREHEADER"),
            ("ENCODING UTF16", "only UTF8"),
            ("CREDENTIALS 'x'", "not a COPY option"),
            ("JSON 'auto", "not closed"),
            ("CSV DELIMITER '\"'", "the same"),
            ("DELIMITER '\\n'", "single character"),
        ] {
            let e = parse_copy_options(s).unwrap_err();
            assert!(e.contains(why), "{s}: {e}");
        }
    }
}
