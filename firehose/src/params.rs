//! The parameters of Amazon Data Firehose's API (JSON 1.1, `X-Amz-Target:
//! Firehose_20150804.<Action>`), validated and reported as AWS does, for the actions
//! Freshet implements, and a delivery stream's settings as stored.
//!
//! Every action's input is declared once, in the order of AWS's model (botocore's
//! `firehose/2015-08-04/service-2.json`), with its types, required members, lengths,
//! ranges, patterns and enums. A request is then answered in AWS's order:
//!
//! 1. a member of the wrong JSON type: `SerializationException`, in the words of AWS's
//!    deserializer (`class java.lang.String can not be converted to an Integer`);
//! 2. every broken model rule, in model order, in one `ValidationException`: `2 validation
//!    errors detected: Value 'a b' at 'deliveryStreamName' failed to satisfy constraint:
//!    Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; ...`;
//! 3. the action's own rules: `InvalidArgumentException` (two destinations, a Kinesis
//!    source without its configuration, `BufferingHints` with one member of two, ...).
//!
//! Freshet delivers to S3-style storage, to a PostgreSQL-protocol database
//! (`RedshiftDestinationConfiguration`) and to an HTTP endpoint
//! (`HttpEndpointDestinationConfiguration`); a request naming another destination
//! (OpenSearch, Splunk, Snowflake, Iceberg) is refused with an
//! `InvalidArgumentException` saying so.
//!
//! ```
//! use freshet_firehose::params::DeliveryStreamConfig;
//! use serde_json::json;
//!
//! let body = json!({
//!     "DeliveryStreamName": "orders",
//!     "ExtendedS3DestinationConfiguration": {
//!         "RoleARN": "arn:aws:iam::000000000000:role/firehose",
//!         "BucketARN": "arn:aws:s3:::orders-bucket"
//!     }
//! });
//! let config = DeliveryStreamConfig::from_create(&body, 1_700_000_000_000).unwrap();
//! assert_eq!(config.destination.size_in_mbs, 5);
//! assert_eq!(config.destination.interval_in_seconds, 300);
//! assert_eq!(config.version_id, 1);
//! ```

use bytes::Bytes;
use freshet_protocol::error::ApiError;
use freshet_protocol::validate::{validate, Member, Pattern, Rule, Shape, Type};
use freshet_protocol::value::Value;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map as JsonMap, Value as Json};

// ---------------------------------------------------------------------------------------
// Limits and defaults
// ---------------------------------------------------------------------------------------

/// Most bytes of one record's data (before base64): 1,000 KiB.
pub const MAX_RECORD_BYTES: usize = 1_024_000;
/// Most records of one PutRecordBatch call.
pub const MAX_BATCH_RECORDS: usize = 500;
/// Most bytes of data (before base64) in one PutRecordBatch call: 4 MiB.
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Most tags of one delivery stream.
pub const MAX_TAGS: usize = 50;
/// `BufferingHints.SizeInMBs` when not given.
pub const DEFAULT_SIZE_IN_MBS: u32 = 5;
/// `BufferingHints.SizeInMBs` when not given and dynamic partitioning is enabled (the
/// least AWS accepts then).
pub const DYNAMIC_PARTITIONING_MIN_SIZE_IN_MBS: u32 = 64;
/// `BufferingHints.IntervalInSeconds` when not given.
pub const DEFAULT_INTERVAL_IN_SECONDS: u32 = 300;
/// `BufferingHints.SizeInMBs` when not given and record format conversion is enabled
/// (AWS's default then; 64 is the least it accepts).
pub const FORMAT_CONVERSION_DEFAULT_SIZE_IN_MBS: u32 = 128;
/// `DynamicPartitioningConfiguration.RetryOptions.DurationInSeconds` when not given.
pub const DEFAULT_RETRY_DURATION_SECONDS: u32 = 300;
/// The id of a delivery stream's only destination, as AWS numbers it.
pub const DESTINATION_ID: &str = "destinationId-000000000001";
/// ListDeliveryStreams' Limit when not given.
pub const DEFAULT_LIST_LIMIT: u32 = 10;
/// ListTagsForDeliveryStream's Limit when not given.
pub const DEFAULT_LIST_TAGS_LIMIT: u32 = 50;
/// The message of a record PutRecordBatch could not take for throughput
/// (`ErrorCode` `ServiceUnavailableException`), as AWS words it.
pub const SLOW_DOWN: &str = "Slow down.";

// ---------------------------------------------------------------------------------------
// Errors in AWS's words
// ---------------------------------------------------------------------------------------

/// `ResourceNotFoundException` for a delivery stream that does not exist:
/// `Firehose NAME under account ACCOUNT not found.`
pub fn stream_not_found(name: &str, account: &str) -> ApiError {
    ApiError::not_found(format!(
        "Firehose {name} under account {account} not found."
    ))
}

/// `ResourceInUseException` for a CreateDeliveryStream whose name is taken:
/// `Firehose NAME under accountId ACCOUNT already exists`.
pub fn stream_exists(name: &str, account: &str) -> ApiError {
    ApiError::in_use(format!(
        "Firehose {name} under accountId {account} already exists"
    ))
}

/// `ResourceInUseException` for an action a delivery stream's status does not allow
/// (deleting one still `CREATING`, updating one `DELETING`, ...).
pub fn stream_in_use(name: &str, status: &str) -> ApiError {
    ApiError::in_use(format!(
        "Firehose {name} is in {status} state and cannot be modified."
    ))
}

/// `ConcurrentModificationException` for an UpdateDestination whose
/// `CurrentDeliveryStreamVersionId` is not the stream's.
pub fn version_mismatch(name: &str, current: u64, given: &str) -> ApiError {
    ApiError::new(
        "ConcurrentModificationException",
        format!(
            "Cannot update firehose: {name} since the current version id: {current} and \
             specified version id: {given} do not match"
        ),
    )
}

/// `InvalidArgumentException` for a PutRecord or PutRecordBatch on a delivery stream
/// that reads a Kinesis stream.
pub fn put_on_kinesis_source() -> ApiError {
    ApiError::invalid(
        "This operation is not permitted on KinesisStreamAsSource delivery stream type.",
    )
}

/// `LimitExceededException` for a CreateDeliveryStream past the account's quota.
pub fn too_many_streams(limit: usize) -> ApiError {
    ApiError::limit(format!(
        "You have already consumed your firehose quota of {limit} hoses."
    ))
}

/// `ServiceUnavailableException` (a server fault), e.g. for a PutRecord the delivery
/// stream's buffer cannot take now.
pub fn service_unavailable(message: impl Into<String>) -> ApiError {
    ApiError::custom("ServiceUnavailableException", message, 503)
}

fn unsupported_destination(member: &str) -> ApiError {
    ApiError::invalid(format!(
        "This server supports S3, Redshift (any PostgreSQL-protocol database) and HTTP \
         endpoint destinations: {member} is not supported."
    ))
}

fn unsupported_source(what: &str) -> ApiError {
    ApiError::invalid(format!(
        "This server supports DirectPut and KinesisStreamAsSource delivery streams only: \
         {what} is not supported."
    ))
}

// ---------------------------------------------------------------------------------------
// Patterns of AWS's model (Java's `String.matches`: the whole text must match)
// ---------------------------------------------------------------------------------------

/// Java's `.` matches anything but a line terminator.
fn is_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// Java's `\s`.
fn is_java_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

/// Java's `\p{Z}`: the separators.
fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

fn no_line_terminator(s: &str) -> bool {
    !s.chars().any(is_line_terminator)
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn is_digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// `arn:.*SEP<tail>`: some occurrence of `sep` after `arn:` with no line terminator
/// before it and a tail `tail` accepts.
fn arn_matches(s: &str, sep: &str, tail: impl Fn(&str) -> bool) -> bool {
    let Some(rest) = s.strip_prefix("arn:") else {
        return false;
    };
    rest.match_indices(sep).any(|(i, _)| {
        rest.get(..i).is_some_and(no_line_terminator)
            && rest.get(i + sep.len()..).is_some_and(&tail)
    })
}

/// `[a-zA-Z0-9\-]+:\d{12}:` then what `rest` accepts.
fn region_account_then(s: &str, rest: impl Fn(&str) -> bool) -> bool {
    let Some((region, after)) = s.split_once(':') else {
        return false;
    };
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    region_ok
        && after.get(..12).is_some_and(|a| is_digits(a, 12))
        && after
            .get(12..)
            .and_then(|r| r.strip_prefix(':'))
            .is_some_and(rest)
}

fn is_role_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_+=,.@-/".contains(&b)
}

fn is_role_arn(s: &str) -> bool {
    arn_matches(s, ":iam::", |t| {
        t.get(..12).is_some_and(|d| is_digits(d, 12))
            && t.get(12..)
                .and_then(|r| r.strip_prefix(":role/"))
                .is_some_and(|r| !r.is_empty() && r.bytes().all(is_role_char))
    })
}

fn is_bucket_arn(s: &str) -> bool {
    arn_matches(s, ":s3:::", |t| {
        (1..=255).contains(&t.len())
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    })
}

fn is_kinesis_stream_arn(s: &str) -> bool {
    arn_matches(s, ":kinesis:", |t| {
        region_account_then(t, |r| r.strip_prefix("stream/").is_some_and(is_name))
    })
}

fn is_kms_key_arn(s: &str) -> bool {
    arn_matches(s, ":kms:", |t| {
        region_account_then(t, |r| {
            r.strip_prefix("key/")
                .or_else(|| r.strip_prefix("alias/"))
                .is_some_and(|k| !k.is_empty() && k.bytes().all(is_role_char))
        })
    })
}

fn is_tag_char(c: char) -> bool {
    c.is_alphabetic() || c.is_numeric() || is_separator(c) || "_.:/=+-@%".contains(c)
}

fn is_tag_key(s: &str) -> bool {
    !s.starts_with("aws:") && s.chars().all(is_tag_char)
}

fn is_tag_value(s: &str) -> bool {
    s.chars().all(is_tag_char)
}

/// `DeliveryStreamName`: `[a-zA-Z0-9_.-]+`.
pub static NAME_PATTERN: Pattern = Pattern {
    regex: "[a-zA-Z0-9_.-]+",
    matches: is_name,
};
static ROLE_ARN_PATTERN: Pattern = Pattern {
    regex: "arn:.*:iam::\\d{12}:role/[a-zA-Z_0-9+=,.@\\-_/]+",
    matches: is_role_arn,
};
static BUCKET_ARN_PATTERN: Pattern = Pattern {
    regex: "arn:.*:s3:::[\\w\\.\\-]{1,255}",
    matches: is_bucket_arn,
};
static KINESIS_STREAM_ARN_PATTERN: Pattern = Pattern {
    regex: "arn:.*:kinesis:[a-zA-Z0-9\\-]+:\\d{12}:stream/[a-zA-Z0-9_.-]+",
    matches: is_kinesis_stream_arn,
};
static KMS_KEY_ARN_PATTERN: Pattern = Pattern {
    regex: "arn:.*:kms:[a-zA-Z0-9\\-]+:\\d{12}:(key|alias)/[a-zA-Z_0-9+=,.@\\-_/]+",
    matches: is_kms_key_arn,
};
static ANY_LINE_PATTERN: Pattern = Pattern {
    regex: ".*",
    matches: no_line_terminator,
};
static LOG_GROUP_PATTERN: Pattern = Pattern {
    regex: "[\\.\\-_/#A-Za-z0-9]*",
    matches: |s| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b))
    },
};
static LOG_STREAM_PATTERN: Pattern = Pattern {
    regex: "[^:*]*",
    matches: |s| !s.contains([':', '*']),
};
static PARAMETER_VALUE_PATTERN: Pattern = Pattern {
    regex: "^(?!\\s*$).+",
    matches: |s| no_line_terminator(s) && !s.chars().all(is_java_space),
};
static FILE_EXTENSION_PATTERN: Pattern = Pattern {
    regex: "^$|\\.[0-9a-z!\\-_.*'()]+",
    matches: |s| {
        s.is_empty()
            || s.strip_prefix('.').is_some_and(|r| {
                !r.is_empty()
                    && r.bytes().all(|b| {
                        b.is_ascii_digit() || b.is_ascii_lowercase() || b"!-_.*'()".contains(&b)
                    })
            })
    },
};
static TIME_ZONE_PATTERN: Pattern = Pattern {
    regex: "^$|[a-zA-Z/_]+",
    matches: |s| {
        s.bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'/' || b == b'_')
    },
};
static VERSION_ID_PATTERN: Pattern = Pattern {
    regex: "[0-9]+",
    matches: |s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()),
};
static DESTINATION_ID_PATTERN: Pattern = Pattern {
    regex: "[a-zA-Z0-9-]+",
    matches: |s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
};
static TAG_KEY_PATTERN: Pattern = Pattern {
    regex: "^(?!aws:)[\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@%]*$",
    matches: is_tag_key,
};
static TAG_VALUE_PATTERN: Pattern = Pattern {
    regex: "^[\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@%]*$",
    matches: is_tag_value,
};

// ---------------------------------------------------------------------------------------
// The model: every action's input, in the order of AWS's model
// ---------------------------------------------------------------------------------------

// Enum values are listed as AWS's messages list them: a Java hash set's order (the
// values' `String.hashCode()` modulo 16, ties in model order), as Kinesis's are.

/// DeliveryStreamType values.
pub const DELIVERY_STREAM_TYPES: &[&str] = &[
    "MSKAsSource",
    "KinesisStreamAsSource",
    "DirectPut",
    "DatabaseAsSource",
];
/// CompressionFormat values.
pub const COMPRESSION_FORMATS: &[&str] =
    &["ZIP", "Snappy", "UNCOMPRESSED", "GZIP", "HADOOP_SNAPPY"];
/// KeyType values (server-side encryption of a delivery stream).
pub const KEY_TYPES: &[&str] = &["CUSTOMER_MANAGED_CMK", "AWS_OWNED_CMK"];
const NO_ENCRYPTION: &[&str] = &["NoEncryption"];
const S3_BACKUP_MODES: &[&str] = &["Enabled", "Disabled"];
/// ProcessorType values.
pub const PROCESSOR_TYPES: &[&str] = &[
    "RecordDeAggregation",
    "Decompression",
    "MetadataExtraction",
    "Lambda",
    "AppendDelimiterToRecord",
    "CloudWatchLogProcessing",
];
/// ProcessorParameterName values.
pub const PROCESSOR_PARAMETER_NAMES: &[&str] = &[
    "MetadataExtractionQuery",
    "DataMessageExtraction",
    "BufferIntervalInSeconds",
    "LambdaArn",
    "NumberOfRetries",
    "RoleArn",
    "Delimiter",
    "BufferSizeInMBs",
    "JsonParsingEngine",
    "SubRecordType",
    "CompressionFormat",
];

const fn shape(members: &'static [Member]) -> Shape {
    Shape {
        members,
        shown_as: "",
    }
}

const fn text(name: &'static str) -> Member {
    Member::new(name, Type::String)
}

const fn int(name: &'static str) -> Member {
    Member::new(name, Type::Integer)
}

const fn structure(name: &'static str, s: &'static Shape) -> Member {
    Member::new(name, Type::Structure(s))
}

const NAME_RULES: &[Rule] = &[
    Rule::Pattern(&NAME_PATTERN),
    Rule::MinLen(1),
    Rule::MaxLen(64),
];
const ROLE_ARN_RULES: &[Rule] = &[
    Rule::Pattern(&ROLE_ARN_PATTERN),
    Rule::MinLen(1),
    Rule::MaxLen(512),
];
const PREFIX_RULES: &[Rule] = &[
    Rule::Pattern(&ANY_LINE_PATTERN),
    Rule::MinLen(0),
    Rule::MaxLen(1024),
];
const KMS_KEY_ARN_RULES: &[Rule] = &[
    Rule::Pattern(&KMS_KEY_ARN_PATTERN),
    Rule::MinLen(1),
    Rule::MaxLen(512),
];
const TAG_KEY_RULES: &[Rule] = &[
    Rule::Pattern(&TAG_KEY_PATTERN),
    Rule::MinLen(1),
    Rule::MaxLen(128),
];
const DESTINATION_ID_RULES: &[Rule] = &[
    Rule::Pattern(&DESTINATION_ID_PATTERN),
    Rule::MinLen(1),
    Rule::MaxLen(100),
];

const NAME: Member = text("DeliveryStreamName").required().with(NAME_RULES);
const ROLE_ARN: Member = text("RoleARN").with(ROLE_ARN_RULES);
const BUCKET_ARN_RULES: &[Rule] = &[
    Rule::Pattern(&BUCKET_ARN_PATTERN),
    Rule::MinLen(1),
    Rule::MaxLen(2048),
];
const FILE_EXTENSION_RULES: &[Rule] = &[
    Rule::Pattern(&FILE_EXTENSION_PATTERN),
    Rule::MinLen(0),
    Rule::MaxLen(128),
];
const TIME_ZONE_RULES: &[Rule] = &[
    Rule::Pattern(&TIME_ZONE_PATTERN),
    Rule::MinLen(0),
    Rule::MaxLen(50),
];
const BUCKET_ARN: Member = text("BucketARN").with(BUCKET_ARN_RULES);
const STREAM_TYPE: Member = text("DeliveryStreamType").with(&[Rule::Enum(DELIVERY_STREAM_TYPES)]);

static BUFFERING_HINTS: Shape = shape(&[
    int("SizeInMBs").with(&[Rule::Min(1), Rule::Max(128)]),
    int("IntervalInSeconds").with(&[Rule::Min(0), Rule::Max(900)]),
]);
static KMS_ENCRYPTION_CONFIG: Shape =
    shape(&[text("AWSKMSKeyARN").required().with(KMS_KEY_ARN_RULES)]);
static ENCRYPTION_CONFIGURATION: Shape = shape(&[
    text("NoEncryptionConfig").with(&[Rule::Enum(NO_ENCRYPTION)]),
    structure("KMSEncryptionConfig", &KMS_ENCRYPTION_CONFIG),
]);
static CLOUDWATCH_LOGGING: Shape = shape(&[
    Member::new("Enabled", Type::Boolean),
    text("LogGroupName").with(&[
        Rule::Pattern(&LOG_GROUP_PATTERN),
        Rule::MinLen(0),
        Rule::MaxLen(512),
    ]),
    text("LogStreamName").with(&[
        Rule::Pattern(&LOG_STREAM_PATTERN),
        Rule::MinLen(0),
        Rule::MaxLen(512),
    ]),
]);
static PROCESSOR_PARAMETER: Shape = Shape {
    members: &[
        text("ParameterName")
            .required()
            .with(&[Rule::Enum(PROCESSOR_PARAMETER_NAMES)]),
        text("ParameterValue").required().with(&[
            Rule::Pattern(&PARAMETER_VALUE_PATTERN),
            Rule::MinLen(1),
            Rule::MaxLen(5120),
        ]),
    ],
    shown_as: "com.amazonaws.firehose.v20150804.ProcessorParameter",
};
const PROCESSOR_PARAMETER_MEMBER: Member = structure("member", &PROCESSOR_PARAMETER);
static PROCESSOR: Shape = Shape {
    members: &[
        text("Type").required().with(&[Rule::Enum(PROCESSOR_TYPES)]),
        Member::new("Parameters", Type::List(&PROCESSOR_PARAMETER_MEMBER)),
    ],
    shown_as: "com.amazonaws.firehose.v20150804.Processor",
};
const PROCESSOR_MEMBER: Member = structure("member", &PROCESSOR);
static PROCESSING_CONFIGURATION: Shape = shape(&[
    Member::new("Enabled", Type::Boolean),
    Member::new("Processors", Type::List(&PROCESSOR_MEMBER)),
]);
static RETRY_OPTIONS: Shape =
    shape(&[int("DurationInSeconds").with(&[Rule::Min(0), Rule::Max(7200)])]);
static DYNAMIC_PARTITIONING: Shape = shape(&[
    structure("RetryOptions", &RETRY_OPTIONS),
    Member::new("Enabled", Type::Boolean),
]);
static OPAQUE: Shape = shape(&[]);
static DATA_FORMAT_CONVERSION: Shape = shape(&[
    structure("SchemaConfiguration", &OPAQUE),
    structure("InputFormatConfiguration", &OPAQUE),
    structure("OutputFormatConfiguration", &OPAQUE),
    Member::new("Enabled", Type::Boolean),
]);

/// The members an S3 destination's configuration and its update share, in model order.
macro_rules! s3_members {
    ($role:expr, $bucket:expr) => {
        [
            $role,
            $bucket,
            text("Prefix").with(PREFIX_RULES),
            text("ErrorOutputPrefix").with(PREFIX_RULES),
            structure("BufferingHints", &BUFFERING_HINTS),
            text("CompressionFormat").with(&[Rule::Enum(COMPRESSION_FORMATS)]),
            structure("EncryptionConfiguration", &ENCRYPTION_CONFIGURATION),
            structure("CloudWatchLoggingOptions", &CLOUDWATCH_LOGGING),
        ]
    };
}

/// The members only an extended S3 destination has, after the shared ones.
macro_rules! extended_members {
    ($backup:expr) => {
        [
            structure("ProcessingConfiguration", &PROCESSING_CONFIGURATION),
            text("S3BackupMode").with(&[Rule::Enum(S3_BACKUP_MODES)]),
            $backup,
            structure("DataFormatConversionConfiguration", &DATA_FORMAT_CONVERSION),
            structure("DynamicPartitioningConfiguration", &DYNAMIC_PARTITIONING),
            text("FileExtension").with(FILE_EXTENSION_RULES),
            text("CustomTimeZone").with(TIME_ZONE_RULES),
        ]
    };
}

const S3_CONFIG_MEMBERS: [Member; 8] = s3_members!(ROLE_ARN.required(), BUCKET_ARN.required());
const S3_UPDATE_MEMBERS: [Member; 8] = s3_members!(ROLE_ARN, BUCKET_ARN);
static S3_CONFIG: Shape = shape(&S3_CONFIG_MEMBERS);
static S3_UPDATE: Shape = shape(&S3_UPDATE_MEMBERS);
const EXTENDED_ONLY_CONFIG: [Member; 7] =
    extended_members!(structure("S3BackupConfiguration", &S3_CONFIG));
const EXTENDED_ONLY_UPDATE: [Member; 7] =
    extended_members!(structure("S3BackupUpdate", &S3_UPDATE));
const EXTENDED_CONFIG_MEMBERS: [Member; 15] = concat(&S3_CONFIG_MEMBERS, &EXTENDED_ONLY_CONFIG);
const EXTENDED_UPDATE_MEMBERS: [Member; 15] = concat(&S3_UPDATE_MEMBERS, &EXTENDED_ONLY_UPDATE);
static EXTENDED_S3_CONFIG: Shape = shape(&EXTENDED_CONFIG_MEMBERS);
static EXTENDED_S3_UPDATE: Shape = shape(&EXTENDED_UPDATE_MEMBERS);

/// The shared S3 members followed by the extended ones.
const fn concat(a: &[Member; 8], b: &[Member; 7]) -> [Member; 15] {
    let mut out = [a[0]; 15];
    let mut i = 0;
    while i < 8 {
        out[i] = a[i];
        i += 1;
    }
    while i < 15 {
        out[i] = b[i - 8];
        i += 1;
    }
    out
}

static KINESIS_SOURCE: Shape = shape(&[
    text("KinesisStreamARN").required().with(&[
        Rule::Pattern(&KINESIS_STREAM_ARN_PATTERN),
        Rule::MinLen(1),
        Rule::MaxLen(512),
    ]),
    ROLE_ARN.required(),
]);
static DIRECT_PUT_SOURCE: Shape = shape(&[int("ThroughputHintInMBs")
    .required()
    .with(&[Rule::Min(1), Rule::Max(100)])]);
static SSE_INPUT: Shape = shape(&[
    text("KeyARN").with(KMS_KEY_ARN_RULES),
    text("KeyType").required().with(&[Rule::Enum(KEY_TYPES)]),
]);
const SSE_INPUT_MEMBER: Member =
    structure("DeliveryStreamEncryptionConfigurationInput", &SSE_INPUT);

static TAG: Shape = Shape {
    members: &[
        text("Key").required().with(TAG_KEY_RULES),
        text("Value").with(&[
            Rule::Pattern(&TAG_VALUE_PATTERN),
            Rule::MinLen(0),
            Rule::MaxLen(256),
        ]),
    ],
    shown_as: "com.amazonaws.firehose.v20150804.Tag",
};
const TAG_MEMBER: Member = structure("member", &TAG);
/// A list of tags (`Tags` of CreateDeliveryStream and TagDeliveryStream).
pub const TAGS: Member = Member::new("Tags", Type::List(&TAG_MEMBER))
    .with(&[Rule::MinLen(1), Rule::MaxLen(MAX_TAGS as u64)]);
const TAG_KEY: Member = text("member").with(TAG_KEY_RULES);

static RECORD: Shape = Shape {
    members: &[Member::new("Data", Type::Blob)
        .required()
        .with(&[Rule::MinLen(0), Rule::MaxLen(MAX_RECORD_BYTES as u64)])],
    shown_as: "com.amazonaws.firehose.v20150804.Record",
};
const RECORD_MEMBER: Member = structure("member", &RECORD);

static CREATE: Shape = shape(&[
    NAME,
    STREAM_TYPE,
    structure("DirectPutSourceConfiguration", &DIRECT_PUT_SOURCE),
    structure("KinesisStreamSourceConfiguration", &KINESIS_SOURCE),
    SSE_INPUT_MEMBER,
    structure("S3DestinationConfiguration", &S3_CONFIG),
    structure("ExtendedS3DestinationConfiguration", &EXTENDED_S3_CONFIG),
    structure("RedshiftDestinationConfiguration", &OPAQUE),
    structure("ElasticsearchDestinationConfiguration", &OPAQUE),
    structure("AmazonopensearchserviceDestinationConfiguration", &OPAQUE),
    structure("SplunkDestinationConfiguration", &OPAQUE),
    structure("HttpEndpointDestinationConfiguration", &OPAQUE),
    TAGS,
    structure(
        "AmazonOpenSearchServerlessDestinationConfiguration",
        &OPAQUE,
    ),
    structure("MSKSourceConfiguration", &OPAQUE),
    structure("SnowflakeDestinationConfiguration", &OPAQUE),
    structure("IcebergDestinationConfiguration", &OPAQUE),
    structure("DatabaseSourceConfiguration", &OPAQUE),
]);
/// Destinations of CreateDeliveryStream this server does not deliver to.
const OTHER_DESTINATIONS: &[&str] = &[
    "ElasticsearchDestinationConfiguration",
    "AmazonopensearchserviceDestinationConfiguration",
    "SplunkDestinationConfiguration",
    "AmazonOpenSearchServerlessDestinationConfiguration",
    "SnowflakeDestinationConfiguration",
    "IcebergDestinationConfiguration",
];
static UPDATE: Shape = shape(&[
    NAME,
    text("CurrentDeliveryStreamVersionId").required().with(&[
        Rule::Pattern(&VERSION_ID_PATTERN),
        Rule::MinLen(1),
        Rule::MaxLen(50),
    ]),
    text("DestinationId").required().with(DESTINATION_ID_RULES),
    structure("S3DestinationUpdate", &S3_UPDATE),
    structure("ExtendedS3DestinationUpdate", &EXTENDED_S3_UPDATE),
    structure("RedshiftDestinationUpdate", &OPAQUE),
    structure("ElasticsearchDestinationUpdate", &OPAQUE),
    structure("AmazonopensearchserviceDestinationUpdate", &OPAQUE),
    structure("SplunkDestinationUpdate", &OPAQUE),
    structure("HttpEndpointDestinationUpdate", &OPAQUE),
    structure("AmazonOpenSearchServerlessDestinationUpdate", &OPAQUE),
    structure("SnowflakeDestinationUpdate", &OPAQUE),
    structure("IcebergDestinationUpdate", &OPAQUE),
]);
/// Destination updates this server does not deliver to.
const OTHER_UPDATES: &[&str] = &[
    "ElasticsearchDestinationUpdate",
    "AmazonopensearchserviceDestinationUpdate",
    "SplunkDestinationUpdate",
    "AmazonOpenSearchServerlessDestinationUpdate",
    "SnowflakeDestinationUpdate",
    "IcebergDestinationUpdate",
];
static DESCRIBE: Shape = shape(&[
    NAME,
    int("Limit").with(&[Rule::Min(1), Rule::Max(10_000)]),
    text("ExclusiveStartDestinationId").with(DESTINATION_ID_RULES),
]);
static LIST: Shape = shape(&[
    int("Limit").with(&[Rule::Min(1), Rule::Max(10_000)]),
    STREAM_TYPE,
    text("ExclusiveStartDeliveryStreamName").with(NAME_RULES),
]);
static DELETE: Shape = shape(&[NAME, Member::new("AllowForceDelete", Type::Boolean)]);
static PUT_RECORD: Shape = shape(&[NAME, structure("Record", &RECORD).required()]);
static PUT_RECORD_BATCH: Shape = shape(&[
    NAME,
    Member::new("Records", Type::List(&RECORD_MEMBER))
        .required()
        .with(&[Rule::MinLen(1), Rule::MaxLen(MAX_BATCH_RECORDS as u64)]),
]);
static TAG_STREAM: Shape = shape(&[NAME, TAGS.required()]);
static UNTAG_STREAM: Shape = shape(&[
    NAME,
    Member::new("TagKeys", Type::List(&TAG_KEY))
        .required()
        .with(&[Rule::MinLen(1), Rule::MaxLen(MAX_TAGS as u64)]),
]);
static LIST_TAGS: Shape = shape(&[
    NAME,
    text("ExclusiveStartTagKey").with(TAG_KEY_RULES),
    int("Limit").with(&[Rule::Min(1), Rule::Max(MAX_TAGS as i64)]),
]);
static START_ENCRYPTION: Shape = shape(&[NAME, SSE_INPUT_MEMBER]);
static NAME_ONLY: Shape = shape(&[NAME]);

/// The input shape of a Firehose action (`CreateDeliveryStream`, ...), as AWS's model
/// declares it; `None` for an action this server does not know.
pub fn input_shape(action: &str) -> Option<&'static Shape> {
    Some(match action {
        "CreateDeliveryStream" => &CREATE,
        "DescribeDeliveryStream" => &DESCRIBE,
        "ListDeliveryStreams" => &LIST,
        "DeleteDeliveryStream" => &DELETE,
        "UpdateDestination" => &UPDATE,
        "PutRecord" => &PUT_RECORD,
        "PutRecordBatch" => &PUT_RECORD_BATCH,
        "TagDeliveryStream" => &TAG_STREAM,
        "UntagDeliveryStream" => &UNTAG_STREAM,
        "ListTagsForDeliveryStream" => &LIST_TAGS,
        "StartDeliveryStreamEncryption" => &START_ENCRYPTION,
        "StopDeliveryStreamEncryption" => &NAME_ONLY,
        _ => return None,
    })
}

/// A JSON document as the protocol's value model (what [`validate`] reads).
pub fn to_protocol_value(j: &Json) -> Value {
    match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i128::from(i))
            } else if let Some(u) = n.as_u64() {
                Value::Int(i128::from(u))
            } else {
                Value::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(a) => Value::List(a.iter().map(to_protocol_value).collect()),
        Json::Object(o) => Value::Map(
            o.iter()
                .map(|(k, v)| (k.clone(), to_protocol_value(v)))
                .collect(),
        ),
    }
}

/// Checks a request of `action` against its model (the first two steps of the module
/// docs) and returns it normalized: only declared members, integers as `Value::Int`,
/// blobs decoded. An unknown action is an `UnknownOperationException`.
pub fn check_input(action: &str, body: &Json) -> Result<Value, ApiError> {
    let Some(shape) = input_shape(action) else {
        return Err(ApiError::unknown_operation(format!(
            "Operation {action} is not supported by this server."
        )));
    };
    validate(shape, &to_protocol_value(body))
}

// Reading a normalized document.

fn get_str(v: &Value, key: &str) -> Option<String> {
    match v.get(key) {
        Some(Value::Str(s)) => Some(s.clone()),
        _ => None,
    }
}

fn get_u32(v: &Value, key: &str) -> Option<u32> {
    match v.get(key) {
        Some(Value::Int(i)) => Some(u32::try_from(*i).unwrap_or(0)),
        _ => None,
    }
}

fn get_bool(v: &Value, key: &str) -> Option<bool> {
    match v.get(key) {
        Some(Value::Bool(b)) => Some(*b),
        _ => None,
    }
}

fn get_struct<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| matches!(x, Value::Map(_)))
}

fn get_list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    match v.get(key) {
        Some(Value::List(items)) => items,
        _ => &[],
    }
}

// ---------------------------------------------------------------------------------------
// A delivery stream's settings
// ---------------------------------------------------------------------------------------

/// Where a delivery stream's records come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamKind {
    /// Producers put records with PutRecord and PutRecordBatch.
    DirectPut,
    /// The delivery stream reads a Kinesis stream.
    KinesisStreamAsSource,
}

impl StreamKind {
    /// The name AWS gives it (`DeliveryStreamType`).
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::DirectPut => "DirectPut",
            StreamKind::KinesisStreamAsSource => "KinesisStreamAsSource",
        }
    }
}

/// CloudWatch logging options of a destination (kept and described, not acted on).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudWatchLogging {
    /// `Enabled`.
    pub enabled: bool,
    /// `LogGroupName`.
    pub log_group_name: Option<String>,
    /// `LogStreamName`.
    pub log_stream_name: Option<String>,
}

impl CloudWatchLogging {
    fn from_value(v: &Value) -> CloudWatchLogging {
        CloudWatchLogging {
            enabled: get_bool(v, "Enabled").unwrap_or(false),
            log_group_name: get_str(v, "LogGroupName"),
            log_stream_name: get_str(v, "LogStreamName"),
        }
    }

    fn to_json(&self) -> Json {
        let mut m = JsonMap::new();
        m.insert("Enabled".into(), Json::Bool(self.enabled));
        if let Some(g) = &self.log_group_name {
            m.insert("LogGroupName".into(), Json::String(g.clone()));
        }
        if let Some(s) = &self.log_stream_name {
            m.insert("LogStreamName".into(), Json::String(s.clone()));
        }
        Json::Object(m)
    }
}

/// One record processor of a ProcessingConfiguration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Processor {
    /// `Type` (`AppendDelimiterToRecord`, `Lambda`, `MetadataExtraction`, ...).
    pub kind: String,
    /// `Parameters`: name and value, in request order.
    pub parameters: Vec<(String, String)>,
}

/// A destination's ProcessingConfiguration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Processing {
    /// `Enabled` as given.
    pub enabled: Option<bool>,
    /// `Processors`, in order.
    pub processors: Vec<Processor>,
}

impl Processing {
    fn from_value(v: &Value) -> Processing {
        let processors = get_list(v, "Processors")
            .iter()
            .map(|p| Processor {
                kind: get_str(p, "Type").unwrap_or_default(),
                parameters: get_list(p, "Parameters")
                    .iter()
                    .map(|x| {
                        (
                            get_str(x, "ParameterName").unwrap_or_default(),
                            get_str(x, "ParameterValue").unwrap_or_default(),
                        )
                    })
                    .collect(),
            })
            .collect();
        Processing {
            enabled: get_bool(v, "Enabled"),
            processors,
        }
    }

    /// Whether processing is on: `Enabled` true (AWS's default when processors are
    /// given and `Enabled` is not).
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(!self.processors.is_empty())
    }

    /// The value of a parameter of the first processor of a type.
    pub fn parameter(&self, kind: &str, name: &str) -> Option<&str> {
        self.processors
            .iter()
            .filter(|p| p.kind == kind)
            .flat_map(|p| p.parameters.iter())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn to_json(&self) -> Json {
        let processors: Vec<Json> = self
            .processors
            .iter()
            .map(|p| {
                let params: Vec<Json> = p
                    .parameters
                    .iter()
                    .map(|(n, v)| json!({"ParameterName": n, "ParameterValue": v}))
                    .collect();
                json!({"Type": p.kind, "Parameters": params})
            })
            .collect();
        json!({"Enabled": self.is_enabled(), "Processors": processors})
    }
}

/// A destination's DynamicPartitioningConfiguration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DynamicPartitioning {
    /// `Enabled` (false when not given).
    pub enabled: bool,
    /// `RetryOptions.DurationInSeconds` as given.
    pub retry_duration_seconds: Option<u32>,
}

impl DynamicPartitioning {
    fn from_value(v: &Value) -> DynamicPartitioning {
        DynamicPartitioning {
            enabled: get_bool(v, "Enabled").unwrap_or(false),
            retry_duration_seconds: get_struct(v, "RetryOptions")
                .and_then(|r| get_u32(r, "DurationInSeconds")),
        }
    }

    fn to_json(self) -> Json {
        let mut m = JsonMap::new();
        m.insert("Enabled".into(), Json::Bool(self.enabled));
        let retry = self
            .retry_duration_seconds
            .or(self.enabled.then_some(DEFAULT_RETRY_DURATION_SECONDS));
        if let Some(d) = retry {
            m.insert("RetryOptions".into(), json!({ "DurationInSeconds": d }));
        }
        Json::Object(m)
    }
}

/// The S3 backup destination of an extended S3 destination (`S3BackupConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Backup {
    /// `RoleARN`.
    pub role_arn: String,
    /// `BucketARN`.
    pub bucket_arn: String,
    /// `Prefix` as given (`Some("")` when given empty).
    pub prefix: Option<String>,
    /// `ErrorOutputPrefix` as given.
    pub error_output_prefix: Option<String>,
    /// `BufferingHints.SizeInMBs` (default 5).
    pub size_in_mbs: u32,
    /// `BufferingHints.IntervalInSeconds` (default 300).
    pub interval_in_seconds: u32,
    /// `CompressionFormat`, AWS's name (default `UNCOMPRESSED`).
    pub compression: String,
    /// `EncryptionConfiguration.KMSEncryptionConfig.AWSKMSKeyARN`; `None` is
    /// `NoEncryption`.
    pub kms_key_arn: Option<String>,
    /// `CloudWatchLoggingOptions`.
    pub logging: CloudWatchLogging,
}

/// A delivery stream's S3 destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Destination {
    /// `RoleARN`.
    pub role_arn: String,
    /// `BucketARN` (`arn:aws:s3:::BUCKET`).
    pub bucket_arn: String,
    /// `Prefix` as given (`Some("")` when given empty).
    pub prefix: Option<String>,
    /// `ErrorOutputPrefix` as given.
    pub error_output_prefix: Option<String>,
    /// `BufferingHints.SizeInMBs`: 1-128, default 5 (64 with dynamic partitioning).
    pub size_in_mbs: u32,
    /// `BufferingHints.IntervalInSeconds`: 0-900, default 300.
    pub interval_in_seconds: u32,
    /// `CompressionFormat`, AWS's name: `UNCOMPRESSED` (default), `GZIP`, `ZIP`,
    /// `Snappy`, `HADOOP_SNAPPY`.
    pub compression: String,
    /// `EncryptionConfiguration.KMSEncryptionConfig.AWSKMSKeyARN`; `None` is
    /// `NoEncryption`.
    pub kms_key_arn: Option<String>,
    /// `CloudWatchLoggingOptions`.
    pub logging: CloudWatchLogging,
    /// Whether it was configured as `ExtendedS3DestinationConfiguration` (or updated
    /// with `ExtendedS3DestinationUpdate`) rather than the deprecated
    /// `S3DestinationConfiguration`.
    pub extended: bool,
    /// `ProcessingConfiguration` as given.
    #[serde(default)]
    pub processing: Option<Processing>,
    /// `S3BackupMode`: `Disabled` (default) or `Enabled`.
    #[serde(default = "backup_disabled")]
    pub s3_backup_mode: String,
    /// `S3BackupConfiguration`.
    #[serde(default)]
    pub backup: Option<S3Backup>,
    /// `DynamicPartitioningConfiguration` as given.
    #[serde(default)]
    pub dynamic_partitioning: Option<DynamicPartitioning>,
    /// `FileExtension` as given (overrides the compression format's extension).
    #[serde(default)]
    pub file_extension: Option<String>,
    /// `CustomTimeZone` as given (for `!{timestamp:...}` in prefixes; UTC when absent).
    #[serde(default)]
    pub custom_time_zone: Option<String>,
    /// `DataFormatConversionConfiguration` as given (AWS's member names), when enabled.
    #[serde(default)]
    pub format_conversion: Option<Json>,
}

fn backup_disabled() -> String {
    "Disabled".into()
}

impl S3Destination {
    /// Whether dynamic partitioning is enabled.
    pub fn dynamic_partitioning_enabled(&self) -> bool {
        self.dynamic_partitioning.is_some_and(|d| d.enabled)
    }

    /// The bucket's name: what follows `:::` in the bucket's ARN.
    pub fn bucket_name(&self) -> &str {
        self.bucket_arn
            .rsplit_once(":::")
            .map_or(self.bucket_arn.as_str(), |(_, b)| b)
    }
}

/// A delivery stream's server-side encryption (`DeliveryStreamEncryptionConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionConfig {
    /// `KeyType`: `AWS_OWNED_CMK` or `CUSTOMER_MANAGED_CMK`.
    pub key_type: String,
    /// `KeyARN` (customer managed keys only).
    pub key_arn: Option<String>,
    /// `Status`: `ENABLED`, `ENABLING`, `DISABLED`, `DISABLING`, ...
    pub status: String,
}

impl EncryptionConfig {
    /// Reads a (validated) `DeliveryStreamEncryptionConfigurationInput`, with AWS's
    /// rules between `KeyType` and `KeyARN`; the status is `ENABLED`.
    fn from_input(v: &Value) -> Result<EncryptionConfig, ApiError> {
        let key_type = get_str(v, "KeyType").unwrap_or_else(|| "AWS_OWNED_CMK".into());
        let key_arn = get_str(v, "KeyARN");
        match (key_type.as_str(), &key_arn) {
            ("CUSTOMER_MANAGED_CMK", None) => Err(ApiError::invalid(
                "KeyARN must be specified when KeyType is CUSTOMER_MANAGED_CMK.",
            )),
            ("AWS_OWNED_CMK", Some(_)) => Err(ApiError::invalid(
                "KeyARN must not be specified when KeyType is AWS_OWNED_CMK.",
            )),
            _ => Ok(EncryptionConfig {
                key_type,
                key_arn,
                status: "ENABLED".into(),
            }),
        }
    }

    fn to_json(&self) -> Json {
        let mut m = JsonMap::new();
        if let Some(arn) = &self.key_arn {
            m.insert("KeyARN".into(), Json::String(arn.clone()));
        }
        m.insert("KeyType".into(), Json::String(self.key_type.clone()));
        m.insert("Status".into(), Json::String(self.status.clone()));
        Json::Object(m)
    }
}

/// A delivery stream's settings as stored (serde, JSON in the catalog).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryStreamConfig {
    /// `DeliveryStreamName`.
    pub name: String,
    /// `DeliveryStreamType`.
    pub kind: StreamKind,
    /// `KinesisStreamSourceConfiguration.KinesisStreamARN`.
    pub source_stream_arn: Option<String>,
    /// `KinesisStreamSourceConfiguration.RoleARN`.
    pub source_role_arn: Option<String>,
    /// `DirectPutSourceConfiguration.ThroughputHintInMBs` as given.
    #[serde(default)]
    pub throughput_hint_mbs: Option<u32>,
    /// The destination.
    pub destination: S3Destination,
    /// `VersionId`: 1 at creation, one more at every UpdateDestination.
    pub version_id: u64,
    /// The destination's id, `destinationId-000000000001`.
    pub destination_id: String,
    /// `CreateTimestamp`, epoch milliseconds.
    pub created_ms: i64,
    /// `LastUpdateTimestamp`, epoch milliseconds: the last UpdateDestination's.
    pub last_update_ms: Option<i64>,
    /// Tags, in the order they were first given.
    pub tags: Vec<(String, String)>,
    /// Server-side encryption.
    pub encryption: Option<EncryptionConfig>,
    /// Where records go when not to S3; `destination` is then its `S3Configuration`
    /// (the bucket of error output and backups).
    #[serde(default)]
    pub target: Option<Target>,
}

/// A destination other than S3, kept as given (AWS's member names; its
/// `S3Configuration`, `ProcessingConfiguration` and `S3BackupMode` are read into the
/// delivery stream's [`S3Destination`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// `RedshiftDestinationConfiguration`: any PostgreSQL-protocol database.
    Redshift(Json),
    /// `HttpEndpointDestinationConfiguration`.
    HttpEndpoint(Json),
}

impl Target {
    /// The member of CreateDeliveryStream that configures it.
    pub fn member(&self) -> &'static str {
        match self {
            Target::Redshift(_) => "RedshiftDestinationConfiguration",
            Target::HttpEndpoint(_) => "HttpEndpointDestinationConfiguration",
        }
    }

    /// The configuration as given.
    pub fn config(&self) -> &Json {
        match self {
            Target::Redshift(j) | Target::HttpEndpoint(j) => j,
        }
    }

    fn config_mut(&mut self) -> &mut Json {
        match self {
            Target::Redshift(j) | Target::HttpEndpoint(j) => j,
        }
    }

    /// Its description in DescribeDeliveryStream (secrets left out, as AWS does), with
    /// the S3 members described from `d`.
    fn description(&self, d: &S3Destination) -> (&'static str, Json) {
        let mut m = match self.config() {
            Json::Object(m) => m.clone(),
            _ => JsonMap::new(),
        };
        m.remove("S3Configuration");
        m.remove("S3BackupConfiguration");
        m.insert("S3DestinationDescription".into(), s3_description(d));
        if let Some(b) = &d.backup {
            m.insert("S3BackupDescription".into(), backup_description(b));
        }
        m.insert(
            "S3BackupMode".into(),
            Json::String(d.s3_backup_mode.clone()),
        );
        if let Some(p) = &d.processing {
            m.insert("ProcessingConfiguration".into(), p.to_json());
        }
        match self {
            Target::Redshift(_) => {
                m.remove("Password");
                ("RedshiftDestinationDescription", Json::Object(m))
            }
            Target::HttpEndpoint(_) => {
                if let Some(Json::Object(e)) = m.get_mut("EndpointConfiguration") {
                    e.remove("AccessKey");
                }
                ("HttpEndpointDestinationDescription", Json::Object(m))
            }
        }
    }
}

/// Checks a target's own members (URL, credentials, copy command, retry options).
fn check_target(t: &Target) -> Result<(), ApiError> {
    match t {
        Target::Redshift(j) => crate::postgres::PgTarget::from_config(j).map(drop),
        Target::HttpEndpoint(j) => crate::http_endpoint::HttpEndpoint::from_config(j).map(drop),
    }
    .map_err(ApiError::invalid)
}

/// Checks a ProcessingConfiguration's processors and parameters as Freshet will run
/// them (a Lambda processor's parameters, a JQ query that compiles, built-ins).
fn check_processing(p: &Processing) -> Result<(), ApiError> {
    if !p.is_enabled() {
        return Ok(());
    }
    for proc in &p.processors {
        match proc.kind.as_str() {
            "Lambda" => {
                crate::transform::LambdaProcessor::from_parameters(&proc.parameters).map(drop)
            }
            "MetadataExtraction" => {
                crate::partition::KeyQuery::from_parameters(&proc.parameters).map(drop)
            }
            kind => crate::processors::Builtin::from_processor(kind, &proc.parameters).map(drop),
        }
        .map_err(ApiError::invalid)?;
    }
    Ok(())
}

/// Checks a DataFormatConversionConfiguration Freshet will apply.
fn check_conversion(c: &Json) -> Result<(), ApiError> {
    crate::convert::Conversion::from_config(c)
        .map(drop)
        .map_err(ApiError::invalid)
}

/// A protocol value as JSON (the stored form of members kept as given).
fn to_json(v: &Value) -> Json {
    let bytes = freshet_protocol::value::encode(freshet_protocol::value::Encoding::Json, v);
    serde_json::from_slice(&bytes).unwrap_or(Json::Null)
}

/// The S3 destination of a non-S3 target, from its `S3Configuration` and the members
/// it shares with an extended S3 destination.
fn target_s3(v: &Value, member: &str, backup_modes: &[&str]) -> Result<S3Destination, ApiError> {
    let Some(s3) = get_struct(v, "S3Configuration") else {
        return Err(ApiError::invalid(format!(
            "{member}.S3Configuration must be specified."
        )));
    };
    let at = format!("{member}.S3Configuration");
    let base = S3Given::read(s3, &at)?;
    if base.role_arn.is_none() || base.bucket_arn.is_none() {
        return Err(ApiError::invalid(format!(
            "{at} must specify RoleARN and BucketARN."
        )));
    }
    let base = base.into_backup();
    let mode = get_str(v, "S3BackupMode").unwrap_or_else(|| backup_modes[0].to_string());
    if !backup_modes.contains(&mode.as_str()) {
        return Err(ApiError::invalid(format!(
            "{member}.S3BackupMode must be one of {}.",
            backup_modes.join(", ")
        )));
    }
    let backup = match get_struct(v, "S3BackupConfiguration") {
        Some(b) => {
            Some(S3Given::read(b, &format!("{member}.S3BackupConfiguration"))?.into_backup())
        }
        None => None,
    };
    let d = S3Destination {
        role_arn: base.role_arn,
        bucket_arn: base.bucket_arn,
        prefix: base.prefix,
        error_output_prefix: base.error_output_prefix,
        size_in_mbs: base.size_in_mbs,
        interval_in_seconds: base.interval_in_seconds,
        compression: base.compression,
        kms_key_arn: base.kms_key_arn,
        logging: base.logging,
        extended: false,
        processing: match get_struct(v, "ProcessingConfiguration").map(Processing::from_value) {
            Some(p) => {
                check_processing(&p)?;
                Some(p)
            }
            None => None,
        },
        s3_backup_mode: mode,
        backup,
        dynamic_partitioning: None,
        file_extension: None,
        custom_time_zone: None,
        format_conversion: None,
    };
    check_destination(&d)?;
    Ok(d)
}

/// Reads a non-S3 destination of CreateDeliveryStream.
fn read_target(v: &Value, body: &Json) -> Result<Option<(Target, S3Destination)>, ApiError> {
    for (member, backup_modes) in [
        (
            "RedshiftDestinationConfiguration",
            &["Disabled", "Enabled"][..],
        ),
        (
            "HttpEndpointDestinationConfiguration",
            &["FailedDataOnly", "AllData"][..],
        ),
    ] {
        if get_struct(v, member).is_none() {
            continue;
        }
        // The model leaves these opaque: read them from the JSON as given.
        let json = body.get(member).cloned().unwrap_or(Json::Null);
        let config = &to_protocol_value(&json);
        let target = if member.starts_with("Redshift") {
            Target::Redshift(json)
        } else {
            Target::HttpEndpoint(json)
        };
        check_target(&target)?;
        let s3 = target_s3(config, member, backup_modes)?;
        return Ok(Some((target, s3)));
    }
    Ok(None)
}

/// What an S3 configuration or update gives (each member `None` when absent).
#[derive(Default)]
struct S3Given {
    role_arn: Option<String>,
    bucket_arn: Option<String>,
    prefix: Option<String>,
    error_output_prefix: Option<String>,
    hints: Option<(u32, u32)>,
    compression: Option<String>,
    /// `Some(None)`: `NoEncryption`; `Some(Some(arn))`: KMS.
    encryption: Option<Option<String>>,
    logging: Option<CloudWatchLogging>,
}

impl S3Given {
    /// Reads the shared S3 members of a (validated) configuration or update, with the
    /// rules between members the model cannot say.
    fn read(v: &Value, at: &str) -> Result<S3Given, ApiError> {
        let hints = match get_struct(v, "BufferingHints") {
            None => None,
            Some(h) => match (get_u32(h, "SizeInMBs"), get_u32(h, "IntervalInSeconds")) {
                (Some(size), Some(interval)) => Some((size, interval)),
                (None, None) => None,
                _ => {
                    return Err(ApiError::invalid(format!(
                        "{at}.BufferingHints: SizeInMBs and IntervalInSeconds must be \
                         specified together."
                    )))
                }
            },
        };
        let encryption = match get_struct(v, "EncryptionConfiguration") {
            None => None,
            Some(e) => {
                let kms =
                    get_struct(e, "KMSEncryptionConfig").and_then(|k| get_str(k, "AWSKMSKeyARN"));
                match (get_str(e, "NoEncryptionConfig"), kms) {
                    (Some(_), Some(_)) => {
                        return Err(ApiError::invalid(format!(
                            "{at}.EncryptionConfiguration: specify either \
                             NoEncryptionConfig or KMSEncryptionConfig, not both."
                        )))
                    }
                    (Some(_), None) => Some(None),
                    (None, Some(arn)) => Some(Some(arn)),
                    (None, None) => None,
                }
            }
        };
        Ok(S3Given {
            role_arn: get_str(v, "RoleARN"),
            bucket_arn: get_str(v, "BucketARN"),
            prefix: get_str(v, "Prefix"),
            error_output_prefix: get_str(v, "ErrorOutputPrefix"),
            hints,
            compression: get_str(v, "CompressionFormat"),
            encryption,
            logging: get_struct(v, "CloudWatchLoggingOptions").map(CloudWatchLogging::from_value),
        })
    }

    /// A backup destination from a configuration (defaults for what is absent).
    fn into_backup(self) -> S3Backup {
        let (size_in_mbs, interval_in_seconds) = self
            .hints
            .unwrap_or((DEFAULT_SIZE_IN_MBS, DEFAULT_INTERVAL_IN_SECONDS));
        S3Backup {
            role_arn: self.role_arn.unwrap_or_default(),
            bucket_arn: self.bucket_arn.unwrap_or_default(),
            prefix: self.prefix,
            error_output_prefix: self.error_output_prefix,
            size_in_mbs,
            interval_in_seconds,
            compression: self.compression.unwrap_or_else(|| "UNCOMPRESSED".into()),
            kms_key_arn: self.encryption.flatten(),
            logging: self.logging.unwrap_or_default(),
        }
    }

    /// Changes a backup destination by the members given.
    fn update_backup(self, b: &mut S3Backup) {
        set_if(&mut b.role_arn, self.role_arn);
        set_if(&mut b.bucket_arn, self.bucket_arn);
        set_opt_if(&mut b.prefix, self.prefix);
        set_opt_if(&mut b.error_output_prefix, self.error_output_prefix);
        if let Some((s, i)) = self.hints {
            b.size_in_mbs = s;
            b.interval_in_seconds = i;
        }
        set_if(&mut b.compression, self.compression);
        set_if(&mut b.kms_key_arn, self.encryption);
        set_if(&mut b.logging, self.logging);
    }
}

fn set_if<T>(slot: &mut T, given: Option<T>) {
    if let Some(v) = given {
        *slot = v;
    }
}

fn set_opt_if<T>(slot: &mut Option<T>, given: Option<T>) {
    if given.is_some() {
        *slot = given;
    }
}

/// The rules of an extended S3 destination once its members are settled, then AWS's
/// rules of `Prefix` and `ErrorOutputPrefix`.
fn check_destination(d: &S3Destination) -> Result<(), ApiError> {
    if d.s3_backup_mode == "Enabled" && d.backup.is_none() {
        return Err(ApiError::invalid(
            "S3BackupConfiguration must be specified when S3BackupMode is Enabled.",
        ));
    }
    if d.format_conversion.is_some() {
        if d.compression != "UNCOMPRESSED" {
            return Err(ApiError::invalid(
                "CompressionFormat must be UNCOMPRESSED when DataFormatConversionConfiguration \
                 is enabled: the serializer compresses (ParquetSerDe.Compression).",
            ));
        }
        if d.size_in_mbs < DYNAMIC_PARTITIONING_MIN_SIZE_IN_MBS {
            return Err(ApiError::invalid(format!(
                "BufferingHints.SizeInMBs must be at least {DYNAMIC_PARTITIONING_MIN_SIZE_IN_MBS} \
                 when DataFormatConversionConfiguration is enabled."
            )));
        }
    }
    if d.dynamic_partitioning_enabled() && d.size_in_mbs < DYNAMIC_PARTITIONING_MIN_SIZE_IN_MBS {
        return Err(ApiError::invalid(format!(
            "BufferingHints.SizeInMBs must be at least {DYNAMIC_PARTITIONING_MIN_SIZE_IN_MBS} \
             when Dynamic Partitioning is enabled."
        )));
    }
    check_prefixes(d)
}

/// `Prefix` and `ErrorOutputPrefix` by AWS's expression rules.
fn check_prefixes(d: &S3Destination) -> Result<(), ApiError> {
    crate::naming::validate_prefixes(
        d.prefix.as_deref(),
        d.error_output_prefix.as_deref(),
        d.dynamic_partitioning_enabled(),
    )
    .map_err(ApiError::invalid)
}

/// Reads the extended-only members of a (validated) configuration into `d`, refusing
/// what this server does not do.
fn read_extended(
    v: &Value,
    json: Option<&Json>,
    d: &mut S3Destination,
    backup_member: &str,
    create: bool,
) -> Result<(), ApiError> {
    if let Some(conv) = get_struct(v, "DataFormatConversionConfiguration") {
        // AWS's default for Enabled is true once the configuration is given.
        d.format_conversion = if get_bool(conv, "Enabled").unwrap_or(true) {
            // As given: the model does not declare its members.
            let given = json
                .and_then(|j| j.get("DataFormatConversionConfiguration"))
                .cloned()
                .unwrap_or_else(|| to_json(conv));
            check_conversion(&given)?;
            Some(given)
        } else {
            None
        };
    }
    if let Some(p) = get_struct(v, "ProcessingConfiguration") {
        let p = Processing::from_value(p);
        check_processing(&p)?;
        d.processing = Some(p);
    }
    if let Some(dp) = get_struct(v, "DynamicPartitioningConfiguration") {
        let given = DynamicPartitioning::from_value(dp);
        if !create && given.enabled != d.dynamic_partitioning_enabled() {
            return Err(ApiError::invalid(
                "Dynamic partitioning cannot be enabled or disabled on an existing delivery \
                 stream.",
            ));
        }
        d.dynamic_partitioning = Some(given);
    }
    if let Some(mode) = get_str(v, "S3BackupMode") {
        if !create && d.s3_backup_mode == "Enabled" && mode == "Disabled" {
            return Err(ApiError::invalid(
                "S3BackupMode cannot be changed from Enabled to Disabled.",
            ));
        }
        d.s3_backup_mode = mode;
    }
    if let Some(b) = get_struct(v, backup_member) {
        let given = S3Given::read(b, backup_member)?;
        match (&mut d.backup, create) {
            (Some(existing), false) => given.update_backup(existing),
            _ => {
                if given.role_arn.is_none() || given.bucket_arn.is_none() {
                    return Err(ApiError::invalid(format!(
                        "{backup_member} must specify RoleARN and BucketARN."
                    )));
                }
                d.backup = Some(given.into_backup());
            }
        }
    }
    set_opt_if(&mut d.file_extension, get_str(v, "FileExtension"));
    set_opt_if(&mut d.custom_time_zone, get_str(v, "CustomTimeZone"));
    Ok(())
}

fn change_of_destination_type(member: &str) -> ApiError {
    ApiError::invalid(format!(
        "{member} does not match the delivery stream's destination type: changing the \
         destination type is not supported by this server."
    ))
}

/// Applies a RedshiftDestinationUpdate or HttpEndpointDestinationUpdate to a target
/// and its S3 members; nothing changes on error.
fn update_target(
    v: &Value,
    body: &Json,
    target: &mut Target,
    d: &mut S3Destination,
) -> Result<(), ApiError> {
    let member = match target {
        Target::Redshift(_) => "RedshiftDestinationUpdate",
        Target::HttpEndpoint(_) => "HttpEndpointDestinationUpdate",
    };
    let given = present(
        v,
        &[
            "ExtendedS3DestinationUpdate",
            "S3DestinationUpdate",
            "RedshiftDestinationUpdate",
            "HttpEndpointDestinationUpdate",
        ],
    );
    match given.as_slice() {
        [m] if *m == member => {}
        [m] => return Err(change_of_destination_type(m)),
        _ => {
            return Err(ApiError::invalid(
                "Exactly one destination configuration is supported for a Firehose",
            ))
        }
    }
    let Some(Json::Object(given)) = body.get(member) else {
        return Err(ApiError::invalid(format!("{member} must be a structure.")));
    };
    let update = &to_protocol_value(&Json::Object(given.clone()));
    if let Some(s3) = get_struct(update, "S3Update") {
        let g = S3Given::read(s3, &format!("{member}.S3Update"))?;
        set_if(&mut d.role_arn, g.role_arn);
        set_if(&mut d.bucket_arn, g.bucket_arn);
        set_opt_if(&mut d.prefix, g.prefix);
        set_opt_if(&mut d.error_output_prefix, g.error_output_prefix);
        if let Some((s, i)) = g.hints {
            d.size_in_mbs = s;
            d.interval_in_seconds = i;
        }
        set_if(&mut d.compression, g.compression);
        set_if(&mut d.kms_key_arn, g.encryption);
        set_if(&mut d.logging, g.logging);
    }
    if let Some(p) = get_struct(update, "ProcessingConfiguration") {
        let p = Processing::from_value(p);
        check_processing(&p)?;
        d.processing = Some(p);
    }
    if let Some(mode) = get_str(update, "S3BackupMode") {
        d.s3_backup_mode = mode;
    }
    if let Json::Object(stored) = target.config_mut() {
        for (k, val) in given {
            if !matches!(
                k.as_str(),
                "S3Update" | "S3BackupUpdate" | "ProcessingConfiguration" | "S3BackupMode"
            ) {
                stored.insert(k.clone(), val.clone());
            }
        }
    }
    check_target(target)?;
    check_prefixes(d)
}

/// Which members of `v` of the listed names are present.
fn present<'a>(v: &Value, names: &[&'a str]) -> Vec<&'a str> {
    names
        .iter()
        .copied()
        .filter(|n| v.get(n).is_some())
        .collect()
}

impl DeliveryStreamConfig {
    /// A delivery stream's settings from a CreateDeliveryStream request, or AWS's
    /// error for it. `now_ms` is its creation time.
    pub fn from_create(body: &Json, now_ms: i64) -> Result<DeliveryStreamConfig, ApiError> {
        let v = check_input("CreateDeliveryStream", body)?;
        let name = get_str(&v, "DeliveryStreamName").unwrap_or_default();

        // Sources.
        let kind = match get_str(&v, "DeliveryStreamType").as_deref() {
            None | Some("DirectPut") => StreamKind::DirectPut,
            Some("KinesisStreamAsSource") => StreamKind::KinesisStreamAsSource,
            Some(other) => return Err(unsupported_source(other)),
        };
        for member in ["MSKSourceConfiguration", "DatabaseSourceConfiguration"] {
            if v.get(member).is_some() {
                return Err(unsupported_source(member));
            }
        }
        let source = get_struct(&v, "KinesisStreamSourceConfiguration");
        let direct = get_struct(&v, "DirectPutSourceConfiguration");
        match (kind, source) {
            (StreamKind::KinesisStreamAsSource, None) => {
                return Err(ApiError::invalid(
                    "KinesisStreamSourceConfiguration must be specified when \
                     DeliveryStreamType is KinesisStreamAsSource.",
                ))
            }
            (StreamKind::DirectPut, Some(_)) => {
                return Err(ApiError::invalid(
                    "KinesisStreamSourceConfiguration can only be specified when \
                     DeliveryStreamType is KinesisStreamAsSource.",
                ))
            }
            _ => {}
        }
        if kind == StreamKind::KinesisStreamAsSource && direct.is_some() {
            return Err(ApiError::invalid(
                "DirectPutSourceConfiguration can only be specified when DeliveryStreamType \
                 is DirectPut.",
            ));
        }

        // Encryption of the stream itself: DirectPut only.
        let encryption = match get_struct(&v, "DeliveryStreamEncryptionConfigurationInput") {
            None => None,
            Some(_) if kind == StreamKind::KinesisStreamAsSource => {
                return Err(ApiError::invalid(
                    "Server-side encryption is not supported for delivery streams with \
                     KinesisStreamAsSource as source; encrypt the Kinesis stream instead.",
                ))
            }
            Some(e) => Some(EncryptionConfig::from_input(e)?),
        };

        // The destination: exactly one.
        if let Some(other) = present(&v, OTHER_DESTINATIONS).first() {
            return Err(unsupported_destination(other));
        }
        let given = present(
            &v,
            &[
                "ExtendedS3DestinationConfiguration",
                "S3DestinationConfiguration",
                "RedshiftDestinationConfiguration",
                "HttpEndpointDestinationConfiguration",
            ],
        );
        if given.len() != 1 {
            return Err(ApiError::invalid(
                "Exactly one destination configuration is supported for a Firehose",
            ));
        }
        if let Some((target, destination)) = read_target(&v, body)? {
            return Ok(DeliveryStreamConfig {
                name,
                kind,
                source_stream_arn: source.and_then(|s| get_str(s, "KinesisStreamARN")),
                source_role_arn: source.and_then(|s| get_str(s, "RoleARN")),
                throughput_hint_mbs: direct.and_then(|d| get_u32(d, "ThroughputHintInMBs")),
                destination,
                version_id: 1,
                destination_id: DESTINATION_ID.into(),
                created_ms: now_ms,
                last_update_ms: None,
                tags: tags_of(&v),
                encryption,
                target: Some(target),
            });
        }
        let (config, extended) = match (
            get_struct(&v, "ExtendedS3DestinationConfiguration"),
            get_struct(&v, "S3DestinationConfiguration"),
        ) {
            (Some(e), None) => (e, true),
            (None, Some(s)) => (s, false),
            _ => {
                return Err(ApiError::invalid(
                    "Exactly one destination configuration is supported for a Firehose",
                ))
            }
        };
        let at = if extended {
            "ExtendedS3DestinationConfiguration"
        } else {
            "S3DestinationConfiguration"
        };
        let given = S3Given::read(config, at)?;
        let hints = given.hints;
        let base = given.into_backup();
        let mut destination = S3Destination {
            role_arn: base.role_arn,
            bucket_arn: base.bucket_arn,
            prefix: base.prefix,
            error_output_prefix: base.error_output_prefix,
            size_in_mbs: base.size_in_mbs,
            interval_in_seconds: base.interval_in_seconds,
            compression: base.compression,
            kms_key_arn: base.kms_key_arn,
            logging: base.logging,
            extended,
            processing: None,
            s3_backup_mode: backup_disabled(),
            backup: None,
            dynamic_partitioning: None,
            file_extension: None,
            custom_time_zone: None,
            format_conversion: None,
        };
        if extended {
            let json = body.get("ExtendedS3DestinationConfiguration");
            read_extended(
                config,
                json,
                &mut destination,
                "S3BackupConfiguration",
                true,
            )?;
            if hints.is_none() && destination.dynamic_partitioning_enabled() {
                destination.size_in_mbs = DYNAMIC_PARTITIONING_MIN_SIZE_IN_MBS;
            }
            if hints.is_none() && destination.format_conversion.is_some() {
                destination.size_in_mbs = FORMAT_CONVERSION_DEFAULT_SIZE_IN_MBS;
            }
        }
        check_destination(&destination)?;

        let tags = tags_of(&v);
        Ok(DeliveryStreamConfig {
            name,
            kind,
            source_stream_arn: source.and_then(|s| get_str(s, "KinesisStreamARN")),
            source_role_arn: source.and_then(|s| get_str(s, "RoleARN")),
            throughput_hint_mbs: direct.and_then(|d| get_u32(d, "ThroughputHintInMBs")),
            destination,
            version_id: 1,
            destination_id: DESTINATION_ID.into(),
            created_ms: now_ms,
            last_update_ms: None,
            tags,
            encryption,
            target: None,
        })
    }

    /// Applies an UpdateDestination request: checks `CurrentDeliveryStreamVersionId`
    /// (a `ConcurrentModificationException` when it is not this stream's) and
    /// `DestinationId`, changes only the members present, then bumps `version_id` and
    /// sets `last_update_ms`. On error nothing changes.
    ///
    /// Call [`check_input`]`("UpdateDestination", body)` before looking the stream up, so
    /// that a malformed request is a `ValidationException` whether or not it exists.
    pub fn apply_update(&mut self, body: &Json, now_ms: i64) -> Result<(), ApiError> {
        let v = check_input("UpdateDestination", body)?;
        let given_version = get_str(&v, "CurrentDeliveryStreamVersionId").unwrap_or_default();
        if given_version.parse::<u64>().ok() != Some(self.version_id) {
            return Err(version_mismatch(
                &self.name,
                self.version_id,
                &given_version,
            ));
        }
        let destination_id = get_str(&v, "DestinationId").unwrap_or_default();
        if destination_id != self.destination_id {
            return Err(ApiError::invalid(format!(
                "Destination Id {destination_id} not found"
            )));
        }
        if let Some(other) = present(&v, OTHER_UPDATES).first() {
            return Err(unsupported_destination(other));
        }
        if let Some(target) = &self.target {
            let mut target = target.clone();
            let mut d = self.destination.clone();
            update_target(&v, body, &mut target, &mut d)?;
            self.target = Some(target);
            self.destination = d;
            self.version_id += 1;
            self.last_update_ms = Some(now_ms);
            return Ok(());
        }
        if let Some(other) = present(
            &v,
            &["RedshiftDestinationUpdate", "HttpEndpointDestinationUpdate"],
        )
        .first()
        {
            return Err(change_of_destination_type(other));
        }
        let (update, extended) = match (
            get_struct(&v, "ExtendedS3DestinationUpdate"),
            get_struct(&v, "S3DestinationUpdate"),
        ) {
            (Some(e), None) => (e, true),
            (None, Some(s)) => (s, false),
            _ => {
                return Err(ApiError::invalid(
                    "Exactly one destination configuration is supported for a Firehose",
                ))
            }
        };
        let at = if extended {
            "ExtendedS3DestinationUpdate"
        } else {
            "S3DestinationUpdate"
        };
        let mut d = self.destination.clone();
        let given = S3Given::read(update, at)?;
        set_if(&mut d.role_arn, given.role_arn);
        set_if(&mut d.bucket_arn, given.bucket_arn);
        set_opt_if(&mut d.prefix, given.prefix);
        set_opt_if(&mut d.error_output_prefix, given.error_output_prefix);
        if let Some((s, i)) = given.hints {
            d.size_in_mbs = s;
            d.interval_in_seconds = i;
        }
        set_if(&mut d.compression, given.compression);
        set_if(&mut d.kms_key_arn, given.encryption);
        set_if(&mut d.logging, given.logging);
        if extended {
            d.extended = true;
            let json = body.get("ExtendedS3DestinationUpdate");
            read_extended(update, json, &mut d, "S3BackupUpdate", false)?;
        }
        check_destination(&d)?;
        self.destination = d;
        self.version_id += 1;
        self.last_update_ms = Some(now_ms);
        Ok(())
    }

    /// The delivery stream's ARN: `arn:aws:firehose:REGION:ACCOUNT:deliverystream/NAME`.
    pub fn arn(&self, region: &str, account: &str) -> String {
        format!(
            "arn:aws:firehose:{region}:{account}:deliverystream/{}",
            self.name
        )
    }

    /// AWS's `DeliveryStreamDescription` of this stream in `status` (`CREATING`,
    /// `ACTIVE`, `DELETING`): both `S3DestinationDescription` and
    /// `ExtendedS3DestinationDescription` for its destination, as AWS returns them.
    pub fn description_json(&self, status: &str, region: &str, account: &str) -> Json {
        let mut m = JsonMap::new();
        m.insert("DeliveryStreamName".into(), Json::String(self.name.clone()));
        m.insert(
            "DeliveryStreamARN".into(),
            Json::String(self.arn(region, account)),
        );
        m.insert("DeliveryStreamStatus".into(), Json::String(status.into()));
        m.insert(
            "DeliveryStreamType".into(),
            Json::String(self.kind.as_str().into()),
        );
        m.insert(
            "VersionId".into(),
            Json::String(self.version_id.to_string()),
        );
        m.insert("CreateTimestamp".into(), epoch_seconds(self.created_ms));
        if let Some(ms) = self.last_update_ms {
            m.insert("LastUpdateTimestamp".into(), epoch_seconds(ms));
        }
        match self.kind {
            StreamKind::KinesisStreamAsSource => {
                m.insert(
                    "Source".into(),
                    json!({"KinesisStreamSourceDescription": {
                        "KinesisStreamARN": self.source_stream_arn,
                        "RoleARN": self.source_role_arn,
                        "DeliveryStartTimestamp": epoch_seconds(self.created_ms),
                    }}),
                );
            }
            StreamKind::DirectPut => {
                if let Some(hint) = self.throughput_hint_mbs {
                    m.insert(
                        "Source".into(),
                        json!({"DirectPutSourceDescription": {"ThroughputHintInMBs": hint}}),
                    );
                }
                let sse = self
                    .encryption
                    .as_ref()
                    .map_or_else(|| json!({"Status": "DISABLED"}), EncryptionConfig::to_json);
                m.insert("DeliveryStreamEncryptionConfiguration".into(), sse);
            }
        }
        if self.kind == StreamKind::KinesisStreamAsSource {
            if let Some(e) = &self.encryption {
                m.insert("DeliveryStreamEncryptionConfiguration".into(), e.to_json());
            }
        }
        let destination = match &self.target {
            None => json!({
                "DestinationId": self.destination_id,
                "S3DestinationDescription": s3_description(&self.destination),
                "ExtendedS3DestinationDescription": extended_description(&self.destination),
            }),
            Some(t) => {
                let (member, description) = t.description(&self.destination);
                json!({"DestinationId": self.destination_id, member: description})
            }
        };
        m.insert("Destinations".into(), json!([destination]));
        m.insert("HasMoreDestinations".into(), Json::Bool(false));
        Json::Object(m)
    }
}

impl DeliveryStreamConfig {
    /// Applies a TagDeliveryStream request: adds its tags (a key already there takes
    /// the new value), or AWS's error (`LimitExceededException` past 50 tags).
    pub fn add_tags(&mut self, body: &Json) -> Result<(), ApiError> {
        let (_, added) = tag_params(body)?;
        self.tags = merge_tags(&self.name, &self.tags, &added)?;
        Ok(())
    }

    /// Applies an UntagDeliveryStream request: removes its keys (keys the stream does
    /// not have are ignored).
    pub fn remove_tags(&mut self, body: &Json) -> Result<(), ApiError> {
        let (_, keys) = untag_params(body)?;
        self.tags.retain(|(k, _)| !keys.contains(k));
        Ok(())
    }

    /// The reply of a ListTagsForDeliveryStream request: `Tags` after
    /// `ExclusiveStartTagKey` (from the first when it names no tag), at most `Limit`
    /// (default 50), and `HasMoreTags`.
    pub fn list_tags_json(&self, body: &Json) -> Result<Json, ApiError> {
        let p = list_tags_params(body)?;
        let start = p
            .exclusive_start_tag_key
            .as_ref()
            .and_then(|key| self.tags.iter().position(|(k, _)| k == key))
            .map_or(0, |i| i + 1);
        let rest = self.tags.get(start..).unwrap_or_default();
        let limit = usize::try_from(p.limit).unwrap_or(MAX_TAGS);
        let page = rest.get(..limit.min(rest.len())).unwrap_or_default();
        Ok(json!({"Tags": tags_json(page), "HasMoreTags": rest.len() > page.len()}))
    }

    /// Applies a StartDeliveryStreamEncryption (`start`) or StopDeliveryStreamEncryption
    /// request. Neither is permitted on a stream that reads a Kinesis stream
    /// (`InvalidArgumentException`).
    pub fn set_encryption(&mut self, start: bool, body: &Json) -> Result<(), ApiError> {
        let action = if start {
            "StartDeliveryStreamEncryption"
        } else {
            "StopDeliveryStreamEncryption"
        };
        let encryption = if start {
            Some(start_encryption_params(body)?.1)
        } else {
            name_param(action, body)?;
            None
        };
        if self.kind == StreamKind::KinesisStreamAsSource {
            return Err(put_on_kinesis_source());
        }
        self.encryption = encryption;
        Ok(())
    }
}

/// Epoch milliseconds as AWS JSON's timestamps: epoch seconds, with a fraction.
fn epoch_seconds(ms: i64) -> Json {
    if ms % 1000 == 0 {
        Json::from(ms / 1000)
    } else {
        Json::from(ms as f64 / 1000.0)
    }
}

/// The members of an `S3DestinationDescription`, shared by the extended one.
#[allow(clippy::too_many_arguments)]
fn s3_members(
    role_arn: &str,
    bucket_arn: &str,
    prefix: Option<&String>,
    error_output_prefix: Option<&String>,
    size: u32,
    interval: u32,
    compression: &str,
    kms_key_arn: Option<&String>,
    logging: &CloudWatchLogging,
) -> JsonMap<String, Json> {
    let mut m = JsonMap::new();
    m.insert("RoleARN".into(), Json::String(role_arn.into()));
    m.insert("BucketARN".into(), Json::String(bucket_arn.into()));
    if let Some(p) = prefix {
        m.insert("Prefix".into(), Json::String(p.clone()));
    }
    if let Some(p) = error_output_prefix {
        m.insert("ErrorOutputPrefix".into(), Json::String(p.clone()));
    }
    m.insert(
        "BufferingHints".into(),
        json!({"SizeInMBs": size, "IntervalInSeconds": interval}),
    );
    m.insert("CompressionFormat".into(), Json::String(compression.into()));
    let encryption = match kms_key_arn {
        Some(arn) => json!({"KMSEncryptionConfig": {"AWSKMSKeyARN": arn}}),
        None => json!({"NoEncryptionConfig": "NoEncryption"}),
    };
    m.insert("EncryptionConfiguration".into(), encryption);
    m.insert("CloudWatchLoggingOptions".into(), logging.to_json());
    m
}

fn s3_description(d: &S3Destination) -> Json {
    Json::Object(s3_members(
        &d.role_arn,
        &d.bucket_arn,
        d.prefix.as_ref(),
        d.error_output_prefix.as_ref(),
        d.size_in_mbs,
        d.interval_in_seconds,
        &d.compression,
        d.kms_key_arn.as_ref(),
        &d.logging,
    ))
}

fn backup_description(b: &S3Backup) -> Json {
    Json::Object(s3_members(
        &b.role_arn,
        &b.bucket_arn,
        b.prefix.as_ref(),
        b.error_output_prefix.as_ref(),
        b.size_in_mbs,
        b.interval_in_seconds,
        &b.compression,
        b.kms_key_arn.as_ref(),
        &b.logging,
    ))
}

fn extended_description(d: &S3Destination) -> Json {
    let Json::Object(mut m) = s3_description(d) else {
        return Json::Null;
    };
    if let Some(p) = &d.processing {
        m.insert("ProcessingConfiguration".into(), p.to_json());
    }
    m.insert(
        "S3BackupMode".into(),
        Json::String(d.s3_backup_mode.clone()),
    );
    if let Some(b) = &d.backup {
        m.insert("S3BackupDescription".into(), backup_description(b));
    }
    if let Some(c) = &d.format_conversion {
        m.insert("DataFormatConversionConfiguration".into(), c.clone());
    } else if d.extended {
        m.insert(
            "DataFormatConversionConfiguration".into(),
            json!({"Enabled": false}),
        );
    }
    if let Some(dp) = d.dynamic_partitioning {
        m.insert("DynamicPartitioningConfiguration".into(), dp.to_json());
    }
    if let Some(x) = &d.file_extension {
        m.insert("FileExtension".into(), Json::String(x.clone()));
    }
    if let Some(z) = &d.custom_time_zone {
        m.insert("CustomTimeZone".into(), Json::String(z.clone()));
    }
    Json::Object(m)
}

// ---------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------

/// The data of a PutRecord request, or AWS's error: `Record.Data` is required, base64,
/// at most 1,000 KiB decoded (`Value 'java.nio.HeapByteBuffer[...]' at 'record.data'
/// failed to satisfy constraint: Member must have length less than or equal to
/// 1024000`).
pub fn record_of_put(body: &Json) -> Result<Bytes, ApiError> {
    let v = check_input("PutRecord", body)?;
    Ok(match v.get("Record").and_then(|r| r.get("Data")) {
        Some(Value::Bytes(b)) => b.clone(),
        _ => Bytes::new(),
    })
}

/// The records of a PutRecordBatch request, in order, or AWS's error: 1 to 500
/// records (`ValidationException` at `records`), each at most 1,000 KiB decoded
/// (`ValidationException` at `records.N.member.data`), and at most 4 MiB of data in all
/// (`InvalidArgumentException`: `Records size exceeds 4 MB limit`).
pub fn records_of_batch(body: &Json) -> Result<Vec<Bytes>, ApiError> {
    let v = check_input("PutRecordBatch", body)?;
    let records: Vec<Bytes> = get_list(&v, "Records")
        .iter()
        .map(|r| match r.get("Data") {
            Some(Value::Bytes(b)) => b.clone(),
            _ => Bytes::new(),
        })
        .collect();
    let total: usize = records.iter().map(Bytes::len).sum();
    if total > MAX_BATCH_BYTES {
        return Err(ApiError::invalid("Records size exceeds 4 MB limit"));
    }
    Ok(records)
}

// ---------------------------------------------------------------------------------------
// Tags
// ---------------------------------------------------------------------------------------

fn tags_of(v: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for t in get_list(v, "Tags") {
        let key = get_str(t, "Key").unwrap_or_default();
        let value = get_str(t, "Value").unwrap_or_default();
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => out.push((key, value)),
        }
    }
    out
}

/// Checks a list of tags by the model's rules (1 to 50 tags; keys 1-128 characters of
/// letters, numbers, spaces and `_.:/=+-@%`, not starting with `aws:`; values 0-256 of
/// the same) and reports them as AWS does, at `tags.N.member.key`.
pub fn validate_tags(tags: &[(String, String)]) -> Result<(), ApiError> {
    let list = Value::List(
        tags.iter()
            .map(|(k, v)| {
                Value::Map(vec![
                    ("Key".to_string(), Value::Str(k.clone())),
                    ("Value".to_string(), Value::Str(v.clone())),
                ])
            })
            .collect(),
    );
    let violations = TAGS.violations(Some(&list), "tags");
    if violations.is_empty() {
        Ok(())
    } else {
        Err(freshet_protocol::validate::validation_error(&violations))
    }
}

/// The tags of a stream after TagDeliveryStream adds `added` to `existing` (a key
/// given again takes the new value in its old place), or a `LimitExceededException`
/// when that would make more than 50.
pub fn merge_tags(
    name: &str,
    existing: &[(String, String)],
    added: &[(String, String)],
) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = existing.to_vec();
    for (k, v) in added {
        match out.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = v.clone(),
            None => out.push((k.clone(), v.clone())),
        }
    }
    if out.len() > MAX_TAGS {
        return Err(ApiError::limit(format!(
            "Adding these tags would exceed the limit of {MAX_TAGS} tags for delivery stream \
             {name}."
        )));
    }
    Ok(out)
}

/// Tags as ListTagsForDeliveryStream and CreateDeliveryStream spell them.
pub fn tags_json(tags: &[(String, String)]) -> Json {
    Json::Array(
        tags.iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------
// The other actions' parameters
// ---------------------------------------------------------------------------------------

/// DescribeDeliveryStream's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeParams {
    /// `DeliveryStreamName`.
    pub name: String,
    /// `Limit` (1-10000) as given.
    pub limit: Option<u32>,
    /// `ExclusiveStartDestinationId` as given.
    pub exclusive_start_destination_id: Option<String>,
}

/// The parameters of a DescribeDeliveryStream request, or AWS's error.
pub fn describe_params(body: &Json) -> Result<DescribeParams, ApiError> {
    let v = check_input("DescribeDeliveryStream", body)?;
    Ok(DescribeParams {
        name: get_str(&v, "DeliveryStreamName").unwrap_or_default(),
        limit: get_u32(&v, "Limit"),
        exclusive_start_destination_id: get_str(&v, "ExclusiveStartDestinationId"),
    })
}

/// ListDeliveryStreams' parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    /// `Limit` (1-10000), 10 when not given.
    pub limit: u32,
    /// `DeliveryStreamType` as given (any of AWS's four; none means every type).
    pub kind: Option<String>,
    /// `ExclusiveStartDeliveryStreamName` as given.
    pub exclusive_start: Option<String>,
}

/// The parameters of a ListDeliveryStreams request, or AWS's error.
pub fn list_params(body: &Json) -> Result<ListParams, ApiError> {
    let v = check_input("ListDeliveryStreams", body)?;
    Ok(ListParams {
        limit: get_u32(&v, "Limit").unwrap_or(DEFAULT_LIST_LIMIT),
        kind: get_str(&v, "DeliveryStreamType"),
        exclusive_start: get_str(&v, "ExclusiveStartDeliveryStreamName"),
    })
}

/// DeleteDeliveryStream's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteParams {
    /// `DeliveryStreamName`.
    pub name: String,
    /// `AllowForceDelete` (false when not given).
    pub allow_force_delete: bool,
}

/// The parameters of a DeleteDeliveryStream request, or AWS's error.
pub fn delete_params(body: &Json) -> Result<DeleteParams, ApiError> {
    let v = check_input("DeleteDeliveryStream", body)?;
    Ok(DeleteParams {
        name: get_str(&v, "DeliveryStreamName").unwrap_or_default(),
        allow_force_delete: get_bool(&v, "AllowForceDelete").unwrap_or(false),
    })
}

/// The stream's name and the tags of a TagDeliveryStream request (a key given twice
/// counts once, with its last value), or AWS's error.
pub fn tag_params(body: &Json) -> Result<(String, Vec<(String, String)>), ApiError> {
    let v = check_input("TagDeliveryStream", body)?;
    Ok((
        get_str(&v, "DeliveryStreamName").unwrap_or_default(),
        tags_of(&v),
    ))
}

/// The stream's name and the keys of an UntagDeliveryStream request, or AWS's error.
pub fn untag_params(body: &Json) -> Result<(String, Vec<String>), ApiError> {
    let v = check_input("UntagDeliveryStream", body)?;
    let keys = get_list(&v, "TagKeys")
        .iter()
        .filter_map(|k| match k {
            Value::Str(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    Ok((get_str(&v, "DeliveryStreamName").unwrap_or_default(), keys))
}

/// ListTagsForDeliveryStream's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListTagsParams {
    /// `DeliveryStreamName`.
    pub name: String,
    /// `ExclusiveStartTagKey` as given.
    pub exclusive_start_tag_key: Option<String>,
    /// `Limit` (1-50), 50 when not given.
    pub limit: u32,
}

/// The parameters of a ListTagsForDeliveryStream request, or AWS's error.
pub fn list_tags_params(body: &Json) -> Result<ListTagsParams, ApiError> {
    let v = check_input("ListTagsForDeliveryStream", body)?;
    Ok(ListTagsParams {
        name: get_str(&v, "DeliveryStreamName").unwrap_or_default(),
        exclusive_start_tag_key: get_str(&v, "ExclusiveStartTagKey"),
        limit: get_u32(&v, "Limit").unwrap_or(DEFAULT_LIST_TAGS_LIMIT),
    })
}

/// The stream's name and the encryption a StartDeliveryStreamEncryption request asks
/// for (`AWS_OWNED_CMK` when it gives none; status `ENABLED`), or AWS's error. The
/// caller refuses a stream of type `KinesisStreamAsSource`.
pub fn start_encryption_params(body: &Json) -> Result<(String, EncryptionConfig), ApiError> {
    let v = check_input("StartDeliveryStreamEncryption", body)?;
    let name = get_str(&v, "DeliveryStreamName").unwrap_or_default();
    let config = match get_struct(&v, "DeliveryStreamEncryptionConfigurationInput") {
        Some(e) => EncryptionConfig::from_input(e)?,
        None => EncryptionConfig {
            key_type: "AWS_OWNED_CMK".into(),
            key_arn: None,
            status: "ENABLED".into(),
        },
    };
    Ok((name, config))
}

/// The stream's name of a request whose only parameter it is
/// (StopDeliveryStreamEncryption), or AWS's error; `action` is the action's name.
pub fn name_param(action: &str, body: &Json) -> Result<String, ApiError> {
    let v = check_input(action, body)?;
    Ok(get_str(&v, "DeliveryStreamName").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const ROLE: &str = "arn:aws:iam::000000000000:role/firehose";
    const BUCKET: &str = "arn:aws:s3:::orders-bucket";
    const STREAM: &str = "arn:aws:kinesis:us-east-1:000000000000:stream/orders";

    fn create(extra: Json) -> Json {
        let mut body = json!({
            "DeliveryStreamName": "orders",
            "ExtendedS3DestinationConfiguration": {"RoleARN": ROLE, "BucketARN": BUCKET},
        });
        if let (Json::Object(b), Json::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        body
    }

    fn with_destination(dest: Json) -> Json {
        json!({"DeliveryStreamName": "orders", "ExtendedS3DestinationConfiguration": dest})
    }

    fn err(r: Result<DeliveryStreamConfig, ApiError>) -> ApiError {
        r.expect_err("an error")
    }

    fn hints(size: i64, interval: i64) -> Result<DeliveryStreamConfig, ApiError> {
        DeliveryStreamConfig::from_create(
            &with_destination(json!({
                "RoleARN": ROLE, "BucketARN": BUCKET,
                "BufferingHints": {"SizeInMBs": size, "IntervalInSeconds": interval},
            })),
            0,
        )
    }

    #[test]
    fn defaults() {
        let c = DeliveryStreamConfig::from_create(&create(json!({})), 1_700_000_000_123).unwrap();
        assert_eq!(c.name, "orders");
        assert_eq!(c.kind, StreamKind::DirectPut);
        assert_eq!(c.version_id, 1);
        assert_eq!(c.destination_id, "destinationId-000000000001");
        assert_eq!(c.created_ms, 1_700_000_000_123);
        assert_eq!(c.last_update_ms, None);
        assert!(c.tags.is_empty());
        assert!(c.encryption.is_none());
        let d = &c.destination;
        assert_eq!((d.size_in_mbs, d.interval_in_seconds), (5, 300));
        assert_eq!(d.compression, "UNCOMPRESSED");
        assert_eq!(d.kms_key_arn, None);
        assert!(d.extended);
        assert_eq!(d.s3_backup_mode, "Disabled");
        assert_eq!(d.prefix, None);
        assert_eq!(d.bucket_name(), "orders-bucket");
        assert!(!d.logging.enabled);
    }

    #[test]
    fn buffering_hint_boundaries() {
        for (size, interval) in [(1, 0), (128, 900), (5, 60)] {
            let c = hints(size, interval).unwrap();
            assert_eq!(
                (
                    i64::from(c.destination.size_in_mbs),
                    i64::from(c.destination.interval_in_seconds)
                ),
                (size, interval)
            );
        }
        let at = "extendedS3DestinationConfiguration.bufferingHints";
        for (size, interval, msg) in [
            (0, 300, format!("Value '0' at '{at}.sizeInMBs' failed to satisfy constraint: Member must have value greater than or equal to 1")),
            (129, 300, format!("Value '129' at '{at}.sizeInMBs' failed to satisfy constraint: Member must have value less than or equal to 128")),
            (5, -1, format!("Value '-1' at '{at}.intervalInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 0")),
            (5, 901, format!("Value '901' at '{at}.intervalInSeconds' failed to satisfy constraint: Member must have value less than or equal to 900")),
        ] {
            let e = err(hints(size, interval));
            assert_eq!(e.kind, "ValidationException");
            assert_eq!(e.message, format!("1 validation error detected: {msg}"));
        }
    }

    #[test]
    fn buffering_hints_need_both_members() {
        for h in [json!({"SizeInMBs": 5}), json!({"IntervalInSeconds": 60})] {
            let e = err(DeliveryStreamConfig::from_create(
                &with_destination(
                    json!({"RoleARN": ROLE, "BucketARN": BUCKET, "BufferingHints": h}),
                ),
                0,
            ));
            assert_eq!(e.kind, "InvalidArgumentException");
            assert!(
                e.message.contains("SizeInMBs and IntervalInSeconds"),
                "{}",
                e.message
            );
        }
        // Empty hints are no hints.
        let c = DeliveryStreamConfig::from_create(
            &with_destination(json!({"RoleARN": ROLE, "BucketARN": BUCKET, "BufferingHints": {}})),
            0,
        )
        .unwrap();
        assert_eq!(c.destination.size_in_mbs, 5);
    }

    #[test]
    fn name_rules() {
        let e = err(DeliveryStreamConfig::from_create(
            &create(json!({"DeliveryStreamName": ""})),
            0,
        ));
        assert_eq!(
            e.message,
            "2 validation errors detected: Value '' at 'deliveryStreamName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; \
             Value '' at 'deliveryStreamName' failed to satisfy constraint: Member must have \
             length greater than or equal to 1"
        );
        let ok = "a".repeat(64);
        assert!(
            DeliveryStreamConfig::from_create(&create(json!({"DeliveryStreamName": ok})), 0)
                .is_ok()
        );
        let long = "a".repeat(65);
        let e = err(DeliveryStreamConfig::from_create(
            &create(json!({"DeliveryStreamName": long})),
            0,
        ));
        assert_eq!(
            e.message,
            format!(
                "1 validation error detected: Value '{long}' at 'deliveryStreamName' failed to \
                 satisfy constraint: Member must have length less than or equal to 64"
            )
        );
    }

    #[test]
    fn several_violations_in_model_order() {
        let body = json!({
            "DeliveryStreamName": "a b",
            "DeliveryStreamType": "Push",
            "ExtendedS3DestinationConfiguration": {
                "BucketARN": "bucket",
                "CompressionFormat": "LZ4",
            },
        });
        let e = err(DeliveryStreamConfig::from_create(&body, 0));
        assert_eq!(e.kind, "ValidationException");
        assert_eq!(
            e.message,
            "5 validation errors detected: \
             Value 'a b' at 'deliveryStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; \
             Value 'Push' at 'deliveryStreamType' failed to satisfy constraint: Member must satisfy enum value set: [MSKAsSource, KinesisStreamAsSource, DirectPut, DatabaseAsSource]; \
             Value null at 'extendedS3DestinationConfiguration.roleARN' failed to satisfy constraint: Member must not be null; \
             Value 'bucket' at 'extendedS3DestinationConfiguration.bucketARN' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:.*:s3:::[\\w\\.\\-]{1,255}; \
             Value 'LZ4' at 'extendedS3DestinationConfiguration.compressionFormat' failed to satisfy constraint: Member must satisfy enum value set: [ZIP, Snappy, UNCOMPRESSED, GZIP, HADOOP_SNAPPY]"
        );
        let e = err(DeliveryStreamConfig::from_create(&json!({}), 0));
        assert_eq!(
            e.message,
            "1 validation error detected: Value null at 'deliveryStreamName' failed to satisfy \
             constraint: Member must not be null"
        );
    }

    #[test]
    fn wrong_types_are_serialization_errors() {
        let e = err(hints(5, 300).and_then(|_| {
            DeliveryStreamConfig::from_create(
                &with_destination(json!({
                    "RoleARN": ROLE, "BucketARN": BUCKET,
                    "BufferingHints": {"SizeInMBs": "5", "IntervalInSeconds": 300},
                })),
                0,
            )
        }));
        assert_eq!(e.kind, "SerializationException");
        assert_eq!(
            e.message,
            "class java.lang.String can not be converted to an Integer"
        );
        let e = err(DeliveryStreamConfig::from_create(
            &create(json!({"DeliveryStreamName": 5})),
            0,
        ));
        assert_eq!(e.kind, "SerializationException");
    }

    #[test]
    fn destinations() {
        let both = create(json!({
            "S3DestinationConfiguration": {"RoleARN": ROLE, "BucketARN": BUCKET},
        }));
        let e = err(DeliveryStreamConfig::from_create(&both, 0));
        assert_eq!(e.kind, "InvalidArgumentException");
        assert_eq!(
            e.message,
            "Exactly one destination configuration is supported for a Firehose"
        );

        let none = json!({"DeliveryStreamName": "orders"});
        assert_eq!(
            err(DeliveryStreamConfig::from_create(&none, 0)).kind,
            "InvalidArgumentException"
        );

        let splunk = json!({
            "DeliveryStreamName": "orders",
            "SplunkDestinationConfiguration": {"RoleARN": ROLE},
        });
        let e = err(DeliveryStreamConfig::from_create(&splunk, 0));
        assert_eq!(e.kind, "InvalidArgumentException");
        assert!(e.message.contains("is not supported"), "{}", e.message);
        assert!(e.message.contains("SplunkDestinationConfiguration"));

        let redshift = json!({
            "DeliveryStreamName": "orders",
            "RedshiftDestinationConfiguration": {
                "RoleARN": ROLE,
                "ClusterJDBCURL": "jdbc:postgresql://127.0.0.1:5432/db",
                "Username": "u", "Password": "secret",
                "CopyCommand": {"DataTableName": "t", "CopyOptions": "JSON 'auto'"},
                "S3Configuration": {"RoleARN": ROLE, "BucketARN": BUCKET},
            },
        });
        let c = DeliveryStreamConfig::from_create(&redshift, 0).unwrap();
        assert!(matches!(c.target, Some(Target::Redshift(_))));
        assert_eq!(c.destination.bucket_name(), "orders-bucket");
        let d = c.description_json("ACTIVE", "us-east-1", "000000000000");
        let rd = &d["Destinations"][0]["RedshiftDestinationDescription"];
        assert_eq!(rd["Username"], "u");
        assert!(rd.get("Password").is_none(), "{rd}");
        assert_eq!(rd["S3DestinationDescription"]["BucketARN"], BUCKET);

        let no_s3 = json!({
            "DeliveryStreamName": "orders",
            "HttpEndpointDestinationConfiguration": {
                "EndpointConfiguration": {"Url": "https://example.com/"},
            },
        });
        let e = err(DeliveryStreamConfig::from_create(&no_s3, 0));
        assert!(e.message.contains("S3Configuration"), "{}", e.message);

        let legacy = json!({
            "DeliveryStreamName": "orders",
            "S3DestinationConfiguration": {"RoleARN": ROLE, "BucketARN": BUCKET, "Prefix": ""},
        });
        let c = DeliveryStreamConfig::from_create(&legacy, 0).unwrap();
        assert!(!c.destination.extended);
        assert_eq!(c.destination.prefix.as_deref(), Some(""));
    }

    #[test]
    fn sources() {
        let kinesis = create(json!({
            "DeliveryStreamType": "KinesisStreamAsSource",
            "KinesisStreamSourceConfiguration": {"KinesisStreamARN": STREAM, "RoleARN": ROLE},
        }));
        let c = DeliveryStreamConfig::from_create(&kinesis, 0).unwrap();
        assert_eq!(c.kind, StreamKind::KinesisStreamAsSource);
        assert_eq!(c.source_stream_arn.as_deref(), Some(STREAM));
        assert_eq!(c.source_role_arn.as_deref(), Some(ROLE));

        let missing = create(json!({"DeliveryStreamType": "KinesisStreamAsSource"}));
        let e = err(DeliveryStreamConfig::from_create(&missing, 0));
        assert_eq!(e.kind, "InvalidArgumentException");

        let direct_with_source = create(json!({
            "KinesisStreamSourceConfiguration": {"KinesisStreamARN": STREAM, "RoleARN": ROLE},
        }));
        let e = err(DeliveryStreamConfig::from_create(&direct_with_source, 0));
        assert_eq!(e.kind, "InvalidArgumentException");

        let msk = create(json!({"DeliveryStreamType": "MSKAsSource"}));
        let e = err(DeliveryStreamConfig::from_create(&msk, 0));
        assert_eq!(e.kind, "InvalidArgumentException");
        assert!(e.message.contains("MSKAsSource"));

        let bad_arn = create(json!({
            "DeliveryStreamType": "KinesisStreamAsSource",
            "KinesisStreamSourceConfiguration": {"KinesisStreamARN": "orders", "RoleARN": ROLE},
        }));
        let e = err(DeliveryStreamConfig::from_create(&bad_arn, 0));
        assert_eq!(
            e.message,
            "1 validation error detected: Value 'orders' at \
             'kinesisStreamSourceConfiguration.kinesisStreamARN' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: \
             arn:.*:kinesis:[a-zA-Z0-9\\-]+:\\d{12}:stream/[a-zA-Z0-9_.-]+"
        );

        let hint = create(json!({"DirectPutSourceConfiguration": {"ThroughputHintInMBs": 3}}));
        let c = DeliveryStreamConfig::from_create(&hint, 0).unwrap();
        assert_eq!(c.throughput_hint_mbs, Some(3));
    }

    #[test]
    fn stream_encryption() {
        let c = DeliveryStreamConfig::from_create(
            &create(
                json!({"DeliveryStreamEncryptionConfigurationInput": {"KeyType": "AWS_OWNED_CMK"}}),
            ),
            0,
        )
        .unwrap();
        let e = c.encryption.unwrap();
        assert_eq!(
            (e.key_type.as_str(), e.status.as_str()),
            ("AWS_OWNED_CMK", "ENABLED")
        );
        let needs_arn = create(json!({
            "DeliveryStreamEncryptionConfigurationInput": {"KeyType": "CUSTOMER_MANAGED_CMK"},
        }));
        assert_eq!(
            err(DeliveryStreamConfig::from_create(&needs_arn, 0)).kind,
            "InvalidArgumentException"
        );
        let kinesis = create(json!({
            "DeliveryStreamType": "KinesisStreamAsSource",
            "KinesisStreamSourceConfiguration": {"KinesisStreamARN": STREAM, "RoleARN": ROLE},
            "DeliveryStreamEncryptionConfigurationInput": {"KeyType": "AWS_OWNED_CMK"},
        }));
        assert_eq!(
            err(DeliveryStreamConfig::from_create(&kinesis, 0)).kind,
            "InvalidArgumentException"
        );
        let (name, e) = start_encryption_params(&json!({"DeliveryStreamName": "orders"})).unwrap();
        assert_eq!(
            (name.as_str(), e.key_type.as_str()),
            ("orders", "AWS_OWNED_CMK")
        );
    }

    #[test]
    fn extended_members() {
        let c = DeliveryStreamConfig::from_create(
            &with_destination(json!({
                "RoleARN": ROLE, "BucketARN": BUCKET,
                "Prefix": "data/!{partitionKeyFromQuery:customer}/",
                "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
                "DynamicPartitioningConfiguration": {"Enabled": true},
                "ProcessingConfiguration": {"Enabled": true, "Processors": [{
                    "Type": "MetadataExtraction",
                    "Parameters": [
                        {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{customer: .c}"},
                        {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"},
                    ],
                }]},
                "FileExtension": ".json",
            })),
            0,
        )
        .unwrap();
        let d = &c.destination;
        assert!(d.dynamic_partitioning_enabled());
        assert_eq!(d.size_in_mbs, 64);
        let p = d.processing.as_ref().unwrap();
        assert_eq!(
            p.parameter("MetadataExtraction", "JsonParsingEngine"),
            Some("JQ-1.6")
        );
        assert_eq!(d.file_extension.as_deref(), Some(".json"));

        let small = with_destination(json!({
            "RoleARN": ROLE, "BucketARN": BUCKET,
            "Prefix": "data/!{partitionKeyFromQuery:customer}/",
            "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
            "BufferingHints": {"SizeInMBs": 63, "IntervalInSeconds": 60},
            "DynamicPartitioningConfiguration": {"Enabled": true},
        }));
        assert_eq!(
            err(DeliveryStreamConfig::from_create(&small, 0)).kind,
            "InvalidArgumentException"
        );

        let backup = with_destination(
            json!({"RoleARN": ROLE, "BucketARN": BUCKET, "S3BackupMode": "Enabled"}),
        );
        assert_eq!(
            err(DeliveryStreamConfig::from_create(&backup, 0)).kind,
            "InvalidArgumentException"
        );

        let conversion = with_destination(json!({
            "RoleARN": ROLE, "BucketARN": BUCKET,
            "DataFormatConversionConfiguration": {"SchemaConfiguration": {}},
        }));
        assert_eq!(
            err(DeliveryStreamConfig::from_create(&conversion, 0)).kind,
            "InvalidArgumentException"
        );

        let bad_prefix = with_destination(json!({
            "RoleARN": ROLE, "BucketARN": BUCKET, "Prefix": "!{firehose:error-output-type}/",
        }));
        let e = err(DeliveryStreamConfig::from_create(&bad_prefix, 0));
        assert_eq!(e.kind, "InvalidArgumentException");
    }

    fn update(version: &str, dest: Json) -> Json {
        json!({
            "DeliveryStreamName": "orders",
            "CurrentDeliveryStreamVersionId": version,
            "DestinationId": DESTINATION_ID,
            "ExtendedS3DestinationUpdate": dest,
        })
    }

    #[test]
    fn update_changes_only_members_present() {
        let mut c = DeliveryStreamConfig::from_create(
            &with_destination(json!({
                "RoleARN": ROLE, "BucketARN": BUCKET, "Prefix": "a/", "CompressionFormat": "GZIP",
            })),
            0,
        )
        .unwrap();
        c.apply_update(
            &update(
                "1",
                json!({"BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}}),
            ),
            5_000,
        )
        .unwrap();
        assert_eq!(c.version_id, 2);
        assert_eq!(c.last_update_ms, Some(5_000));
        let d = &c.destination;
        assert_eq!((d.size_in_mbs, d.interval_in_seconds), (1, 0));
        assert_eq!(d.prefix.as_deref(), Some("a/"));
        assert_eq!(d.compression, "GZIP");
        assert_eq!(d.role_arn, ROLE);

        c.apply_update(
            &update("2", json!({"Prefix": "b/", "CompressionFormat": "Snappy"})),
            6_000,
        )
        .unwrap();
        assert_eq!(c.version_id, 3);
        assert_eq!(c.destination.prefix.as_deref(), Some("b/"));
        assert_eq!(c.destination.compression, "Snappy");
        assert_eq!(c.destination.size_in_mbs, 1);
    }

    #[test]
    fn update_checks_the_version() {
        let mut c = DeliveryStreamConfig::from_create(&create(json!({})), 0).unwrap();
        let before = c.clone();
        let e = c
            .apply_update(&update("2", json!({"Prefix": "x/"})), 1)
            .unwrap_err();
        assert_eq!(e.kind, "ConcurrentModificationException");
        assert_eq!(
            e.message,
            "Cannot update firehose: orders since the current version id: 1 and specified \
             version id: 2 do not match"
        );
        assert_eq!(c, before);

        let mut body = update("1", json!({"Prefix": "x/"}));
        body["DestinationId"] = json!("destinationId-000000000002");
        let e = c.apply_update(&body, 1).unwrap_err();
        assert_eq!(e.kind, "InvalidArgumentException");
        assert_eq!(c, before);

        let e = c
            .apply_update(&update("1", json!({"BufferingHints": {"SizeInMBs": 3}})), 1)
            .unwrap_err();
        assert_eq!(e.kind, "InvalidArgumentException");
        assert_eq!(c, before);

        let e = c.apply_update(&update("x", json!({})), 1).unwrap_err();
        assert_eq!(
            e.message,
            "1 validation error detected: Value 'x' at 'currentDeliveryStreamVersionId' failed \
             to satisfy constraint: Member must satisfy regular expression pattern: [0-9]+"
        );
    }

    #[test]
    fn update_between_s3_kinds() {
        let legacy = json!({
            "DeliveryStreamName": "orders",
            "S3DestinationConfiguration": {"RoleARN": ROLE, "BucketARN": BUCKET},
        });
        let mut c = DeliveryStreamConfig::from_create(&legacy, 0).unwrap();
        let body = json!({
            "DeliveryStreamName": "orders",
            "CurrentDeliveryStreamVersionId": "1",
            "DestinationId": DESTINATION_ID,
            "S3DestinationUpdate": {"Prefix": "p/"},
        });
        c.apply_update(&body, 1).unwrap();
        assert!(!c.destination.extended);
        assert_eq!(c.destination.prefix.as_deref(), Some("p/"));
        c.apply_update(&update("2", json!({"FileExtension": ".log"})), 2)
            .unwrap();
        assert!(c.destination.extended);
        assert_eq!(c.version_id, 3);

        let splunk = json!({
            "DeliveryStreamName": "orders",
            "CurrentDeliveryStreamVersionId": "3",
            "DestinationId": DESTINATION_ID,
            "SplunkDestinationUpdate": {},
        });
        let e = c.apply_update(&splunk, 3).unwrap_err();
        assert!(e.message.contains("is not supported"), "{}", e.message);
    }

    #[test]
    fn description_shape() {
        let mut c = DeliveryStreamConfig::from_create(
            &create(json!({"Tags": [{"Key": "team", "Value": "data"}]})),
            1_700_000_000_500,
        )
        .unwrap();
        let d = c.description_json("ACTIVE", "us-east-1", "000000000000");
        assert_eq!(
            d,
            json!({
                "DeliveryStreamName": "orders",
                "DeliveryStreamARN": "arn:aws:firehose:us-east-1:000000000000:deliverystream/orders",
                "DeliveryStreamStatus": "ACTIVE",
                "DeliveryStreamType": "DirectPut",
                "DeliveryStreamEncryptionConfiguration": {"Status": "DISABLED"},
                "VersionId": "1",
                "CreateTimestamp": 1_700_000_000.5,
                "Destinations": [{
                    "DestinationId": "destinationId-000000000001",
                    "S3DestinationDescription": {
                        "RoleARN": ROLE,
                        "BucketARN": BUCKET,
                        "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 300},
                        "CompressionFormat": "UNCOMPRESSED",
                        "EncryptionConfiguration": {"NoEncryptionConfig": "NoEncryption"},
                        "CloudWatchLoggingOptions": {"Enabled": false},
                    },
                    "ExtendedS3DestinationDescription": {
                        "RoleARN": ROLE,
                        "BucketARN": BUCKET,
                        "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 300},
                        "CompressionFormat": "UNCOMPRESSED",
                        "EncryptionConfiguration": {"NoEncryptionConfig": "NoEncryption"},
                        "CloudWatchLoggingOptions": {"Enabled": false},
                        "S3BackupMode": "Disabled",
                        "DataFormatConversionConfiguration": {"Enabled": false},
                    },
                }],
                "HasMoreDestinations": false,
            })
        );
        assert_eq!(c.tags, vec![("team".to_string(), "data".to_string())]);

        c.apply_update(&update("1", json!({"Prefix": ""})), 1_700_000_001_000)
            .unwrap();
        let d = c.description_json("ACTIVE", "us-east-1", "000000000000");
        assert_eq!(d["VersionId"], "2");
        assert_eq!(d["LastUpdateTimestamp"], json!(1_700_000_001));
        assert_eq!(
            d["Destinations"][0]["S3DestinationDescription"]["Prefix"],
            ""
        );

        let kinesis = create(json!({
            "DeliveryStreamType": "KinesisStreamAsSource",
            "KinesisStreamSourceConfiguration": {"KinesisStreamARN": STREAM, "RoleARN": ROLE},
        }));
        let c = DeliveryStreamConfig::from_create(&kinesis, 2_000).unwrap();
        let d = c.description_json("CREATING", "eu-west-1", "123456789012");
        assert_eq!(d["DeliveryStreamStatus"], "CREATING");
        assert_eq!(d["DeliveryStreamType"], "KinesisStreamAsSource");
        assert!(d.get("DeliveryStreamEncryptionConfiguration").is_none());
        assert_eq!(
            d["Source"],
            json!({"KinesisStreamSourceDescription": {
                "KinesisStreamARN": STREAM, "RoleARN": ROLE, "DeliveryStartTimestamp": 2,
            }})
        );
    }

    #[test]
    fn serde_round_trip() {
        let c = DeliveryStreamConfig::from_create(&create(json!({})), 7).unwrap();
        let text = serde_json::to_string(&c).unwrap();
        let back: DeliveryStreamConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(back, c);
    }

    /// Base64 of `n` zero bytes.
    fn zeros(n: usize) -> String {
        let mut s = "AAAA".repeat(n / 3);
        match n % 3 {
            1 => s.push_str("AA=="),
            2 => s.push_str("AAA="),
            _ => {}
        }
        s
    }

    fn batch(records: Vec<String>) -> Json {
        let records: Vec<Json> = records.into_iter().map(|d| json!({"Data": d})).collect();
        json!({"DeliveryStreamName": "orders", "Records": records})
    }

    #[test]
    fn batch_limits() {
        let ok = records_of_batch(&batch(vec!["aGk=".into(); 500])).unwrap();
        assert_eq!(ok.len(), 500);
        assert_eq!(&ok[0][..], b"hi");

        let e = records_of_batch(&batch(vec!["aGk=".into(); 501])).unwrap_err();
        assert_eq!(e.kind, "ValidationException");
        assert!(
            e.message
                .starts_with("1 validation error detected: Value '["),
            "{}",
            e.message
        );
        assert!(e.message.ends_with(
            "]' at 'records' failed to satisfy constraint: Member must have length less than or equal to 500"
        ));

        let e = records_of_batch(&batch(vec![])).unwrap_err();
        assert!(e
            .message
            .ends_with("Member must have length greater than or equal to 1"));

        let e = records_of_batch(&json!({"DeliveryStreamName": "orders"})).unwrap_err();
        assert_eq!(
            e.message,
            "1 validation error detected: Value null at 'records' failed to satisfy constraint: \
             Member must not be null"
        );

        let max = records_of_batch(&batch(vec![zeros(MAX_RECORD_BYTES)])).unwrap();
        assert_eq!(max[0].len(), 1_024_000);
        let e =
            records_of_batch(&batch(vec!["aGk=".into(), zeros(MAX_RECORD_BYTES + 1)])).unwrap_err();
        assert_eq!(
            e.message,
            "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1024001 \
             cap=1024001]' at 'records.2.member.data' failed to satisfy constraint: Member must \
             have length less than or equal to 1024000"
        );

        let mut exact = vec![zeros(MAX_RECORD_BYTES); 4];
        exact.push(zeros(MAX_BATCH_BYTES - 4 * MAX_RECORD_BYTES));
        let all = records_of_batch(&batch(exact.clone())).unwrap();
        assert_eq!(all.iter().map(Bytes::len).sum::<usize>(), MAX_BATCH_BYTES);
        let mut over = exact;
        over.push("AA==".into());
        let e = records_of_batch(&batch(over)).unwrap_err();
        assert_eq!(e.kind, "InvalidArgumentException");
        assert_eq!(e.message, "Records size exceeds 4 MB limit");

        let e = records_of_batch(&batch(vec!["a".into()])).unwrap_err();
        assert_eq!(e.kind, "SerializationException");
    }

    #[test]
    fn put_record() {
        let b = record_of_put(&json!({"DeliveryStreamName": "orders", "Record": {"Data": "aGk="}}))
            .unwrap();
        assert_eq!(&b[..], b"hi");
        let e = record_of_put(&json!({"DeliveryStreamName": "orders"})).unwrap_err();
        assert_eq!(
            e.message,
            "1 validation error detected: Value null at 'record' failed to satisfy constraint: \
             Member must not be null"
        );
        let e = record_of_put(&json!({"DeliveryStreamName": "orders", "Record": {}})).unwrap_err();
        assert!(e.message.contains("at 'record.data'"), "{}", e.message);
        let e = record_of_put(&json!({
            "DeliveryStreamName": "orders", "Record": {"Data": zeros(MAX_RECORD_BYTES + 1)},
        }))
        .unwrap_err();
        assert!(
            e.message.contains("at 'record.data' failed"),
            "{}",
            e.message
        );
        assert_eq!(put_on_kinesis_source().kind, "InvalidArgumentException");
    }

    #[test]
    fn tags() {
        assert!(validate_tags(&[("team".into(), "data lake".into())]).is_ok());
        let e = validate_tags(&[("aws:x".into(), String::new())]).unwrap_err();
        assert_eq!(
            e.message,
            "1 validation error detected: Value 'aws:x' at 'tags.1.member.key' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: \
             ^(?!aws:)[\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@%]*$"
        );
        let e = validate_tags(&[("k".into(), "a#b".into())]).unwrap_err();
        assert!(e.message.contains("'tags.1.member.value'"));
        let many: Vec<(String, String)> =
            (0..51).map(|i| (format!("k{i}"), String::new())).collect();
        let e = validate_tags(&many).unwrap_err();
        assert!(e
            .message
            .ends_with("Member must have length less than or equal to 50"));

        let existing: Vec<(String, String)> =
            (0..49).map(|i| (format!("k{i}"), "v".into())).collect();
        let merged = merge_tags(
            "orders",
            &existing,
            &[("k0".into(), "new".into()), ("z".into(), "1".into())],
        )
        .unwrap();
        assert_eq!(merged.len(), 50);
        assert_eq!(merged[0], ("k0".to_string(), "new".to_string()));
        let e = merge_tags("orders", &merged, &[("y".into(), String::new())]).unwrap_err();
        assert_eq!(e.kind, "LimitExceededException");

        let (name, t) = tag_params(&json!({
            "DeliveryStreamName": "orders",
            "Tags": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}, {"Key": "b"}],
        }))
        .unwrap();
        assert_eq!(name, "orders");
        assert_eq!(
            t,
            vec![("a".into(), "2".into()), ("b".into(), String::new())]
        );
        let e = tag_params(&json!({"DeliveryStreamName": "orders", "Tags": []})).unwrap_err();
        assert!(e.message.contains("at 'tags' failed"));
        let (_, keys) =
            untag_params(&json!({"DeliveryStreamName": "orders", "TagKeys": ["a"]})).unwrap();
        assert_eq!(keys, vec!["a".to_string()]);
        assert_eq!(
            tags_json(&t),
            json!([{"Key": "a", "Value": "2"}, {"Key": "b", "Value": ""}])
        );
    }

    #[test]
    fn other_actions() {
        let l = list_params(&json!({})).unwrap();
        assert_eq!((l.limit, l.kind, l.exclusive_start), (10, None, None));
        assert_eq!(list_params(&json!({"Limit": 1})).unwrap().limit, 1);
        assert_eq!(
            list_params(&json!({"Limit": 10_000})).unwrap().limit,
            10_000
        );
        for bad in [0, 10_001] {
            assert_eq!(
                list_params(&json!({"Limit": bad})).unwrap_err().kind,
                "ValidationException"
            );
        }
        let d = describe_params(&json!({"DeliveryStreamName": "orders", "Limit": 1})).unwrap();
        assert_eq!((d.name.as_str(), d.limit), ("orders", Some(1)));
        let x = delete_params(&json!({"DeliveryStreamName": "orders", "AllowForceDelete": true}))
            .unwrap();
        assert!(x.allow_force_delete);
        let t = list_tags_params(&json!({"DeliveryStreamName": "orders"})).unwrap();
        assert_eq!(t.limit, 50);
        assert_eq!(
            list_tags_params(&json!({"DeliveryStreamName": "orders", "Limit": 51}))
                .unwrap_err()
                .kind,
            "ValidationException"
        );
        assert_eq!(
            name_param(
                "StopDeliveryStreamEncryption",
                &json!({"DeliveryStreamName": "o"})
            )
            .unwrap(),
            "o"
        );
        assert_eq!(
            check_input("Nope", &json!({})).unwrap_err().kind,
            "UnknownOperationException"
        );
    }

    #[test]
    fn config_tag_and_encryption_methods() {
        let mut c = DeliveryStreamConfig::from_create(&create(json!({})), 0).unwrap();
        c.add_tags(&json!({"DeliveryStreamName": "orders", "Tags": [
            {"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}, {"Key": "c", "Value": "3"},
        ]}))
        .unwrap();
        let page = c
            .list_tags_json(&json!({"DeliveryStreamName": "orders", "Limit": 2}))
            .unwrap();
        assert_eq!(
            page,
            json!({"Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}], "HasMoreTags": true})
        );
        let page = c
            .list_tags_json(&json!({"DeliveryStreamName": "orders", "ExclusiveStartTagKey": "b"}))
            .unwrap();
        assert_eq!(
            page,
            json!({"Tags": [{"Key": "c", "Value": "3"}], "HasMoreTags": false})
        );
        c.remove_tags(&json!({"DeliveryStreamName": "orders", "TagKeys": ["a", "zz"]}))
            .unwrap();
        assert_eq!(c.tags.len(), 2);

        c.set_encryption(true, &json!({"DeliveryStreamName": "orders"}))
            .unwrap();
        let d = c.description_json("ACTIVE", "us-east-1", "000000000000");
        assert_eq!(
            d["DeliveryStreamEncryptionConfiguration"],
            json!({"KeyType": "AWS_OWNED_CMK", "Status": "ENABLED"})
        );
        c.set_encryption(false, &json!({"DeliveryStreamName": "orders"}))
            .unwrap();
        assert!(c.encryption.is_none());
    }

    #[test]
    fn errors_in_aws_words() {
        let e = stream_not_found("orders", "000000000000");
        assert_eq!(
            (e.kind, e.message.as_str()),
            (
                "ResourceNotFoundException",
                "Firehose orders under account 000000000000 not found."
            )
        );
        let e = stream_exists("orders", "000000000000");
        assert_eq!(
            (e.kind, e.message.as_str()),
            (
                "ResourceInUseException",
                "Firehose orders under accountId 000000000000 already exists"
            )
        );
        assert_eq!(
            service_unavailable(SLOW_DOWN).kind,
            "ServiceUnavailableException"
        );
    }

    #[test]
    fn patterns() {
        for (pattern, good, bad) in [
            (
                &ROLE_ARN_PATTERN,
                vec![ROLE, "arn:aws-cn:iam::123456789012:role/a/b+c"],
                vec![
                    "arn:aws:iam::12345678901:role/a",
                    "arn:aws:iam::123456789012:role/",
                    "arn:aws\n:iam::123456789012:role/a",
                    "arn:aws:iam::123456789012:role/a:b",
                ],
            ),
            (
                &BUCKET_ARN_PATTERN,
                vec![BUCKET, "arn:aws:s3:::a_b.c-d"],
                vec!["arn:aws:s3:::", "arn:aws:s3:::a/b", "bucket"],
            ),
            (
                &KINESIS_STREAM_ARN_PATTERN,
                vec![STREAM],
                vec![
                    "arn:aws:kinesis:us-east-1:000000000000:stream/",
                    "arn:aws:kinesis::000000000000:stream/a",
                    "arn:aws:kinesis:us-east-1:00000000000:stream/a",
                ],
            ),
            (
                &KMS_KEY_ARN_PATTERN,
                vec![
                    "arn:aws:kms:us-east-1:000000000000:key/1234-ab",
                    "arn:aws:kms:us-east-1:000000000000:alias/mine",
                ],
                vec!["arn:aws:kms:us-east-1:000000000000:keys/a"],
            ),
            (
                &TAG_KEY_PATTERN,
                vec!["team", "Équipe 1", "a.b:c/d=e+f-g@h%", ""],
                vec!["aws:x", "a#b", "a\tb"],
            ),
            (
                &FILE_EXTENSION_PATTERN,
                vec!["", ".json", ".gz"],
                vec!["json", ".JSON", "."],
            ),
            (
                &PARAMETER_VALUE_PATTERN,
                vec!["x", " x "],
                vec!["", "  ", "a\nb"],
            ),
            (&ANY_LINE_PATTERN, vec!["", "a b/!{x}"], vec!["a\nb"]),
        ] {
            for s in good {
                assert!((pattern.matches)(s), "{} should match {s:?}", pattern.regex);
            }
            for s in bad {
                assert!(
                    !(pattern.matches)(s),
                    "{} should not match {s:?}",
                    pattern.regex
                );
            }
        }
    }
}
