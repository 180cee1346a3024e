//! On-failure destinations of event source mappings: where the record of a batch a
//! mapping gave up on goes.
//!
//! A Kinesis stream of this server is written through the engine. SQS queues, SNS
//! topics and S3 buckets have no service here: they are reached at the endpoint the
//! environment names as the AWS SDKs read it (`AWS_ENDPOINT_URL_SQS`,
//! `AWS_ENDPOINT_URL_SNS`, `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`; moto,
//! LocalStack or AWS itself), signed with SigV4 with the credentials of
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`. Without such an
//! endpoint, a mapping naming one is refused when created.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

/// Where an on-failure record goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A stream of this server.
    Kinesis {
        /// Its name.
        stream: String,
    },
    /// An SQS queue: SendMessage with the record as the body.
    Sqs {
        /// The queue's region, from its ARN.
        region: String,
        /// Its account.
        account: String,
        /// Its name.
        name: String,
    },
    /// An SNS topic: Publish with the record as the message.
    Sns {
        /// The topic's region.
        region: String,
        /// The topic's ARN.
        arn: String,
    },
    /// An S3 bucket: one object per record, with the invocation's payload, under
    /// `aws/lambda/<mapping>/<shard>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<uuid>`.
    S3 {
        /// The bucket.
        bucket: String,
    },
}

impl Destination {
    /// Parses a destination ARN; `None` for other services.
    pub fn parse(arn: &str) -> Option<Destination> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let ["arn", _partition, service, region, account, resource] = parts.as_slice() else {
            return None;
        };
        match *service {
            "kinesis" => {
                let stream = resource.strip_prefix("stream/")?;
                (!stream.is_empty() && !stream.contains('/')).then(|| Destination::Kinesis {
                    stream: stream.to_string(),
                })
            }
            "sqs" if !resource.is_empty() => Some(Destination::Sqs {
                region: region.to_string(),
                account: account.to_string(),
                name: resource.to_string(),
            }),
            "sns" if !resource.is_empty() => Some(Destination::Sns {
                region: region.to_string(),
                arn: arn.to_string(),
            }),
            "s3" if !resource.is_empty() => Some(Destination::S3 {
                bucket: resource.to_string(),
            }),
            _ => None,
        }
    }

    /// The SDK's service id of an outside destination (`None` for a stream here).
    fn service(&self) -> Option<&'static str> {
        match self {
            Destination::Kinesis { .. } => None,
            Destination::Sqs { .. } => Some("SQS"),
            Destination::Sns { .. } => Some("SNS"),
            Destination::S3 { .. } => Some("S3"),
        }
    }

    /// Whether records can be sent there from this server: a stream always (its
    /// existence is checked apart), another service when the environment names its
    /// endpoint.
    pub fn reachable(&self) -> bool {
        self.service()
            .is_none_or(|s| endpoint_from_env(s).is_some())
    }
}

/// The endpoint of `service` (the SDKs' service id: `SQS`, `SNS`, `S3`) the
/// environment names, as the AWS SDKs read it.
pub fn endpoint_from_env(service: &str) -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    if var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return None;
    }
    var(&format!("AWS_ENDPOINT_URL_{service}"))
        .or_else(|| var("AWS_ENDPOINT_URL"))
        .map(|e| e.trim_end_matches('/').to_string())
}

/// Sends on-failure records to outside services.
#[derive(Debug, Clone)]
pub struct Sender {
    http: reqwest::Client,
}

impl Default for Sender {
    fn default() -> Self {
        Sender {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
        }
    }
}

fn credentials() -> Credentials {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    Credentials::new(
        var("AWS_ACCESS_KEY_ID").unwrap_or_else(|| "freshet".into()),
        var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|| "freshet".into()),
        var("AWS_SESSION_TOKEN"),
        None,
        "freshet-lambda",
    )
}

/// What an outside send needs: method, URL, headers, body, signing name and region.
struct Outgoing {
    method: reqwest::Method,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    signing_name: &'static str,
    region: String,
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
        .into_bytes()
}

impl Sender {
    /// Sends `record` (the on-failure JSON document) to an outside destination; for S3
    /// `key` names the object. `Err` says why it was not accepted.
    pub async fn send(&self, dest: &Destination, record: &str, key: &str) -> Result<(), String> {
        let Some(service) = dest.service() else {
            return Err("a stream of this server is written through the engine".into());
        };
        let endpoint = endpoint_from_env(service)
            .ok_or_else(|| format!("no endpoint for {service}: set AWS_ENDPOINT_URL_{service}"))?;
        let out = match dest {
            Destination::Sqs {
                region,
                account,
                name,
            } => Outgoing {
                method: reqwest::Method::POST,
                url: format!("{endpoint}/"),
                headers: vec![
                    ("content-type", "application/x-amz-json-1.0".into()),
                    ("x-amz-target", "AmazonSQS.SendMessage".into()),
                ],
                body: serde_json::json!({
                    "QueueUrl": format!("{endpoint}/{account}/{name}"),
                    "MessageBody": record,
                })
                .to_string()
                .into_bytes(),
                signing_name: "sqs",
                region: region.clone(),
            },
            Destination::Sns { region, arn } => Outgoing {
                method: reqwest::Method::POST,
                url: format!("{endpoint}/"),
                headers: vec![(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8".into(),
                )],
                body: form(&[
                    ("Action", "Publish"),
                    ("Version", "2010-03-31"),
                    ("TopicArn", arn),
                    ("Message", record),
                ]),
                signing_name: "sns",
                region: region.clone(),
            },
            Destination::S3 { bucket } => Outgoing {
                method: reqwest::Method::PUT,
                url: format!("{endpoint}/{bucket}/{key}"),
                headers: vec![("content-type", "application/json".into())],
                body: record.as_bytes().to_vec(),
                signing_name: "s3",
                region: std::env::var("AWS_REGION")
                    .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
                    .unwrap_or_else(|_| "us-east-1".into()),
            },
            Destination::Kinesis { .. } => {
                return Err("a stream of this server is written through the engine".into())
            }
        };
        self.execute(out).await
    }

    async fn execute(&self, out: Outgoing) -> Result<(), String> {
        let mut req = http::Request::builder()
            .method(out.method.as_str())
            .uri(&out.url);
        if let Some(host) = out
            .url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
        {
            req = req.header("host", host);
        }
        for (k, v) in &out.headers {
            req = req.header(*k, v);
        }
        if out.signing_name == "s3" {
            req = req.header("x-amz-content-sha256", sha256_hex(&out.body));
        }
        let mut req = req.body(out.body).map_err(|e| e.to_string())?;
        sign_request(&mut req, out.signing_name, &out.region)?;
        let req =
            reqwest::Request::try_from(req.map(reqwest::Body::from)).map_err(|e| e.to_string())?;
        let resp = self.http.execute(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        Err(format!(
            "{status}: {}",
            text.chars().take(500).collect::<String>()
        ))
    }
}

fn sha256_hex(body: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn sign_request(
    req: &mut http::Request<Vec<u8>>,
    service: &str,
    region: &str,
) -> Result<(), String> {
    let identity: Identity = credentials().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let mut headers = Vec::with_capacity(req.headers().len());
    for (k, v) in req.headers() {
        headers.push((k.as_str(), v.to_str().map_err(|e| e.to_string())?));
    }
    let uri = req.uri().to_string();
    let signable = SignableRequest::new(
        req.method().as_str(),
        uri,
        headers.into_iter(),
        SignableBody::Bytes(req.body()),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    instructions.apply_to_request_http1x(req);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Destination;

    #[test]
    fn destination_arns_parse() {
        assert_eq!(
            Destination::parse("arn:aws:kinesis:us-east-1:000000000000:stream/dlq"),
            Some(Destination::Kinesis {
                stream: "dlq".into()
            })
        );
        assert_eq!(
            Destination::parse("arn:aws:sqs:eu-west-1:111111111111:q1"),
            Some(Destination::Sqs {
                region: "eu-west-1".into(),
                account: "111111111111".into(),
                name: "q1".into()
            })
        );
        assert!(matches!(
            Destination::parse("arn:aws:sns:us-east-1:111111111111:t"),
            Some(Destination::Sns { .. })
        ));
        assert_eq!(
            Destination::parse("arn:aws:s3:::bucket-1"),
            Some(Destination::S3 {
                bucket: "bucket-1".into()
            })
        );
        assert_eq!(
            Destination::parse("arn:aws:lambda:us-east-1:1:function:f"),
            None
        );
        assert_eq!(Destination::parse("nope"), None);
    }
}
