//! The Query protocol's request parameters: a form (`Action=CreateRole&RoleName=x`)
//! in a POST body or a GET's query string, lists as `TagKeys.member.1`, lists of
//! structures as `Tags.member.1.Key`, and their validation in AWS's words.

use std::collections::{BTreeMap, HashMap};

use freshet_protocol::error::ApiError;

use crate::error::{shown, validation};

/// A request's parameters.
#[derive(Debug, Default, Clone)]
pub struct Params {
    values: HashMap<String, String>,
}

impl Params {
    /// Parses a form; of a repeated name the first value counts.
    pub fn parse(form: &[u8]) -> Params {
        let mut p = Params::default();
        p.add(form);
        p
    }

    /// Adds the parameters of another form (a POST's query string) that the first did
    /// not name.
    pub fn add(&mut self, form: &[u8]) {
        for (k, v) in form_urlencoded::parse(form) {
            self.values
                .entry(k.into_owned())
                .or_insert_with(|| v.into_owned());
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The members of the list `name` (`name.member.N`), in index order; `None` when
    /// the list is absent (an empty list is sent as `name=`).
    pub fn list(&self, name: &str) -> Option<Vec<&str>> {
        let prefix = format!("{name}.member.");
        let mut members = BTreeMap::new();
        for (k, v) in &self.values {
            if let Some(n) = k.strip_prefix(&prefix).and_then(|i| i.parse::<u64>().ok()) {
                members.insert(n, v.as_str());
            }
        }
        if members.is_empty() && !self.values.contains_key(name) {
            return None;
        }
        Some(members.into_values().collect())
    }

    /// The structures of the list `name` (`name.member.N.Field`), each a map from field
    /// to value, in index order; `None` when the list is absent.
    pub fn structs(&self, name: &str) -> Option<Vec<HashMap<&str, &str>>> {
        let prefix = format!("{name}.member.");
        let mut members: BTreeMap<u64, HashMap<&str, &str>> = BTreeMap::new();
        for (k, v) in &self.values {
            let Some(rest) = k.strip_prefix(&prefix) else {
                continue;
            };
            let Some((n, field)) = rest.split_once('.') else {
                continue;
            };
            if let Ok(n) = n.parse::<u64>() {
                members.entry(n).or_default().insert(field, v.as_str());
            }
        }
        if members.is_empty() && !self.values.contains_key(name) {
            return None;
        }
        Some(members.into_values().collect())
    }
}

/// Whether a value matches a model's pattern.
pub type Matcher = fn(&str) -> bool;

/// A string constraint of the API's model.
#[derive(Debug, Clone, Copy)]
pub struct Text {
    /// Fewest characters.
    pub min: usize,
    /// Most characters.
    pub max: usize,
    /// The model's pattern as AWS quotes it, and a matcher for it.
    pub pattern: Option<(&'static str, Matcher)>,
}

/// Accumulates the broken constraints of one request, as AWS lists them: `2 validation
/// errors detected: Value 'x' at 'roleName' failed to satisfy constraint: ...; ...`.
#[derive(Debug, Default)]
pub struct Checks {
    errors: Vec<String>,
}

impl Checks {
    fn broke(&mut self, value: Option<&str>, field: &str, rule: &str) {
        let value = match value {
            Some(v) => format!("'{}'", shown(v)),
            None => "null".to_string(),
        };
        self.errors.push(format!(
            "Value {value} at '{field}' failed to satisfy constraint: {rule}"
        ));
    }

    /// Records a broken constraint in AWS's words.
    pub fn fail(&mut self, value: Option<&str>, field: &str, rule: &str) {
        self.broke(value, field, rule);
    }

    /// Checks a present value against `rule`; returns it.
    pub fn text<'a>(&mut self, value: &'a str, field: &str, rule: &Text) -> &'a str {
        let n = value.chars().count();
        if n < rule.min {
            self.broke(
                Some(value),
                field,
                &format!(
                    "Member must have length greater than or equal to {}",
                    rule.min
                ),
            );
        }
        if n > rule.max {
            self.broke(
                Some(value),
                field,
                &format!("Member must have length less than or equal to {}", rule.max),
            );
        }
        if let Some((regex, matches)) = rule.pattern {
            if n >= rule.min.max(1) && !matches(value) {
                self.broke(
                    Some(value),
                    field,
                    &format!("Member must satisfy regular expression pattern: {regex}"),
                );
            }
        }
        value
    }

    /// A required string parameter: `Member must not be null` when absent.
    pub fn required<'a>(&mut self, p: &'a Params, name: &str, field: &str, rule: &Text) -> &'a str {
        match p.get(name) {
            Some(v) => self.text(v, field, rule),
            None => {
                self.broke(None, field, "Member must not be null");
                ""
            }
        }
    }

    /// An optional string parameter.
    pub fn optional<'a>(
        &mut self,
        p: &'a Params,
        name: &str,
        field: &str,
        rule: &Text,
    ) -> Option<&'a str> {
        p.get(name).map(|v| self.text(v, field, rule))
    }

    /// An optional integer parameter within `min..=max`.
    pub fn integer(
        &mut self,
        p: &Params,
        name: &str,
        field: &str,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        let raw = p.get(name)?;
        let Ok(v) = raw.trim().parse::<i64>() else {
            self.broke(Some(raw), field, "Member must be an integer");
            return None;
        };
        if v < min {
            self.broke(
                Some(raw),
                field,
                &format!("Member must have value greater than or equal to {min}"),
            );
            return None;
        }
        if v > max {
            self.broke(
                Some(raw),
                field,
                &format!("Member must have value less than or equal to {max}"),
            );
            return None;
        }
        Some(v)
    }

    /// An optional boolean parameter (`true` / `false`).
    pub fn boolean(&mut self, p: &Params, name: &str, field: &str) -> Option<bool> {
        let raw = p.get(name)?;
        match raw.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                self.broke(Some(raw), field, "Member must be a boolean (true or false)");
                None
            }
        }
    }

    /// An optional parameter that must be one of `allowed`.
    pub fn one_of<'a>(
        &mut self,
        p: &'a Params,
        name: &str,
        field: &str,
        allowed: &[&str],
    ) -> Option<&'a str> {
        let raw = p.get(name)?;
        if allowed.contains(&raw) {
            Some(raw)
        } else {
            self.broke(
                Some(raw),
                field,
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    allowed.join(", ")
                ),
            );
            None
        }
    }

    /// Whether nothing was broken so far.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok` when every constraint held, else one `ValidationError` listing them all.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.errors.len() {
            0 => Ok(()),
            1 => Err(validation(format!(
                "1 validation error detected: {}",
                self.errors.join("; ")
            ))),
            n => Err(validation(format!(
                "{n} validation errors detected: {}",
                self.errors.join("; ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: Text = Text {
        min: 1,
        max: 64,
        pattern: Some(("[a-z]+", |s: &str| {
            s.bytes().all(|b| b.is_ascii_lowercase())
        })),
    };

    #[test]
    fn forms_decode_and_first_value_wins() {
        let mut p = Params::parse(b"Action=CreateRole&RoleName=a%2Bb+c&RoleName=second");
        p.add(b"RoleName=third&Version=2010-05-08");
        assert_eq!(p.get("Action"), Some("CreateRole"));
        assert_eq!(p.get("RoleName"), Some("a+b c"));
        assert_eq!(p.get("Version"), Some("2010-05-08"));
        assert_eq!(p.get("Nope"), None);
    }

    #[test]
    fn lists_are_in_index_order_not_text_order() {
        let p = Params::parse(
            b"TagKeys.member.10=j&TagKeys.member.2=b&TagKeys.member.1=a&Other.member.1=x",
        );
        assert_eq!(p.list("TagKeys"), Some(vec!["a", "b", "j"]));
        assert_eq!(p.list("Missing"), None);
        assert_eq!(Params::parse(b"TagKeys=").list("TagKeys"), Some(vec![]));
    }

    #[test]
    fn structure_lists_group_fields_by_index() {
        let p = Params::parse(
            b"Tags.member.2.Key=k2&Tags.member.1.Key=k1&Tags.member.1.Value=v1&Tags.member.2.Value=",
        );
        let tags = p.structs("Tags").unwrap_or_default();
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].get("Key"), Some(&"k1"));
        assert_eq!(tags[0].get("Value"), Some(&"v1"));
        assert_eq!(tags[1].get("Value"), Some(&""));
        assert_eq!(
            Params::parse(b"Tags=").structs("Tags").map(|t| t.len()),
            Some(0)
        );
        assert!(Params::parse(b"").structs("Tags").is_none());
    }

    #[test]
    fn every_broken_constraint_is_listed_in_aws_words() {
        let p = Params::parse(b"RoleName=Bad!&MaxItems=0&Flag=maybe");
        let mut c = Checks::default();
        c.required(&p, "RoleName", "roleName", &NAME);
        c.required(&p, "PolicyName", "policyName", &NAME);
        c.integer(&p, "MaxItems", "maxItems", 1, 1000);
        c.boolean(&p, "Flag", "flag");
        let e = c.finish().err().unwrap_or_else(|| validation(""));
        assert_eq!(e.kind, "ValidationError");
        assert_eq!(e.status, 400);
        assert!(
            e.message.starts_with("4 validation errors detected: "),
            "{}",
            e.message
        );
        assert!(e.message.contains(
            "Value 'Bad!' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-z]+"
        ));
        assert!(e.message.contains(
            "Value null at 'policyName' failed to satisfy constraint: Member must not be null"
        ));
        assert!(e
            .message
            .contains("Member must have value greater than or equal to 1"));
    }

    #[test]
    fn lengths_count_characters() {
        let mut c = Checks::default();
        c.text(
            &"é".repeat(64),
            "roleName",
            &Text {
                pattern: None,
                ..NAME
            },
        );
        assert!(c.is_clean());
        c.text("", "roleName", &NAME);
        let e = c.finish().err().map(|e| e.message).unwrap_or_default();
        assert!(
            e.starts_with("1 validation error detected: Value '' at 'roleName'"),
            "{e}"
        );
        assert!(e.contains("greater than or equal to 1"), "{e}");
    }
}
