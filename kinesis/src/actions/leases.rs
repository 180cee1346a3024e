//! Freshet's own actions, beside the Kinesis ones: KCL lease tables kept in the
//! catalog, every write a compare-and-set on a counter (`X-Amz-Target:
//! Freshet_20261126.ListLeases`, `PutLease`, `DeleteLease`). A counter mismatch is a
//! 400 `LeaseConflictException`.

use freshet_storage::LeaseExpectation;

use super::stream_name;
use crate::state::KinesisState;
use freshet_protocol::kinesis::rules::{STREAM_ARN, STREAM_NAME};
use freshet_protocol::request::Req;
use freshet_protocol::validate::{Member, Rule, Shape, Type};
use freshet_protocol::value::{map, Value};
use freshet_protocol::{ApiError, ApiResult};

/// The `X-Amz-Target` prefix of Freshet's own actions.
pub const TARGET_PREFIX: &str = "Freshet_20261126.";

/// The lease actions, by their full `X-Amz-Target`.
pub const ACTIONS: &[&str] = &[
    "Freshet_20261126.ListLeases",
    "Freshet_20261126.PutLease",
    "Freshet_20261126.DeleteLease",
];

/// The lease actions, after the target prefix.
pub const OPERATIONS: &[&str] = &["ListLeases", "PutLease", "DeleteLease"];

// Freshet's own members: their types and presence, no further rules.
const TABLE_NAME: Member = Member::new("TableName", Type::String).required();
const KEY: Member = Member::new("Key", Type::String).required();

static LIST_LEASES: Shape = Shape {
    members: &[STREAM_NAME, STREAM_ARN, TABLE_NAME],
    shown_as: "",
};
static PUT_LEASE: Shape = Shape {
    members: &[
        STREAM_NAME,
        STREAM_ARN,
        TABLE_NAME,
        KEY,
        Member::new("Value", Type::Blob),
        Member::new("ExpectedCounter", Type::Long).with(&[Rule::Min(0)]),
    ],
    shown_as: "",
};
static DELETE_LEASE: Shape = Shape {
    members: &[
        STREAM_NAME,
        STREAM_ARN,
        TABLE_NAME,
        KEY,
        Member::new("Counter", Type::Long)
            .required()
            .with(&[Rule::Min(0)]),
    ],
    shown_as: "",
};

/// The input shape of a lease action, by its full `X-Amz-Target`.
pub fn input(action: &str) -> Option<&'static Shape> {
    match action.strip_prefix(TARGET_PREFIX)? {
        "ListLeases" => Some(&LIST_LEASES),
        "PutLease" => Some(&PUT_LEASE),
        "DeleteLease" => Some(&DELETE_LEASE),
        _ => None,
    }
}

fn err(state: &KinesisState, e: freshet_storage::Error) -> ApiError {
    match e {
        freshet_storage::Error::LeaseConflict { key, found } => ApiError::custom(
            "LeaseConflictException",
            match found {
                Some(c) => format!("Lease {key} has counter {c}, not the one expected."),
                None => format!("Lease {key} does not exist."),
            },
            400,
        ),
        other => state.err(other),
    }
}

/// A (validated, non-negative) counter member.
fn counter(req: Req<'_>, name: &str) -> ApiResult<Option<u64>> {
    Ok(req.opt_int(name)?.map(|c| u64::try_from(c).unwrap_or(0)))
}

/// Runs one lease action.
pub fn dispatch(state: &KinesisState, action: &str, req: Req<'_>) -> ApiResult<Value> {
    let stream = stream_name(state, req)?;
    let table = req.str("TableName")?;
    let engine = &state.engine;
    match action.strip_prefix(TARGET_PREFIX).unwrap_or(action) {
        "ListLeases" => {
            let leases = engine
                .list_leases(&stream, table)
                .map_err(|e| err(state, e))?;
            let list = leases
                .into_iter()
                .map(|l| {
                    map([
                        ("Key", Value::str(l.key)),
                        ("Counter", Value::Int(i128::from(l.counter))),
                        ("Value", Value::Bytes(l.value.into())),
                    ])
                })
                .collect();
            Ok(map([("Leases", Value::List(list))]))
        }
        "PutLease" => {
            let key = req.str("Key")?;
            let value = req.opt_blob("Value")?.unwrap_or_default();
            let expect = match counter(req, "ExpectedCounter")? {
                Some(c) => LeaseExpectation::Counter(c),
                None => LeaseExpectation::Absent,
            };
            let c = engine
                .put_lease(&stream, table, key, expect, value.to_vec())
                .map_err(|e| err(state, e))?;
            Ok(map([("Counter", Value::Int(i128::from(c)))]))
        }
        "DeleteLease" => {
            let key = req.str("Key")?;
            let c = counter(req, "Counter")?.unwrap_or(0);
            engine
                .delete_lease(&stream, table, key, c)
                .map_err(|e| err(state, e))?;
            Ok(map([]))
        }
        other => Err(ApiError::unknown_operation(format!(
            "The action or operation {other} is not valid for this endpoint."
        ))),
    }
}
