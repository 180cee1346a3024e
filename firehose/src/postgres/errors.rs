//! Telling database errors apart: a row the table refuses (and which line of the COPY
//! it was), a failure worth retrying, or one that needs a person.

use tokio_postgres::error::DbError;

use super::PgError;

/// The SQLSTATEs of errors about one row's data: class 22 (data exception), class 23
/// (integrity constraint violation), and 54000 (a row too big for an index).
pub(super) fn is_row_error(sqlstate: &str) -> bool {
    sqlstate.starts_with("22") || sqlstate.starts_with("23") || sqlstate == "54000"
}

/// SQLSTATEs that pass: connection trouble (08), a transaction rolled back by the server
/// (40: serialization failure, deadlock), insufficient resources (53: disk full, too
/// many connections), an object in use (55), the operator or a crash (57: shutdown,
/// starting up, cancelled), system errors (58), and a read-only server (25006, a
/// standby about to be promoted).
fn is_transient(sqlstate: &str) -> bool {
    matches!(
        sqlstate.get(..2),
        Some("08" | "40" | "53" | "55" | "57" | "58")
    ) || sqlstate == "25006"
}

/// The database's error as one line: `ERROR 42P01: relation "t" does not exist`, with
/// its detail and hint.
pub(super) fn describe_db_error(db: &DbError) -> String {
    let mut s = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    if let Some(d) = db.detail() {
        s.push_str(" DETAIL: ");
        s.push_str(d);
    }
    if let Some(h) = db.hint() {
        s.push_str(" HINT: ");
        s.push_str(h);
    }
    s
}

/// Classifies an error that is not (or not handled as) a refused row: errors with no
/// SQLSTATE (the connection broke, timed out, or could not be made) and the transient
/// SQLSTATEs are [`PgError::Transient`], everything else (missing table or column, bad
/// credentials, no privilege, …) [`PgError::Permanent`].
pub(super) fn classify(e: &tokio_postgres::Error) -> PgError {
    match e.as_db_error() {
        None => PgError::Transient(e.to_string()),
        Some(db) if is_transient(db.code().code()) => PgError::Transient(describe_db_error(db)),
        Some(db) => PgError::Permanent(describe_db_error(db)),
    }
}

/// The message recorded for a refused row: the database's message, the column when
/// the error's context names it, and the detail.
pub(super) fn refusal_message(db: &DbError, column: Option<&str>) -> String {
    let mut s = db.message().to_string();
    if let Some(c) = column {
        s.push_str(&format!(" (column {c})"));
    }
    if let Some(d) = db.detail() {
        s.push_str(" DETAIL: ");
        s.push_str(d);
    }
    s
}

/// The line (1-based) and, when given, the column of a COPY error, from the error's
/// context (`where`): `COPY t, line 3, column n: "abc"`, `COPY t, line 3: "…"`, or
/// `COPY t, line 3`. `relname` is the table's unqualified name, as PostgreSQL prints
/// it. Any line of the context may hold it (a trigger adds lines of its own). The word
/// `line` may be translated (`lc_messages`), so the number is taken as the first one
/// after `COPY <table>, `.
pub(super) fn copy_error_line(where_: &str, relname: &str) -> Option<(u64, Option<String>)> {
    let prefix = format!("COPY {relname}, ");
    for ctx in where_.lines() {
        let Some(rest) = ctx.trim_start().strip_prefix(&prefix) else {
            continue;
        };
        // Skip the word for "line" (a few letters and spaces) to the number.
        let Some(digits_at) = rest.find(|c: char| c.is_ascii_digit()) else {
            continue;
        };
        if digits_at > 24 || rest[..digits_at].contains([',', ':']) {
            continue;
        }
        let after = &rest[digits_at..];
        let len = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        let line: u64 = after[..len].parse().ok()?;
        // `, column NAME: "value"` or `, column NAME: null input` or `, column NAME`.
        let column = after[len..].strip_prefix(", ").and_then(|r| {
            let (_word, name_and_value) = r.split_once(' ')?;
            let name = name_and_value
                .split_once(": ")
                .map_or(name_and_value, |(n, _)| n);
            (!name.is_empty()).then(|| name.to_string())
        });
        return Some((line, column));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_error_lines() {
        assert_eq!(
            copy_error_line("COPY events, line 3, column n: \"abc\"", "events"),
            Some((3, Some("n".to_string())))
        );
        assert_eq!(
            copy_error_line("COPY events, line 12, column name: null input", "events"),
            Some((12, Some("name".to_string())))
        );
        assert_eq!(
            copy_error_line("COPY events, line 7: \"1\tx\"", "events"),
            Some((7, None))
        );
        assert_eq!(
            copy_error_line("COPY events, line 9", "events"),
            Some((9, None))
        );
        assert_eq!(
            copy_error_line(
                "COPY Page Views, line 2, column my col: \"x\"",
                "Page Views"
            ),
            Some((2, Some("my col".to_string())))
        );
        // A trigger's context comes first.
        assert_eq!(
            copy_error_line(
                "PL/pgSQL function check_row() line 3 at RAISE\nCOPY t, line 41",
                "t"
            ),
            Some((41, None))
        );
        // Translated.
        assert_eq!(
            copy_error_line("COPY t, Zeile 5, Spalte a: \u{bb}x\u{ab}", "t"),
            Some((5, Some("a".to_string())))
        );
        // Another table's COPY, or no COPY context at all.
        assert_eq!(copy_error_line("COPY other, line 3", "t"), None);
        assert_eq!(copy_error_line("SQL statement \"SELECT 1\"", "t"), None);
        assert_eq!(copy_error_line("", "t"), None);
    }

    #[test]
    fn row_and_transient_sqlstates() {
        for s in ["22P02", "22001", "23502", "23505", "23514", "54000"] {
            assert!(is_row_error(s), "{s}");
        }
        for s in ["42P01", "42703", "08006", "57P01", "XX000", "25006"] {
            assert!(!is_row_error(s), "{s}");
        }
        for s in [
            "08006", "57P01", "57P03", "53100", "53300", "40001", "40P01", "55P03", "25006",
        ] {
            assert!(is_transient(s), "{s}");
        }
        for s in ["42P01", "28P01", "3D000", "42501", "22P02", "XX000"] {
            assert!(!is_transient(s), "{s}");
        }
    }
}
