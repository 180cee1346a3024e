//! The parameters of `CreateEventSourceMapping` / `UpdateEventSourceMapping` for
//! Kinesis sources, validated and reported as AWS does.
//!
//! Validation runs in AWS's three stages, and the first stage that fails answers:
//!
//! 1. Deserialization: a member of the wrong JSON type (a string where a number is
//!    expected) is an `InvalidRequestContentException`.
//! 2. The model's constraints (botocore `lambda/2015-03-31/service-2.json`): ranges,
//!    lengths, enums, patterns and required members, all gathered into one
//!    `ValidationException` (`1 validation error detected: Value '0' at 'batchSize'
//!    failed to satisfy constraint: Member must have value greater than or equal to
//!    1`, or `N validation errors detected: ...; ...`), with AWS's lowerCamelCase
//!    member paths.
//! 3. Lambda's own rules for a Kinesis source, each an
//!    `InvalidParameterValueException`: a missing `EventSourceArn` or
//!    `StartingPosition`, `AT_TIMESTAMP` without a timestamp, a record age between 0
//!    and 59 seconds, `OnSuccess` destinations, members of other source types, more
//!    than five filters, filter patterns that do not parse.
//!
//! Members the API does not know are ignored, as AWS's JSON reader ignores them; JSON
//! `null` counts as absent.

use std::time::{SystemTime, UNIX_EPOCH};

use freshet_protocol::error::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::{bad_content, constraint, invalid, LambdaResult};
use crate::esm::filter::{FilterCriteria, INVALID_PATTERN};

/// `BatchSize` when the request has none (Kinesis).
pub const DEFAULT_BATCH_SIZE: u32 = 100;
/// The largest `BatchSize` (Kinesis).
pub const MAX_BATCH_SIZE: u32 = 10_000;
/// The largest `MaximumBatchingWindowInSeconds`.
pub const MAX_BATCHING_WINDOW_SECONDS: u32 = 300;
/// The largest `ParallelizationFactor`.
pub const MAX_PARALLELIZATION_FACTOR: u32 = 10;
/// The largest `MaximumRetryAttempts` (`-1` is infinite).
pub const MAX_RETRY_ATTEMPTS: i32 = 10_000;
/// The largest `MaximumRecordAgeInSeconds` (`-1` is infinite), seven days.
pub const MAX_RECORD_AGE_SECONDS: i32 = 604_800;
/// The smallest `MaximumRecordAgeInSeconds` other than `-1`.
pub const MIN_RECORD_AGE_SECONDS: i32 = 60;
/// The largest `TumblingWindowInSeconds`.
pub const MAX_TUMBLING_WINDOW_SECONDS: u32 = 900;
/// The most filters in `FilterCriteria` (AWS's default quota).
pub const MAX_FILTERS: usize = 5;
/// The longest filter `Pattern`, in characters.
pub const MAX_PATTERN_LENGTH: usize = 4096;
/// The only `FunctionResponseTypes` value.
pub const REPORT_BATCH_ITEM_FAILURES: &str = "ReportBatchItemFailures";
/// `StateTransitionReason` of a stream mapping changed by its owner, as AWS reports it
/// for Kinesis and DynamoDB sources (SQS mappings say `USER_INITIATED` instead).
pub const USER_ACTION: &str = "User action";
/// `LastProcessingResult` of a mapping that has not invoked its function yet.
pub const NO_RECORDS_PROCESSED: &str = "No records processed";

/// The model's pattern for `EventSourceArn`, quoted in AWS's messages.
const ARN_PATTERN: &str = r"arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})?:(\d{12})?:(.*)";
/// The model's pattern for a destination ARN, quoted in AWS's messages.
const DESTINATION_PATTERN: &str = r"$|kafka://([^.]([a-zA-Z0-9\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})?:(\d{12})?:(.*)";
/// The longest `EventSourceArn`.
const MAX_ARN_LENGTH: usize = 10_000;
/// The longest destination ARN.
const MAX_DESTINATION_LENGTH: usize = 350;
/// The longest `FunctionName` (a full ARN).
const MAX_FUNCTION_NAME_LENGTH: usize = 256;

/// Members that belong to other source types (SQS, Kafka, MQ, DocumentDB), with
/// the lowerCamelCase name AWS quotes when it refuses them. `true`: the member is
/// also in `UpdateEventSourceMapping`'s model (the others are unknown there, so
/// ignored).
const OTHER_SOURCE_MEMBERS: [(&str, &str, bool); 10] = [
    ("Topics", "topics", false),
    ("Queues", "queues", false),
    ("SelfManagedEventSource", "selfManagedEventSource", false),
    (
        "SourceAccessConfigurations",
        "sourceAccessConfigurations",
        true,
    ),
    ("ScalingConfig", "scalingConfig", true),
    (
        "AmazonManagedKafkaEventSourceConfig",
        "amazonManagedKafkaEventSourceConfig",
        true,
    ),
    (
        "SelfManagedKafkaEventSourceConfig",
        "selfManagedKafkaEventSourceConfig",
        true,
    ),
    (
        "DocumentDBEventSourceConfig",
        "documentDBEventSourceConfig",
        true,
    ),
    ("ProvisionedPollerConfig", "provisionedPollerConfig", true),
    ("LoggingConfig", "loggingConfig", true),
];

/// Where a new mapping starts reading each shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartingPosition {
    /// The oldest record still retained.
    #[serde(rename = "TRIM_HORIZON")]
    TrimHorizon,
    /// Just after the newest record.
    #[serde(rename = "LATEST")]
    Latest,
    /// The first record at or after `StartingPositionTimestamp`.
    #[serde(rename = "AT_TIMESTAMP")]
    AtTimestamp,
}

impl StartingPosition {
    /// AWS's spelling: `TRIM_HORIZON`, `LATEST` or `AT_TIMESTAMP`.
    pub fn as_str(self) -> &'static str {
        match self {
            StartingPosition::TrimHorizon => "TRIM_HORIZON",
            StartingPosition::Latest => "LATEST",
            StartingPosition::AtTimestamp => "AT_TIMESTAMP",
        }
    }

    /// Reads AWS's spelling.
    pub fn parse(s: &str) -> Option<StartingPosition> {
        match s {
            "TRIM_HORIZON" => Some(StartingPosition::TrimHorizon),
            "LATEST" => Some(StartingPosition::Latest),
            "AT_TIMESTAMP" => Some(StartingPosition::AtTimestamp),
            _ => None,
        }
    }
}

/// A mapping's settings as stored (JSON in the catalog).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingConfig {
    /// The mapping's identifier.
    pub uuid: String,
    /// The function's ARN, unqualified or qualified, as AWS reports `FunctionArn`.
    pub function_arn: String,
    /// A Kinesis stream ARN (`arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`) or a stream
    /// consumer ARN (`.../stream/NAME/consumer/CONSUMER:TIMESTAMP`).
    pub event_source_arn: String,
    /// `BatchSize`: 1..=10000, default 100.
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds`: 0..=300, default 0.
    pub maximum_batching_window_in_seconds: u32,
    /// `StartingPosition` (required on create, fixed afterwards).
    pub starting_position: StartingPosition,
    /// `StartingPositionTimestamp` in epoch seconds: set exactly when
    /// `starting_position` is `AT_TIMESTAMP`.
    pub starting_position_timestamp: Option<f64>,
    /// `ParallelizationFactor`: 1..=10, default 1.
    pub parallelization_factor: u32,
    /// `BisectBatchOnFunctionError`, default false.
    pub bisect_batch_on_function_error: bool,
    /// `MaximumRetryAttempts`: -1 (infinite, the default) ..= 10000.
    pub maximum_retry_attempts: i32,
    /// `MaximumRecordAgeInSeconds`: -1 (infinite, the default) or 60..=604800.
    pub maximum_record_age_in_seconds: i32,
    /// `DestinationConfig.OnFailure.Destination`: an SQS queue, SNS topic or S3
    /// bucket ARN.
    pub on_failure_destination: Option<String>,
    /// `FilterCriteria.Filters[].Pattern`, at most 5.
    pub filter_patterns: Vec<String>,
    /// `FunctionResponseTypes` is `["ReportBatchItemFailures"]`.
    pub report_batch_item_failures: bool,
    /// `TumblingWindowInSeconds`: 0..=900, default 0 (no window).
    pub tumbling_window_in_seconds: u32,
    /// `Enabled`, default true.
    pub enabled: bool,
}

/// The mutable status part of a mapping, stored beside its [`MappingConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingStatus {
    /// `Creating`, `Enabling`, `Enabled`, `Disabling`, `Disabled`, `Updating` or
    /// `Deleting`.
    pub state: String,
    /// Who made the last change: [`USER_ACTION`] (`"User action"`, AWS's words for
    /// stream mappings) or a reason of Lambda's own.
    pub state_transition_reason: String,
    /// When the mapping was last updated or changed state, epoch milliseconds.
    pub last_modified_ms: i64,
    /// `"No records processed"`, `"OK"` or `"PROBLEM: ..."`.
    pub last_processing_result: String,
}

impl MappingStatus {
    /// The status `CreateEventSourceMapping` answers with: `Creating`, by a user,
    /// nothing processed yet.
    pub fn creating(now_ms: i64) -> MappingStatus {
        MappingStatus {
            state: "Creating".to_string(),
            state_transition_reason: USER_ACTION.to_string(),
            last_modified_ms: now_ms,
            last_processing_result: NO_RECORDS_PROCESSED.to_string(),
        }
    }

    /// The status `UpdateEventSourceMapping` answers with, given the mapping's
    /// `Enabled` before and after the update: `Enabling` or `Disabling` when it
    /// flips, `Updating` otherwise (as AWS reports for stream mappings).
    pub fn after_update(&mut self, was_enabled: bool, now_enabled: bool, now_ms: i64) {
        self.state = match (was_enabled, now_enabled) {
            (false, true) => "Enabling",
            (true, false) => "Disabling",
            _ => "Updating",
        }
        .to_string();
        self.state_transition_reason = USER_ACTION.to_string();
        self.last_modified_ms = now_ms;
    }
}

/// A Kinesis event source ARN taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisSource {
    /// The ARN's partition (`aws`, `aws-cn`, ...).
    pub partition: String,
    /// The stream's region.
    pub region: String,
    /// The stream's account.
    pub account: String,
    /// The stream's name.
    pub stream_name: String,
    /// For an enhanced fan-out consumer ARN: the consumer's name and its creation
    /// timestamp (the part after the last `:`).
    pub consumer: Option<(String, String)>,
}

impl KinesisSource {
    /// The ARN of the stream itself (for a consumer ARN, its stream's ARN).
    pub fn stream_arn(&self) -> String {
        format!(
            "arn:{}:kinesis:{}:{}:stream/{}",
            self.partition, self.region, self.account, self.stream_name
        )
    }
}

/// Takes a Kinesis stream ARN (`arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`) or an
/// enhanced fan-out consumer ARN (`.../stream/NAME/consumer/CONSUMER:TIMESTAMP`)
/// apart; `None` for anything else.
pub fn parse_kinesis_arn(arn: &str) -> Option<KinesisSource> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return None;
    };
    if *prefix != "arn" || !partition_ok(partition) || *service != "kinesis" {
        return None;
    }
    if !region_ok(region) || account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = resource.strip_prefix("stream/")?;
    let (stream_name, consumer) = match rest.split_once("/consumer/") {
        None => (rest, None),
        Some((stream, consumer)) => {
            let (name, timestamp) = consumer.rsplit_once(':')?;
            if !kinesis_name_ok(name)
                || timestamp.is_empty()
                || !timestamp.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            (stream, Some((name.to_string(), timestamp.to_string())))
        }
    };
    if !kinesis_name_ok(stream_name) {
        return None;
    }
    Some(KinesisSource {
        partition: partition.to_string(),
        region: region.to_string(),
        account: account.to_string(),
        stream_name: stream_name.to_string(),
        consumer,
    })
}

impl MappingConfig {
    /// Builds a mapping from a `CreateEventSourceMapping` body. The caller has
    /// resolved `FunctionName` to `function_arn` (the function exists) and chosen
    /// `uuid`; whether the stream exists is also the caller's to check.
    pub fn from_create(
        body: &Value,
        uuid: String,
        function_arn: String,
    ) -> LambdaResult<MappingConfig> {
        let params = Params::read(body, Action::Create)?;
        params.check_constraints(Action::Create)?;
        params.check_common_rules()?;

        let Some(event_source_arn) = params.event_source_arn.clone() else {
            return Err(invalid("Unrecognized event source."));
        };
        check_event_source_arn(&event_source_arn)?;
        params.check_other_source_members()?;

        let Some(starting_position) = params.starting_position.as_deref() else {
            return Err(invalid(
                "1 validation error detected: Value null at 'startingPosition' failed to \
                 satisfy constraint: Member must not be null.",
            ));
        };
        // The enum was checked with the constraints.
        let starting_position =
            StartingPosition::parse(starting_position).unwrap_or(StartingPosition::Latest);
        let starting_position_timestamp =
            match (starting_position, params.starting_position_timestamp) {
                (StartingPosition::AtTimestamp, None) => {
                    return Err(invalid("Need to specify a timestamp"));
                }
                (StartingPosition::AtTimestamp, Some(ts)) => {
                    if ts > now_seconds() {
                        return Err(invalid(format!(
                            "StartingPositionTimestamp cannot be in the future: {}",
                            number_text(ts)
                        )));
                    }
                    Some(ts)
                }
                (other, Some(_)) => {
                    return Err(invalid(format!(
                        "StartingPositionTimestamp is only valid if StartingPosition is \
                     AT_TIMESTAMP, not {}",
                        other.as_str()
                    )));
                }
                (_, None) => None,
            };

        let mut cfg = MappingConfig {
            uuid,
            function_arn,
            event_source_arn,
            batch_size: DEFAULT_BATCH_SIZE,
            maximum_batching_window_in_seconds: 0,
            starting_position,
            starting_position_timestamp,
            parallelization_factor: 1,
            bisect_batch_on_function_error: false,
            maximum_retry_attempts: -1,
            maximum_record_age_in_seconds: -1,
            on_failure_destination: None,
            filter_patterns: Vec::new(),
            report_batch_item_failures: false,
            tumbling_window_in_seconds: 0,
            enabled: true,
        };
        params.apply(&mut cfg);
        Ok(cfg)
    }

    /// Applies an `UpdateEventSourceMapping` body: only the members present change,
    /// and nothing changes when the body is refused. `FunctionName` is the caller's
    /// to resolve (into `function_arn`); `StartingPosition`,
    /// `StartingPositionTimestamp` and `EventSourceArn` are not members of
    /// `UpdateEventSourceMapping`, so, as AWS does, they are ignored and the
    /// mapping keeps its own.
    pub fn apply_update(&mut self, body: &Value) -> LambdaResult<()> {
        let params = Params::read(body, Action::Update)?;
        params.check_constraints(Action::Update)?;
        params.check_common_rules()?;
        params.check_other_source_members()?;
        params.apply(self);
        Ok(())
    }
}

/// AWS's `EventSourceMappingConfiguration` for a Kinesis mapping, with every member
/// AWS returns for one: `FilterCriteria` only when there are filters,
/// `StartingPositionTimestamp` only for `AT_TIMESTAMP`, `DestinationConfig` always
/// (`{"OnFailure": {}}` without a destination), `FunctionResponseTypes` always (`[]`
/// without `ReportBatchItemFailures`), `LastModified` in epoch seconds.
pub fn configuration_json(
    cfg: &MappingConfig,
    status: &MappingStatus,
    region: &str,
    account: &str,
) -> Value {
    let mut m = Map::new();
    m.insert("UUID".into(), json!(cfg.uuid));
    m.insert(
        "StartingPosition".into(),
        json!(cfg.starting_position.as_str()),
    );
    if let Some(ts) = cfg.starting_position_timestamp {
        m.insert("StartingPositionTimestamp".into(), json!(ts));
    }
    m.insert("BatchSize".into(), json!(cfg.batch_size));
    m.insert(
        "MaximumBatchingWindowInSeconds".into(),
        json!(cfg.maximum_batching_window_in_seconds),
    );
    m.insert(
        "ParallelizationFactor".into(),
        json!(cfg.parallelization_factor),
    );
    m.insert("EventSourceArn".into(), json!(cfg.event_source_arn));
    if !cfg.filter_patterns.is_empty() {
        let filters: Vec<Value> = cfg
            .filter_patterns
            .iter()
            .map(|p| json!({ "Pattern": p }))
            .collect();
        m.insert("FilterCriteria".into(), json!({ "Filters": filters }));
    }
    m.insert("FunctionArn".into(), json!(cfg.function_arn));
    m.insert(
        "LastModified".into(),
        json!(status.last_modified_ms as f64 / 1000.0),
    );
    m.insert(
        "LastProcessingResult".into(),
        json!(status.last_processing_result),
    );
    m.insert("State".into(), json!(status.state));
    m.insert(
        "StateTransitionReason".into(),
        json!(status.state_transition_reason),
    );
    let on_failure = match &cfg.on_failure_destination {
        Some(d) => json!({ "Destination": d }),
        None => json!({}),
    };
    m.insert(
        "DestinationConfig".into(),
        json!({ "OnFailure": on_failure }),
    );
    m.insert(
        "MaximumRecordAgeInSeconds".into(),
        json!(cfg.maximum_record_age_in_seconds),
    );
    m.insert(
        "BisectBatchOnFunctionError".into(),
        json!(cfg.bisect_batch_on_function_error),
    );
    m.insert(
        "MaximumRetryAttempts".into(),
        json!(cfg.maximum_retry_attempts),
    );
    m.insert(
        "TumblingWindowInSeconds".into(),
        json!(cfg.tumbling_window_in_seconds),
    );
    let response_types: Vec<&str> = if cfg.report_batch_item_failures {
        vec![REPORT_BATCH_ITEM_FAILURES]
    } else {
        Vec::new()
    };
    m.insert("FunctionResponseTypes".into(), json!(response_types));
    m.insert(
        "EventSourceMappingArn".into(),
        json!(format!(
            "arn:aws:lambda:{region}:{account}:event-source-mapping:{}",
            cfg.uuid
        )),
    );
    Value::Object(m)
}

/// Which action a body belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Create,
    Update,
}

/// A `DestinationConfig` as given.
#[derive(Debug, Default)]
struct Destination {
    /// `OnSuccess` was given (refused for event source mappings).
    on_success: bool,
    /// `OnFailure.Destination`.
    on_failure: Option<String>,
}

/// The members of a request body, type-checked but not yet validated.
#[derive(Debug, Default)]
struct Params {
    function_name: Option<String>,
    event_source_arn: Option<String>,
    enabled: Option<bool>,
    batch_size: Option<i64>,
    /// `FilterCriteria.Filters[].Pattern` (a filter without `Pattern` is `None`).
    filters: Option<Vec<Option<String>>>,
    batching_window: Option<i64>,
    parallelization_factor: Option<i64>,
    starting_position: Option<String>,
    starting_position_timestamp: Option<f64>,
    destination: Option<Destination>,
    maximum_record_age: Option<i64>,
    bisect: Option<bool>,
    maximum_retry_attempts: Option<i64>,
    tumbling_window: Option<i64>,
    response_types: Option<Vec<String>>,
    /// lowerCamelCase names of members of other source types that were given.
    other_source_members: Vec<&'static str>,
}

impl Params {
    /// Stage 1: reads the members the action knows, refusing wrong JSON types.
    fn read(body: &Value, action: Action) -> LambdaResult<Params> {
        let Some(obj) = body.as_object() else {
            return Err(bad_content(
                "Could not parse request body into json: the body is not a JSON object",
            ));
        };
        let create = action == Action::Create;
        let mut p = Params {
            function_name: read_string(obj, "FunctionName")?,
            enabled: read_bool(obj, "Enabled")?,
            batch_size: read_int(obj, "BatchSize")?,
            filters: read_filters(obj)?,
            batching_window: read_int(obj, "MaximumBatchingWindowInSeconds")?,
            parallelization_factor: read_int(obj, "ParallelizationFactor")?,
            destination: read_destination(obj)?,
            maximum_record_age: read_int(obj, "MaximumRecordAgeInSeconds")?,
            bisect: read_bool(obj, "BisectBatchOnFunctionError")?,
            maximum_retry_attempts: read_int(obj, "MaximumRetryAttempts")?,
            tumbling_window: read_int(obj, "TumblingWindowInSeconds")?,
            response_types: read_string_list(obj, "FunctionResponseTypes")?,
            ..Params::default()
        };
        if create {
            p.event_source_arn = read_string(obj, "EventSourceArn")?;
            p.starting_position = read_string(obj, "StartingPosition")?;
            p.starting_position_timestamp = read_timestamp(obj, "StartingPositionTimestamp")?;
        }
        for (member, camel, in_update) in OTHER_SOURCE_MEMBERS {
            if (create || in_update) && member_of(obj, member).is_some() {
                p.other_source_members.push(camel);
            }
        }
        Ok(p)
    }

    /// Stage 2: the model's constraints, gathered into one `ValidationException`
    /// (members in the model's order).
    fn check_constraints(&self, action: Action) -> LambdaResult<()> {
        let mut v = Violations::default();
        if let Some(arn) = &self.event_source_arn {
            if arn.chars().count() > MAX_ARN_LENGTH {
                v.push_str(
                    arn,
                    "eventSourceArn",
                    "Member must have length less than or equal to 10000",
                );
            } else if !arn_pattern_ok(arn) {
                v.push_str(
                    arn,
                    "eventSourceArn",
                    &format!("Member must satisfy regular expression pattern: {ARN_PATTERN}"),
                );
            }
        }
        match &self.function_name {
            None if action == Action::Create => {
                v.push_null("functionName", "Member must not be null");
            }
            None => {}
            Some(name) => {
                let len = name.chars().count();
                if len < 1 {
                    v.push_str(
                        name,
                        "functionName",
                        "Member must have length greater than or equal to 1",
                    );
                } else if len > MAX_FUNCTION_NAME_LENGTH {
                    v.push_str(
                        name,
                        "functionName",
                        "Member must have length less than or equal to 256",
                    );
                }
            }
        }
        v.range(self.batch_size, "batchSize", 1, i64::from(MAX_BATCH_SIZE));
        if let Some(filters) = &self.filters {
            for (i, pattern) in filters.iter().enumerate() {
                if let Some(p) = pattern {
                    if p.chars().count() > MAX_PATTERN_LENGTH {
                        v.push_str(
                            p,
                            &format!("filterCriteria.filters.{}.member.pattern", i + 1),
                            "Member must have length less than or equal to 4096",
                        );
                    }
                }
            }
        }
        v.range(
            self.batching_window,
            "maximumBatchingWindowInSeconds",
            0,
            i64::from(MAX_BATCHING_WINDOW_SECONDS),
        );
        v.range(
            self.parallelization_factor,
            "parallelizationFactor",
            1,
            i64::from(MAX_PARALLELIZATION_FACTOR),
        );
        if let Some(sp) = &self.starting_position {
            if StartingPosition::parse(sp).is_none() {
                v.push_str(
                    sp,
                    "startingPosition",
                    "Member must satisfy enum value set: [LATEST, AT_TIMESTAMP, TRIM_HORIZON]",
                );
            }
        }
        if let Some(Destination {
            on_failure: Some(d),
            ..
        }) = &self.destination
        {
            if d.chars().count() > MAX_DESTINATION_LENGTH {
                v.push_str(
                    d,
                    "destinationConfig.onFailure.destination",
                    "Member must have length less than or equal to 350",
                );
            } else if !destination_pattern_ok(d) {
                v.push_str(
                    d,
                    "destinationConfig.onFailure.destination",
                    &format!(
                        "Member must satisfy regular expression pattern: {DESTINATION_PATTERN}"
                    ),
                );
            }
        }
        v.range(
            self.maximum_record_age,
            "maximumRecordAgeInSeconds",
            -1,
            i64::from(MAX_RECORD_AGE_SECONDS),
        );
        v.range(
            self.maximum_retry_attempts,
            "maximumRetryAttempts",
            -1,
            i64::from(MAX_RETRY_ATTEMPTS),
        );
        v.range(
            self.tumbling_window,
            "tumblingWindowInSeconds",
            0,
            i64::from(MAX_TUMBLING_WINDOW_SECONDS),
        );
        if let Some(types) = &self.response_types {
            let shown = format!("[{}]", types.join(", "));
            if types.len() > 1 {
                v.push_str(
                    &shown,
                    "functionResponseTypes",
                    "Member must have length less than or equal to 1",
                );
            }
            if types.iter().any(|t| t != REPORT_BATCH_ITEM_FAILURES) {
                v.push_str(
                    &shown,
                    "functionResponseTypes",
                    "Member must satisfy constraint: [Member must satisfy enum value set: \
                     [ReportBatchItemFailures], Member must not be null]",
                );
            }
        }
        v.finish()
    }

    /// Stage 3, the rules create and update share: destinations, record age and
    /// filters.
    fn check_common_rules(&self) -> LambdaResult<()> {
        if let Some(dest) = &self.destination {
            if dest.on_success {
                return Err(invalid(
                    "Unsupported DestinationConfig parameter for given event source mapping type.",
                ));
            }
            if let Some(d) = dest.on_failure.as_deref().filter(|d| !d.is_empty()) {
                if !failure_destination_ok(d) {
                    return Err(invalid(format!(
                        "The provided destination config DestinationConfig(onSuccess=null, \
                         onFailure=OnFailure(destination={d})) is invalid. A Kinesis event \
                         source mapping's OnFailure destination must be an Amazon SQS queue, \
                         Amazon SNS topic, Amazon S3 bucket or (on this server) Kinesis \
                         stream ARN."
                    )));
                }
            }
        }
        if let Some(age) = self.maximum_record_age {
            if (0..i64::from(MIN_RECORD_AGE_SECONDS)).contains(&age) {
                return Err(invalid(
                    "MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and \
                     604800 (inclusive)",
                ));
            }
        }
        if let Some(filters) = &self.filters {
            if filters.len() > MAX_FILTERS {
                return Err(invalid(format!(
                    "The number of filters in FilterCriteria ({}) exceeds the limit of \
                     {MAX_FILTERS} filters per event source mapping.",
                    filters.len()
                )));
            }
            let mut patterns = Vec::with_capacity(filters.len());
            for pattern in filters {
                match pattern {
                    Some(p) if !p.is_empty() => patterns.push(p.clone()),
                    _ => return Err(invalid(INVALID_PATTERN)),
                }
            }
            if !patterns.is_empty() {
                FilterCriteria::parse(&patterns).map_err(invalid)?;
            }
        }
        Ok(())
    }

    /// Stage 3: members of other source types are refused for a Kinesis source.
    fn check_other_source_members(&self) -> LambdaResult<()> {
        match self.other_source_members.first() {
            Some(camel) => Err(invalid(format!(
                "Unsupported '{camel}' parameter for given event source mapping type."
            ))),
            None => Ok(()),
        }
    }

    /// Writes the members present into `cfg` (all checked already).
    fn apply(&self, cfg: &mut MappingConfig) {
        if let Some(e) = self.enabled {
            cfg.enabled = e;
        }
        if let Some(n) = self.batch_size.and_then(|n| u32::try_from(n).ok()) {
            cfg.batch_size = n;
        }
        if let Some(filters) = &self.filters {
            cfg.filter_patterns = filters.iter().flatten().cloned().collect();
        }
        if let Some(n) = self.batching_window.and_then(|n| u32::try_from(n).ok()) {
            cfg.maximum_batching_window_in_seconds = n;
        }
        if let Some(n) = self
            .parallelization_factor
            .and_then(|n| u32::try_from(n).ok())
        {
            cfg.parallelization_factor = n;
        }
        if let Some(dest) = &self.destination {
            cfg.on_failure_destination = dest.on_failure.clone().filter(|d| !d.is_empty());
        }
        if let Some(n) = self.maximum_record_age.and_then(|n| i32::try_from(n).ok()) {
            cfg.maximum_record_age_in_seconds = n;
        }
        if let Some(b) = self.bisect {
            cfg.bisect_batch_on_function_error = b;
        }
        if let Some(n) = self
            .maximum_retry_attempts
            .and_then(|n| i32::try_from(n).ok())
        {
            cfg.maximum_retry_attempts = n;
        }
        if let Some(n) = self.tumbling_window.and_then(|n| u32::try_from(n).ok()) {
            cfg.tumbling_window_in_seconds = n;
        }
        if let Some(types) = &self.response_types {
            cfg.report_batch_item_failures = !types.is_empty();
        }
    }
}

/// One constraint violation: the value (`None`: null), the member path, the rule.
type Violation = (Option<String>, String, String);

/// Constraint violations, in the order found.
#[derive(Debug, Default)]
struct Violations(Vec<Violation>);

impl Violations {
    /// A violation by a present value (shown quoted).
    fn push_str(&mut self, value: &str, field: &str, rule: &str) {
        self.0
            .push((Some(value.to_string()), field.to_string(), rule.to_string()));
    }

    /// A violation by a missing value (`Value null`, unquoted, as AWS writes it).
    fn push_null(&mut self, field: &str, rule: &str) {
        self.0.push((None, field.to_string(), rule.to_string()));
    }

    /// Checks `min <= value <= max` for a present value.
    fn range(&mut self, value: Option<i64>, field: &str, min: i64, max: i64) {
        let Some(n) = value else { return };
        if n < min {
            self.push_str(
                &n.to_string(),
                field,
                &format!("Member must have value greater than or equal to {min}"),
            );
        } else if n > max {
            self.push_str(
                &n.to_string(),
                field,
                &format!("Member must have value less than or equal to {max}"),
            );
        }
    }

    /// `Ok` without violations, else one `ValidationException` naming them all
    /// (`1 validation error detected: ...`, `N validation errors detected: ...; ...`).
    fn finish(self) -> LambdaResult<()> {
        match self.0.as_slice() {
            [] => Ok(()),
            [(Some(value), field, rule)] => Err(constraint(value, field, rule)),
            list => {
                let texts: Vec<String> = list
                    .iter()
                    .map(|(value, field, rule)| {
                        let value = match value {
                            Some(v) => format!("'{v}'"),
                            None => "null".to_string(),
                        };
                        format!("Value {value} at '{field}' failed to satisfy constraint: {rule}")
                    })
                    .collect();
                let head = if texts.len() == 1 {
                    "1 validation error detected".to_string()
                } else {
                    format!("{} validation errors detected", texts.len())
                };
                Err(ApiError::custom(
                    "ValidationException",
                    format!("{head}: {}", texts.join("; ")),
                    400,
                ))
            }
        }
    }
}

/// A member's value; JSON `null` counts as absent.
fn member_of<'a>(obj: &'a Map<String, Value>, member: &str) -> Option<&'a Value> {
    obj.get(member).filter(|v| !v.is_null())
}

/// The `InvalidRequestContentException` for a member of the wrong JSON type.
fn type_error(member: &str, expected: &str, got: &Value) -> ApiError {
    bad_content(format!(
        "Could not parse request body into json: Unexpected value for member '{member}': \
         expected {expected}, got {got}"
    ))
}

/// A string member.
fn read_string(obj: &Map<String, Value>, member: &str) -> LambdaResult<Option<String>> {
    match member_of(obj, member) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(type_error(member, "a string", other)),
    }
}

/// A boolean member.
fn read_bool(obj: &Map<String, Value>, member: &str) -> LambdaResult<Option<bool>> {
    match member_of(obj, member) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(type_error(member, "a boolean", other)),
    }
}

/// An integer member (a 32-bit integer in AWS's model).
fn read_int(obj: &Map<String, Value>, member: &str) -> LambdaResult<Option<i64>> {
    match member_of(obj, member) {
        None => Ok(None),
        Some(v) => int_of(member, v).map(Some),
    }
}

/// An integer value; a number with no fraction (`100.0`) counts as one.
fn int_of(member: &str, v: &Value) -> LambdaResult<i64> {
    let n = match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i
            } else if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1e18) {
                f as i64
            } else {
                return Err(type_error(member, "an integer", v));
            }
        }
        other => return Err(type_error(member, "an integer", other)),
    };
    if i32::try_from(n).is_err() {
        return Err(bad_content(format!(
            "Could not parse request body into json: Numeric value ({n}) out of range of int \
             for member '{member}'"
        )));
    }
    Ok(n)
}

/// A timestamp member: epoch seconds, as the SDKs send `timestamp` shapes in
/// rest-json.
fn read_timestamp(obj: &Map<String, Value>, member: &str) -> LambdaResult<Option<f64>> {
    match member_of(obj, member) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.is_finite() => Ok(Some(f)),
            _ => Err(type_error(
                member,
                "a timestamp in epoch seconds",
                &json!(n),
            )),
        },
        Some(other) => Err(type_error(member, "a timestamp in epoch seconds", other)),
    }
}

/// A list-of-strings member.
fn read_string_list(obj: &Map<String, Value>, member: &str) -> LambdaResult<Option<Vec<String>>> {
    match member_of(obj, member) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(type_error(member, "a list of strings", other)),
            })
            .collect::<LambdaResult<Vec<String>>>()
            .map(Some),
        Some(other) => Err(type_error(member, "a list of strings", other)),
    }
}

/// `FilterCriteria`: `{"Filters": [{"Pattern": "..."}]}`; `{}` or no `Filters` is
/// an empty list (which clears the filters on update).
fn read_filters(obj: &Map<String, Value>) -> LambdaResult<Option<Vec<Option<String>>>> {
    let Some(criteria) = member_of(obj, "FilterCriteria") else {
        return Ok(None);
    };
    let Value::Object(criteria) = criteria else {
        return Err(type_error("FilterCriteria", "an object", criteria));
    };
    let Some(filters) = member_of(criteria, "Filters") else {
        return Ok(Some(Vec::new()));
    };
    let Value::Array(filters) = filters else {
        return Err(type_error("FilterCriteria.Filters", "a list", filters));
    };
    let mut out = Vec::with_capacity(filters.len());
    for filter in filters {
        let Value::Object(filter) = filter else {
            return Err(type_error(
                "FilterCriteria.Filters",
                "a list of objects",
                filter,
            ));
        };
        out.push(read_string(filter, "Pattern")?);
    }
    Ok(Some(out))
}

/// `DestinationConfig`: `{"OnFailure": {"Destination": "..."}}` (and `OnSuccess`,
/// which mappings refuse).
fn read_destination(obj: &Map<String, Value>) -> LambdaResult<Option<Destination>> {
    let Some(config) = member_of(obj, "DestinationConfig") else {
        return Ok(None);
    };
    let Value::Object(config) = config else {
        return Err(type_error("DestinationConfig", "an object", config));
    };
    let mut dest = Destination::default();
    if let Some(on_success) = member_of(config, "OnSuccess") {
        let Value::Object(on_success) = on_success else {
            return Err(type_error(
                "DestinationConfig.OnSuccess",
                "an object",
                on_success,
            ));
        };
        read_string(on_success, "Destination")?;
        dest.on_success = true;
    }
    if let Some(on_failure) = member_of(config, "OnFailure") {
        let Value::Object(on_failure) = on_failure else {
            return Err(type_error(
                "DestinationConfig.OnFailure",
                "an object",
                on_failure,
            ));
        };
        dest.on_failure = read_string(on_failure, "Destination")?;
    }
    Ok(Some(dest))
}

/// Refuses an `EventSourceArn` that is not a Kinesis stream or consumer ARN.
fn check_event_source_arn(arn: &str) -> LambdaResult<()> {
    if parse_kinesis_arn(arn).is_some() {
        return Ok(());
    }
    let service = arn.split(':').nth(2).unwrap_or_default();
    match service {
        "kinesis" => Err(invalid(format!(
            "Invalid EventSourceArn {arn}: expected a Kinesis stream ARN \
             (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME) or a stream consumer ARN \
             (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME/consumer/CONSUMER:TIMESTAMP)."
        ))),
        "sqs" | "dynamodb" | "kafka" | "mq" | "rds" => Err(invalid(format!(
            "Unsupported event source {arn}: this Lambda maps Amazon Kinesis data streams \
             and stream consumers only."
        ))),
        _ => Err(invalid("Unrecognized event source.")),
    }
}

/// A Kinesis mapping's `OnFailure` destination: an SQS queue, SNS topic or S3
/// bucket ARN.
fn failure_destination_ok(d: &str) -> bool {
    let mut parts = d.splitn(6, ':');
    let (Some("arn"), Some(_), Some(service)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    // AWS's three, and a Kinesis stream: the one this server delivers to (the service
    // checks the stream exists; the others have no service here yet).
    matches!(service, "sqs" | "sns" | "s3" | "kinesis")
}

/// Whether `s` matches the model's `Arn` pattern, the whole string.
fn arn_pattern_ok(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, _rest] = parts.as_slice() else {
        return false;
    };
    *prefix == "arn"
        && partition_ok(partition)
        && !service.is_empty()
        && service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && (region.is_empty() || region_ok(region))
        && (account.is_empty()
            || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())))
}

/// Whether `s` matches the model's `DestinationArn` pattern: empty, a `kafka://`
/// topic, or an ARN.
fn destination_pattern_ok(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    if let Some(topic) = s.strip_prefix("kafka://") {
        let mut chars = topic.chars();
        return match chars.next() {
            Some(first) if first != '.' => {
                let rest = chars.as_str();
                rest.chars().count() <= 248
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            }
            _ => false,
        };
    }
    arn_pattern_ok(s)
}

/// `aws[a-zA-Z0-9-]*`.
fn partition_ok(p: &str) -> bool {
    p.strip_prefix("aws")
        .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// `(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}`, the whole string.
fn region_ok(r: &str) -> bool {
    fn core(r: &str) -> bool {
        let b = r.as_bytes();
        if b.len() < 2 || !b[..2].iter().all(u8::is_ascii_lowercase) {
            return false;
        }
        let rest = &r[2..];
        if tail_ok(rest) || rest.strip_prefix("-gov").is_some_and(tail_ok) {
            return true;
        }
        rest.strip_prefix("-iso").is_some_and(|after| {
            tail_ok(after)
                || after
                    .strip_prefix(|c: char| c.is_ascii_lowercase())
                    .is_some_and(tail_ok)
        })
    }
    core(r) || r.strip_prefix("eusc-").is_some_and(core)
}

/// `-[a-z]+-\d{1}`, the whole string.
fn tail_ok(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('-') else {
        return false;
    };
    let Some((word, digit)) = rest.rsplit_once('-') else {
        return false;
    };
    !word.is_empty()
        && word.bytes().all(|c| c.is_ascii_lowercase())
        && digit.len() == 1
        && digit.bytes().all(|c| c.is_ascii_digit())
}

/// A Kinesis stream or consumer name: `[a-zA-Z0-9_.-]{1,128}`.
fn kinesis_name_ok(n: &str) -> bool {
    (1..=128).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Now, in epoch seconds.
fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A number as AWS would print it (no `.0` on whole numbers).
fn number_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = "arn:aws:kinesis:us-east-1:000000000000:stream/orders";
    const FN_ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:handler";
    const UUID: &str = "a1b2c3d4-5678-90ab-cdef-111111111111";

    fn create(body: Value) -> LambdaResult<MappingConfig> {
        MappingConfig::from_create(&body, UUID.to_string(), FN_ARN.to_string())
    }

    fn base() -> Value {
        json!({
            "FunctionName": "handler",
            "EventSourceArn": STREAM,
            "StartingPosition": "LATEST",
        })
    }

    fn with(member: &str, value: Value) -> Value {
        let mut b = base();
        b[member] = value;
        b
    }

    fn err(r: LambdaResult<MappingConfig>) -> ApiError {
        match r {
            Ok(cfg) => panic!("expected an error, got {cfg:?}"),
            Err(e) => e,
        }
    }

    fn assert_range_error(e: &ApiError, value: &str, field: &str, rule: &str) {
        assert_eq!(e.kind, "ValidationException", "{e:?}");
        assert_eq!(e.status, 400);
        assert_eq!(
            e.message,
            format!(
                "1 validation error detected: Value '{value}' at '{field}' failed to satisfy \
                 constraint: {rule}"
            )
        );
    }

    #[test]
    fn defaults() {
        let cfg = create(base()).unwrap();
        assert_eq!(
            cfg,
            MappingConfig {
                uuid: UUID.to_string(),
                function_arn: FN_ARN.to_string(),
                event_source_arn: STREAM.to_string(),
                batch_size: 100,
                maximum_batching_window_in_seconds: 0,
                starting_position: StartingPosition::Latest,
                starting_position_timestamp: None,
                parallelization_factor: 1,
                bisect_batch_on_function_error: false,
                maximum_retry_attempts: -1,
                maximum_record_age_in_seconds: -1,
                on_failure_destination: None,
                filter_patterns: vec![],
                report_batch_item_failures: false,
                tumbling_window_in_seconds: 0,
                enabled: true,
            }
        );
    }

    #[test]
    fn every_member_set() {
        let cfg = create(json!({
            "FunctionName": "handler",
            "EventSourceArn": STREAM,
            "StartingPosition": "TRIM_HORIZON",
            "Enabled": false,
            "BatchSize": 500,
            "MaximumBatchingWindowInSeconds": 5,
            "ParallelizationFactor": 4,
            "BisectBatchOnFunctionError": true,
            "MaximumRetryAttempts": 3,
            "MaximumRecordAgeInSeconds": 3600,
            "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "TumblingWindowInSeconds": 60,
            "Tags": {"team": "a"},
            "MetricsConfig": {"Metrics": ["EventCount"]},
            "SomethingNew": 1,
        }))
        .unwrap();
        assert_eq!(cfg.starting_position, StartingPosition::TrimHorizon);
        assert!(!cfg.enabled);
        assert_eq!(cfg.batch_size, 500);
        assert_eq!(cfg.maximum_batching_window_in_seconds, 5);
        assert_eq!(cfg.parallelization_factor, 4);
        assert!(cfg.bisect_batch_on_function_error);
        assert_eq!(cfg.maximum_retry_attempts, 3);
        assert_eq!(cfg.maximum_record_age_in_seconds, 3600);
        assert_eq!(
            cfg.on_failure_destination.as_deref(),
            Some("arn:aws:sqs:us-east-1:000000000000:dlq")
        );
        assert!(cfg.report_batch_item_failures);
        assert_eq!(cfg.tumbling_window_in_seconds, 60);
    }

    /// (member, field path, min, max) of every ranged integer.
    const RANGES: [(&str, &str, i64, i64); 6] = [
        ("BatchSize", "batchSize", 1, 10_000),
        (
            "MaximumBatchingWindowInSeconds",
            "maximumBatchingWindowInSeconds",
            0,
            300,
        ),
        ("ParallelizationFactor", "parallelizationFactor", 1, 10),
        ("MaximumRetryAttempts", "maximumRetryAttempts", -1, 10_000),
        (
            "MaximumRecordAgeInSeconds",
            "maximumRecordAgeInSeconds",
            -1,
            604_800,
        ),
        ("TumblingWindowInSeconds", "tumblingWindowInSeconds", 0, 900),
    ];

    #[test]
    fn range_boundaries() {
        for (member, field, min, max) in RANGES {
            assert!(create(with(member, json!(min))).is_ok(), "{member} = {min}");
            assert!(create(with(member, json!(max))).is_ok(), "{member} = {max}");
            let e = err(create(with(member, json!(min - 1))));
            assert_range_error(
                &e,
                &(min - 1).to_string(),
                field,
                &format!("Member must have value greater than or equal to {min}"),
            );
            let e = err(create(with(member, json!(max + 1))));
            assert_range_error(
                &e,
                &(max + 1).to_string(),
                field,
                &format!("Member must have value less than or equal to {max}"),
            );
        }
    }

    #[test]
    fn the_example_message() {
        let e = err(create(with("BatchSize", json!(0))));
        assert_eq!(
            e.message,
            "1 validation error detected: Value '0' at 'batchSize' failed to satisfy \
             constraint: Member must have value greater than or equal to 1"
        );
    }

    #[test]
    fn ranges_apply_on_update() {
        let mut cfg = create(base()).unwrap();
        for (member, field, min, max) in RANGES {
            let before = cfg.clone();
            let e = cfg.apply_update(&json!({ member: max + 1 })).unwrap_err();
            assert_range_error(
                &e,
                &(max + 1).to_string(),
                field,
                &format!("Member must have value less than or equal to {max}"),
            );
            assert_eq!(cfg, before, "a refused update changes nothing");
            cfg.apply_update(&json!({ member: min })).unwrap();
        }
    }

    #[test]
    fn several_violations_in_one_message() {
        let mut b = with("BatchSize", json!(0));
        b["ParallelizationFactor"] = json!(11);
        b["TumblingWindowInSeconds"] = json!(901);
        let e = err(create(b));
        assert_eq!(e.kind, "ValidationException");
        assert_eq!(
            e.message,
            "3 validation errors detected: \
             Value '0' at 'batchSize' failed to satisfy constraint: Member must have value greater than or equal to 1; \
             Value '11' at 'parallelizationFactor' failed to satisfy constraint: Member must have value less than or equal to 10; \
             Value '901' at 'tumblingWindowInSeconds' failed to satisfy constraint: Member must have value less than or equal to 900"
        );
    }

    #[test]
    fn record_age_between_0_and_59_is_refused() {
        for age in [0, 1, 59] {
            let e = err(create(with("MaximumRecordAgeInSeconds", json!(age))));
            assert_eq!(e.kind, "InvalidParameterValueException");
            assert_eq!(
                e.message,
                "MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and 604800 \
                 (inclusive)"
            );
        }
        for age in [-1, 60] {
            assert!(create(with("MaximumRecordAgeInSeconds", json!(age))).is_ok());
        }
        let mut cfg = create(base()).unwrap();
        let e = cfg
            .apply_update(&json!({"MaximumRecordAgeInSeconds": 30}))
            .unwrap_err();
        assert_eq!(e.kind, "InvalidParameterValueException");
    }

    #[test]
    fn wrong_types_are_bad_content() {
        for (member, value) in [
            ("BatchSize", json!("100")),
            ("BatchSize", json!(1.5)),
            ("BatchSize", json!(3_000_000_000_i64)),
            ("Enabled", json!("true")),
            ("StartingPosition", json!(1)),
            ("EventSourceArn", json!(["x"])),
            ("StartingPositionTimestamp", json!("2024-01-01T00:00:00Z")),
            ("FunctionResponseTypes", json!("ReportBatchItemFailures")),
            ("FilterCriteria", json!([])),
            ("DestinationConfig", json!({"OnFailure": "arn"})),
        ] {
            let e = err(create(with(member, value.clone())));
            assert_eq!(
                e.kind, "InvalidRequestContentException",
                "{member} = {value}"
            );
            assert_eq!(e.status, 400);
        }
        let e = err(MappingConfig::from_create(
            &json!([1]),
            UUID.into(),
            FN_ARN.into(),
        ));
        assert_eq!(e.kind, "InvalidRequestContentException");
        // A whole number written with a fraction part is still an integer.
        assert_eq!(
            create(with("BatchSize", json!(250.0))).unwrap().batch_size,
            250
        );
        // null is absent.
        assert_eq!(
            create(with("BatchSize", Value::Null)).unwrap().batch_size,
            100
        );
    }

    #[test]
    fn required_members() {
        let mut b = base();
        b.as_object_mut().unwrap().remove("EventSourceArn");
        let e = err(create(b));
        assert_eq!(e.kind, "InvalidParameterValueException");
        assert_eq!(e.message, "Unrecognized event source.");

        let mut b = base();
        b.as_object_mut().unwrap().remove("StartingPosition");
        let e = err(create(b));
        assert_eq!(e.kind, "InvalidParameterValueException");
        assert_eq!(
            e.message,
            "1 validation error detected: Value null at 'startingPosition' failed to satisfy \
             constraint: Member must not be null."
        );

        let mut b = base();
        b.as_object_mut().unwrap().remove("FunctionName");
        let e = err(create(b));
        assert_eq!(e.kind, "ValidationException");
        assert_eq!(
            e.message,
            "1 validation error detected: Value null at 'functionName' failed to satisfy \
             constraint: Member must not be null"
        );
    }

    #[test]
    fn starting_position_enum() {
        let e = err(create(with("StartingPosition", json!("invalid"))));
        assert_eq!(e.kind, "ValidationException");
        assert_eq!(
            e.message,
            "1 validation error detected: Value 'invalid' at 'startingPosition' failed to \
             satisfy constraint: Member must satisfy enum value set: [LATEST, AT_TIMESTAMP, \
             TRIM_HORIZON]"
        );
    }

    #[test]
    fn at_timestamp() {
        let e = err(create(with("StartingPosition", json!("AT_TIMESTAMP"))));
        assert_eq!(e.kind, "InvalidParameterValueException");
        assert_eq!(e.message, "Need to specify a timestamp");

        let mut b = with("StartingPosition", json!("AT_TIMESTAMP"));
        b["StartingPositionTimestamp"] = json!(1_700_000_000.5);
        let cfg = create(b).unwrap();
        assert_eq!(cfg.starting_position, StartingPosition::AtTimestamp);
        assert_eq!(cfg.starting_position_timestamp, Some(1_700_000_000.5));

        let mut b = with("StartingPosition", json!("AT_TIMESTAMP"));
        b["StartingPositionTimestamp"] = json!(4_000_000_000_u64);
        let e = err(create(b));
        assert_eq!(e.kind, "InvalidParameterValueException");
        assert!(
            e.message.contains("cannot be in the future"),
            "{}",
            e.message
        );

        let e = err(create(with(
            "StartingPositionTimestamp",
            json!(1_700_000_000),
        )));
        assert_eq!(e.kind, "InvalidParameterValueException");
        assert!(e.message.contains("StartingPositionTimestamp"));
        assert!(e.message.contains("LATEST"));
    }

    #[test]
    fn function_response_types() {
        let cfg = create(with("FunctionResponseTypes", json!([]))).unwrap();
        assert!(!cfg.report_batch_item_failures);

        let e = err(create(with("FunctionResponseTypes", json!(["Other"]))));
        assert_eq!(e.kind, "ValidationException");
        assert_eq!(
            e.message,
            "1 validation error detected: Value '[Other]' at 'functionResponseTypes' failed \
             to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum \
             value set: [ReportBatchItemFailures], Member must not be null]"
        );

        let e = err(create(with(
            "FunctionResponseTypes",
            json!(["ReportBatchItemFailures", "ReportBatchItemFailures"]),
        )));
        assert_eq!(e.kind, "ValidationException");
        assert!(e
            .message
            .contains("Member must have length less than or equal to 1"));
    }

    #[test]
    fn event_source_arns() {
        let consumer =
            "arn:aws:kinesis:us-east-1:000000000000:stream/orders/consumer/c1:1700000000";
        let cfg = create(with("EventSourceArn", json!(consumer))).unwrap();
        assert_eq!(cfg.event_source_arn, consumer);
        let parsed = parse_kinesis_arn(consumer).unwrap();
        assert_eq!(parsed.stream_name, "orders");
        assert_eq!(
            parsed.consumer,
            Some(("c1".to_string(), "1700000000".to_string()))
        );
        assert_eq!(parsed.stream_arn(), STREAM);
        let parsed = parse_kinesis_arn(STREAM).unwrap();
        assert_eq!(parsed.region, "us-east-1");
        assert_eq!(parsed.account, "000000000000");
        assert_eq!(parsed.consumer, None);

        // Not an ARN at all: the model's pattern.
        let e = err(create(with("EventSourceArn", json!("orders"))));
        assert_eq!(e.kind, "ValidationException");
        assert!(e.message.starts_with(
            "1 validation error detected: Value 'orders' at 'eventSourceArn' failed to \
             satisfy constraint: Member must satisfy regular expression pattern: arn:"
        ));

        // An ARN, but not of a Kinesis stream.
        for arn in [
            "arn:aws:sqs:us-east-1:000000000000:queue",
            "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2024-01-01T00:00:00.000",
            "arn:aws:s3:::bucket",
            "arn:aws:kinesis:us-east-1:000000000000:foo/orders",
            "arn:aws:kinesis:us-east-1:000000000000:stream/",
        ] {
            let e = err(create(with("EventSourceArn", json!(arn))));
            assert_eq!(e.kind, "InvalidParameterValueException", "{arn}");
        }
    }

    #[test]
    fn region_and_partition_patterns() {
        for r in [
            "us-east-1",
            "eu-west-3",
            "us-gov-west-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "eusc-de-east-1",
        ] {
            assert!(region_ok(r), "{r}");
        }
        assert!(region_ok("us-gov-1"), "-gov read as the region word");
        for r in [
            "",
            "us",
            "us-east",
            "us-east-12",
            "US-east-1",
            "u-east-1",
            "us-isofoo-east-1",
        ] {
            assert!(!region_ok(r), "{r}");
        }
        assert!(partition_ok("aws") && partition_ok("aws-cn") && !partition_ok("azure"));
        assert!(arn_pattern_ok("arn:aws:s3:::bucket"));
        assert!(arn_pattern_ok("arn:aws:s3:::"));
        assert!(!arn_pattern_ok("arn:aws:s3::"));
        assert!(!arn_pattern_ok("arn:aws:kinesis:us-east-1:123:stream/x"));
    }

    #[test]
    fn destinations() {
        for d in [
            "arn:aws:sqs:us-east-1:000000000000:dlq",
            "arn:aws:sns:us-east-1:000000000000:topic",
            "arn:aws:s3:::failures",
            "arn:aws:kinesis:us-east-1:000000000000:stream/failures",
        ] {
            let cfg = create(with(
                "DestinationConfig",
                json!({"OnFailure": {"Destination": d}}),
            ))
            .unwrap();
            assert_eq!(cfg.on_failure_destination.as_deref(), Some(d));
        }
        let cfg = create(with("DestinationConfig", json!({"OnFailure": {}}))).unwrap();
        assert_eq!(cfg.on_failure_destination, None);

        let e = err(create(with(
            "DestinationConfig",
            json!({"OnSuccess": {"Destination": "arn:aws:sqs:us-east-1:000000000000:q"}}),
        )));
        assert_eq!(e.kind, "InvalidParameterValueException");
        assert_eq!(
            e.message,
            "Unsupported DestinationConfig parameter for given event source mapping type."
        );

        let e = err(create(with(
            "DestinationConfig",
            json!({"OnFailure": {"Destination": "arn:aws:lambda:us-east-1:000000000000:function:f"}}),
        )));
        assert_eq!(e.kind, "InvalidParameterValueException");

        let e = err(create(with(
            "DestinationConfig",
            json!({"OnFailure": {"Destination": "not an arn"}}),
        )));
        assert_eq!(e.kind, "ValidationException");
        assert!(e
            .message
            .contains("at 'destinationConfig.onFailure.destination'"));
    }

    #[test]
    fn other_source_members_are_refused() {
        for (member, camel, _) in OTHER_SOURCE_MEMBERS {
            let e = err(create(with(member, json!({}))));
            assert_eq!(e.kind, "InvalidParameterValueException", "{member}");
            assert_eq!(
                e.message,
                format!("Unsupported '{camel}' parameter for given event source mapping type.")
            );
        }
        let mut cfg = create(base()).unwrap();
        let e = cfg
            .apply_update(&json!({"ScalingConfig": {"MaximumConcurrency": 2}}))
            .unwrap_err();
        assert_eq!(e.kind, "InvalidParameterValueException");
        // Not members of UpdateEventSourceMapping: ignored.
        cfg.apply_update(&json!({"Queues": ["q"], "Topics": ["t"]}))
            .unwrap();
    }

    #[test]
    fn filter_limits() {
        let filters: Vec<Value> = (0..6)
            .map(|i| json!({"Pattern": format!("{{\"partitionKey\": [\"{i}\"]}}")}))
            .collect();
        let e = err(create(with(
            "FilterCriteria",
            json!({ "Filters": filters.clone() }),
        )));
        assert_eq!(e.kind, "InvalidParameterValueException");
        assert!(e.message.contains('5'), "{}", e.message);

        let e = err(create(with(
            "FilterCriteria",
            json!({"Filters": [{"NotPattern": "x"}]}),
        )));
        assert_eq!(e.kind, "InvalidParameterValueException");
        assert_eq!(e.message, "Invalid filter pattern definition.");

        let long = "x".repeat(MAX_PATTERN_LENGTH + 1);
        let e = err(create(with(
            "FilterCriteria",
            json!({"Filters": [{"Pattern": long}]}),
        )));
        assert_eq!(e.kind, "ValidationException");
        assert!(e
            .message
            .contains("at 'filterCriteria.filters.1.member.pattern'"));

        let cfg = create(with("FilterCriteria", json!({}))).unwrap();
        assert!(cfg.filter_patterns.is_empty());

        let pattern = r#"{"partitionKey": ["a"]}"#;
        let cfg = create(with(
            "FilterCriteria",
            json!({"Filters": [{"Pattern": pattern}]}),
        ))
        .unwrap();
        assert_eq!(cfg.filter_patterns, vec![pattern.to_string()]);

        let e = err(create(with(
            "FilterCriteria",
            json!({"Filters": [{"Pattern": "not json"}]}),
        )));
        assert_eq!(e.kind, "InvalidParameterValueException");
        assert_eq!(e.message, INVALID_PATTERN);
    }

    #[test]
    fn update_changes_only_present_members() {
        let mut cfg = create(with("BatchSize", json!(50))).unwrap();
        let before = cfg.clone();
        cfg.apply_update(&json!({})).unwrap();
        assert_eq!(cfg, before);

        cfg.apply_update(&json!({
            "Enabled": false,
            "ParallelizationFactor": 2,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sns:us-east-1:000000000000:t"}},
        }))
        .unwrap();
        assert_eq!(cfg.batch_size, 50);
        assert!(!cfg.enabled);
        assert_eq!(cfg.parallelization_factor, 2);
        assert!(cfg.report_batch_item_failures);
        assert!(cfg.on_failure_destination.is_some());

        // Clearing: an empty list, an empty destination, an empty FilterCriteria.
        cfg.filter_patterns = vec!["{}".to_string()];
        cfg.apply_update(&json!({
            "FunctionResponseTypes": [],
            "DestinationConfig": {"OnFailure": {"Destination": ""}},
            "FilterCriteria": {},
        }))
        .unwrap();
        assert!(!cfg.report_batch_item_failures);
        assert_eq!(cfg.on_failure_destination, None);
        assert!(cfg.filter_patterns.is_empty());
    }

    #[test]
    fn update_ignores_members_it_does_not_have() {
        let mut cfg = create(base()).unwrap();
        let before = cfg.clone();
        cfg.apply_update(&json!({
            "StartingPosition": "TRIM_HORIZON",
            "StartingPositionTimestamp": 1,
            "EventSourceArn": "arn:aws:kinesis:us-east-1:000000000000:stream/other",
            "FunctionName": "other",
        }))
        .unwrap();
        assert_eq!(cfg, before);
    }

    #[test]
    fn update_refusal_is_all_or_nothing() {
        let mut cfg = create(base()).unwrap();
        let before = cfg.clone();
        let e = cfg
            .apply_update(&json!({"BatchSize": 10, "MaximumRecordAgeInSeconds": 10}))
            .unwrap_err();
        assert_eq!(e.kind, "InvalidParameterValueException");
        assert_eq!(cfg, before);
    }

    #[test]
    fn configuration_json_shape() {
        let cfg = create(base()).unwrap();
        let status = MappingStatus::creating(1_700_000_000_123);
        let v = configuration_json(&cfg, &status, "us-east-1", "000000000000");
        assert_eq!(
            v,
            json!({
                "UUID": UUID,
                "StartingPosition": "LATEST",
                "BatchSize": 100,
                "MaximumBatchingWindowInSeconds": 0,
                "ParallelizationFactor": 1,
                "EventSourceArn": STREAM,
                "FunctionArn": FN_ARN,
                "LastModified": 1_700_000_000.123,
                "LastProcessingResult": "No records processed",
                "State": "Creating",
                "StateTransitionReason": "User action",
                "DestinationConfig": {"OnFailure": {}},
                "MaximumRecordAgeInSeconds": -1,
                "BisectBatchOnFunctionError": false,
                "MaximumRetryAttempts": -1,
                "TumblingWindowInSeconds": 0,
                "FunctionResponseTypes": [],
                "EventSourceMappingArn": format!(
                    "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:{UUID}"
                ),
            })
        );
    }

    #[test]
    fn configuration_json_optional_members() {
        let mut cfg = create(base()).unwrap();
        cfg.starting_position = StartingPosition::AtTimestamp;
        cfg.starting_position_timestamp = Some(1_600_000_000.0);
        cfg.filter_patterns = vec![r#"{"partitionKey": ["a"]}"#.to_string()];
        cfg.on_failure_destination = Some("arn:aws:sqs:us-east-1:000000000000:dlq".to_string());
        cfg.report_batch_item_failures = true;
        let mut status = MappingStatus::creating(0);
        status.after_update(true, false, 5_000);
        let v = configuration_json(&cfg, &status, "us-east-1", "000000000000");
        assert_eq!(v["StartingPosition"], "AT_TIMESTAMP");
        assert_eq!(v["StartingPositionTimestamp"], json!(1_600_000_000.0));
        assert_eq!(
            v["FilterCriteria"],
            json!({"Filters": [{"Pattern": r#"{"partitionKey": ["a"]}"#}]})
        );
        assert_eq!(
            v["DestinationConfig"],
            json!({"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}})
        );
        assert_eq!(
            v["FunctionResponseTypes"],
            json!(["ReportBatchItemFailures"])
        );
        assert_eq!(v["State"], "Disabling");
        assert_eq!(v["LastModified"], json!(5.0));
        assert!(v.get("Enabled").is_none());
    }

    #[test]
    fn status_after_update() {
        let mut s = MappingStatus::creating(0);
        s.after_update(false, true, 1);
        assert_eq!(s.state, "Enabling");
        s.after_update(true, true, 2);
        assert_eq!(s.state, "Updating");
        assert_eq!(s.last_modified_ms, 2);
    }

    #[test]
    fn stored_json_round_trips() {
        let cfg = create(with("StartingPosition", json!("TRIM_HORIZON"))).unwrap();
        let text = serde_json::to_string(&cfg).unwrap();
        assert!(text.contains("\"TRIM_HORIZON\""));
        let back: MappingConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(back, cfg);
        let status = MappingStatus::creating(7);
        let back: MappingStatus =
            serde_json::from_str(&serde_json::to_string(&status).unwrap()).unwrap();
        assert_eq!(back, status);
    }
}
