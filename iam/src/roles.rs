//! Roles: CreateRole, GetRole, DeleteRole, ListRoles, UpdateRole,
//! UpdateAssumeRolePolicy, and their tags (TagRole, UntagRole, ListRoleTags).

use freshet_protocol::error::ApiError;
use freshet_storage::StateChange;

use crate::error::{already_exists, delete_conflict, limit_exceeded, no_such_entity, shown};
use crate::model::{self, Role};
use crate::page::Paging;
use crate::query::Checks;
use crate::rules::{
    self, ARN, PATH_PREFIX, POLICY_DOCUMENT, ROLE_DESCRIPTION, ROLE_NAME, ROLE_PATH, TAG_KEY,
};
use crate::service::{encode, Iam, Request};
use crate::xml::{encode_document, Xml};

/// AWS's default `MaxSessionDuration`.
pub const DEFAULT_MAX_SESSION: i64 = 3600;

/// How much of a role a reply shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    /// CreateRole: everything it was given.
    Created,
    /// GetRole: everything, and `RoleLastUsed`.
    Got,
    /// ListRoles: no tags, boundary or last use, as AWS lists roles.
    Listed,
}

/// A role by name (regardless of case), or `NoSuchEntity`.
pub(crate) fn find(iam: &Iam, name: &str) -> Result<Role, ApiError> {
    iam.get::<Role>(&model::role_key(name))?.ok_or_else(|| {
        no_such_entity(format!(
            "The role with name {} cannot be found.",
            shown(name)
        ))
    })
}

fn role_xml(x: &mut Xml, role: &Role, account: &str, view: View) {
    x.leaf("Path", &role.path)
        .leaf("RoleName", &role.name)
        .leaf("RoleId", &role.id)
        .leaf("Arn", &role.arn(account))
        .leaf("CreateDate", &model::iso8601(role.created))
        .leaf(
            "AssumeRolePolicyDocument",
            &encode_document(&role.trust_policy),
        )
        .leaf_opt("Description", role.description.as_deref())
        .number("MaxSessionDuration", role.max_session_duration);
    if let Some(s) = role.max_signin_session_duration {
        x.number("MaxSigninSessionDuration", s);
    }
    if view == View::Listed {
        return;
    }
    if let Some(b) = &role.permissions_boundary {
        x.open("PermissionsBoundary")
            .leaf("PermissionsBoundaryType", "PermissionsBoundaryPolicy")
            .leaf("PermissionsBoundaryArn", b)
            .close("PermissionsBoundary");
    }
    if !role.tags.is_empty() {
        x.list("Tags", &role.tags, |x, t| {
            x.leaf("Key", &t.key).leaf("Value", &t.value);
        });
    }
    if view == View::Got {
        x.empty("RoleLastUsed");
    }
}

/// The role's name parameter, checked.
fn role_name<'a>(req: &'a Request<'_>, c: &mut Checks) -> &'a str {
    c.required(req.params, "RoleName", "roleName", &ROLE_NAME)
}

/// CreateRole.
pub fn create(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let p = req.params;
    let mut c = Checks::default();
    let path = c.optional(p, "Path", "path", &ROLE_PATH).unwrap_or("/");
    let name = role_name(req, &mut c);
    let trust = c.required(
        p,
        "AssumeRolePolicyDocument",
        "assumeRolePolicyDocument",
        &POLICY_DOCUMENT,
    );
    let description = c.optional(p, "Description", "description", &ROLE_DESCRIPTION);
    let max_session = c.integer(p, "MaxSessionDuration", "maxSessionDuration", 3600, 43200);
    let max_signin = c.integer(
        p,
        "MaxSigninSessionDuration",
        "maxSigninSessionDuration",
        3600,
        7_776_000,
    );
    let boundary = c.optional(p, "PermissionsBoundary", "permissionsBoundary", &ARN);
    let tags = rules::tags(p, &mut c).unwrap_or_default();
    c.finish()?;
    rules::check_policy_document(trust)?;
    rules::check_size(trust, "ACLSizePerRole", rules::TRUST_POLICY_SIZE)?;
    rules::check_tags(&tags)?;

    let _held = iam.lock();
    if iam.exists(&model::role_key(name))? {
        return Err(already_exists(format!(
            "Role with name {name} already exists."
        )));
    }
    if iam.keys("role/")?.len() >= rules::ROLES_PER_ACCOUNT {
        return Err(limit_exceeded(format!(
            "Cannot exceed quota for RolesPerAccount: {}.",
            rules::ROLES_PER_ACCOUNT
        )));
    }
    let boundary = match boundary {
        Some(arn) => Some(crate::policies::resolve(iam, arn)?.arn),
        None => None,
    };
    let role = Role {
        name: name.to_string(),
        path: path.to_string(),
        id: model::new_id("AROA", 17),
        created: model::now(),
        trust_policy: trust.to_string(),
        description: description.filter(|d| !d.is_empty()).map(str::to_string),
        max_session_duration: max_session.unwrap_or(DEFAULT_MAX_SESSION),
        max_signin_session_duration: max_signin,
        permissions_boundary: boundary.clone(),
        tags,
    };
    let mut changes = vec![StateChange::Put(model::role_key(name), encode(&role)?)];
    if let Some(b) = &boundary {
        changes.push(StateChange::Put(model::boundary_key(b, name), Vec::new()));
    }
    iam.write(changes)?;
    Ok(Some(role_reply(&role, iam.account(), View::Created)))
}

/// A reply holding one `<Role>`.
fn role_reply(role: &Role, account: &str, view: View) -> Xml {
    let mut x = Xml::new();
    x.open("Role");
    role_xml(&mut x, role, account, view);
    x.close("Role");
    x
}

/// GetRole.
pub fn get(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let mut c = Checks::default();
    let name = role_name(req, &mut c);
    c.finish()?;
    let role = find(iam, name)?;
    Ok(Some(role_reply(&role, iam.account(), View::Got)))
}

/// DeleteRole: refused while managed policies are attached or inline policies remain.
pub fn delete(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let mut c = Checks::default();
    let name = role_name(req, &mut c);
    c.finish()?;
    let _held = iam.lock();
    let role = find(iam, name)?;
    if !iam.keys(&model::attached_prefix(name))?.is_empty() {
        return Err(delete_conflict(
            "Cannot delete entity, must detach all policies first.",
        ));
    }
    if !iam.keys(&model::inline_prefix(name))?.is_empty() {
        return Err(delete_conflict(
            "Cannot delete entity, must delete policies first.",
        ));
    }
    let mut changes = vec![StateChange::Delete(model::role_key(name))];
    if let Some(b) = &role.permissions_boundary {
        changes.push(StateChange::Delete(model::boundary_key(b, name)));
    }
    iam.write(changes)?;
    Ok(None)
}

/// ListRoles, by `PathPrefix`.
pub fn list(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let p = req.params;
    let mut c = Checks::default();
    let prefix = c
        .optional(p, "PathPrefix", "pathPrefix", &PATH_PREFIX)
        .unwrap_or("/");
    let paging = Paging::read(p, &mut c);
    c.finish()?;
    let roles: Vec<(String, Role)> = iam
        .scan::<Role>("role/")?
        .into_iter()
        .filter(|(_, r)| r.path.starts_with(prefix))
        .collect();
    let (page, marker) = paging.page(roles)?;
    let mut x = Xml::new();
    x.list("Roles", &page, |x, r| {
        role_xml(x, r, iam.account(), View::Listed);
    })
    .page_end(marker.as_deref());
    Ok(Some(x))
}

/// UpdateRole: `Description`, `MaxSessionDuration`, `MaxSigninSessionDuration`.
pub fn update(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let p = req.params;
    let mut c = Checks::default();
    let name = role_name(req, &mut c);
    let description = c.optional(p, "Description", "description", &ROLE_DESCRIPTION);
    let max_session = c.integer(p, "MaxSessionDuration", "maxSessionDuration", 3600, 43200);
    let max_signin = c.integer(
        p,
        "MaxSigninSessionDuration",
        "maxSigninSessionDuration",
        3600,
        7_776_000,
    );
    let reset_signin = c.boolean(
        p,
        "ResetMaxSigninSessionDuration",
        "resetMaxSigninSessionDuration",
    );
    c.finish()?;
    let _held = iam.lock();
    let mut role = find(iam, name)?;
    if let Some(d) = description {
        role.description = (!d.is_empty()).then(|| d.to_string());
    }
    if let Some(s) = max_session {
        role.max_session_duration = s;
    }
    if let Some(s) = max_signin {
        role.max_signin_session_duration = Some(s);
    }
    if reset_signin == Some(true) {
        role.max_signin_session_duration = None;
    }
    iam.write(vec![StateChange::Put(
        model::role_key(name),
        encode(&role)?,
    )])?;
    Ok(Some(Xml::new()))
}

/// UpdateAssumeRolePolicy.
pub fn update_assume_role_policy(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let mut c = Checks::default();
    let name = role_name(req, &mut c);
    let doc = c.required(
        req.params,
        "PolicyDocument",
        "policyDocument",
        &POLICY_DOCUMENT,
    );
    c.finish()?;
    rules::check_policy_document(doc)?;
    rules::check_size(doc, "ACLSizePerRole", rules::TRUST_POLICY_SIZE)?;
    let _held = iam.lock();
    let mut role = find(iam, name)?;
    role.trust_policy = doc.to_string();
    iam.write(vec![StateChange::Put(
        model::role_key(name),
        encode(&role)?,
    )])?;
    Ok(None)
}

/// TagRole: adds tags, replacing those whose keys are equal but for case.
pub fn tag(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let mut c = Checks::default();
    let name = role_name(req, &mut c);
    let tags = rules::tags(req.params, &mut c);
    if tags.is_none() {
        c.fail(None, "tags", "Member must not be null");
    }
    c.finish()?;
    let tags = tags.unwrap_or_default();
    rules::check_tags(&tags)?;
    let _held = iam.lock();
    let mut role = find(iam, name)?;
    rules::merge_tags(&mut role.tags, tags)?;
    iam.write(vec![StateChange::Put(
        model::role_key(name),
        encode(&role)?,
    )])?;
    Ok(None)
}

/// UntagRole: removes the tags of the keys given (regardless of case); keys the role
/// does not have are no error.
pub fn untag(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let mut c = Checks::default();
    let name = role_name(req, &mut c);
    let keys = req.params.list("TagKeys");
    match &keys {
        None => c.fail(None, "tagKeys", "Member must not be null"),
        Some(k) if k.len() > rules::TAGS_PER_ENTITY => c.fail(
            Some(&format!("{} keys", k.len())),
            "tagKeys",
            &format!(
                "Member must have length less than or equal to {}",
                rules::TAGS_PER_ENTITY
            ),
        ),
        Some(k) => {
            for (i, key) in k.iter().enumerate() {
                c.text(key, &format!("tagKeys.{}.member", i + 1), &TAG_KEY);
            }
        }
    }
    c.finish()?;
    let gone: Vec<String> = keys
        .unwrap_or_default()
        .iter()
        .map(|k| k.to_lowercase())
        .collect();
    let _held = iam.lock();
    let mut role = find(iam, name)?;
    role.tags.retain(|t| !gone.contains(&t.key.to_lowercase()));
    iam.write(vec![StateChange::Put(
        model::role_key(name),
        encode(&role)?,
    )])?;
    Ok(None)
}

/// ListRoleTags, in the order the tags were added.
pub fn list_tags(iam: &Iam, req: &Request<'_>) -> Result<Option<Xml>, ApiError> {
    let mut c = Checks::default();
    let name = role_name(req, &mut c);
    let paging = Paging::read(req.params, &mut c);
    c.finish()?;
    let role = find(iam, name)?;
    let items = role
        .tags
        .into_iter()
        .enumerate()
        .map(|(i, t)| (format!("{i:04}"), t))
        .collect();
    let (page, marker) = paging.page(items)?;
    let mut x = Xml::new();
    x.list("Tags", &page, |x, t| {
        x.leaf("Key", &t.key).leaf("Value", &t.value);
    })
    .page_end(marker.as_deref());
    Ok(Some(x))
}
