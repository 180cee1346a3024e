//! Windows of continuous queries, in Arroyo's syntax: a call in GROUP BY,
//! `tumble(INTERVAL '1' MINUTE)`, `hop(INTERVAL '10' SECOND, INTERVAL '1' MINUTE)`
//! (slide, width) or `session(INTERVAL '30' SECOND)` (gap). The call is replaced by
//! the `window_start` and `window_end` columns each window's rows carry, so the
//! query's aggregates run over one window at a time.

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, SetExpr, Statement,
    TableFactor, Value,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::command::interval_ms;
use crate::error::{Error, Result};

/// A window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// Fixed, back to back.
    Tumble {
        /// Width, ms.
        size: i64,
    },
    /// Fixed width, starting every `slide`.
    Hop {
        /// Distance between starts, ms.
        slide: i64,
        /// Width, ms.
        size: i64,
    },
    /// Per key, closed after a gap without records.
    Session {
        /// The gap, ms.
        gap: i64,
    },
}

impl WindowKind {
    /// The windows (start, end) holding time `ts` (tumble and hop).
    pub fn assign(&self, ts: i64, out: &mut Vec<(i64, i64)>) {
        out.clear();
        match *self {
            WindowKind::Tumble { size } => {
                let start = ts.div_euclid(size) * size;
                out.push((start, start + size));
            }
            WindowKind::Hop { slide, size } => {
                let last = ts.div_euclid(slide) * slide;
                let mut start = last;
                while start > ts - size {
                    out.push((start, start + size));
                    start -= slide;
                }
            }
            WindowKind::Session { gap } => out.push((ts, ts + gap)),
        }
    }
}

/// A continuous query, parsed.
#[derive(Debug, Clone)]
pub struct WindowQuery {
    /// Its window, `None` for a push query of single records (`EMIT CHANGES`).
    pub kind: Option<WindowKind>,
    /// The table it reads.
    pub table: String,
    /// The query with the window call replaced by `window_start, window_end`.
    pub sql: String,
    /// For session windows: the other GROUP BY columns (the session's key).
    pub keys: Vec<String>,
}

fn interval_arg(a: &FunctionArg) -> Option<i64> {
    let e = match a {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => e,
        FunctionArg::Named {
            arg: FunctionArgExpr::Expr(e),
            ..
        } => e,
        _ => return None,
    };
    match e {
        Expr::Interval(i) => {
            let v = match i.value.as_ref() {
                Expr::Value(v) => match &v.value {
                    Value::SingleQuotedString(s) => s.clone(),
                    Value::Number(n, _) => n.clone(),
                    _ => return None,
                },
                _ => return None,
            };
            let unit = i.leading_field.as_ref().map(|f| f.to_string());
            interval_ms(&v, unit.as_deref())
        }
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => interval_ms(s, None),
            _ => None,
        },
        _ => None,
    }
}

fn window_call(e: &Expr) -> Result<Option<WindowKind>> {
    let Expr::Function(f) = e else {
        return Ok(None);
    };
    let name = f.name.to_string().to_lowercase();
    if !matches!(name.as_str(), "tumble" | "hop" | "session") {
        return Ok(None);
    }
    let args: Vec<&FunctionArg> = match &f.args {
        FunctionArguments::List(l) => l.args.iter().collect(),
        _ => Vec::new(),
    };
    let ms: Vec<i64> = args.iter().filter_map(|a| interval_arg(a)).collect();
    let bad = || Error::Invalid(format!("{name}() takes INTERVAL arguments: {e}"));
    if ms.len() != args.len() {
        return Err(bad());
    }
    Ok(Some(match (name.as_str(), ms.as_slice()) {
        ("tumble", [size]) => WindowKind::Tumble { size: *size },
        ("hop", [slide, size]) if slide <= size => WindowKind::Hop {
            slide: *slide,
            size: *size,
        },
        ("session", [gap]) => WindowKind::Session { gap: *gap },
        _ => return Err(bad()),
    }))
}

/// Parses a continuous query.
pub fn parse(sql: &str) -> Result<WindowQuery> {
    let mut stmts = Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| Error::Syntax {
        position: 0,
        message: e.to_string(),
    })?;
    if stmts.len() != 1 {
        return Err(Error::Invalid("a continuous query is one SELECT".into()));
    }
    let Some(Statement::Query(q)) = stmts.first_mut() else {
        return Err(Error::Invalid("a continuous query is one SELECT".into()));
    };
    let SetExpr::Select(select) = q.body.as_mut() else {
        return Err(Error::Invalid(
            "a continuous query is one SELECT (no UNION)".into(),
        ));
    };
    let table = match select.from.as_slice() {
        [t] if t.joins.is_empty() => match &t.relation {
            TableFactor::Table { name, .. } => name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(|i| {
                    if i.quote_style.is_some() {
                        i.value.clone()
                    } else {
                        i.value.to_lowercase()
                    }
                })
                .ok_or_else(|| Error::Invalid("cannot read the table name".into()))?,
            _ => {
                return Err(Error::Invalid(
                    "a continuous query reads one stream table".into(),
                ))
            }
        },
        _ => {
            return Err(Error::Invalid(
                "a continuous query reads one stream table (no joins)".into(),
            ))
        }
    };
    let mut kind = None;
    let mut keys = Vec::new();
    if let GroupByExpr::Expressions(exprs, _) = &mut select.group_by {
        let mut out = Vec::with_capacity(exprs.len() + 1);
        for e in exprs.drain(..) {
            match window_call(&e)? {
                Some(k) => {
                    if kind.is_some() {
                        return Err(Error::Invalid("one window per query".into()));
                    }
                    kind = Some(k);
                    out.push(Expr::Identifier(Ident::new("window_start")));
                    out.push(Expr::Identifier(Ident::new("window_end")));
                }
                None => {
                    if let Expr::Identifier(i) = &e {
                        keys.push(i.value.to_lowercase());
                    }
                    out.push(e);
                }
            }
        }
        *exprs = out;
    }
    Ok(WindowQuery {
        kind,
        table,
        sql: stmts.first().map(|s| s.to_string()).unwrap_or_default(),
        keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_the_window_call() {
        let q = parse(
            "SELECT window_end, k, count(*) AS n FROM t GROUP BY tumble(INTERVAL '1' SECOND), k",
        )
        .unwrap();
        assert_eq!(q.kind, Some(WindowKind::Tumble { size: 1000 }));
        assert_eq!(q.table, "t");
        assert!(
            q.sql.contains("GROUP BY window_start, window_end, k"),
            "{}",
            q.sql
        );
        let q =
            parse("SELECT count(*) FROM t GROUP BY hop(INTERVAL '1 second', INTERVAL '3 seconds')")
                .unwrap();
        assert_eq!(
            q.kind,
            Some(WindowKind::Hop {
                slide: 1000,
                size: 3000
            })
        );
        let mut w = Vec::new();
        q.kind.unwrap().assign(2500, &mut w);
        assert_eq!(w, vec![(2000, 5000), (1000, 4000), (0, 3000)]);
    }
}
