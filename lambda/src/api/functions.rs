//! CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions,
//! UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction and the
//! concurrency actions.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use freshet_protocol::error::ApiError;
use freshet_protocol::service::{Call, Reply};
use serde_json::{json, Map, Value};

use super::{body_json, empty, json, query};
use crate::catalog::blocking;
use crate::code;
use crate::error::{conflict, constraint, function_not_found, invalid, LambdaResult};
use crate::model::{
    function_arn, parse_function_ref, runtime_kind, FunctionRecord, FunctionState, RUNTIMES,
};
use crate::runtime::FunctionSpec;
use crate::service::Lambda;
use crate::time_fmt::now_ms;

/// Keys AWS reserves in a function's environment.
const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// The name of a function reference in a path, with `$LATEST` the only qualifier.
pub(crate) fn resolve_name(l: &Lambda, reference: &str) -> LambdaResult<String> {
    let Some((name, qualifier)) = parse_function_ref(reference) else {
        return Err(constraint(
            reference,
            "functionName",
            "Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
        ));
    };
    match qualifier.as_deref() {
        None | Some("$LATEST") => Ok(name),
        Some(q) => Err(function_not_found(&format!(
            "{}:{q}",
            function_arn(&l.cfg.region, &l.cfg.account_id, &name)
        ))),
    }
}

/// A stored function, or AWS's not-found error.
pub(crate) async fn load(l: &Arc<Lambda>, name: &str) -> LambdaResult<FunctionRecord> {
    let catalog = l.catalog.clone();
    let n = name.to_string();
    blocking(move || catalog.function(&n))
        .await?
        .ok_or_else(|| function_not_found(&function_arn(&l.cfg.region, &l.cfg.account_id, name)))
}

/// What the runtime pool needs to run a function.
pub(crate) fn spec(l: &Lambda, f: &FunctionRecord) -> Option<FunctionSpec> {
    Some(FunctionSpec {
        name: f.name.clone(),
        arn: f.arn(&l.cfg.region, &l.cfg.account_id),
        runtime: f.runtime.clone(),
        kind: runtime_kind(&f.runtime)?,
        handler: f.handler.clone(),
        task_root: code::task_root(&l.cfg.root, &f.name, &f.code_sha256),
        timeout: std::time::Duration::from_secs(u64::from(f.timeout)),
        memory_size: f.memory_size,
        environment: f.environment.clone(),
        revision: f.revision_id.clone(),
        concurrency: f.reserved_concurrency.unwrap_or(l.cfg.default_concurrency),
    })
}

fn int_in(
    body: &Value,
    member: &str,
    field: &str,
    min: i64,
    max: i64,
) -> LambdaResult<Option<u32>> {
    let Some(v) = body.get(member).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let Some(n) = v.as_i64() else {
        return Err(crate::error::bad_content(format!(
            "Could not parse request body into json: {member} must be an integer, not {v}"
        )));
    };
    if n < min {
        return Err(constraint(
            &n.to_string(),
            field,
            &format!("Member must have value greater than or equal to {min}"),
        ));
    }
    if n > max {
        return Err(constraint(
            &n.to_string(),
            field,
            &format!("Member must have value less than or equal to {max}"),
        ));
    }
    Ok(Some(n as u32))
}

fn str_member<'a>(body: &'a Value, member: &str) -> LambdaResult<Option<&'a str>> {
    match body.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(crate::error::bad_content(format!(
            "Could not parse request body into json: {member} must be a string, not {v}"
        ))),
    }
}

fn check_runtime(runtime: &str) -> LambdaResult<()> {
    if runtime_kind(runtime).is_some() {
        return Ok(());
    }
    Err(invalid(format!(
        "The runtime parameter of {runtime} is not supported by this server. Supported runtimes: {}",
        RUNTIMES.join(", ")
    )))
}

fn environment(body: &Value) -> LambdaResult<Option<BTreeMap<String, String>>> {
    let Some(env) = body.get("Environment").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let vars = env
        .get("Variables")
        .cloned()
        .unwrap_or(Value::Object(Map::new()));
    let Value::Object(vars) = vars else {
        return Err(crate::error::bad_content(
            "Could not parse request body into json: Environment.Variables must be a map of strings",
        ));
    };
    let mut out = BTreeMap::new();
    for (k, v) in vars {
        let Value::String(v) = v else {
            return Err(crate::error::bad_content(format!(
                "Could not parse request body into json: the value of environment variable {k} must be a string"
            )));
        };
        let name_ok = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok {
            return Err(constraint(
                &k,
                "environment.variables",
                "Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+",
            ));
        }
        out.insert(k, v);
    }
    let reserved: Vec<&str> = out
        .keys()
        .map(String::as_str)
        .filter(|k| RESERVED_ENV.contains(k))
        .collect();
    if !reserved.is_empty() {
        return Err(invalid(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {}",
            reserved.join(", ")
        )));
    }
    let measured = serde_json::to_string(&out).unwrap_or_default();
    if measured.len() > 4096 {
        return Err(invalid(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {measured}"
        )));
    }
    Ok(Some(out))
}

fn zip_of(code_member: &Value) -> LambdaResult<Vec<u8>> {
    if let Some(z) = code_member.get("ZipFile").and_then(Value::as_str) {
        return base64::engine::general_purpose::STANDARD
            .decode(z)
            .map_err(|_| invalid(code::UNZIP_FAILED));
    }
    if code_member.get("S3Bucket").is_some() || code_member.get("ImageUri").is_some() {
        return Err(invalid(
            "Only Code.ZipFile is supported by this server (S3 locations and container images are not).",
        ));
    }
    Err(invalid("Please provide a source for function code."))
}

/// Stores code and finds whether its runtime can start it.
async fn store_code(
    l: &Arc<Lambda>,
    name: &str,
    zip: Vec<u8>,
    runtime: &str,
    handler: &str,
) -> LambdaResult<(code::StoredCode, Option<String>)> {
    let root = l.cfg.root.clone();
    let (n, rt, h) = (name.to_string(), runtime.to_string(), handler.to_string());
    blocking(move || {
        let stored = code::store(&root, &n, &zip)?;
        let problem = runtime_kind(&rt).and_then(|kind| {
            code::entrypoint_problem(&code::task_root(&root, &n, &stored.sha256), kind, &h)
        });
        Ok((stored, problem))
    })
    .await
}

fn set_state(f: &mut FunctionRecord, problem: Option<String>) {
    match problem {
        None => {
            f.state = FunctionState::Active;
            f.state_reason = None;
            f.state_reason_code = None;
        }
        Some(why) => {
            f.state = FunctionState::Failed;
            f.state_reason = Some(why);
            f.state_reason_code = Some("InvalidZipFileException".into());
        }
    }
}

/// CreateFunction.
pub(crate) async fn create(l: &Arc<Lambda>, call: &Call) -> Result<Reply, ApiError> {
    let body = body_json(call)?;
    let Some(reference) = str_member(&body, "FunctionName")? else {
        return Err(invalid("FunctionName is required."));
    };
    let name = resolve_name(l, reference)?;
    if str_member(&body, "PackageType")?.is_some_and(|p| p != "Zip") {
        return Err(invalid("Only PackageType Zip is supported by this server."));
    }
    let Some(runtime) = str_member(&body, "Runtime")? else {
        return Err(invalid("Runtime and Handler are mandatory parameters for functions created with deployment packages."));
    };
    check_runtime(runtime)?;
    let Some(role) = str_member(&body, "Role")? else {
        return Err(invalid("Role is required."));
    };
    let handler = str_member(&body, "Handler")?
        .unwrap_or_default()
        .to_string();
    if handler.is_empty() && runtime_kind(runtime) == Some(crate::model::RuntimeKind::Python) {
        return Err(invalid("Runtime and Handler are mandatory parameters for functions created with deployment packages."));
    }
    let timeout = int_in(&body, "Timeout", "timeout", 1, 900)?.unwrap_or(3);
    let memory_size = int_in(&body, "MemorySize", "memorySize", 128, 10240)?.unwrap_or(128);
    let environment = environment(&body)?.unwrap_or_default();
    let ephemeral = match body.get("EphemeralStorage") {
        Some(e) => int_in(e, "Size", "ephemeralStorage.size", 512, 10240)?.unwrap_or(512),
        None => 512,
    };
    let architectures = match body.get("Architectures").and_then(Value::as_array) {
        Some(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        None => vec!["x86_64".to_string()],
    };
    let tags = body
        .get("Tags")
        .and_then(Value::as_object)
        .map(|t| {
            t.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let zip = zip_of(body.get("Code").unwrap_or(&Value::Null))?;
    let (catalog, n) = (l.catalog.clone(), name.clone());
    if blocking(move || catalog.function(&n)).await?.is_some() {
        return Err(conflict(format!("Function already exist: {name}")));
    }
    let (stored, problem) = store_code(l, &name, zip, runtime, &handler).await?;
    let mut f = FunctionRecord {
        name: name.clone(),
        runtime: runtime.to_string(),
        handler,
        role: role.to_string(),
        description: str_member(&body, "Description")?
            .unwrap_or_default()
            .to_string(),
        timeout,
        memory_size,
        environment,
        code_sha256: stored.sha256,
        code_size: stored.size,
        last_modified_ms: now_ms(),
        revision_id: uuid::Uuid::new_v4().to_string(),
        state: FunctionState::Active,
        state_reason: None,
        state_reason_code: None,
        reserved_concurrency: None,
        architectures,
        ephemeral_storage: ephemeral,
        tags,
    };
    set_state(&mut f, problem);
    let (catalog, record) = (l.catalog.clone(), f.clone());
    let created = blocking(move || {
        // Checked again under the write: two creates of one name race here.
        if catalog.function(&record.name)?.is_some() {
            return Ok(false);
        }
        catalog.put_function(&record)?;
        Ok(true)
    })
    .await?;
    if !created {
        return Err(conflict(format!("Function already exist: {name}")));
    }
    Ok(json(
        201,
        &f.configuration(&l.cfg.region, &l.cfg.account_id),
    ))
}

/// GetFunction.
pub(crate) async fn get(l: &Arc<Lambda>, reference: &str) -> Result<Reply, ApiError> {
    let name = resolve_name(l, reference)?;
    let f = load(l, &name).await?;
    let mut out = json!({
        "Configuration": f.configuration(&l.cfg.region, &l.cfg.account_id),
        "Code": {
            "RepositoryType": "S3",
            "Location": format!("/2015-03-31/functions/{name}/code.zip"),
        },
    });
    if !f.tags.is_empty() {
        out["Tags"] = json!(f.tags);
    }
    if let Some(c) = f.reserved_concurrency {
        out["Concurrency"] = json!({"ReservedConcurrentExecutions": c});
    }
    Ok(json(200, &out))
}

/// The stored zip of a function (the `Code.Location` of GetFunction).
pub(crate) async fn download(l: &Arc<Lambda>, reference: &str) -> Result<Reply, ApiError> {
    let name = resolve_name(l, reference)?;
    let f = load(l, &name).await?;
    let path = code::zip_path(&l.cfg.root, &name, &f.code_sha256);
    let bytes = blocking(move || {
        std::fs::read(&path)
            .map_err(|e| crate::error::service(format!("cannot read {}: {e}", path.display())))
    })
    .await?;
    Ok(Reply::Full {
        status: 200,
        content_type: "application/zip",
        headers: Vec::new(),
        body: bytes.into(),
    })
}

/// GetFunctionConfiguration.
pub(crate) async fn get_configuration(l: &Arc<Lambda>, reference: &str) -> Result<Reply, ApiError> {
    let name = resolve_name(l, reference)?;
    let f = load(l, &name).await?;
    Ok(json(
        200,
        &f.configuration(&l.cfg.region, &l.cfg.account_id),
    ))
}

/// ListFunctions (`Marker` is the last name of the previous page).
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
        None => 50,
    };
    let marker = query(call, "Marker");
    let catalog = l.catalog.clone();
    let all = blocking(move || catalog.functions()).await?;
    let mut page: Vec<&FunctionRecord> = all
        .iter()
        .filter(|f| marker.as_deref().is_none_or(|m| f.name.as_str() > m))
        .take(max + 1)
        .collect();
    let more = page.len() > max;
    page.truncate(max);
    let mut out = json!({
        "Functions": page
            .iter()
            .map(|f| f.configuration(&l.cfg.region, &l.cfg.account_id))
            .collect::<Vec<_>>(),
    });
    if more {
        if let Some(last) = page.last() {
            out["NextMarker"] = json!(last.name);
        }
    }
    Ok(json(200, &out))
}

/// UpdateFunctionCode.
pub(crate) async fn update_code(
    l: &Arc<Lambda>,
    reference: &str,
    call: &Call,
) -> Result<Reply, ApiError> {
    let name = resolve_name(l, reference)?;
    let body = body_json(call)?;
    let mut f = load(l, &name).await?;
    let zip = zip_of(&body)?;
    if body.get("DryRun").and_then(Value::as_bool) == Some(true) {
        return Ok(json(
            200,
            &f.configuration(&l.cfg.region, &l.cfg.account_id),
        ));
    }
    let (stored, problem) = store_code(l, &name, zip, &f.runtime, &f.handler).await?;
    f.code_sha256 = stored.sha256;
    f.code_size = stored.size;
    save_update(l, f, problem).await
}

async fn save_update(
    l: &Arc<Lambda>,
    mut f: FunctionRecord,
    problem: Option<String>,
) -> Result<Reply, ApiError> {
    set_state(&mut f, problem);
    f.last_modified_ms = now_ms();
    f.revision_id = uuid::Uuid::new_v4().to_string();
    let (catalog, record) = (l.catalog.clone(), f.clone());
    blocking(move || catalog.put_function(&record)).await?;
    l.runtimes.retire(&f.name);
    Ok(json(
        200,
        &f.configuration(&l.cfg.region, &l.cfg.account_id),
    ))
}

/// UpdateFunctionConfiguration.
pub(crate) async fn update_configuration(
    l: &Arc<Lambda>,
    reference: &str,
    call: &Call,
) -> Result<Reply, ApiError> {
    let name = resolve_name(l, reference)?;
    let body = body_json(call)?;
    let mut f = load(l, &name).await?;
    if let Some(expected) = str_member(&body, "RevisionId")? {
        if expected != f.revision_id {
            return Err(crate::error::precondition());
        }
    }
    if let Some(r) = str_member(&body, "Runtime")? {
        check_runtime(r)?;
        f.runtime = r.to_string();
    }
    if let Some(h) = str_member(&body, "Handler")? {
        f.handler = h.to_string();
    }
    if let Some(r) = str_member(&body, "Role")? {
        f.role = r.to_string();
    }
    if let Some(d) = str_member(&body, "Description")? {
        f.description = d.to_string();
    }
    if let Some(t) = int_in(&body, "Timeout", "timeout", 1, 900)? {
        f.timeout = t;
    }
    if let Some(m) = int_in(&body, "MemorySize", "memorySize", 128, 10240)? {
        f.memory_size = m;
    }
    if let Some(env) = environment(&body)? {
        f.environment = env;
    }
    if let Some(e) = body.get("EphemeralStorage") {
        if let Some(s) = int_in(e, "Size", "ephemeralStorage.size", 512, 10240)? {
            f.ephemeral_storage = s;
        }
    }
    let (root, record) = (l.cfg.root.clone(), f.clone());
    let problem = blocking(move || {
        Ok(runtime_kind(&record.runtime).and_then(|kind| {
            code::entrypoint_problem(
                &code::task_root(&root, &record.name, &record.code_sha256),
                kind,
                &record.handler,
            )
        }))
    })
    .await?;
    save_update(l, f, problem).await
}

/// DeleteFunction. Its mappings stay (as in AWS) and report the missing function.
pub(crate) async fn delete(l: &Arc<Lambda>, reference: &str) -> Result<Reply, ApiError> {
    let name = resolve_name(l, reference)?;
    let f = load(l, &name).await?;
    let (catalog, n) = (l.catalog.clone(), name.clone());
    blocking(move || catalog.delete_function(&n)).await?;
    l.runtimes.retire(&name);
    let dir = code::function_dir(&l.cfg.root, &f.name);
    let _ = blocking(move || {
        let _ = std::fs::remove_dir_all(dir);
        Ok(())
    })
    .await;
    Ok(empty(204))
}

/// PutFunctionConcurrency.
pub(crate) async fn put_concurrency(
    l: &Arc<Lambda>,
    reference: &str,
    call: &Call,
) -> Result<Reply, ApiError> {
    let name = resolve_name(l, reference)?;
    let body = body_json(call)?;
    let Some(n) = int_in(
        &body,
        "ReservedConcurrentExecutions",
        "reservedConcurrentExecutions",
        0,
        1000,
    )?
    else {
        return Err(invalid("ReservedConcurrentExecutions is required."));
    };
    let mut f = load(l, &name).await?;
    f.reserved_concurrency = Some(n);
    f.revision_id = uuid::Uuid::new_v4().to_string();
    let (catalog, record) = (l.catalog.clone(), f.clone());
    blocking(move || catalog.put_function(&record)).await?;
    l.runtimes.retire(&name);
    Ok(json(200, &json!({"ReservedConcurrentExecutions": n})))
}

/// GetFunctionConcurrency.
pub(crate) async fn get_concurrency(l: &Arc<Lambda>, reference: &str) -> Result<Reply, ApiError> {
    let name = resolve_name(l, reference)?;
    let f = load(l, &name).await?;
    Ok(json(
        200,
        &match f.reserved_concurrency {
            Some(n) => json!({"ReservedConcurrentExecutions": n}),
            None => json!({}),
        },
    ))
}

/// DeleteFunctionConcurrency.
pub(crate) async fn delete_concurrency(
    l: &Arc<Lambda>,
    reference: &str,
) -> Result<Reply, ApiError> {
    let name = resolve_name(l, reference)?;
    let mut f = load(l, &name).await?;
    f.reserved_concurrency = None;
    f.revision_id = uuid::Uuid::new_v4().to_string();
    let (catalog, record) = (l.catalog.clone(), f.clone());
    blocking(move || catalog.put_function(&record)).await?;
    l.runtimes.retire(&name);
    Ok(empty(204))
}
