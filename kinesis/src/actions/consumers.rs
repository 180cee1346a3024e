//! RegisterStreamConsumer, DeregisterStreamConsumer, DescribeStreamConsumer and
//! ListStreamConsumers over the server's [`crate::consumers`] registry.

use base64::Engine as _;

use super::name_from_stream_arn;
use crate::consumers::{Consumer, ConsumerStatus, MAX_CONSUMERS_PER_STREAM};
use crate::state::KinesisState;
use freshet_protocol::kinesis::rules;
use freshet_protocol::request::Req;
use freshet_protocol::validate::validation_error;
use freshet_protocol::value::{map, Value};
use freshet_protocol::{ApiError, ApiResult};

/// How long a ListStreamConsumers NextToken stays valid, ms.
pub const NEXT_TOKEN_TTL_MS: i64 = 300_000;

/// The stream and consumer names of a consumer ARN (its pattern already checked by
/// validation).
pub(crate) fn parse_consumer_arn(arn: &str) -> ApiResult<(String, String)> {
    match rules::consumer_arn(arn) {
        Some(c) => Ok((c.stream.to_string(), c.consumer.to_string())),
        None => Err(validation_error(
            &rules::CONSUMER_ARN.violations(Some(&Value::str(arn)), "consumerARN"),
        )),
    }
}

fn not_found(state: &KinesisState, what: &str) -> ApiError {
    ApiError::not_found(format!(
        "Consumer {what} under account {} not found.",
        state.cfg.account_id
    ))
}

/// The current uid of a stream, or `None` when it does not exist.
fn stream_uid(state: &KinesisState, stream: &str) -> ApiResult<Option<u64>> {
    match state.engine.stream_summary(stream) {
        Ok(d) => Ok(Some(d.uid)),
        Err(freshet_storage::Error::StreamNotFound { .. }) => Ok(None),
        Err(e) => Err(state.err(e)),
    }
}

/// The consumers of a stream after dropping stale and fully deleted ones.
pub(crate) fn live_consumers(state: &KinesisState, stream: &str) -> ApiResult<Vec<Consumer>> {
    let uid = stream_uid(state, stream)?;
    let mut l = state.consumers.lock();
    if l.prune(stream, uid, state.now_ms(), state.cfg.create_delay_ms) {
        l.save()?;
    }
    Ok(l.of_stream(stream))
}

/// Finds a consumer by its ARN.
pub(crate) fn by_arn(state: &KinesisState, arn: &str) -> ApiResult<Consumer> {
    let (stream, _) = parse_consumer_arn(arn)?;
    live_consumers(state, &stream)?
        .into_iter()
        .find(|c| c.arn(&state.cfg.region, &state.cfg.account_id) == arn)
        .ok_or_else(|| not_found(state, arn))
}

/// The consumer a Describe or Deregister request names: by ConsumerARN, or by
/// StreamARN and ConsumerName.
fn named_consumer(state: &KinesisState, req: Req<'_>) -> ApiResult<Consumer> {
    if let Some(arn) = req.opt_str("ConsumerARN")? {
        return by_arn(state, arn);
    }
    let (Some(stream_arn), Some(name)) = (req.opt_str("StreamARN")?, req.opt_str("ConsumerName")?)
    else {
        return Err(ApiError::invalid(
            "Either ConsumerARN or both StreamARN and ConsumerName must be provided.",
        ));
    };
    let stream = name_from_stream_arn(state, stream_arn)?;
    live_consumers(state, &stream)?
        .into_iter()
        .find(|c| c.name == name)
        .ok_or_else(|| not_found(state, &format!("{name} of stream {stream_arn}")))
}

fn consumer_fields(state: &KinesisState, c: &Consumer) -> [(&'static str, Value); 4] {
    [
        ("ConsumerName", Value::str(&c.name)),
        (
            "ConsumerARN",
            Value::str(c.arn(&state.cfg.region, &state.cfg.account_id)),
        ),
        (
            "ConsumerStatus",
            Value::str(c.status(state.now_ms(), state.cfg.create_delay_ms).as_str()),
        ),
        ("ConsumerCreationTimestamp", Value::Timestamp(c.created_ms)),
    ]
}

fn consumer_value(state: &KinesisState, c: &Consumer) -> Value {
    Value::Map(
        consumer_fields(state, c)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// RegisterStreamConsumer.
pub fn register(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let stream_arn = req.str("StreamARN")?;
    let stream = name_from_stream_arn(state, stream_arn)?;
    let name = req.str("ConsumerName")?;
    // Tags are accepted and, like stream tags on consumers, not kept.
    let _ = req.opt_str_map("Tags")?;
    let d = state
        .engine
        .stream_summary(&stream)
        .map_err(|e| state.err(e))?;
    let now = state.now_ms();
    let mut l = state.consumers.lock();
    l.prune(&stream, Some(d.uid), now, state.cfg.create_delay_ms);
    let existing = l.of_stream(&stream);
    if existing.iter().any(|c| c.name == name) {
        return Err(ApiError::in_use(format!(
            "Consumer {name} under account {} already exists for stream {stream_arn}.",
            state.cfg.account_id
        )));
    }
    if existing.len() >= MAX_CONSUMERS_PER_STREAM {
        return Err(ApiError::limit(format!(
            "Stream {stream} under account {} has reached the limit of {MAX_CONSUMERS_PER_STREAM} registered consumers.",
            state.cfg.account_id
        )));
    }
    let c = Consumer {
        stream: stream.clone(),
        stream_uid: d.uid,
        name: name.to_string(),
        created_ms: now,
        deleting_since_ms: None,
    };
    l.list_mut().push(c.clone());
    l.save()?;
    drop(l);
    Ok(map([("Consumer", consumer_value(state, &c))]))
}

/// DeregisterStreamConsumer.
pub fn deregister(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let c = named_consumer(state, req)?;
    let now = state.now_ms();
    let delay = state.cfg.create_delay_ms;
    let mut l = state.consumers.lock();
    let list = l.list_mut();
    if delay > 0 {
        for x in list.iter_mut() {
            if x.stream == c.stream && x.name == c.name && x.deleting_since_ms.is_none() {
                x.deleting_since_ms = Some(now);
            }
        }
    } else {
        list.retain(|x| !(x.stream == c.stream && x.name == c.name));
    }
    l.save()?;
    Ok(super::empty())
}

/// DescribeStreamConsumer.
pub fn describe(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let c = named_consumer(state, req)?;
    let [a, b, s, t] = consumer_fields(state, &c);
    Ok(map([(
        "ConsumerDescription",
        map([
            a,
            b,
            s,
            t,
            ("StreamARN", Value::str(state.stream_arn(&c.stream))),
        ]),
    )]))
}

fn seal_token(stream: &str, after: &str, issued_ms: i64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{issued_ms}\n{stream}\n{after}"))
}

fn open_token(state: &KinesisState, token: &str, stream: &str) -> ApiResult<String> {
    let bad = || ApiError::invalid(format!("Invalid NextToken: {token}"));
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token.as_bytes())
        .map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = text.splitn(3, '\n');
    let (Some(issued), Some(s), Some(after)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let issued: i64 = issued.parse().map_err(|_| bad())?;
    if s != stream {
        return Err(bad());
    }
    if state.now_ms() - issued > NEXT_TOKEN_TTL_MS {
        return Err(ApiError::expired_next_token(format!(
            "The NextToken has expired: it was issued more than {} seconds ago.",
            NEXT_TOKEN_TTL_MS / 1000
        )));
    }
    Ok(after.to_string())
}

/// ListStreamConsumers.
pub fn list(state: &KinesisState, req: Req<'_>) -> ApiResult<Value> {
    let stream_arn = req.str("StreamARN")?;
    let stream = name_from_stream_arn(state, stream_arn)?;
    let max = usize::try_from(req.opt_int("MaxResults")?.unwrap_or(100).min(100)).unwrap_or(100);
    let token = req.opt_str("NextToken")?;
    let created = req.opt_timestamp_ms("StreamCreationTimestamp")?;
    if token.is_some() && created.is_some() {
        return Err(ApiError::invalid(
            "NextToken and StreamCreationTimestamp cannot be provided together.",
        ));
    }
    let d = state
        .engine
        .stream_summary(&stream)
        .map_err(|e| state.err(e))?;
    if created.is_some_and(|ms| ms.div_euclid(1000) != d.created_ms.div_euclid(1000)) {
        return Err(ApiError::not_found(format!(
            "Stream {stream} under account {} created at the given StreamCreationTimestamp not found.",
            state.cfg.account_id
        )));
    }
    let after = token.map(|t| open_token(state, t, &stream)).transpose()?;
    let all = live_consumers(state, &stream)?;
    let rest: Vec<&Consumer> = all
        .iter()
        .filter(|c| after.as_deref().is_none_or(|a| c.name.as_str() > a))
        .collect();
    let page: Vec<Value> = rest
        .iter()
        .take(max)
        .map(|c| consumer_value(state, c))
        .collect();
    let next = match (rest.len() > max, rest.get(max.saturating_sub(1))) {
        (true, Some(last)) => Value::str(seal_token(&stream, &last.name, state.now_ms())),
        _ => Value::Null,
    };
    Ok(map([("Consumers", Value::List(page)), ("NextToken", next)]))
}

/// Whether a consumer may subscribe now; the error AWS gives otherwise.
pub(crate) fn check_active(state: &KinesisState, c: &Consumer, arn: &str) -> ApiResult<()> {
    match c.status(state.now_ms(), state.cfg.create_delay_ms) {
        ConsumerStatus::Active => Ok(()),
        other => Err(ApiError::in_use(format!(
            "Consumer {arn} under account {} is in {} state; it must be ACTIVE to subscribe.",
            state.cfg.account_id,
            other.as_str()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_arns_parse() {
        let arn = "arn:aws:kinesis:us-east-1:000000000000:stream/s-1/consumer/c.1:1700000000";
        assert_eq!(
            parse_consumer_arn(arn).ok(),
            Some(("s-1".to_string(), "c.1".to_string()))
        );
        for bad in [
            "arn:aws:kinesis:us-east-1:000000000000:stream/s",
            "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c",
            "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:x",
            "arn:aws:kinesis:us-east-1:0000:stream/s/consumer/c:1",
            "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c d:1",
        ] {
            assert!(parse_consumer_arn(bad).is_err(), "{bad}");
        }
    }
}
