//! The constraints of IAM's and STS's models (botocore's `iam/2010-05-08` and
//! `sts/2011-06-15`), the policy-document checks, tags, and AWS's default quotas.

use freshet_protocol::error::ApiError;

use crate::error::{invalid_input, limit_exceeded, malformed_policy, shown};
use crate::model::Tag;
use crate::query::{Checks, Params, Text};

/// Roles an account may hold (AWS's default quota `RolesPerAccount`).
pub const ROLES_PER_ACCOUNT: usize = 1000;
/// Customer-managed policies an account may hold (`PoliciesPerAccount`).
pub const POLICIES_PER_ACCOUNT: usize = 1500;
/// Managed policies attached to one role (`PoliciesPerRole`).
pub const POLICIES_PER_ROLE: usize = 10;
/// Characters (without white space) of a role's trust policy (`ACLSizePerRole`).
pub const TRUST_POLICY_SIZE: usize = 2048;
/// Characters (without white space) of all of a role's inline policies together.
pub const INLINE_POLICIES_SIZE: usize = 10240;
/// Characters (without white space) of a managed policy (`PolicySize`).
pub const MANAGED_POLICY_SIZE: usize = 6144;
/// Tags on one role or policy.
pub const TAGS_PER_ENTITY: usize = 50;
/// A list's page size when `MaxItems` is not given.
pub const DEFAULT_MAX_ITEMS: usize = 100;

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b)
}

fn name_chars(s: &str) -> bool {
    s.bytes().all(is_name_char)
}

fn role_path(s: &str) -> bool {
    s == "/"
        || (s.len() >= 3
            && s.starts_with('/')
            && s.ends_with('/')
            && s.bytes().all(|b| (0x21..=0x7e).contains(&b)))
}

fn policy_path(s: &str) -> bool {
    match s.strip_prefix('/') {
        Some("") => true,
        Some(rest) => {
            rest.ends_with('/')
                && rest.split_terminator('/').all(|seg| {
                    !seg.is_empty()
                        && seg
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b".,+@=_-".contains(&b))
                })
        }
        None => false,
    }
}

fn path_prefix(s: &str) -> bool {
    s.starts_with('/') && s.bytes().all(|b| (0x21..=0x7f).contains(&b))
}

fn document_chars(s: &str) -> bool {
    s.chars()
        .all(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FF}'))
}

fn description_chars(s: &str) -> bool {
    s.chars()
        .all(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7E}' | '\u{A1}'..='\u{FF}'))
}

fn tag_char(c: char) -> bool {
    c.is_alphabetic()
        || c.is_numeric()
        || (c.is_whitespace() && !c.is_control())
        || "_.:/=+-@".contains(c)
}

fn tag_chars(s: &str) -> bool {
    s.chars().all(tag_char)
}

fn marker_chars(s: &str) -> bool {
    s.chars().all(|c| matches!(c, '\u{20}'..='\u{FF}'))
}

fn session_name(s: &str) -> bool {
    name_chars(s)
}

/// `roleNameType`.
pub const ROLE_NAME: Text = Text {
    min: 1,
    max: 64,
    pattern: Some((r"[\w+=,.@-]+", name_chars)),
};
/// `policyNameType` (managed and inline policies).
pub const POLICY_NAME: Text = Text {
    min: 1,
    max: 128,
    pattern: Some((r"[\w+=,.@-]+", name_chars)),
};
/// `pathType` (a role's path).
pub const ROLE_PATH: Text = Text {
    min: 1,
    max: 512,
    pattern: Some((r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)", role_path)),
};
/// `policyPathType` (a managed policy's path).
pub const POLICY_PATH: Text = Text {
    min: 1,
    max: 512,
    pattern: Some((r"((/[A-Za-z0-9\.,\+@=_-]+)*)/", policy_path)),
};
/// `pathPrefixType` (ListRoles).
pub const PATH_PREFIX: Text = Text {
    min: 1,
    max: 512,
    pattern: Some((r"\u002F[\u0021-\u007F]*", path_prefix)),
};
/// `policyDocumentType`.
pub const POLICY_DOCUMENT: Text = Text {
    min: 1,
    max: 131072,
    pattern: Some((r"[\u0009\u000A\u000D\u0020-\u00FF]+", document_chars)),
};
/// `roleDescriptionType`.
pub const ROLE_DESCRIPTION: Text = Text {
    min: 0,
    max: 1000,
    pattern: Some((
        r"[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*",
        description_chars,
    )),
};
/// `policyDescriptionType`.
pub const POLICY_DESCRIPTION: Text = Text {
    min: 0,
    max: 1000,
    pattern: None,
};
/// `arnType` (IAM's).
pub const ARN: Text = Text {
    min: 20,
    max: 2048,
    pattern: None,
};
/// `markerType`.
pub const MARKER: Text = Text {
    min: 1,
    max: 320,
    pattern: Some((r"[\u0020-\u00FF]+", marker_chars)),
};
/// `tagKeyType`.
pub const TAG_KEY: Text = Text {
    min: 1,
    max: 128,
    pattern: Some((r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+", tag_chars)),
};
/// `tagValueType`.
pub const TAG_VALUE: Text = Text {
    min: 0,
    max: 256,
    pattern: Some((r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*", tag_chars)),
};
/// `roleSessionNameType` (STS).
pub const SESSION_NAME: Text = Text {
    min: 2,
    max: 64,
    pattern: Some((r"[\w+=,.@-]*", session_name)),
};
/// `externalIdType` (STS).
pub const EXTERNAL_ID: Text = Text {
    min: 2,
    max: 1224,
    pattern: Some((r"[\w+=,.@:\/-]*", |s: &str| {
        s.bytes().all(|b| is_name_char(b) || b == b':' || b == b'/')
    })),
};
/// `sourceIdentityType` (STS).
pub const SOURCE_IDENTITY: Text = Text {
    min: 2,
    max: 256,
    pattern: Some((r"[\w+=,.@-]*", name_chars)),
};
/// `unrestrictedSessionPolicyDocumentType` (STS `Policy`).
pub const SESSION_POLICY: Text = Text {
    min: 1,
    max: usize::MAX,
    pattern: Some((r"[\u0009\u000A\u000D\u0020-\u00FF]+", document_chars)),
};

/// Whether `s` is a valid role or policy name (for ARNs taken apart).
pub fn is_name(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && name_chars(s)
}

/// Whether `s` is a valid role path.
pub fn is_role_path(s: &str) -> bool {
    s.len() <= 512 && role_path(s)
}

/// Whether `s` is a valid managed-policy path.
pub fn is_policy_path(s: &str) -> bool {
    s.len() <= 512 && policy_path(s)
}

/// A policy's size as IAM counts it against its quotas: characters without white space.
pub fn policy_size(document: &str) -> usize {
    document.chars().filter(|c| !c.is_whitespace()).count()
}

/// Checks that a (well-formed by the model) document is a policy: a JSON object with a
/// `Statement` (an object or a list of objects) and, when it names one, a `Version` IAM
/// knows.
pub fn check_policy_document(document: &str) -> Result<(), ApiError> {
    let value: serde_json::Value = serde_json::from_str(document)
        .map_err(|e| malformed_policy(format!("This policy contains invalid Json: {e}")))?;
    let Some(obj) = value.as_object() else {
        return Err(malformed_policy(
            "Syntax errors in policy: a policy document must be a JSON object.",
        ));
    };
    if let Some(version) = obj.get("Version") {
        if !matches!(version.as_str(), Some("2012-10-17" | "2008-10-17")) {
            return Err(malformed_policy(format!(
                "The policy failed legacy parsing: Version {version} is not 2012-10-17 or 2008-10-17."
            )));
        }
    }
    let statement_ok = match obj.get("Statement") {
        Some(serde_json::Value::Object(_)) => true,
        Some(serde_json::Value::Array(list)) => list.iter().all(serde_json::Value::is_object),
        _ => false,
    };
    if !statement_ok {
        return Err(malformed_policy(
            "Syntax errors in policy: the document needs a Statement (an object or a list of objects).",
        ));
    }
    Ok(())
}

/// Checks a policy's size against a quota, with IAM's message.
pub fn check_size(document: &str, quota: &str, limit: usize) -> Result<(), ApiError> {
    if policy_size(document) > limit {
        return Err(limit_exceeded(format!(
            "Cannot exceed quota for {quota}: {limit}."
        )));
    }
    Ok(())
}

/// Reads the `Tags` list of a request (validated into `checks`): `None` when absent.
pub fn tags(p: &Params, checks: &mut Checks) -> Option<Vec<Tag>> {
    let raw = p.structs("Tags")?;
    if raw.len() > TAGS_PER_ENTITY {
        checks.fail(
            Some(&format!("{} tags", raw.len())),
            "tags",
            &format!("Member must have length less than or equal to {TAGS_PER_ENTITY}"),
        );
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, fields) in raw.iter().enumerate() {
        let n = i + 1;
        let key = match fields.get("Key") {
            Some(k) => checks.text(k, &format!("tags.{n}.member.key"), &TAG_KEY),
            None => {
                checks.fail(
                    None,
                    &format!("tags.{n}.member.key"),
                    "Member must not be null",
                );
                ""
            }
        };
        let value = match fields.get("Value") {
            Some(v) => checks.text(v, &format!("tags.{n}.member.value"), &TAG_VALUE),
            None => {
                checks.fail(
                    None,
                    &format!("tags.{n}.member.value"),
                    "Member must not be null",
                );
                ""
            }
        };
        out.push(Tag {
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    Some(out)
}

/// IAM's rules for a request's tags beyond the model: no two keys equal but for case,
/// no key in the `aws:` namespace.
pub fn check_tags(tags: &[Tag]) -> Result<(), ApiError> {
    for (i, t) in tags.iter().enumerate() {
        if t.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid_input(format!(
                "User-defined tag keys can't start with 'aws:' ({}).",
                shown(&t.key)
            )));
        }
        if tags[..i]
            .iter()
            .any(|o| o.key.to_lowercase() == t.key.to_lowercase())
        {
            return Err(invalid_input(format!(
                "Duplicate tag keys found ({}). Please note that Tag keys are case insensitive.",
                shown(&t.key)
            )));
        }
    }
    Ok(())
}

/// Merges `new` into `tags` (a key equal but for case replaces the old tag, as IAM's
/// case-insensitive keys do); refuses more than [`TAGS_PER_ENTITY`].
pub fn merge_tags(tags: &mut Vec<Tag>, new: Vec<Tag>) -> Result<(), ApiError> {
    for t in new {
        let lower = t.key.to_lowercase();
        match tags.iter_mut().find(|o| o.key.to_lowercase() == lower) {
            Some(old) => *old = t,
            None => tags.push(t),
        }
    }
    if tags.len() > TAGS_PER_ENTITY {
        return Err(limit_exceeded(format!(
            "The number of tags has reached the maximum limit of {TAGS_PER_ENTITY}."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_model() {
        assert!(name_chars("my-role_1+=,.@"));
        assert!(!name_chars("my role"));
        assert!(!name_chars("r/le"));
        assert!(!name_chars("rôle"));
        let mut c = Checks::default();
        c.text(&"r".repeat(65), "roleName", &ROLE_NAME);
        assert!(!c.is_clean());
    }

    #[test]
    fn paths_follow_the_model() {
        assert!(role_path("/"));
        assert!(role_path("/service-role/"));
        assert!(role_path("/a/b/"));
        assert!(!role_path("/a"));
        assert!(!role_path("a/"));
        assert!(!role_path("//") && role_path("///"));
        assert!(policy_path("/") && policy_path("/a/b-c/"));
        assert!(!policy_path("//") && !policy_path("/a") && !policy_path("/a b/"));
        assert!(path_prefix("/") && path_prefix("/app") && !path_prefix("app"));
    }

    #[test]
    fn policy_documents_must_be_json_objects_with_statements() {
        let ok = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        assert!(check_policy_document(ok).is_ok());
        assert!(check_policy_document(r#"{"Statement":{"Effect":"Allow"}}"#).is_ok());
        for bad in [
            "not json",
            "[1,2]",
            "\"text\"",
            "{}",
            r#"{"Version":"2020-01-01","Statement":[]}"#,
            r#"{"Statement":"Allow"}"#,
            r#"{"Statement":[1]}"#,
        ] {
            let e = check_policy_document(bad).err();
            assert_eq!(e.map(|e| e.kind), Some("MalformedPolicyDocument"), "{bad}");
        }
    }

    #[test]
    fn sizes_leave_white_space_out() {
        assert_eq!(policy_size("{ \"a\" :\n 1 }"), 7);
        assert!(check_size(&"x".repeat(2048), "ACLSizePerRole", 2048).is_ok());
        let e = check_size(&"x".repeat(2049), "ACLSizePerRole", 2048).err();
        assert_eq!(
            e.map(|e| (e.kind, e.message)),
            Some((
                "LimitExceeded",
                "Cannot exceed quota for ACLSizePerRole: 2048.".to_string()
            ))
        );
    }

    #[test]
    fn tags_are_read_checked_and_merged_case_insensitively() {
        let p = Params::parse(
            b"Tags.member.1.Key=Env&Tags.member.1.Value=prod&Tags.member.2.Key=team&Tags.member.2.Value=a%20b",
        );
        let mut c = Checks::default();
        let t = tags(&p, &mut c).unwrap_or_default();
        assert!(c.is_clean());
        assert_eq!(t.len(), 2);
        assert!(check_tags(&t).is_ok());
        let mut have = t.clone();
        merge_tags(
            &mut have,
            vec![Tag {
                key: "ENV".into(),
                value: "dev".into(),
            }],
        )
        .unwrap();
        assert_eq!(have.len(), 2);
        assert_eq!(
            (have[0].key.as_str(), have[0].value.as_str()),
            ("ENV", "dev")
        );
        let dup = vec![
            Tag {
                key: "a".into(),
                value: String::new(),
            },
            Tag {
                key: "A".into(),
                value: String::new(),
            },
        ];
        assert_eq!(check_tags(&dup).err().map(|e| e.kind), Some("InvalidInput"));
        let reserved = vec![Tag {
            key: "aws:x".into(),
            value: String::new(),
        }];
        assert_eq!(
            check_tags(&reserved).err().map(|e| e.kind),
            Some("InvalidInput")
        );
        let many: Vec<Tag> = (0..51)
            .map(|i| Tag {
                key: format!("k{i}"),
                value: String::new(),
            })
            .collect();
        assert_eq!(
            merge_tags(&mut Vec::new(), many).err().map(|e| e.kind),
            Some("LimitExceeded")
        );
        let bad = Params::parse(b"Tags.member.1.Key=a%21&Tags.member.2.Value=x");
        let mut c = Checks::default();
        tags(&bad, &mut c);
        let msg = c.finish().err().map(|e| e.message).unwrap_or_default();
        assert!(msg.starts_with("3 validation errors"), "{msg}");
        assert!(msg.contains("Value null at 'tags.1.member.value'"), "{msg}");
        assert!(
            msg.contains("'tags.1.member.key'")
                && msg.contains("Value null at 'tags.2.member.key'"),
            "{msg}"
        );
    }
}
