//! Step two of validation: every rule of every member, collected as [`Violation`]s in
//! model order.

use std::fmt;

use super::{path_name, Member, Rule, Shape, Type, MAX_VIOLATIONS};
use crate::value::Value;

/// What a violation broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    /// A required member is missing.
    NotNull,
    /// A rule of the member itself.
    Rule(Rule),
    /// The rules of a list's elements (some element breaks one).
    Elements(&'static [Rule]),
    /// The rules of a map's keys.
    Keys(&'static [Rule]),
    /// The rules of a map's values.
    Values(&'static [Rule]),
}

/// AWS lists the rules of a list's elements or a map's keys and values most
/// restrictive bound first: the reverse of the model's order.
fn bracketed(rules: &[Rule]) -> String {
    let parts: Vec<String> = rules.iter().rev().map(Rule::to_string).collect();
    format!("[{}]", parts.join(", "))
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Constraint::NotNull => f.write_str("Member must not be null"),
            Constraint::Rule(r) => write!(f, "{r}"),
            Constraint::Elements(rules) => {
                write!(f, "Member must satisfy constraint: {}", bracketed(rules))
            }
            Constraint::Keys(rules) => {
                write!(f, "Map keys must satisfy constraint: {}", bracketed(rules))
            }
            Constraint::Values(rules) => {
                write!(f, "Map value must satisfy constraint: {}", bracketed(rules))
            }
        }
    }
}

/// One broken rule: where, the value AWS prints for it, and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The member's path (`streamName`, `records.3.member.partitionKey`).
    pub path: String,
    /// The value as AWS prints it; `None` for a missing member (`Value null`).
    pub value: Option<String>,
    /// What it broke.
    pub constraint: Constraint,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "Value '{v}'")?,
            None => f.write_str("Value null")?,
        }
        write!(
            f,
            " at '{}' failed to satisfy constraint: {}",
            self.path, self.constraint
        )
    }
}

/// Whether text is at least `n` UTF-16 code units long.
fn utf16_at_least(s: &str, n: u64) -> bool {
    // A byte of UTF-8 is at most one UTF-16 code unit; ASCII is exactly one.
    if (s.len() as u64) < n {
        return false;
    }
    s.is_ascii() || s.encode_utf16().count() as u64 >= n
}

/// Whether text is at most `n` UTF-16 code units long.
fn utf16_at_most(s: &str, n: u64) -> bool {
    (s.len() as u64) <= n || s.encode_utf16().count() as u64 <= n
}

pub(super) fn str_satisfies(rule: &Rule, s: &str) -> bool {
    match rule {
        Rule::Pattern(p) => (p.matches)(s),
        Rule::MinLen(n) => utf16_at_least(s, *n),
        Rule::MaxLen(n) => utf16_at_most(s, *n),
        Rule::Enum(values) => values.contains(&s),
        Rule::Min(_) | Rule::Max(_) => true,
    }
}

pub(super) fn int_satisfies(rule: &Rule, i: i64) -> bool {
    match rule {
        Rule::Min(n) => i >= *n,
        Rule::Max(n) => i <= *n,
        _ => true,
    }
}

pub(super) fn len_satisfies(rule: &Rule, len: u64) -> bool {
    match rule {
        Rule::MinLen(n) => len >= *n,
        Rule::MaxLen(n) => len <= *n,
        _ => true,
    }
}

fn satisfies(rule: &Rule, v: &Value) -> bool {
    match v {
        Value::Str(s) => str_satisfies(rule, s),
        Value::Int(i) => int_satisfies(rule, i64::try_from(*i).unwrap_or(i64::MAX)),
        Value::Bytes(b) => len_satisfies(rule, b.len() as u64),
        Value::List(l) => len_satisfies(rule, l.len() as u64),
        Value::Map(m) => len_satisfies(rule, m.len() as u64),
        _ => true,
    }
}

fn satisfies_all(rules: &[Rule], v: &Value) -> bool {
    rules.iter().all(|r| satisfies(r, v))
}

/// A value as AWS prints it in a violation (Java's `toString` of the member).
fn shown(ty: &Type, v: &Value) -> String {
    match (ty, v) {
        (_, Value::Str(s)) => s.clone(),
        (_, Value::Int(i)) => i.to_string(),
        (_, Value::Bool(b)) => b.to_string(),
        (_, Value::Float(f)) => f.to_string(),
        (_, Value::Timestamp(ms)) => ms.to_string(),
        (_, Value::Null) => "null".into(),
        (_, Value::Bytes(b)) => format!("java.nio.HeapByteBuffer[pos=0 lim={0} cap={0}]", b.len()),
        (Type::Structure(shape), _) => shape.shown_as.to_string(),
        (Type::List(element), Value::List(items)) => {
            let parts: Vec<String> = items.iter().map(|x| shown(&element.ty, x)).collect();
            format!("[{}]", parts.join(", "))
        }
        (Type::Map(_, value), Value::Map(entries)) => {
            let parts: Vec<String> = entries
                .iter()
                .map(|(k, x)| format!("{k}={}", shown(&value.ty, x)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        (_, Value::List(_)) => "[]".into(),
        (_, Value::Map(_)) => "{}".into(),
    }
}

fn push(out: &mut Vec<Violation>, path: &str, value: Option<String>, constraint: Constraint) {
    if out.len() < MAX_VIOLATIONS {
        out.push(Violation {
            path: path.to_string(),
            value,
            constraint,
        });
    }
}

/// Checks the members of a (normalized) structure, in model order.
pub(super) fn structure(shape: &Shape, v: &Value, parent: Option<&str>, out: &mut Vec<Violation>) {
    for m in shape.members {
        if out.len() >= MAX_VIOLATIONS {
            return;
        }
        let path = match parent {
            Some(p) => format!("{p}.{}", path_name(m.name)),
            None => path_name(m.name),
        };
        member_at(m, v.get(m.name), path, out);
    }
}

/// Checks one member's value (already of its type) at `path`.
pub(super) fn member_at(m: &Member, v: Option<&Value>, path: String, out: &mut Vec<Violation>) {
    let Some(v) = v.filter(|v| !matches!(v, Value::Null)) else {
        if m.required {
            push(out, &path, None, Constraint::NotNull);
        }
        return;
    };
    for rule in m.rules {
        if !satisfies(rule, v) {
            push(out, &path, Some(shown(&m.ty, v)), Constraint::Rule(*rule));
        }
    }
    match (&m.ty, v) {
        (Type::List(element), Value::List(items)) => match &element.ty {
            Type::Structure(shape) => {
                for (i, item) in items.iter().enumerate() {
                    if out.len() >= MAX_VIOLATIONS {
                        return;
                    }
                    structure(shape, item, Some(&format!("{path}.{}.member", i + 1)), out);
                }
            }
            _ if items.iter().any(|x| !satisfies_all(element.rules, x)) => push(
                out,
                &path,
                Some(shown(&m.ty, v)),
                Constraint::Elements(element.rules),
            ),
            _ => {}
        },
        (Type::Map(key, value), Value::Map(entries)) => {
            if entries
                .iter()
                .any(|(k, _)| !key.rules.iter().all(|r| str_satisfies(r, k)))
            {
                push(
                    out,
                    &path,
                    Some(shown(&m.ty, v)),
                    Constraint::Keys(key.rules),
                );
            }
            if entries.iter().any(|(_, x)| !satisfies_all(value.rules, x)) {
                push(
                    out,
                    &path,
                    Some(shown(&m.ty, v)),
                    Constraint::Values(value.rules),
                );
            }
        }
        (Type::Structure(shape), _) => structure(shape, v, Some(&path), out),
        _ => {}
    }
}
