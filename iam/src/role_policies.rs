//! A role's policies: managed ones attached by ARN (AttachRolePolicy, DetachRolePolicy,
//! ListAttachedRolePolicies) and inline ones (PutRolePolicy, GetRolePolicy,
//! DeleteRolePolicy, ListRolePolicies).

use freshet_protocol::error::ApiError;
use freshet_storage::StateChange;

use crate::error::{limit_exceeded, no_such_entity, shown};
use crate::model::{self, InlinePolicy};
use crate::page::Paging;
use crate::query::Checks;
use crate::roles::find;
use crate::rules::{self, ARN, POLICY_DOCUMENT, POLICY_NAME, POLICY_PATH, ROLE_NAME};
use crate::service::{encode, Iam, Request};
use crate::xml::{encode_document, Xml};

/// AttachRolePolicy: an AWS-managed policy by ARN, or a customer-managed one of this
/// account that exists. Attaching twice is no error.
pub fn attach(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let mut c = Checks::default();
    let name = c.required(req.params, "RoleName", "roleName", &ROLE_NAME);
    let arn = c.required(req.params, "PolicyArn", "policyArn", &ARN);
    c.finish()?;
    let _held = iam.lock();
    let role = find(iam, name)?;
    let policy = crate::policies::resolve(iam, arn)?;
    if iam.exists(&model::attached_key(name, &policy.arn))? {
        return Ok(None);
    }
    if iam.keys(&model::attached_prefix(name))?.len() >= rules::POLICIES_PER_ROLE {
        return Err(limit_exceeded(format!(
            "Cannot exceed quota for PoliciesPerRole: {}.",
            rules::POLICIES_PER_ROLE
        )));
    }
    iam.write(vec![
        StateChange::Put(model::attached_key(&role.name, &policy.arn), Vec::new()),
        StateChange::Put(model::use_key(&policy.arn, &role.name), Vec::new()),
    ])?;
    Ok(None)
}

/// The ARN of an attached policy as recorded: the one given, or for a customer policy
/// the recorded ARN (names are found regardless of case).
fn attached_arn(iam: &Iam, role: &str, arn: &str) -> Result<Option<String>, ApiError> {
    if iam.exists(&model::attached_key(role, arn))? {
        return Ok(Some(arn.to_string()));
    }
    match crate::policies::resolve(iam, arn) {
        Ok(p) if iam.exists(&model::attached_key(role, &p.arn))? => Ok(Some(p.arn)),
        _ => Ok(None),
    }
}

/// DetachRolePolicy.
pub fn detach(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let mut c = Checks::default();
    let name = c.required(req.params, "RoleName", "roleName", &ROLE_NAME);
    let arn = c.required(req.params, "PolicyArn", "policyArn", &ARN);
    c.finish()?;
    if model::parse_policy_arn(arn).is_none() {
        return Err(crate::policies::invalid_arn(arn));
    }
    let _held = iam.lock();
    let role = find(iam, name)?;
    let Some(arn) = attached_arn(iam, &role.name, arn)? else {
        return Err(no_such_entity(format!(
            "Policy {} was not found.",
            shown(arn)
        )));
    };
    iam.write(vec![
        StateChange::Delete(model::attached_key(&role.name, &arn)),
        StateChange::Delete(model::use_key(&arn, &role.name)),
    ])?;
    Ok(None)
}

/// ListAttachedRolePolicies, by the policies' `PathPrefix`.
pub fn list_attached(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let p = req.params;
    let mut c = Checks::default();
    let name = c.required(p, "RoleName", "roleName", &ROLE_NAME);
    let prefix = c
        .optional(p, "PathPrefix", "pathPrefix", &POLICY_PATH)
        .unwrap_or("/");
    let paging = Paging::read(p, &mut c);
    c.finish()?;
    let role = find(iam, name)?;
    let key_prefix = model::attached_prefix(&role.name);
    let attached: Vec<(String, model::PolicyArn)> = iam
        .keys(&key_prefix)?
        .into_iter()
        .filter_map(|k| {
            let arn = k.strip_prefix(&key_prefix)?;
            let parsed = model::parse_policy_arn(arn)?;
            parsed
                .path
                .starts_with(prefix)
                .then(|| (arn.to_string(), parsed))
        })
        .collect();
    let (page, marker) = paging.page(attached)?;
    let mut x = Xml::new();
    x.list("AttachedPolicies", &page, |x, a| {
        x.leaf("PolicyName", &a.name).leaf("PolicyArn", &a.arn);
    })
    .page_end(marker.as_deref());
    Ok(Some(x))
}

/// PutRolePolicy: adds or replaces an inline policy.
pub fn put(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let p = req.params;
    let mut c = Checks::default();
    let name = c.required(p, "RoleName", "roleName", &ROLE_NAME);
    let policy = c.required(p, "PolicyName", "policyName", &POLICY_NAME);
    let doc = c.required(p, "PolicyDocument", "policyDocument", &POLICY_DOCUMENT);
    c.finish()?;
    rules::check_policy_document(doc)?;
    let _held = iam.lock();
    let role = find(iam, name)?;
    let this = model::inline_key(name, policy);
    let others: usize = iam
        .scan::<InlinePolicy>(&model::inline_prefix(name))?
        .iter()
        .filter(|(k, _)| *k != this)
        .map(|(_, p)| rules::policy_size(&p.document))
        .sum();
    if others + rules::policy_size(doc) > rules::INLINE_POLICIES_SIZE {
        return Err(limit_exceeded(format!(
            "Maximum policy size of {} bytes exceeded for role {}",
            rules::INLINE_POLICIES_SIZE,
            role.name
        )));
    }
    let record = InlinePolicy {
        name: policy.to_string(),
        document: doc.to_string(),
    };
    iam.write(vec![StateChange::Put(this, encode(&record)?)])?;
    Ok(None)
}

fn find_inline(iam: &Iam, role: &str, policy: &str) -> Result<InlinePolicy, ApiError> {
    iam.get::<InlinePolicy>(&model::inline_key(role, policy))?
        .ok_or_else(|| {
            no_such_entity(format!(
                "The role policy with name {} cannot be found.",
                shown(policy)
            ))
        })
}

/// GetRolePolicy.
pub fn get(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let mut c = Checks::default();
    let name = c.required(req.params, "RoleName", "roleName", &ROLE_NAME);
    let policy = c.required(req.params, "PolicyName", "policyName", &POLICY_NAME);
    c.finish()?;
    let role = find(iam, name)?;
    let inline = find_inline(iam, name, policy)?;
    let mut x = Xml::new();
    x.leaf("RoleName", &role.name)
        .leaf("PolicyName", &inline.name)
        .leaf("PolicyDocument", &encode_document(&inline.document));
    Ok(Some(x))
}

/// DeleteRolePolicy.
pub fn delete(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let mut c = Checks::default();
    let name = c.required(req.params, "RoleName", "roleName", &ROLE_NAME);
    let policy = c.required(req.params, "PolicyName", "policyName", &POLICY_NAME);
    c.finish()?;
    let _held = iam.lock();
    find(iam, name)?;
    find_inline(iam, name, policy)?;
    iam.write(vec![StateChange::Delete(model::inline_key(name, policy))])?;
    Ok(None)
}

/// ListRolePolicies: the inline policies' names.
pub fn list(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let mut c = Checks::default();
    let name = c.required(req.params, "RoleName", "roleName", &ROLE_NAME);
    let paging = Paging::read(req.params, &mut c);
    c.finish()?;
    find(iam, name)?;
    let inline = iam.scan::<InlinePolicy>(&model::inline_prefix(name))?;
    let (page, marker) = paging.page(inline)?;
    let mut x = Xml::new();
    x.list("PolicyNames", &page, |x, p| {
        x.text(&p.name);
    })
    .page_end(marker.as_deref());
    Ok(Some(x))
}
