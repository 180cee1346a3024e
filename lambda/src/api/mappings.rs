//! CreateEventSourceMapping, GetEventSourceMapping, ListEventSourceMappings,
//! UpdateEventSourceMapping, DeleteEventSourceMapping.

use std::sync::Arc;

use freshet_protocol::error::ApiError;
use freshet_protocol::service::{Call, Reply};
use serde_json::{json, Value};

use super::functions::{load, resolve_name};
use super::{body_json, json, query};
use crate::catalog::blocking;
use crate::error::{conflict, constraint, invalid, mapping_not_found};
use crate::esm::params::{configuration_json, parse_kinesis_arn, MappingConfig, MappingStatus};
use crate::esm::StoredMapping;
use crate::service::Lambda;
use crate::time_fmt::now_ms;

fn describe(l: &Lambda, m: &StoredMapping) -> Value {
    let mut status = m.status.clone();
    if let Some(r) = l.mappings.last_result(&m.config.uuid) {
        status.last_processing_result = r;
    }
    configuration_json(&m.config, &status, &l.cfg.region, &l.cfg.account_id)
}

async fn load_mapping(l: &Arc<Lambda>, uuid: &str) -> Result<StoredMapping, ApiError> {
    let catalog = l.catalog.clone();
    let id = uuid.to_string();
    blocking(move || catalog.mapping::<StoredMapping>(&id))
        .await?
        .ok_or_else(mapping_not_found)
}

async fn save(l: &Arc<Lambda>, m: &StoredMapping) -> Result<(), ApiError> {
    let (catalog, m) = (l.catalog.clone(), m.clone());
    blocking(move || catalog.put_mapping(&m.config.uuid, &m)).await
}

/// The function named by a body's `FunctionName`, as its ARN (it must exist).
async fn function_arn_of(l: &Arc<Lambda>, body: &Value) -> Result<Option<String>, ApiError> {
    let Some(reference) = body.get("FunctionName") else {
        return Ok(None);
    };
    let Some(reference) = reference.as_str() else {
        return Err(crate::error::bad_content(
            "Could not parse request body into json: FunctionName must be a string",
        ));
    };
    let name = resolve_name(l, reference)?;
    let f = load(l, &name).await?;
    Ok(Some(f.arn(&l.cfg.region, &l.cfg.account_id)))
}

/// CreateEventSourceMapping.
pub(crate) async fn create(l: &Arc<Lambda>, call: &Call) -> Result<Reply, ApiError> {
    let body = body_json(call)?;
    let Some(function_arn) = function_arn_of(l, &body).await? else {
        return Err(constraint(
            "null",
            "functionName",
            "Member must not be null",
        ));
    };
    let uuid = uuid::Uuid::new_v4().to_string();
    let config = MappingConfig::from_create(&body, uuid.clone(), function_arn.clone())?;
    let Some(source) = parse_kinesis_arn(&config.event_source_arn) else {
        return Err(invalid(format!(
            "Unsupported event source ARN: {} (only Kinesis streams and stream consumers are supported by this server)",
            config.event_source_arn
        )));
    };
    if l.engine.describe_stream(&source.stream_name).is_err() {
        return Err(invalid(format!(
            "Stream not found: {}",
            source.stream_arn()
        )));
    }
    if let Some(dest) = &config.on_failure_destination {
        check_destination(l, dest)?;
    }
    let catalog = l.catalog.clone();
    let existing: Vec<StoredMapping> = blocking(move || catalog.mappings()).await?;
    if let Some(dup) = existing.iter().find(|m| {
        m.config.event_source_arn == config.event_source_arn
            && m.config.function_arn == function_arn
    }) {
        return Err(conflict(format!(
            "The event source arn (\" {} \") and function (\" {} \") provided mapping already exists. Please update or delete the existing mapping with UUID {}",
            config.event_source_arn,
            function_arn.rsplit(':').next().unwrap_or_default(),
            dup.config.uuid
        )));
    }
    let mut status = MappingStatus::creating(now_ms());
    if !config.enabled {
        status.state = "Disabled".into();
    }
    let m = StoredMapping { config, status };
    save(l, &m).await?;
    if m.config.enabled {
        l.mappings.start(m.config.clone());
    }
    Ok(json(202, &describe(l, &m)))
}

/// GetEventSourceMapping.
pub(crate) async fn get(l: &Arc<Lambda>, uuid: &str) -> Result<Reply, ApiError> {
    let m = load_mapping(l, uuid).await?;
    Ok(json(200, &describe(l, &m)))
}

/// ListEventSourceMappings (filtered by `EventSourceArn` and `FunctionName`; `Marker`
/// is the last UUID of the previous page).
pub(crate) async fn list(l: &Arc<Lambda>, call: &Call) -> Result<Reply, ApiError> {
    let max = match query(call, "MaxItems") {
        Some(m) => match m.parse::<i64>() {
            Ok(n) if (1..=10_000).contains(&n) => n as usize,
            _ => {
                return Err(constraint(
                    &m,
                    "maxItems",
                    "Member must have value between 1 and 10000",
                ))
            }
        },
        None => 100,
    };
    let source = query(call, "EventSourceArn");
    let function = match query(call, "FunctionName") {
        Some(f) => Some(resolve_name(l, &f)?),
        None => None,
    };
    let marker = query(call, "Marker");
    let catalog = l.catalog.clone();
    let all: Vec<StoredMapping> = blocking(move || catalog.mappings()).await?;
    let mut page: Vec<&StoredMapping> = all
        .iter()
        .filter(|m| {
            source
                .as_deref()
                .is_none_or(|s| m.config.event_source_arn == s)
        })
        .filter(|m| {
            function.as_deref().is_none_or(|f| {
                crate::model::parse_function_ref(&m.config.function_arn)
                    .is_some_and(|(n, _)| n == f)
            })
        })
        .filter(|m| {
            marker
                .as_deref()
                .is_none_or(|mk| m.config.uuid.as_str() > mk)
        })
        .take(max + 1)
        .collect();
    let more = page.len() > max;
    page.truncate(max);
    let mut out = json!({
        "EventSourceMappings": page.iter().map(|m| describe(l, m)).collect::<Vec<_>>(),
    });
    if more {
        if let Some(last) = page.last() {
            out["NextMarker"] = json!(last.config.uuid);
        }
    }
    Ok(json(200, &out))
}

/// UpdateEventSourceMapping.
pub(crate) async fn update(l: &Arc<Lambda>, uuid: &str, call: &Call) -> Result<Reply, ApiError> {
    let body = body_json(call)?;
    let mut m = load_mapping(l, uuid).await?;
    if m.status.state == "Deleting" {
        return Err(crate::error::in_use(format!(
            "Cannot update the event source mapping because it is in use. The mapping {uuid} is being deleted."
        )));
    }
    let was_enabled = m.config.enabled;
    if let Some(arn) = function_arn_of(l, &body).await? {
        m.config.function_arn = arn;
    }
    m.config.apply_update(&body)?;
    if let Some(dest) = &m.config.on_failure_destination {
        check_destination(l, dest)?;
    }
    m.status
        .after_update(was_enabled, m.config.enabled, now_ms());
    save(l, &m).await?;
    let reply = describe(l, &m);
    if m.config.enabled {
        l.mappings.start(m.config.clone());
    } else {
        l.mappings.stop(uuid);
        m.status.state = "Disabled".into();
        save(l, &m).await?;
    }
    Ok(json(202, &reply))
}

/// DeleteEventSourceMapping.
pub(crate) async fn delete(l: &Arc<Lambda>, uuid: &str) -> Result<Reply, ApiError> {
    let mut m = load_mapping(l, uuid).await?;
    m.status.state = "Deleting".into();
    m.status.last_modified_ms = now_ms();
    save(l, &m).await?;
    let reply = describe(l, &m);
    l.mappings.stop(uuid);
    let (catalog, id) = (l.catalog.clone(), uuid.to_string());
    blocking(move || catalog.delete_mapping(&id)).await?;
    Ok(json(202, &reply))
}

/// Whether on-failure records can go to `dest`: an existing stream of this server, or
/// an SQS queue, SNS topic or S3 bucket at an endpoint the environment names.
fn check_destination(l: &Lambda, dest: &str) -> Result<(), ApiError> {
    use crate::esm::destinations::Destination;
    let ok = match Destination::parse(dest) {
        Some(Destination::Kinesis { stream }) => l.engine.describe_stream(&stream).is_ok(),
        Some(outside) => outside.reachable(),
        None => false,
    };
    if ok {
        return Ok(());
    }
    Err(invalid(format!(
        "The provided destination config DestinationConfig(onSuccess=null, onFailure=OnFailure(destination={dest})) is invalid: this server delivers on-failure records to an existing Kinesis stream of its own, or to an SQS queue, SNS topic or S3 bucket at the endpoint AWS_ENDPOINT_URL_SQS / _SNS / _S3 (or AWS_ENDPOINT_URL) names."
    )))
}
