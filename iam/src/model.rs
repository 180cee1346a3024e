//! What the catalog holds (under `svc/iam/`), the identifiers IAM gives out, ARNs, and
//! timestamps.
//!
//! Keys (names lowercased: IAM's names are unique regardless of case, and found
//! regardless of case, while their case is kept for display):
//!
//! | key | value |
//! |---|---|
//! | `role/{role}` | [`Role`] as JSON |
//! | `role-policy/{role}/{policy}` | [`InlinePolicy`] as JSON |
//! | `attached/{role}/{policy ARN}` | empty: a managed policy attached to a role |
//! | `policy-use/{policy ARN}|{role}` | empty: the same attachment, by policy |
//! | `boundary-use/{policy ARN}|{role}` | empty: a role's permissions boundary, by policy |
//! | `policy/{policy}` | [`ManagedPolicy`] as JSON |
//!
//! `|` cannot occur in a valid policy ARN, so `policy-use/{ARN}|` is an exact prefix.

use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A tag on a role or policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// The key (unique regardless of case on one entity).
    pub key: String,
    /// The value.
    pub value: String,
}

/// A role, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// `RoleName`, in the case it was created with.
    pub name: String,
    /// `Path` (`/` or `/a/b/`).
    pub path: String,
    /// `RoleId` (`AROA...`).
    pub id: String,
    /// `CreateDate`, seconds since the epoch.
    pub created: i64,
    /// `AssumeRolePolicyDocument`, as the client sent it.
    pub trust_policy: String,
    /// `Description`.
    #[serde(default)]
    pub description: Option<String>,
    /// `MaxSessionDuration` in seconds.
    pub max_session_duration: i64,
    /// `MaxSigninSessionDuration` in seconds, when set.
    #[serde(default)]
    pub max_signin_session_duration: Option<i64>,
    /// `PermissionsBoundary`: the ARN of the policy.
    #[serde(default)]
    pub permissions_boundary: Option<String>,
    /// `Tags`, in the order they were added.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl Role {
    /// `arn:aws:iam::{account}:role{path}{name}`.
    pub fn arn(&self, account: &str) -> String {
        format!("arn:aws:iam::{account}:role{}{}", self.path, self.name)
    }
}

/// An inline policy of a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlinePolicy {
    /// `PolicyName`.
    pub name: String,
    /// `PolicyDocument`, as the client sent it.
    pub document: String,
}

/// A customer-managed policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedPolicy {
    /// `PolicyName`.
    pub name: String,
    /// `Path`.
    pub path: String,
    /// `PolicyId` (`ANPA...`).
    pub id: String,
    /// `CreateDate`, seconds since the epoch.
    pub created: i64,
    /// `Description`.
    #[serde(default)]
    pub description: Option<String>,
    /// The document of its one version, `v1`.
    pub document: String,
    /// `Tags`.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl ManagedPolicy {
    /// `arn:aws:iam::{account}:policy{path}{name}`.
    pub fn arn(&self, account: &str) -> String {
        format!("arn:aws:iam::{account}:policy{}{}", self.path, self.name)
    }
}

/// The catalog key of a role.
pub fn role_key(name: &str) -> String {
    format!("role/{}", name.to_ascii_lowercase())
}

/// The catalog key of a role's inline policy.
pub fn inline_key(role: &str, policy: &str) -> String {
    format!(
        "role-policy/{}/{}",
        role.to_ascii_lowercase(),
        policy.to_ascii_lowercase()
    )
}

/// The prefix of a role's inline policies.
pub fn inline_prefix(role: &str) -> String {
    format!("role-policy/{}/", role.to_ascii_lowercase())
}

/// The catalog key of an attachment, by role.
pub fn attached_key(role: &str, arn: &str) -> String {
    format!("attached/{}/{arn}", role.to_ascii_lowercase())
}

/// The prefix of a role's attachments.
pub fn attached_prefix(role: &str) -> String {
    format!("attached/{}/", role.to_ascii_lowercase())
}

/// The catalog key of an attachment, by policy.
pub fn use_key(arn: &str, role: &str) -> String {
    format!("policy-use/{arn}|{}", role.to_ascii_lowercase())
}

/// The prefix of a policy's attachments.
pub fn use_prefix(arn: &str) -> String {
    format!("policy-use/{arn}|")
}

/// The catalog key of a permissions boundary, by policy.
pub fn boundary_key(arn: &str, role: &str) -> String {
    format!("boundary-use/{arn}|{}", role.to_ascii_lowercase())
}

/// The prefix of a policy's uses as a permissions boundary.
pub fn boundary_prefix(arn: &str) -> String {
    format!("boundary-use/{arn}|")
}

/// The catalog key of a customer-managed policy.
pub fn policy_key(name: &str) -> String {
    format!("policy/{}", name.to_ascii_lowercase())
}

const ID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A new unique id: `prefix` and `n` random uppercase letters and digits.
pub fn new_id(prefix: &str, n: usize) -> String {
    let mut rng = rand::thread_rng();
    let mut id = String::with_capacity(prefix.len() + n);
    id.push_str(prefix);
    for _ in 0..n {
        let i = rng.gen_range(0..ID_CHARS.len());
        id.push(char::from(ID_CHARS.get(i).copied().unwrap_or(b'A')));
    }
    id
}

/// A stable id derived from `seed` (for entities known only by ARN: AWS-managed
/// policies, roles never created here).
pub fn stable_id(prefix: &str, seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    let mut id = String::from(prefix);
    for b in digest.iter().take(17) {
        let i = usize::from(*b) % ID_CHARS.len();
        id.push(char::from(ID_CHARS.get(i).copied().unwrap_or(b'A')));
    }
    id
}

/// Now, in seconds since the epoch.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A timestamp as IAM writes it: ISO 8601 in UTC, `2026-11-30T12:00:00Z`.
pub fn iso8601(secs: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

/// A policy ARN taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyArn {
    /// The whole ARN.
    pub arn: String,
    /// `aws` for AWS-managed policies, else the account id.
    pub account: String,
    /// The path (`/` or `/a/b/`).
    pub path: String,
    /// The name.
    pub name: String,
}

impl PolicyArn {
    /// Whether AWS manages it (`arn:aws:iam::aws:policy/...`).
    pub fn aws_managed(&self) -> bool {
        self.account == "aws"
    }
}

/// Splits `arn:{partition}:iam::{account}:{kind}{path}{name}`; `None` when it is not
/// of that form.
fn split_iam_arn<'a>(arn: &'a str, kind: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let rest = arn.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    if !partition.starts_with("aws") {
        return None;
    }
    let rest = rest.strip_prefix("iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let resource = resource.strip_prefix(kind)?;
    if !resource.starts_with('/') {
        return None;
    }
    let slash = resource.rfind('/')?;
    let (path, name) = resource.split_at(slash + 1);
    Some((account, path, name))
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parses a managed policy's ARN; `None` when it is not a valid one.
pub fn parse_policy_arn(arn: &str) -> Option<PolicyArn> {
    let (account, path, name) = split_iam_arn(arn, "policy")?;
    let ok = (account == "aws" || is_account(account))
        && crate::rules::is_policy_path(path)
        && crate::rules::is_name(name, 128);
    ok.then(|| PolicyArn {
        arn: arn.to_string(),
        account: account.to_string(),
        path: path.to_string(),
        name: name.to_string(),
    })
}

/// A role ARN taken apart: (account, path, name); `None` when it is not a valid one.
pub fn parse_role_arn(arn: &str) -> Option<(String, String, String)> {
    let (account, path, name) = split_iam_arn(arn, "role")?;
    let ok =
        is_account(account) && crate::rules::is_role_path(path) && crate::rules::is_name(name, 64);
    ok.then(|| (account.to_string(), path.to_string(), name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_aws_shapes() {
        let id = new_id("AROA", 17);
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("AROA"));
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        assert_ne!(new_id("AROA", 17), id);
        assert_eq!(stable_id("ANPA", "x"), stable_id("ANPA", "x"));
        assert_eq!(stable_id("ANPA", "x").len(), 21);
        assert_ne!(stable_id("ANPA", "x"), stable_id("ANPA", "y"));
    }

    #[test]
    fn timestamps_are_iso8601_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_800_000_000), "2027-01-15T08:00:00Z");
    }

    #[test]
    fn arns_are_built_and_taken_apart() {
        let role = Role {
            name: "R".into(),
            path: "/service-role/".into(),
            id: "AROA".into(),
            created: 0,
            trust_policy: String::new(),
            description: None,
            max_session_duration: 3600,
            max_signin_session_duration: None,
            permissions_boundary: None,
            tags: Vec::new(),
        };
        let arn = role.arn("123456789012");
        assert_eq!(arn, "arn:aws:iam::123456789012:role/service-role/R");
        assert_eq!(
            parse_role_arn(&arn),
            Some(("123456789012".into(), "/service-role/".into(), "R".into()))
        );
        assert_eq!(parse_role_arn("arn:aws:iam::123:role/R"), None);
        assert_eq!(parse_role_arn("arn:aws:iam::123456789012:user/R"), None);

        let p =
            parse_policy_arn("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole");
        let p = p.unwrap();
        assert!(p.aws_managed());
        assert_eq!(
            (p.path.as_str(), p.name.as_str()),
            ("/service-role/", "AWSLambdaBasicExecutionRole")
        );
        let c = parse_policy_arn("arn:aws:iam::000000000000:policy/mine").unwrap();
        assert!(!c.aws_managed());
        assert_eq!((c.account.as_str(), c.path.as_str()), ("000000000000", "/"));
        for bad in [
            "arn:aws:iam::aws:policy",
            "arn:aws:iam::aws:policy/",
            "arn:aws:s3:::bucket",
            "not-an-arn-at-all-really",
            "arn:aws:iam::aws:policy/a b",
            "arn:aws:iam::aws:policy/x|y",
        ] {
            assert_eq!(parse_policy_arn(bad), None, "{bad}");
        }
    }

    #[test]
    fn keys_ignore_case_and_prefixes_are_exact() {
        assert_eq!(role_key("MyRole"), "role/myrole");
        assert_eq!(inline_key("R", "P"), "role-policy/r/p");
        assert!(attached_key("R", "arn:x").starts_with(&attached_prefix("r")));
        let a = "arn:aws:iam::aws:policy/a";
        assert!(use_key(a, "R").starts_with(&use_prefix(a)));
        assert!(!use_key("arn:aws:iam::aws:policy/a/b", "R").starts_with(&use_prefix(a)));
        assert!(boundary_key(a, "R").starts_with(&boundary_prefix(a)));
    }
}
