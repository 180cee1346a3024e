//! STS: GetCallerIdentity and AssumeRole.
//!
//! Nothing is enforced: AssumeRole hands out credentials for any well-formed role ARN,
//! including a role that was never created (when the role does exist here, its
//! `MaxSessionDuration` bounds `DurationSeconds` and its `RoleId` names the session).
//! The session token carries the assumed identity (base64 JSON, opaque to clients), so
//! GetCallerIdentity signed with a session's credentials (the SDKs send the token as
//! `X-Amz-Security-Token`) answers the assumed role, with no state kept; any other
//! caller is the account's root.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use freshet_protocol::error::ApiError;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{shown, validation};
use crate::model::{self, Role};
use crate::query::Checks;
use crate::rules::{self, EXTERNAL_ID, SESSION_NAME, SESSION_POLICY, SOURCE_IDENTITY};
use crate::service::{Iam, Request};
use crate::xml::Xml;

/// `arnType` of STS.
const ROLE_ARN: crate::query::Text = crate::query::Text {
    min: 20,
    max: 2048,
    pattern: None,
};

/// What a session token carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Session {
    /// Always `"freshet"`: tells our tokens from others.
    issuer: String,
    /// The assumed role's account.
    account: String,
    /// `arn:aws:sts::{account}:assumed-role/{name}/{session}`.
    arn: String,
    /// `{RoleId}:{session}`.
    user_id: String,
    /// Expiration, seconds since the epoch.
    expires: i64,
    /// Makes every token unique.
    nonce: String,
}

const ISSUER: &str = "freshet";

fn random(chars: &[u8], n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| {
            let i = rng.gen_range(0..chars.len());
            char::from(chars.get(i).copied().unwrap_or(b'A'))
        })
        .collect()
}

fn token_of(session: &Session) -> Result<String, ApiError> {
    let json = crate::service::encode(session)?;
    Ok(STANDARD.encode(json))
}

fn session_of(token: &str) -> Option<Session> {
    let bytes = STANDARD.decode(token.trim().as_bytes()).ok()?;
    let s: Session = serde_json::from_slice(&bytes).ok()?;
    (s.issuer == ISSUER).then_some(s)
}

/// GetCallerIdentity: the account's root, or the assumed role whose session token the
/// request carries.
pub fn get_caller_identity(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let session = req
        .headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.params.get("X-Amz-Security-Token"))
        .and_then(session_of);
    let account = iam.account();
    let (arn, user_id, account) = match &session {
        Some(s) => (s.arn.clone(), s.user_id.clone(), s.account.as_str()),
        None => (
            format!("arn:aws:iam::{account}:root"),
            account.to_string(),
            account,
        ),
    };
    let mut x = Xml::new();
    x.leaf("Arn", &arn)
        .leaf("UserId", &user_id)
        .leaf("Account", account);
    Ok(Some(x))
}

/// AssumeRole: temporary credentials for any well-formed role ARN.
pub fn assume_role(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let p = req.params;
    let mut c = Checks::default();
    let role_arn = c.required(p, "RoleArn", "roleArn", &ROLE_ARN);
    let session_name = c.required(p, "RoleSessionName", "roleSessionName", &SESSION_NAME);
    let duration = c.integer(p, "DurationSeconds", "durationSeconds", 900, 43200);
    let policy = c.optional(p, "Policy", "policy", &SESSION_POLICY);
    c.optional(p, "ExternalId", "externalId", &EXTERNAL_ID);
    let source_identity = c.optional(p, "SourceIdentity", "sourceIdentity", &SOURCE_IDENTITY);
    let tags = rules::tags(p, &mut c).unwrap_or_default();
    c.finish()?;
    rules::check_tags(&tags)?;
    if let Some(doc) = policy {
        rules::check_policy_document(doc)?;
    }
    let Some((account, path, name)) = model::parse_role_arn(role_arn) else {
        return Err(validation(format!(
            "{} is not a valid role ARN (arn:aws:iam::ACCOUNT:role/NAME).",
            shown(role_arn)
        )));
    };
    let partition = role_arn.split(':').nth(1).unwrap_or("aws");
    let known: Option<Role> = if account == iam.account() {
        iam.get::<Role>(&model::role_key(&name))?
            .filter(|r| r.path == path)
    } else {
        None
    };
    let duration = duration.unwrap_or(3600);
    if let Some(role) = &known {
        if duration > role.max_session_duration {
            return Err(validation(format!(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role ({} seconds).",
                role.max_session_duration
            )));
        }
    }
    let (role_id, role_name) = match &known {
        Some(r) => (r.id.clone(), r.name.clone()),
        None => (model::stable_id("AROA", role_arn), name),
    };
    let expires = model::now() + duration;
    let session = Session {
        issuer: ISSUER.to_string(),
        account: account.clone(),
        arn: format!("arn:{partition}:sts::{account}:assumed-role/{role_name}/{session_name}"),
        user_id: format!("{role_id}:{session_name}"),
        expires,
        nonce: random(b"0123456789abcdef", 16),
    };
    let token = token_of(&session)?;
    let mut x = Xml::new();
    x.open("Credentials")
        .leaf("AccessKeyId", &model::new_id("ASIA", 16))
        .leaf(
            "SecretAccessKey",
            &random(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                40,
            ),
        )
        .leaf("SessionToken", &token)
        .leaf("Expiration", &model::iso8601(expires))
        .close("Credentials")
        .open("AssumedRoleUser")
        .leaf("AssumedRoleId", &session.user_id)
        .leaf("Arn", &session.arn)
        .close("AssumedRoleUser")
        .leaf_opt("SourceIdentity", source_identity);
    Ok(Some(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_the_session_and_others_are_ignored() {
        let s = Session {
            issuer: ISSUER.into(),
            account: "000000000000".into(),
            arn: "arn:aws:sts::000000000000:assumed-role/r/s".into(),
            user_id: "AROAX:s".into(),
            expires: 1,
            nonce: "n".into(),
        };
        let token = token_of(&s).unwrap();
        assert_eq!(session_of(&token), Some(s));
        assert_eq!(session_of("IQoJb3JpZ2luX2VjEJr//////////wEaCXVz"), None);
        assert_eq!(session_of("not base64 !"), None);
        assert_eq!(session_of(&STANDARD.encode(br#"{"issuer":"other"}"#)), None);
    }
}
