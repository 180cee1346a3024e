//! Request validation as AWS's JSON 1.1 services do it, declared once per action.
//!
//! An action declares its input as a [`Shape`]: a list of [`Member`]s in the order of
//! AWS's model, each with a [`Type`], whether it is required, and its [`Rule`]s (length,
//! range, pattern, enum). [`validate`] then answers a request as AWS does:
//!
//! 1. Every member of the wrong type is a `SerializationException`, reported before any
//!    other rule is checked (the first one met, in model order), in the wording of AWS's
//!    deserializer (`class java.lang.String can not be converted to an Integer`, `Start of
//!    list found where not expected`, ...). Unknown members and nulls are left out.
//! 2. Every rule the request breaks, in model order (a list's structures one by one,
//!    a structure's members in their order), up to [`MAX_VIOLATIONS`], is reported in one
//!    `ValidationException`: `2 validation errors detected: Value 'ab cd' at 'streamName'
//!    failed to satisfy constraint: Member must satisfy regular expression pattern:
//!    [a-zA-Z0-9_.-]+; Value null at 'shardCount' failed to satisfy constraint: Member
//!    must not be null`.
//!
//! What passes comes back normalized: only declared members, integers as
//! [`Value::Int`] (fractions cut, clamped to the type's range), blobs decoded into
//! [`Value::Bytes`], timestamps as [`Value::Timestamp`]. The action's own checks
//! (AWS's `InvalidArgumentException`s) run after, on the normalized document.
//!
//! Text lengths are counted in UTF-16 code units, as AWS's (Java) services count them.
//!
//! ```
//! use freshet_protocol::validate::{validate, Member, Rule, Shape, Type};
//! use freshet_protocol::value::{map, Value};
//!
//! static INPUT: Shape = Shape {
//!     members: &[Member::new("Limit", Type::Integer).with(&[Rule::Min(1), Rule::Max(10)])],
//!     shown_as: "Input",
//! };
//! let err = validate(&INPUT, &map([("Limit", Value::Int(0))])).unwrap_err();
//! assert_eq!(
//!     err.message,
//!     "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: \
//!      Member must have value greater than or equal to 1"
//! );
//! ```

mod check;
mod types;

use std::fmt;

use crate::error::{ApiError, ApiResult};
use crate::value::Value;

pub use check::Violation;

/// Most violations one `ValidationException` reports (AWS stops collecting at ten).
pub const MAX_VIOLATIONS: usize = 10;

/// A regular expression of AWS's model, with a matcher that decides it (Java's
/// `String.matches`: the whole text must match).
#[derive(Clone, Copy)]
pub struct Pattern {
    /// The expression as AWS's messages print it.
    pub regex: &'static str,
    /// Whether a text matches the whole expression.
    pub matches: fn(&str) -> bool,
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({})", self.regex)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.regex == other.regex
    }
}

impl Eq for Pattern {}

/// A member's type in AWS's model.
#[derive(Debug, Clone, Copy)]
pub enum Type {
    /// Text.
    String,
    /// A 32-bit integer.
    Integer,
    /// A 64-bit integer.
    Long,
    /// A boolean.
    Boolean,
    /// Bytes: base64 text in JSON, a byte string in CBOR.
    Blob,
    /// A point in time: epoch seconds in JSON, tag 1 in CBOR.
    Timestamp,
    /// A list whose elements are declared by the member (named `member`).
    List(&'static Member),
    /// A map from text keys (declared by the first member) to values (the second).
    Map(&'static Member, &'static Member),
    /// A structure.
    Structure(&'static Shape),
}

/// A structure: its members in the order of AWS's model.
#[derive(Debug)]
pub struct Shape {
    /// The members, in model order.
    pub members: &'static [Member],
    /// How AWS prints a value of this structure inside a list (`Value '[x, y]'`): the
    /// Java object's `toString`.
    pub shown_as: &'static str,
}

impl Shape {
    /// The declaration of a member, by its name.
    pub fn member(&self, name: &str) -> Option<&'static Member> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// One rule a member's value must satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Text matching a regular expression.
    Pattern(&'static Pattern),
    /// At least this length (text: UTF-16 code units; blob: bytes; list, map: entries).
    MinLen(u64),
    /// At most this length.
    MaxLen(u64),
    /// An integer at least this.
    Min(i64),
    /// An integer at most this.
    Max(i64),
    /// Text that is one of these values (listed as AWS's messages list them).
    Enum(&'static [&'static str]),
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Pattern(p) => write!(
                f,
                "Member must satisfy regular expression pattern: {}",
                p.regex
            ),
            Rule::MinLen(n) => write!(f, "Member must have length greater than or equal to {n}"),
            Rule::MaxLen(n) => write!(f, "Member must have length less than or equal to {n}"),
            Rule::Min(n) => write!(f, "Member must have value greater than or equal to {n}"),
            Rule::Max(n) => write!(f, "Member must have value less than or equal to {n}"),
            Rule::Enum(values) => write!(
                f,
                "Member must satisfy enum value set: [{}]",
                values.join(", ")
            ),
        }
    }
}

/// One member of a structure.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    /// The member's name, as the wire spells it (`StreamName`).
    pub name: &'static str,
    /// Its type.
    pub ty: Type,
    /// Whether it must be present (`Member must not be null`).
    pub required: bool,
    /// Its rules, in the order AWS reports them.
    pub rules: &'static [Rule],
}

impl Member {
    /// An optional member without rules.
    pub const fn new(name: &'static str, ty: Type) -> Member {
        Member {
            name,
            ty,
            required: false,
            rules: &[],
        }
    }

    /// The same member, required.
    pub const fn required(self) -> Member {
        Member {
            required: true,
            ..self
        }
    }

    /// The same member with these rules.
    pub const fn with(self, rules: &'static [Rule]) -> Member {
        Member { rules, ..self }
    }

    /// The same member under another name (shapes that share a declaration).
    pub const fn named(self, name: &'static str) -> Member {
        Member { name, ..self }
    }

    /// Whether a text value satisfies every rule of this member.
    pub fn accepts_str(&self, s: &str) -> bool {
        self.rules.iter().all(|r| check::str_satisfies(r, s))
    }

    /// Whether an integer value satisfies every rule of this member.
    pub fn accepts_int(&self, i: i64) -> bool {
        self.rules.iter().all(|r| check::int_satisfies(r, i))
    }

    /// Whether a blob, list or map of `len` bytes or entries satisfies every rule of
    /// this member.
    pub fn accepts_len(&self, len: usize) -> bool {
        self.rules
            .iter()
            .all(|r| check::len_satisfies(r, len as u64))
    }

    /// The violations of a value of this member (already of its type), as
    /// [`validate`] reports them at `path` (`streamName`, `records.1.member.data`):
    /// for callers that check one value outside a request (the engine's own checks).
    pub fn violations(&self, value: Option<&Value>, path: &str) -> Vec<Violation> {
        let mut out = Vec::new();
        check::member_at(self, value, path.to_string(), &mut out);
        out
    }
}

/// Validates a request document against its action's input shape: the first member of
/// the wrong type as a `SerializationException`, else every broken rule in one
/// `ValidationException`, else the normalized document (see the module docs).
pub fn validate(shape: &'static Shape, doc: &Value) -> ApiResult<Value> {
    let normalized = types::structure(shape, doc)?;
    let mut out = Vec::new();
    check::structure(shape, &normalized, None, &mut out);
    if out.is_empty() {
        Ok(normalized)
    } else {
        Err(validation_error(&out))
    }
}

/// The `ValidationException` reporting these violations: `N validation error(s)
/// detected: ...; ...`.
pub fn validation_error(violations: &[Violation]) -> ApiError {
    ApiError::validation(validation_message(violations))
}

/// The message of [`validation_error`].
pub fn validation_message(violations: &[Violation]) -> String {
    let n = violations.len();
    let mut msg = format!(
        "{n} validation error{} detected: ",
        if n == 1 { "" } else { "s" }
    );
    for (i, v) in violations.iter().enumerate() {
        if i > 0 {
            msg.push_str("; ");
        }
        msg.push_str(&v.to_string());
    }
    msg
}

/// The name of a member as AWS's validation messages spell it: `StreamName` ->
/// `streamName`.
pub fn path_name(member: &str) -> String {
    let mut chars = member.chars();
    match chars.next() {
        Some(c) => c.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests;
