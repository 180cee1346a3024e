//! Managed policies: this account's customer-managed ones (CreatePolicy, GetPolicy,
//! GetPolicyVersion, DeletePolicy, ListPolicies), and AWS-managed ones, known by ARN
//! only (`arn:aws:iam::aws:policy/...`): they may be attached without existing here,
//! GetPolicy describes them from their ARN, and ListPolicies lists those attached to a
//! role here.

use std::collections::{BTreeMap, HashMap};

use freshet_protocol::error::ApiError;
use freshet_storage::StateChange;

use crate::error::{
    already_exists, delete_conflict, invalid_input, limit_exceeded, no_such_entity, shown,
};
use crate::model::{self, ManagedPolicy, PolicyArn, Tag};
use crate::page::Paging;
use crate::query::{Checks, Text};
use crate::rules::{self, ARN, POLICY_DESCRIPTION, POLICY_DOCUMENT, POLICY_NAME, POLICY_PATH};
use crate::service::{encode, Iam, Request};
use crate::xml::{encode_document, Xml};

/// When AWS-managed policies are said to have been created (the day AWS introduced
/// managed policies): they are not catalogued here, so they have no date of their own.
const AWS_MANAGED_CREATED: i64 = 1_423_247_986; // 2015-02-06T18:39:46Z

/// `policyVersionIdType`.
const VERSION_ID: Text = Text {
    min: 1,
    max: 128,
    pattern: Some((r"v[1-9][0-9]*(\.[A-Za-z0-9-]*)?", |s: &str| {
        let Some(rest) = s.strip_prefix('v') else {
            return false;
        };
        let (num, suffix) = match rest.split_once('.') {
            Some((n, sfx)) => (n, Some(sfx)),
            None => (rest, None),
        };
        num.starts_with(|c: char| ('1'..='9').contains(&c))
            && num.bytes().all(|b| b.is_ascii_digit())
            && suffix.is_none_or(|s| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    })),
};

/// `InvalidInput` for a policy ARN that is not one.
pub(crate) fn invalid_arn(arn: &str) -> ApiError {
    invalid_input(format!("ARN {} is not valid.", shown(arn)))
}

fn not_attachable(arn: &str) -> ApiError {
    no_such_entity(format!(
        "Policy {} does not exist or is not attachable.",
        shown(arn)
    ))
}

/// A policy an ARN names, found.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// Its ARN as recorded.
    pub arn: String,
    /// The customer-managed policy, when it is one.
    pub customer: Option<ManagedPolicy>,
    /// The ARN taken apart.
    pub parsed: PolicyArn,
}

/// Finds the policy `arn` names: any AWS-managed ARN, or a customer-managed policy of
/// this account that exists (`NoSuchEntity` otherwise, `InvalidInput` for a malformed
/// ARN).
pub(crate) fn resolve(iam: &Iam, arn: &str) -> Result<Resolved, ApiError> {
    let parsed = model::parse_policy_arn(arn).ok_or_else(|| invalid_arn(arn))?;
    if parsed.aws_managed() {
        return Ok(Resolved {
            arn: arn.to_string(),
            customer: None,
            parsed,
        });
    }
    if parsed.account != iam.account() {
        return Err(not_attachable(arn));
    }
    match iam.get::<ManagedPolicy>(&model::policy_key(&parsed.name))? {
        Some(p) if p.path == parsed.path => Ok(Resolved {
            arn: p.arn(iam.account()),
            customer: Some(p),
            parsed,
        }),
        _ => Err(not_attachable(arn)),
    }
}

/// How many roles use each policy: (attached, as permissions boundary), by ARN.
fn usage(iam: &Iam) -> Result<HashMap<String, (i64, i64)>, ApiError> {
    let mut counts: HashMap<String, (i64, i64)> = HashMap::new();
    for (prefix, boundary) in [("policy-use/", false), ("boundary-use/", true)] {
        for key in iam.keys(prefix)? {
            let Some((arn, _role)) = key
                .strip_prefix(prefix)
                .and_then(|rest| rest.rsplit_once('|'))
            else {
                continue;
            };
            let entry = counts.entry(arn.to_string()).or_default();
            if boundary {
                entry.1 += 1;
            } else {
                entry.0 += 1;
            }
        }
    }
    Ok(counts)
}

/// A policy as replies show it.
struct View {
    name: String,
    id: String,
    arn: String,
    path: String,
    description: Option<String>,
    created: i64,
    attachments: i64,
    boundaries: i64,
    tags: Vec<Tag>,
}

impl View {
    fn customer(p: &ManagedPolicy, account: &str, counts: (i64, i64)) -> View {
        View {
            name: p.name.clone(),
            id: p.id.clone(),
            arn: p.arn(account),
            path: p.path.clone(),
            description: p.description.clone(),
            created: p.created,
            attachments: counts.0,
            boundaries: counts.1,
            tags: p.tags.clone(),
        }
    }

    fn aws_managed(p: &PolicyArn, counts: (i64, i64)) -> View {
        View {
            name: p.name.clone(),
            id: model::stable_id("ANPA", &p.arn),
            arn: p.arn.clone(),
            path: p.path.clone(),
            description: None,
            created: AWS_MANAGED_CREATED,
            attachments: counts.0,
            boundaries: counts.1,
            tags: Vec::new(),
        }
    }

    /// `full`: with description and tags (CreatePolicy, GetPolicy); ListPolicies
    /// leaves them out, as AWS does.
    fn write(&self, x: &mut Xml, full: bool) {
        x.leaf("PolicyName", &self.name)
            .leaf("PolicyId", &self.id)
            .leaf("Arn", &self.arn)
            .leaf("Path", &self.path)
            .leaf("DefaultVersionId", "v1")
            .number("AttachmentCount", self.attachments)
            .number("PermissionsBoundaryUsageCount", self.boundaries)
            .boolean("IsAttachable", true);
        if full {
            x.leaf_opt("Description", self.description.as_deref());
        }
        x.leaf("CreateDate", &model::iso8601(self.created))
            .leaf("UpdateDate", &model::iso8601(self.created));
        if full && !self.tags.is_empty() {
            x.list("Tags", &self.tags, |x, t| {
                x.leaf("Key", &t.key).leaf("Value", &t.value);
            });
        }
    }
}

fn one_policy(view: &View) -> Xml {
    let mut x = Xml::new();
    x.open("Policy");
    view.write(&mut x, true);
    x.close("Policy");
    x
}

/// CreatePolicy: a customer-managed policy with one version, `v1`.
pub fn create(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let p = req.params;
    let mut c = Checks::default();
    let name = c.required(p, "PolicyName", "policyName", &POLICY_NAME);
    let path = c.optional(p, "Path", "path", &POLICY_PATH).unwrap_or("/");
    let doc = c.required(p, "PolicyDocument", "policyDocument", &POLICY_DOCUMENT);
    let description = c.optional(p, "Description", "description", &POLICY_DESCRIPTION);
    let tags = rules::tags(p, &mut c).unwrap_or_default();
    c.finish()?;
    rules::check_policy_document(doc)?;
    rules::check_size(doc, "PolicySize", rules::MANAGED_POLICY_SIZE)?;
    rules::check_tags(&tags)?;
    let _held = iam.lock();
    if iam.exists(&model::policy_key(name))? {
        return Err(already_exists(format!(
            "A policy called {name} already exists. Duplicate names are not allowed."
        )));
    }
    if iam.keys("policy/")?.len() >= rules::POLICIES_PER_ACCOUNT {
        return Err(limit_exceeded(format!(
            "Cannot exceed quota for PoliciesPerAccount: {}.",
            rules::POLICIES_PER_ACCOUNT
        )));
    }
    let policy = ManagedPolicy {
        name: name.to_string(),
        path: path.to_string(),
        id: model::new_id("ANPA", 17),
        created: model::now(),
        description: description.filter(|d| !d.is_empty()).map(str::to_string),
        document: doc.to_string(),
        tags,
    };
    iam.write(vec![StateChange::Put(
        model::policy_key(name),
        encode(&policy)?,
    )])?;
    let view = View::customer(&policy, iam.account(), (0, 0));
    Ok(Some(one_policy(&view)))
}

fn policy_arn_param<'a>(req: &'a Request<'_>) -> Result<&'a str, ApiError> {
    let mut c = Checks::default();
    let arn = c.required(req.params, "PolicyArn", "policyArn", &ARN);
    c.finish()?;
    Ok(arn)
}

/// GetPolicy.
pub fn get(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let arn = policy_arn_param(req)?;
    let found = resolve(iam, arn)?;
    let counts = usage(iam)?.get(&found.arn).copied().unwrap_or_default();
    let view = match &found.customer {
        Some(p) => View::customer(p, iam.account(), counts),
        None => View::aws_managed(&found.parsed, counts),
    };
    Ok(Some(one_policy(&view)))
}

/// GetPolicyVersion: the document of a customer-managed policy (its one version,
/// `v1`). AWS-managed policies' documents are not catalogued here.
pub fn get_version(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let mut c = Checks::default();
    let arn = c.required(req.params, "PolicyArn", "policyArn", &ARN);
    let version = c.required(req.params, "VersionId", "versionId", &VERSION_ID);
    c.finish()?;
    let found = resolve(iam, arn)?;
    let Some(policy) = found.customer else {
        return Err(no_such_entity(format!(
            "The document of the AWS-managed policy {} is not known here: only customer-managed policies' documents are recorded.",
            shown(arn)
        )));
    };
    if version != "v1" {
        return Err(no_such_entity(format!(
            "Policy {} version {} does not exist or is not attachable.",
            shown(arn),
            shown(version)
        )));
    }
    let mut x = Xml::new();
    x.open("PolicyVersion")
        .leaf("Document", &encode_document(&policy.document))
        .leaf("VersionId", "v1")
        .boolean("IsDefaultVersion", true)
        .leaf("CreateDate", &model::iso8601(policy.created))
        .close("PolicyVersion");
    Ok(Some(x))
}

/// DeletePolicy: refused while a role uses it.
pub fn delete(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let arn = policy_arn_param(req)?;
    let _held = iam.lock();
    let found = resolve(iam, arn)?;
    let Some(policy) = found.customer else {
        return Err(invalid_input(format!(
            "Policy {} is AWS-managed: only customer-managed policies can be deleted.",
            shown(arn)
        )));
    };
    let in_use = !iam.keys(&model::use_prefix(&found.arn))?.is_empty()
        || !iam.keys(&model::boundary_prefix(&found.arn))?.is_empty();
    if in_use {
        return Err(delete_conflict(
            "Cannot delete a policy attached to entities.",
        ));
    }
    iam.write(vec![StateChange::Delete(model::policy_key(&policy.name))])?;
    Ok(None)
}

/// ListPolicies: `Scope` `Local` (this account's), `AWS` (the AWS-managed ones attached
/// here) or `All`; `OnlyAttached`, `PathPrefix`, `PolicyUsageFilter`; by name.
pub fn list(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let p = req.params;
    let mut c = Checks::default();
    let scope = c
        .one_of(p, "Scope", "scope", &["All", "AWS", "Local"])
        .unwrap_or("All");
    let only_attached = c
        .boolean(p, "OnlyAttached", "onlyAttached")
        .unwrap_or(false);
    let prefix = c
        .optional(p, "PathPrefix", "pathPrefix", &POLICY_PATH)
        .unwrap_or("/");
    let usage_filter = c.one_of(
        p,
        "PolicyUsageFilter",
        "policyUsageFilter",
        &["PermissionsPolicy", "PermissionsBoundary"],
    );
    let paging = Paging::read(p, &mut c);
    c.finish()?;
    let counts = usage(iam)?;
    let count = |arn: &str| counts.get(arn).copied().unwrap_or_default();
    let mut views: Vec<View> = Vec::new();
    if scope != "AWS" {
        for (_, policy) in iam.scan::<ManagedPolicy>("policy/")? {
            let arn = policy.arn(iam.account());
            views.push(View::customer(&policy, iam.account(), count(&arn)));
        }
    }
    if scope != "Local" {
        let mut seen = BTreeMap::new();
        for arn in counts.keys() {
            if let Some(parsed) = model::parse_policy_arn(arn).filter(PolicyArn::aws_managed) {
                seen.insert(arn.clone(), parsed);
            }
        }
        for parsed in seen.values() {
            views.push(View::aws_managed(parsed, count(&parsed.arn)));
        }
    }
    let items: Vec<(String, View)> = views
        .into_iter()
        .filter(|v| v.path.starts_with(prefix))
        .filter(|v| !only_attached || v.attachments + v.boundaries > 0)
        .filter(|v| match usage_filter {
            Some("PermissionsBoundary") => v.boundaries > 0,
            Some(_) => v.attachments > 0 || v.boundaries == 0,
            None => true,
        })
        .map(|v| (format!("{} {}", v.name.to_ascii_lowercase(), v.arn), v))
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .collect();
    let (page, marker) = paging.page(items)?;
    let mut x = Xml::new();
    x.list("Policies", &page, |x, v| v.write(x, false))
        .page_end(marker.as_deref());
    Ok(Some(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ids_follow_the_model() {
        let Some((_, ok)) = VERSION_ID.pattern else {
            panic!("a pattern");
        };
        assert!(ok("v1") && ok("v12") && ok("v2.a-b"));
        assert!(!ok("v0") && !ok("1") && !ok("v") && !ok("v1.a_b"));
    }
}
