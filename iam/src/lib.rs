//! Freshet IAM: IAM's role and managed-policy actions and STS's GetCallerIdentity and
//! AssumeRole, in AWS's Query protocol on the server's one port, so that boto3, the AWS
//! CLI and deployment scripts that create a role before a function or a delivery
//! stream work unchanged. Roles are recorded, not enforced: no request anywhere is
//! checked against a role or a policy.
//!
//! The front door routes a Query-protocol request (a form-encoded POST without
//! `X-Amz-Target`, or a GET with `?Action=`) by its SigV4 signing name: `iam` to the
//! IAM actions ([`IAM_ACTIONS`]), `sts` to the STS ones ([`STS_ACTIONS`]). Replies are
//! AWS's XML documents ([`xml`]); errors are AWS's codes with their statuses
//! ([`error`]), which the front door writes as `<ErrorResponse>`.
//!
//! The modules, by concern:
//!
//! - [`query`]: the form's parameters, lists (`Tags.member.1.Key`) and validation in
//!   AWS's words (`ValidationError`);
//! - [`rules`]: the constraints of IAM's model, policy documents, tags, quotas;
//! - [`model`]: the catalog records (`svc/iam/`), ids, ARNs, timestamps;
//! - [`page`]: `Marker` / `MaxItems` / `IsTruncated`;
//! - `roles`, `role_policies`, `policies`, `sts`: the actions;
//! - [`service`]: [`IamService`], the `Service` the server adds to its router.
//!
//! ```
//! use freshet_iam::{IamConfig, IamService};
//! use freshet_protocol::service::{Route, Service};
//! use freshet_storage::{Engine, EngineConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let engine = Engine::open(EngineConfig::new(dir.path()))?;
//! let iam = IamService::open(&engine, IamConfig::default())?;
//! assert!(iam.knows(&Route::Query("iam"), "CreateRole"));
//! assert!(iam.knows(&Route::Query("sts"), "GetCallerIdentity"));
//! assert!(!iam.knows(&Route::Query("sts"), "CreateRole"));
//! engine.shutdown()?;
//! # Ok(())
//! # }
//! ```

pub mod error;
pub mod model;
pub mod page;
mod policies;
pub mod query;
mod role_policies;
mod roles;
pub mod rules;
pub mod service;
mod sts;
pub mod xml;

pub use service::{IamConfig, IamService, IAM_ACTIONS, STS_ACTIONS};

#[cfg(test)]
mod tests;
