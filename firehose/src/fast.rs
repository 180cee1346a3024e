//! The typed path of PutRecordBatch and PutRecord: plain, valid requests are read
//! straight into borrowed text and decoded with SIMD base64; anything else (a missing
//! or mistyped member, an unknown one, a rule broken) returns `None` and takes the
//! generic path, which answers with AWS's exact error. So this path only ever accepts
//! what the generic one accepts, faster.

use bytes::Bytes;
use serde::Deserialize;

use crate::params::{MAX_BATCH_BYTES, MAX_BATCH_RECORDS, MAX_RECORD_BYTES};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch<'a> {
    #[serde(rename = "DeliveryStreamName", borrow)]
    name: &'a str,
    #[serde(rename = "Records", borrow)]
    records: Vec<Rec<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Put<'a> {
    #[serde(rename = "DeliveryStreamName", borrow)]
    name: &'a str,
    #[serde(rename = "Record", borrow)]
    record: Rec<'a>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rec<'a> {
    #[serde(rename = "Data", borrow)]
    data: &'a str,
}

/// A delivery stream name as the model's rules take it: 1 to 64 of `[a-zA-Z0-9_.-]`.
fn name_ok(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

fn decode(text: &str) -> Option<Bytes> {
    let data = base64_simd::STANDARD.decode_to_vec(text.as_bytes()).ok()?;
    (data.len() <= MAX_RECORD_BYTES).then(|| Bytes::from(data))
}

/// A PutRecordBatch body read on the typed path: the name and the decoded records.
pub fn put_record_batch(body: &[u8]) -> Option<(&str, Vec<Bytes>)> {
    let b: Batch<'_> = serde_json::from_slice(body).ok()?;
    if !name_ok(b.name) || b.records.is_empty() || b.records.len() > MAX_BATCH_RECORDS {
        return None;
    }
    let mut total = 0usize;
    let mut out = Vec::with_capacity(b.records.len());
    for r in &b.records {
        let d = decode(r.data)?;
        total += d.len();
        out.push(d);
    }
    (total <= MAX_BATCH_BYTES).then_some((b.name, out))
}

/// A PutRecord body read on the typed path.
pub fn put_record(body: &[u8]) -> Option<(&str, Bytes)> {
    let p: Put<'_> = serde_json::from_slice(body).ok()?;
    if !name_ok(p.name) {
        return None;
    }
    Some((p.name, decode(p.record.data)?))
}

/// PutRecordBatch's reply for the outcome of each record, in order.
pub fn batch_reply(results: &[Result<u128, String>]) -> Vec<u8> {
    let failed = results.iter().filter(|r| r.is_err()).count();
    let mut out = Vec::with_capacity(64 + results.len() * 56);
    out.extend_from_slice(br#"{"FailedPutCount":"#);
    out.extend_from_slice(itoa::Buffer::new().format(failed).as_bytes());
    out.extend_from_slice(br#","Encrypted":false,"RequestResponses":["#);
    let mut num = itoa::Buffer::new();
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match r {
            Ok(id) => {
                out.extend_from_slice(br#"{"RecordId":""#);
                out.extend_from_slice(num.format(*id).as_bytes());
                out.extend_from_slice(br#""}"#);
            }
            Err(message) => {
                out.extend_from_slice(
                    br#"{"ErrorCode":"ServiceUnavailableException","ErrorMessage":"#,
                );
                out.extend_from_slice(
                    serde_json::Value::String(message.clone())
                        .to_string()
                        .as_bytes(),
                );
                out.push(b'}');
            }
        }
    }
    out.extend_from_slice(b"]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn b64(d: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(d)
    }

    #[test]
    fn plain_requests_take_the_typed_path_and_the_rest_do_not() {
        let ok = format!(
            r#"{{"DeliveryStreamName":"s","Records":[{{"Data":"{}"}},{{"Data":""}}]}}"#,
            b64(b"hi")
        );
        let (name, recs) = put_record_batch(ok.as_bytes()).expect("typed");
        assert_eq!(name, "s");
        assert_eq!(recs, vec![Bytes::from_static(b"hi"), Bytes::new()]);
        for bad in [
            r#"{"DeliveryStreamName":"s","Records":[]}"#.to_string(),
            r#"{"DeliveryStreamName":"s","Records":[{"Data":"!!"}]}"#.to_string(),
            r#"{"DeliveryStreamName":"a b","Records":[{"Data":""}]}"#.to_string(),
            r#"{"DeliveryStreamName":"s","Records":[{"Data":""}],"X":1}"#.to_string(),
            r#"{"DeliveryStreamName":"s","Records":[{"Data":1}]}"#.to_string(),
            r#"{"Records":[{"Data":""}]}"#.to_string(),
            format!(
                r#"{{"DeliveryStreamName":"s","Records":[{{"Data":"{}"}}]}}"#,
                b64(&vec![0; MAX_RECORD_BYTES + 1])
            ),
            format!(
                r#"{{"DeliveryStreamName":"s","Records":[{}]}}"#,
                vec![r#"{"Data":""}"#; MAX_BATCH_RECORDS + 1].join(",")
            ),
        ] {
            assert!(put_record_batch(bad.as_bytes()).is_none(), "{bad}");
        }
        let one = format!(
            r#"{{"DeliveryStreamName":"s","Record":{{"Data":"{}"}}}}"#,
            b64(b"x")
        );
        assert_eq!(
            put_record(one.as_bytes()),
            Some(("s", Bytes::from_static(b"x")))
        );
    }

    #[test]
    fn the_batch_reply_is_what_the_generic_path_writes() {
        let reply = batch_reply(&[Ok(7), Err("disk \"full\"".into())]);
        let v: serde_json::Value = serde_json::from_slice(&reply).expect("JSON");
        assert_eq!(
            v,
            serde_json::json!({"FailedPutCount": 1, "Encrypted": false, "RequestResponses": [
                {"RecordId": "7"},
                {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "disk \"full\""}
            ]})
        );
    }
}
