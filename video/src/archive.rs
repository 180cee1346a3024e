//! ListFragments (by server or producer timestamp range, paginated) and
//! GetMediaForFragmentList (the listed fragments as Matroska chunks).

use base64::Engine as _;
use bytes::Bytes;
use freshet_protocol::error::ApiError;
use freshet_protocol::service::{Call, Reply};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::error::{self, invalid};
use crate::fragment::{fragment_number, parse_fragment_number};
use crate::params::{opt_i64, opt_str, opt_ts, ts_value};
use crate::service::Ctx;
use crate::store::{now_ms, Entry, VStream};

/// Which timestamp a range selects on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// The producer's.
    Producer,
    /// The server's.
    Server,
}

/// A timestamp range: which timestamp, and its start and end (ms, inclusive).
pub type Range = (By, Option<i64>, Option<i64>);

/// A timestamp range selector (`FragmentSelector` and its kin).
pub fn selector(
    v: Option<&Value>,
    member: &str,
    required: bool,
) -> Result<Option<Range>, ApiError> {
    let Some(sel) = v.filter(|x| !x.is_null()) else {
        if required {
            return Err(invalid(format!(
                "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
            )));
        }
        return Ok(None);
    };
    let by = match opt_str(sel, "FragmentSelectorType")? {
        Some("PRODUCER_TIMESTAMP") | None => By::Producer,
        Some("SERVER_TIMESTAMP") => By::Server,
        Some(other) => {
            return Err(invalid(format!(
                "1 validation error detected: Value '{other}' at '{member}.fragmentSelectorType' failed to satisfy constraint: Member must satisfy enum value set: [PRODUCER_TIMESTAMP, SERVER_TIMESTAMP]"
            )))
        }
    };
    let range = sel.get("TimestampRange").filter(|r| !r.is_null());
    let (start, end) = match range {
        Some(r) => (opt_ts(r, "StartTimestamp")?, opt_ts(r, "EndTimestamp")?),
        None => (None, None),
    };
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return Err(invalid(
                "The StartTimestamp must be before the EndTimestamp.",
            ));
        }
    }
    Ok(Some((by, start, end)))
}

/// The retained fragments a range selects, in order.
pub fn select(s: &VStream, sel: Option<Range>) -> Vec<Entry> {
    let all = s.retained(now_ms());
    match sel {
        None => all,
        Some((by, start, end)) => all
            .into_iter()
            .filter(|e| {
                let ts = match by {
                    By::Producer => e.producer_ms,
                    By::Server => e.server_ms,
                };
                start.is_none_or(|s| ts >= s) && end.is_none_or(|x| ts <= x)
            })
            .collect(),
    }
}

/// Answers ListFragments.
pub fn list_fragments(ctx: &Ctx, body: &[u8]) -> Result<Value, ApiError> {
    let v = crate::params::body(body)?;
    let max = opt_i64(&v, "MaxResults")?.unwrap_or(1000);
    if !(1..=1000).contains(&max) {
        return Err(invalid(format!(
            "1 validation error detected: Value '{max}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 1000"
        )));
    }
    let sel = selector(v.get("FragmentSelector"), "fragmentSelector", false)?;
    if let Some(sel) = v.get("FragmentSelector").filter(|x| !x.is_null()) {
        let r = sel.get("TimestampRange");
        if r.is_none_or(|r| r.get("StartTimestamp").is_none() || r.get("EndTimestamp").is_none()) {
            return Err(invalid(
                "The FragmentSelector needs a TimestampRange with StartTimestamp and EndTimestamp.",
            ));
        }
    }
    let s = crate::control::resolve(ctx, &v)?;
    let after = match opt_str(&v, "NextToken")? {
        Some(t) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| invalid("The NextToken is not valid."))?,
        ),
        None => None,
    };
    let picked: Vec<Entry> = select(&s, sel)
        .into_iter()
        .filter(|e| after.is_none_or(|a| e.offset > a))
        .collect();
    let page: Vec<&Entry> = picked.iter().take(max as usize).collect();
    let fragments: Vec<Value> = page
        .iter()
        .map(|e| {
            json!({
                "FragmentNumber": fragment_number(e.offset),
                "FragmentSizeInBytes": e.size,
                "ProducerTimestamp": ts_value(e.producer_ms),
                "ServerTimestamp": ts_value(e.server_ms),
                "FragmentLengthInMilliseconds": e.duration_ms,
            })
        })
        .collect();
    let mut out = json!({ "Fragments": fragments });
    if picked.len() > page.len() {
        if let Some(last) = page.last() {
            out["NextToken"] =
                json!(base64::engine::general_purpose::STANDARD.encode(last.offset.to_string()));
        }
    }
    Ok(out)
}

/// Answers GetMediaForFragmentList: the chunks streamed in the order listed.
pub async fn get_media_for_fragment_list(ctx: Ctx, call: Call) -> Reply {
    let prepared = (|| {
        let v = crate::params::body(&call.body)?;
        let list = match v.get("Fragments") {
            Some(Value::Array(a)) if !a.is_empty() && a.len() <= 1000 => a.clone(),
            _ => {
                return Err(invalid(
                    "1 validation error detected: Value at 'fragments' failed to satisfy constraint: Member must have length between 1 and 1000",
                ))
            }
        };
        let s = crate::control::resolve(&ctx, &v)?;
        let now = now_ms();
        let from = s.retained_from(now);
        let mut offsets = Vec::with_capacity(list.len());
        for n in &list {
            let n = n
                .as_str()
                .ok_or_else(|| invalid("Fragments must be fragment numbers."))?;
            let e = parse_fragment_number(n)
                .and_then(|o| s.entry(o))
                .filter(|e| from.is_some_and(|f| e.server_ms >= f))
                .ok_or_else(|| {
                    error::not_found(format!("The requested fragment {n} is not found."))
                })?;
            offsets.push(e.offset);
        }
        Ok::<_, ApiError>((s, offsets))
    })();
    let (s, offsets) = match prepared {
        Ok(x) => x,
        Err(e) => return Reply::Error(e),
    };
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        let _held = call;
        for o in offsets {
            let f = match ctx.store.read_fragment(&s.log, o) {
                Ok(Some(f)) => f,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(stream = %s.log, error = %e.message, "GetMediaForFragmentList: a read failed");
                    return;
                }
            };
            if tx
                .send(Bytes::from(crate::media::chunk(&f, None)))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    Reply::Stream {
        content_type: crate::media::MKV,
        body: Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)),
    }
}
