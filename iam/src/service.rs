//! [`IamService`]: IAM's role and managed-policy actions and STS behind the front door,
//! in the Query protocol (`Action=...`, XML replies), state in the catalog namespace
//! `svc/iam/`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use freshet_protocol::error::ApiError;
use freshet_protocol::service::{BoxFuture, Call, Reply, Route, Service};
use freshet_storage::{Engine, ServiceState, StateChange};
use serde::de::DeserializeOwned;

use crate::error::{service_failure, storage};
use crate::query::Params;
use crate::xml::{IAM_NS, STS_NS};

/// The IAM actions it answers (signing name `iam`, Version 2010-05-08).
pub const IAM_ACTIONS: &[&str] = &[
    "CreateRole",
    "GetRole",
    "DeleteRole",
    "ListRoles",
    "UpdateRole",
    "UpdateAssumeRolePolicy",
    "TagRole",
    "UntagRole",
    "ListRoleTags",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "ListAttachedRolePolicies",
    "PutRolePolicy",
    "GetRolePolicy",
    "DeleteRolePolicy",
    "ListRolePolicies",
    "CreatePolicy",
    "GetPolicy",
    "GetPolicyVersion",
    "DeletePolicy",
    "ListPolicies",
];

/// The STS actions it answers (signing name `sts`, Version 2011-06-15).
pub const STS_ACTIONS: &[&str] = &["GetCallerIdentity", "AssumeRole"];

/// Settings of the service.
#[derive(Debug, Clone)]
pub struct IamConfig {
    /// The account in ARNs and GetCallerIdentity (`--account-id`).
    pub account_id: String,
    /// The server's region (`--region`); IAM and STS answer it on their global
    /// endpoints, so no reply names it.
    pub region: String,
}

impl Default for IamConfig {
    fn default() -> Self {
        IamConfig {
            account_id: "000000000000".to_string(),
            region: "us-east-1".to_string(),
        }
    }
}

/// What the actions share.
pub(crate) struct Iam {
    pub cfg: IamConfig,
    state: ServiceState,
    /// Serializes the read-check-write of changes (one catalog write each).
    writes: Mutex<()>,
}

/// One request as the actions see it.
pub(crate) struct Request<'a> {
    /// Its parameters.
    pub params: &'a Params,
    /// Its headers (STS reads the session token).
    pub headers: &'a http::HeaderMap,
    /// Its id, echoed in `ResponseMetadata`.
    pub request_id: &'a str,
}

impl Iam {
    pub(crate) fn new(state: ServiceState, cfg: IamConfig) -> Iam {
        Iam {
            cfg,
            state,
            writes: Mutex::new(()),
        }
    }

    /// The account id.
    pub fn account(&self) -> &str {
        &self.cfg.account_id
    }

    /// Held while a change is checked and written.
    pub fn lock(&self) -> MutexGuard<'_, ()> {
        self.writes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A JSON record.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ApiError> {
        match self.state.get(key).map_err(storage)? {
            Some(v) => decode(key, &v).map(Some),
            None => Ok(None),
        }
    }

    /// Whether a key exists.
    pub fn exists(&self, key: &str) -> Result<bool, ApiError> {
        Ok(self.state.get(key).map_err(storage)?.is_some())
    }

    /// The keys under a prefix, in order.
    pub fn keys(&self, prefix: &str) -> Result<Vec<String>, ApiError> {
        Ok(self
            .state
            .scan(prefix)
            .map_err(storage)?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }

    /// The JSON records under a prefix, by key, in key order.
    pub fn scan<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<(String, T)>, ApiError> {
        self.state
            .scan(prefix)
            .map_err(storage)?
            .into_iter()
            .map(|(k, v)| decode(&k, &v).map(|t| (k, t)))
            .collect()
    }

    /// Applies changes atomically and durably.
    pub fn write(&self, changes: Vec<StateChange>) -> Result<(), ApiError> {
        self.state.write(changes).map_err(storage)
    }

    fn dispatch(&self, route: &str, action: &str, req: &Request<'_>) -> Result<String, ApiError> {
        use crate::{policies, role_policies, roles, sts};
        let (ns, result) = match (route, action) {
            ("sts", "GetCallerIdentity") => (STS_NS, sts::get_caller_identity(self, req)?),
            ("sts", "AssumeRole") => (STS_NS, sts::assume_role(self, req)?),
            ("iam", "CreateRole") => (IAM_NS, roles::create(self, req)?),
            ("iam", "GetRole") => (IAM_NS, roles::get(self, req)?),
            ("iam", "DeleteRole") => (IAM_NS, roles::delete(self, req)?),
            ("iam", "ListRoles") => (IAM_NS, roles::list(self, req)?),
            ("iam", "UpdateRole") => (IAM_NS, roles::update(self, req)?),
            ("iam", "UpdateAssumeRolePolicy") => {
                (IAM_NS, roles::update_assume_role_policy(self, req)?)
            }
            ("iam", "TagRole") => (IAM_NS, roles::tag(self, req)?),
            ("iam", "UntagRole") => (IAM_NS, roles::untag(self, req)?),
            ("iam", "ListRoleTags") => (IAM_NS, roles::list_tags(self, req)?),
            ("iam", "AttachRolePolicy") => (IAM_NS, role_policies::attach(self, req)?),
            ("iam", "DetachRolePolicy") => (IAM_NS, role_policies::detach(self, req)?),
            ("iam", "ListAttachedRolePolicies") => {
                (IAM_NS, role_policies::list_attached(self, req)?)
            }
            ("iam", "PutRolePolicy") => (IAM_NS, role_policies::put(self, req)?),
            ("iam", "GetRolePolicy") => (IAM_NS, role_policies::get(self, req)?),
            ("iam", "DeleteRolePolicy") => (IAM_NS, role_policies::delete(self, req)?),
            ("iam", "ListRolePolicies") => (IAM_NS, role_policies::list(self, req)?),
            ("iam", "CreatePolicy") => (IAM_NS, policies::create(self, req)?),
            ("iam", "GetPolicy") => (IAM_NS, policies::get(self, req)?),
            ("iam", "GetPolicyVersion") => (IAM_NS, policies::get_version(self, req)?),
            ("iam", "DeletePolicy") => (IAM_NS, policies::delete(self, req)?),
            ("iam", "ListPolicies") => (IAM_NS, policies::list(self, req)?),
            _ => {
                return Err(ApiError::custom(
                    "InvalidAction",
                    format!("The action {action} is not valid for this web service."),
                    400,
                ))
            }
        };
        Ok(crate::xml::document(ns, action, req.request_id, result))
    }

    /// Answers one request: `route` is the signing name (`iam` or `sts`), `action` the
    /// `Action` parameter; the reply document or AWS's error.
    pub(crate) fn answer(
        &self,
        route: &str,
        action: &str,
        params: &Params,
        headers: &http::HeaderMap,
        request_id: &str,
    ) -> Result<String, ApiError> {
        let req = Request {
            params,
            headers,
            request_id,
        };
        self.dispatch(route, action, &req)
    }
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| service_failure(format!("catalog entry svc/iam/{key} is unreadable: {e}")))
}

/// A record as the catalog stores it.
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| service_failure(format!("cannot encode a record: {e}")))
}

/// IAM and STS behind the front door.
pub struct IamService {
    inner: Arc<Iam>,
}

impl std::fmt::Debug for IamService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamService")
            .field("cfg", &self.inner.cfg)
            .finish()
    }
}

impl IamService {
    /// Opens the service over the engine's catalog namespace `svc/iam/`.
    pub fn open(engine: &Engine, cfg: IamConfig) -> Result<IamService, freshet_storage::Error> {
        let state = engine.service_state("iam")?;
        Ok(IamService {
            inner: Arc::new(Iam::new(state, cfg)),
        })
    }
}

/// The signing name of a Query route (`iam`, `sts`).
fn route_name(route: &Route) -> Option<&'static str> {
    match route {
        Route::Query(name) => Some(name),
        _ => None,
    }
}

/// A request's parameters: a POST's form body (then its query string), or a GET's
/// query string.
fn params_of(call: &Call) -> Params {
    let query = call.uri.query().unwrap_or_default().as_bytes();
    if call.method == http::Method::GET {
        Params::parse(query)
    } else {
        let mut p = Params::parse(&call.body);
        p.add(query);
        p
    }
}

impl Service for IamService {
    fn name(&self) -> &'static str {
        "iam"
    }

    fn routes(&self) -> Vec<Route> {
        vec![Route::Query("iam"), Route::Query("sts")]
    }

    fn knows(&self, route: &Route, operation: &str) -> bool {
        match route_name(route) {
            Some("iam") => IAM_ACTIONS.contains(&operation),
            Some("sts") => STS_ACTIONS.contains(&operation),
            _ => false,
        }
    }

    /// IAM and STS answer signature errors with 403.
    fn auth_error_status(&self) -> u16 {
        403
    }

    fn call(&self, call: Call) -> BoxFuture<'static, Reply> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let answered = tokio::task::spawn_blocking(move || {
                if call.expired() {
                    // The front door has answered 503 already: change nothing.
                    return Err(ApiError::custom(
                        "ServiceUnavailable",
                        "The request timed out before it ran.",
                        503,
                    ));
                }
                let route = route_name(&call.route).unwrap_or_default();
                let params = params_of(&call);
                inner.answer(
                    route,
                    &call.operation,
                    &params,
                    &call.headers,
                    &call.request_id,
                )
            })
            .await;
            match answered {
                Ok(Ok(body)) => Reply::Full {
                    status: 200,
                    content_type: "text/xml",
                    headers: Vec::new(),
                    body: Bytes::from(body),
                },
                Ok(Err(e)) => Reply::Error(e),
                Err(e) => Reply::Error(service_failure(format!("the request's task failed: {e}"))),
            }
        })
    }
}
