//! Filter patterns, as FilterLogEvents reads them
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html>).
//!
//! - Terms: `ERROR` (the message contains it, case-sensitive), `"a phrase"`, several
//!   terms (all must match), `?ERROR ?WARN` (at least one of the `?` terms), `-DEBUG`
//!   (none of the `-` terms), `%regex%` (a regular expression).
//! - JSON: `{ $.level = "ERROR" }`, `{ $.latency >= 100 }`, `!=`, `<`, `>`, `<=`,
//!   `&&`, `||`, parentheses, `IS NULL`, `IS TRUE`, `IS FALSE`, `NOT EXISTS`, `*` as a
//!   wildcard in string values, `$.a.b[0]` selectors.
//! - Space-delimited: `[ip, user, ..., status = 404, size > 1000]`, `...` for any
//!   number of fields, quoted and bracketed fields kept whole.

use serde_json::Value;

/// A parsed filter pattern.
#[derive(Debug, Clone)]
pub enum Filter {
    /// Matches every event (an empty pattern).
    All,
    /// Term matching on the message text.
    Terms(Terms),
    /// A JSON condition on the message parsed as JSON.
    Json(Expr),
    /// Space-delimited fields.
    Spaced(Vec<Field>),
}

/// Term patterns.
#[derive(Debug, Clone, Default)]
pub struct Terms {
    all: Vec<Term>,
    any: Vec<Term>,
    none: Vec<Term>,
}

#[derive(Debug, Clone)]
enum Term {
    Text(String),
    Regex(regex::Regex),
}

impl Term {
    fn matches(&self, message: &str) -> bool {
        match self {
            Term::Text(t) => message.contains(t.as_str()),
            Term::Regex(r) => r.is_match(message),
        }
    }
}

/// A JSON condition.
#[derive(Debug, Clone)]
pub enum Expr {
    /// Both hold.
    And(Box<Expr>, Box<Expr>),
    /// Either holds.
    Or(Box<Expr>, Box<Expr>),
    /// A comparison of a selected value.
    Cmp(Selector, Op, Literal),
    /// `IS NULL`, `IS TRUE`, `IS FALSE`.
    Is(Selector, Value),
    /// `NOT EXISTS`.
    NotExists(Selector),
}

/// A path into a JSON document: names and array indexes.
#[derive(Debug, Clone)]
pub struct Selector(Vec<Step>);

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

impl Selector {
    fn select<'a>(&self, v: &'a Value) -> Option<&'a Value> {
        let mut cur = v;
        for step in &self.0 {
            cur = match step {
                Step::Key(k) => cur.as_object()?.get(k)?,
                Step::Index(i) => cur.as_array()?.get(*i)?,
            };
        }
        Some(cur)
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// The value a field is compared with.
#[derive(Debug, Clone)]
pub enum Literal {
    /// A number.
    Number(f64),
    /// A string, possibly with `*` wildcards.
    Text(String),
}

/// One field of a space-delimited pattern.
#[derive(Debug, Clone)]
pub enum Field {
    /// `...`: any number of fields.
    Rest,
    /// A named field, with an optional condition.
    Named(Option<(Op, Literal)>),
}

/// Why a pattern could not be read.
pub type ParseError = String;

impl Filter {
    /// Parses a filter pattern; `Err` says what is wrong with it.
    pub fn parse(pattern: &str) -> Result<Filter, ParseError> {
        let p = pattern.trim();
        if p.is_empty() || p == "\"\"" {
            return Ok(Filter::All);
        }
        if let Some(inner) = p.strip_prefix('{') {
            let inner = inner
                .strip_suffix('}')
                .ok_or("a JSON pattern must end with }")?;
            let mut parser = Parser::new(inner);
            let expr = parser.expr()?;
            parser.skip_ws();
            if !parser.done() {
                return Err(format!("unexpected text in the pattern: {}", parser.rest()));
            }
            return Ok(Filter::Json(expr));
        }
        if let Some(inner) = p.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or("a space-delimited pattern must end with ]")?;
            return parse_fields(inner).map(Filter::Spaced);
        }
        parse_terms(p).map(Filter::Terms)
    }

    /// Whether an event's message matches.
    pub fn matches(&self, message: &str) -> bool {
        match self {
            Filter::All => true,
            Filter::Terms(t) => {
                t.all.iter().all(|x| x.matches(message))
                    && (t.any.is_empty() || t.any.iter().any(|x| x.matches(message)))
                    && !t.none.iter().any(|x| x.matches(message))
            }
            Filter::Json(e) => match json_of(message) {
                Some(v) => eval(e, &v),
                None => false,
            },
            Filter::Spaced(fields) => {
                let words = split_fields(message);
                match_fields(fields, &words)
            }
        }
    }
}

fn parse_terms(p: &str) -> Result<Terms, ParseError> {
    let mut terms = Terms::default();
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let mut kind = 0u8; // 0 all, 1 any, 2 none
        if chars[i] == '?' {
            kind = 1;
            i += 1;
        } else if chars[i] == '-' && i + 1 < chars.len() && !chars[i + 1].is_whitespace() {
            kind = 2;
            i += 1;
        }
        let term = match chars.get(i) {
            Some('"') => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("an unterminated quoted term".into()),
                        Some('\\') if matches!(chars.get(i + 1), Some('"') | Some('\\')) => {
                            s.push(chars[i + 1]);
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(c) => {
                            s.push(*c);
                            i += 1;
                        }
                    }
                }
                Term::Text(s)
            }
            Some('%') => {
                let start = i + 1;
                let end = chars[start..]
                    .iter()
                    .position(|&c| c == '%')
                    .map(|n| start + n)
                    .ok_or("an unterminated %regex% term")?;
                let re: String = chars[start..end].iter().collect();
                i = end + 1;
                Term::Regex(regex::Regex::new(&re).map_err(|e| format!("bad regex: {e}"))?)
            }
            _ => {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() {
                    i += 1;
                }
                Term::Text(chars[start..i].iter().collect())
            }
        };
        if matches!(&term, Term::Text(t) if t.is_empty()) {
            continue;
        }
        match kind {
            1 => terms.any.push(term),
            2 => terms.none.push(term),
            _ => terms.all.push(term),
        }
    }
    Ok(terms)
}

/// The JSON document of a message: the whole message, else from its first `{`
/// (Lambda's lines carry a prefix before the JSON).
fn json_of(message: &str) -> Option<Value> {
    let t = message.trim();
    if let Ok(v) = serde_json::from_str::<Value>(t) {
        if v.is_object() || v.is_array() {
            return Some(v);
        }
    }
    let at = t.find('{')?;
    serde_json::from_str::<Value>(t.get(at..)?)
        .ok()
        .filter(Value::is_object)
}

fn eval(e: &Expr, v: &Value) -> bool {
    match e {
        Expr::And(a, b) => eval(a, v) && eval(b, v),
        Expr::Or(a, b) => eval(a, v) || eval(b, v),
        Expr::NotExists(s) => s.select(v).is_none(),
        Expr::Is(s, want) => s.select(v) == Some(want),
        Expr::Cmp(s, op, lit) => match s.select(v) {
            Some(found) => compare_json(found, *op, lit),
            None => false,
        },
    }
}

fn compare_json(found: &Value, op: Op, lit: &Literal) -> bool {
    match found {
        Value::Number(n) => match (n.as_f64(), lit) {
            (Some(x), Literal::Number(y)) => compare_num(x, op, *y),
            (Some(_), Literal::Text(t)) => compare_text(&n.to_string(), op, t),
            (None, _) => false,
        },
        Value::String(s) => match lit {
            Literal::Text(t) => compare_text(s, op, t),
            Literal::Number(y) => match s.parse::<f64>() {
                Ok(x) => compare_num(x, op, *y),
                Err(_) => op == Op::Ne,
            },
        },
        Value::Bool(b) => compare_text(if *b { "true" } else { "false" }, op, &lit_text(lit)),
        _ => false,
    }
}

fn lit_text(lit: &Literal) -> String {
    match lit {
        Literal::Text(t) => t.clone(),
        Literal::Number(n) => n.to_string(),
    }
}

fn compare_num(x: f64, op: Op, y: f64) -> bool {
    match op {
        Op::Eq => x == y,
        Op::Ne => x != y,
        Op::Lt => x < y,
        Op::Le => x <= y,
        Op::Gt => x > y,
        Op::Ge => x >= y,
    }
}

fn compare_text(s: &str, op: Op, pattern: &str) -> bool {
    match op {
        Op::Eq => glob(pattern, s),
        Op::Ne => !glob(pattern, s),
        // Ordering comparisons are numeric only.
        _ => match (s.parse::<f64>(), pattern.parse::<f64>()) {
            (Ok(x), Ok(y)) => compare_num(x, op, y),
            _ => false,
        },
    }
}

/// `*` matches any run of characters; everything else literally.
fn glob(pattern: &str, s: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == s;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = match (parts.first(), parts.last()) {
        (Some(f), Some(l)) => (*f, *l),
        _ => return true,
    };
    if !s.starts_with(first) {
        return false;
    }
    let mut rest = &s[first.len()..];
    let middle = &parts[1..parts.len() - 1];
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// A small recursive-descent parser over the inside of `{ ... }`.
struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn new(s: &str) -> Parser {
        Parser {
            chars: s.chars().collect(),
            at: 0,
        }
    }

    fn done(&self) -> bool {
        self.at >= self.chars.len()
    }

    fn rest(&self) -> String {
        self.chars[self.at.min(self.chars.len())..].iter().collect()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, s: &str) -> bool {
        self.skip_ws();
        let n = s.chars().count();
        let ahead: String = self.chars.iter().skip(self.at).take(n).collect();
        if ahead.eq_ignore_ascii_case(s) {
            self.at += n;
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and()?;
        while self.eat("||") {
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.unary()?;
        while self.eat("&&") {
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.eat("(") {
            let e = self.expr()?;
            if !self.eat(")") {
                return Err("a missing )".into());
            }
            return Ok(e);
        }
        self.condition()
    }

    fn selector(&mut self) -> Result<Selector, ParseError> {
        self.skip_ws();
        if !self.eat("$") {
            return Err(format!(
                "a JSON condition must start with a $ selector: {}",
                self.rest()
            ));
        }
        let mut steps = Vec::new();
        loop {
            match self.peek() {
                Some('.') => {
                    self.at += 1;
                    let start = self.at;
                    while self
                        .peek()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '@')
                    {
                        self.at += 1;
                    }
                    if start == self.at {
                        return Err("an empty name in a selector".into());
                    }
                    steps.push(Step::Key(self.chars[start..self.at].iter().collect()));
                }
                Some('[') => {
                    self.at += 1;
                    let start = self.at;
                    while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        self.at += 1;
                    }
                    let digits: String = self.chars[start..self.at].iter().collect();
                    if self.peek() != Some(']') {
                        return Err("a selector index must be a number in [ ]".into());
                    }
                    self.at += 1;
                    let i = digits
                        .parse()
                        .map_err(|_| "a selector index must be a number".to_string())?;
                    steps.push(Step::Index(i));
                }
                _ => break,
            }
        }
        Ok(Selector(steps))
    }

    fn condition(&mut self) -> Result<Expr, ParseError> {
        let sel = self.selector()?;
        if self.eat("IS ") || self.eat("IS\t") {
            self.skip_ws();
            for (word, v) in [
                ("NULL", Value::Null),
                ("TRUE", Value::Bool(true)),
                ("FALSE", Value::Bool(false)),
            ] {
                if self.eat(word) {
                    return Ok(Expr::Is(sel, v));
                }
            }
            return Err("IS must be followed by NULL, TRUE or FALSE".into());
        }
        if self.eat("NOT EXISTS") {
            return Ok(Expr::NotExists(sel));
        }
        let op = self.op().ok_or_else(|| {
            format!(
                "expected a comparison operator after the selector: {}",
                self.rest()
            )
        })?;
        let lit = self.literal()?;
        Ok(Expr::Cmp(sel, op, lit))
    }

    fn op(&mut self) -> Option<Op> {
        for (s, op) in [
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("=", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if self.eat(s) {
                return Some(op);
            }
        }
        None
    }

    fn literal(&mut self) -> Result<Literal, ParseError> {
        self.skip_ws();
        if self.peek() == Some('"') {
            self.at += 1;
            let mut s = String::new();
            loop {
                match self.peek() {
                    None => return Err("an unterminated string".into()),
                    Some('\\') => {
                        if let Some(c) = self.chars.get(self.at + 1) {
                            s.push(*c);
                        }
                        self.at += 2;
                    }
                    Some('"') => {
                        self.at += 1;
                        return Ok(Literal::Text(s));
                    }
                    Some(c) => {
                        s.push(c);
                        self.at += 1;
                    }
                }
            }
        }
        let start = self.at;
        while let Some(c) = self.peek() {
            if c.is_whitespace() || c == ')' || c == '&' || c == '|' {
                break;
            }
            self.at += 1;
        }
        let word: String = self.chars[start..self.at].iter().collect();
        if word.is_empty() {
            return Err("a comparison without a value".into());
        }
        Ok(literal_of(&word))
    }
}

fn literal_of(word: &str) -> Literal {
    match word.parse::<f64>() {
        Ok(n) if n.is_finite() => Literal::Number(n),
        _ => Literal::Text(word.to_string()),
    }
}

fn parse_fields(inner: &str) -> Result<Vec<Field>, ParseError> {
    let mut out = Vec::new();
    for raw in inner.split(',') {
        let f = raw.trim();
        if f.is_empty() {
            return Err("an empty field in a space-delimited pattern".into());
        }
        if f == "..." {
            out.push(Field::Rest);
            continue;
        }
        let mut p = Parser::new(f);
        let start = p.at;
        while p
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.')
        {
            p.at += 1;
        }
        if start == p.at {
            return Err(format!("a field must start with a name: {f}"));
        }
        p.skip_ws();
        if p.done() {
            out.push(Field::Named(None));
            continue;
        }
        let op = p
            .op()
            .ok_or_else(|| format!("expected a comparison in the field {f}"))?;
        let lit = p.literal()?;
        p.skip_ws();
        if !p.done() {
            return Err(format!("unexpected text in the field {f}"));
        }
        out.push(Field::Named(Some((op, lit))));
    }
    Ok(out)
}

/// The fields of a message: split on spaces, text in `"..."` or `[...]` kept whole
/// (without its quotes or brackets).
fn split_fields(message: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = message.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let close = match c {
            '"' => Some('"'),
            '[' => Some(']'),
            _ => None,
        };
        let mut s = String::new();
        if let Some(close) = close {
            chars.next();
            for c in chars.by_ref() {
                if c == close {
                    break;
                }
                s.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                s.push(c);
                chars.next();
            }
        }
        out.push(s);
    }
    out
}

fn field_matches(cond: &Option<(Op, Literal)>, word: &str) -> bool {
    match cond {
        None => true,
        Some((op, Literal::Number(y))) => match word.parse::<f64>() {
            Ok(x) => compare_num(x, *op, *y),
            Err(_) => false,
        },
        Some((op, Literal::Text(t))) => compare_text(word, *op, t),
    }
}

fn match_fields(fields: &[Field], words: &[String]) -> bool {
    match fields.split_first() {
        None => words.is_empty(),
        Some((Field::Rest, rest)) => {
            (0..=words.len()).any(|skip| match_fields(rest, &words[skip..]))
        }
        Some((Field::Named(cond), rest)) => match words.split_first() {
            Some((w, more)) => field_matches(cond, w) && match_fields(rest, more),
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, message: &str) -> bool {
        Filter::parse(pattern)
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
            .matches(message)
    }

    #[test]
    fn terms_phrases_or_and_exclusions() {
        assert!(m("", "anything"));
        assert!(m("ERROR", "[ERROR] disk full"));
        assert!(!m("ERROR", "error: lower case"));
        assert!(m("ERROR disk", "[ERROR] disk full"));
        assert!(!m("ERROR cpu", "[ERROR] disk full"));
        assert!(m("\"disk full\"", "[ERROR] disk full"));
        assert!(!m("\"full disk\"", "[ERROR] disk full"));
        assert!(m("?ERROR ?WARN", "WARN low memory"));
        assert!(!m("?ERROR ?WARN", "INFO fine"));
        assert!(m("ERROR -retry", "ERROR gave up"));
        assert!(!m("ERROR -retry", "ERROR will retry"));
        assert!(m("%ERR[O]+R%", "ERROR x"));
        assert!(m(
            "START RequestId",
            "START RequestId: abc Version: $LATEST"
        ));
    }

    #[test]
    fn json_conditions() {
        let ev = r#"{"level":"ERROR","latency":250,"user":{"id":7,"name":"ann"},"tags":["a","b"],"ok":false,"none":null}"#;
        assert!(m(r#"{ $.level = "ERROR" }"#, ev));
        assert!(m("{ $.level = ERROR }", ev));
        assert!(m(r#"{ $.level = "ERR*" }"#, ev));
        assert!(!m(r#"{ $.level = "WARN" }"#, ev));
        assert!(m(r#"{ $.level != "WARN" }"#, ev));
        assert!(m("{ $.latency > 100 }", ev));
        assert!(m("{ $.latency >= 250 }", ev));
        assert!(!m("{ $.latency < 100 }", ev));
        assert!(m("{ $.user.id = 7 }", ev));
        assert!(m("{ $.tags[1] = \"b\" }", ev));
        assert!(m("{ ($.latency > 100) && ($.user.name = \"ann\") }", ev));
        assert!(m("{ $.latency > 1000 || $.level = ERROR }", ev));
        assert!(!m("{ $.latency > 1000 && $.level = ERROR }", ev));
        assert!(m("{ $.ok IS FALSE }", ev));
        assert!(m("{ $.none IS NULL }", ev));
        assert!(m("{ $.missing NOT EXISTS }", ev));
        assert!(!m("{ $.level NOT EXISTS }", ev));
        assert!(!m(r#"{ $.level = "ERROR" }"#, "not json"));
        // Lambda's prefix before the JSON.
        assert!(m(
            "{ $.a = 1 }",
            "2024-01-01T00:00:00Z\tid\tINFO\t{\"a\": 1}"
        ));
        assert!(Filter::parse("{ $.a = 1").is_err());
        assert!(Filter::parse("{ a = 1 }").is_err());
    }

    #[test]
    fn space_delimited_fields() {
        let line =
            r#"127.0.0.1 frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#;
        assert!(m(
            "[ip, user, timestamp, request, status_code = 404, bytes]",
            line
        ));
        assert!(m("[..., status_code = 404, bytes > 1000]", line));
        assert!(!m("[..., status_code = 200, bytes]", line));
        assert!(m("[ip = 127.0.0.*, ...]", line));
        assert!(!m("[ip, user]", line));
    }
}
