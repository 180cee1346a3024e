//! Stream consumers (enhanced fan-out) as inherent methods of [`KinesisClient`]:
//! `RegisterStreamConsumer`, `DeregisterStreamConsumer`, `DescribeStreamConsumer`,
//! `ListStreamConsumers`, and [`KinesisClient::ensure_consumer`], which registers or
//! reuses a consumer and waits until it is `ACTIVE`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::json::{consumer, str_field};
use super::KinesisClient;
use crate::error::{Error, Result};
use crate::types::{ConsumerDescription, ConsumerStatus};

/// How often [`KinesisClient::ensure_consumer`] looks at a `CREATING` consumer.
const ACTIVE_POLL: Duration = Duration::from_millis(50);

impl KinesisClient {
    /// `RegisterStreamConsumer`: a new consumer named `consumer_name` on the stream
    /// `stream_arn` (usually `CREATING` at first). A name already registered is
    /// [`Error::ResourceInUse`]; more than 20 consumers is [`Error::LimitExceeded`].
    pub async fn register_stream_consumer(
        &self,
        stream_arn: &str,
        consumer_name: &str,
    ) -> Result<ConsumerDescription> {
        let v = self
            .call(
                "RegisterStreamConsumer",
                &json!({ "StreamARN": stream_arn, "ConsumerName": consumer_name }),
            )
            .await?;
        let c = v
            .get("Consumer")
            .ok_or_else(|| Error::Decode("missing Consumer".into()))?;
        consumer(c, stream_arn)
    }

    /// `DeregisterStreamConsumer` by consumer ARN.
    pub async fn deregister_stream_consumer(&self, consumer_arn: &str) -> Result<()> {
        self.call(
            "DeregisterStreamConsumer",
            &json!({ "ConsumerARN": consumer_arn }),
        )
        .await
        .map(|_| ())
    }

    /// `DescribeStreamConsumer` by consumer ARN.
    pub async fn describe_stream_consumer(
        &self,
        consumer_arn: &str,
    ) -> Result<ConsumerDescription> {
        self.describe_consumer(json!({ "ConsumerARN": consumer_arn }))
            .await
    }

    /// `DescribeStreamConsumer` by stream ARN and consumer name.
    pub async fn describe_stream_consumer_by_name(
        &self,
        stream_arn: &str,
        consumer_name: &str,
    ) -> Result<ConsumerDescription> {
        self.describe_consumer(json!({ "StreamARN": stream_arn, "ConsumerName": consumer_name }))
            .await
    }

    async fn describe_consumer(&self, body: Value) -> Result<ConsumerDescription> {
        let v = self.call("DescribeStreamConsumer", &body).await?;
        let d = v
            .get("ConsumerDescription")
            .ok_or_else(|| Error::Decode("missing ConsumerDescription".into()))?;
        consumer(d, "")
    }

    /// `ListStreamConsumers`, every page.
    pub async fn list_stream_consumers(
        &self,
        stream_arn: &str,
    ) -> Result<Vec<ConsumerDescription>> {
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        // Bounded: at most 20 consumers a stream, 100 a page.
        for _ in 0..1_000 {
            let body = match &next {
                None => json!({ "StreamARN": stream_arn, "MaxResults": 100 }),
                Some(t) => json!({ "StreamARN": stream_arn, "MaxResults": 100, "NextToken": t }),
            };
            let v = self.call("ListStreamConsumers", &body).await?;
            for c in v
                .get("Consumers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push(consumer(c, stream_arn)?);
            }
            next = str_field(&v, "NextToken").ok().map(str::to_string);
            if next.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// Registers `consumer_name` on `stream_arn`, or reuses the consumer of that name
    /// when it exists, then waits (up to `timeout`) until it is `ACTIVE`. A consumer
    /// still `CREATING` at the deadline is [`Error::ResourceInUse`]; one being deleted
    /// is [`Error::ResourceInUse`] at once.
    pub async fn ensure_consumer(
        &self,
        stream_arn: &str,
        consumer_name: &str,
        timeout: Duration,
    ) -> Result<ConsumerDescription> {
        let deadline = Instant::now() + timeout;
        let mut c = match self
            .register_stream_consumer(stream_arn, consumer_name)
            .await
        {
            Ok(c) => c,
            Err(Error::ResourceInUse(_)) => {
                self.describe_stream_consumer_by_name(stream_arn, consumer_name)
                    .await?
            }
            Err(e) => return Err(e),
        };
        loop {
            match c.consumer_status {
                ConsumerStatus::Active => return Ok(c),
                ConsumerStatus::Deleting => {
                    return Err(Error::ResourceInUse(format!(
                        "consumer {consumer_name} of {stream_arn} is being deleted"
                    )))
                }
                _ if Instant::now() >= deadline => {
                    return Err(Error::ResourceInUse(format!(
                        "consumer {consumer_name} of {stream_arn} is {:?}, not ACTIVE, after {timeout:?}",
                        c.consumer_status
                    )))
                }
                _ => {}
            }
            tokio::time::sleep(ACTIVE_POLL).await;
            c = self.describe_stream_consumer(&c.consumer_arn).await?;
        }
    }
}
