//! The typed path of PutRecordBatch and PutRecord: plain, valid requests are scanned
//! in place (no document is built) and their records decoded with SIMD base64 into
//! one buffer per request; anything else (a missing or mistyped member, an unknown or
//! repeated one, an escape in a string, a rule broken) returns `None` and takes the
//! generic path, which answers with AWS's exact error. So this path only ever accepts
//! what the generic one accepts, faster.

use base64_simd::AsOut;
use bytes::Bytes;

use crate::params::{MAX_BATCH_BYTES, MAX_BATCH_RECORDS, MAX_RECORD_BYTES};

/// A cursor over a JSON body that reads only the shapes the typed path takes.
struct Scan<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    /// Skips JSON's insignificant whitespace.
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.body.get(self.at) {
            self.at += 1;
        }
    }

    /// Takes `byte` after any whitespace.
    fn eat(&mut self, byte: u8) -> Option<()> {
        self.ws();
        (self.body.get(self.at) == Some(&byte)).then(|| self.at += 1)
    }

    /// Whether `byte` comes next (after any whitespace), taking it if so.
    fn takes(&mut self, byte: u8) -> bool {
        self.eat(byte).is_some()
    }

    /// A string's raw bytes, between its quotes. A backslash is returned as is: every
    /// caller refuses it (member names by comparison, names and base64 by their
    /// alphabets), so an escaped quote cannot end a string early unnoticed.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let len = memchr::memchr(b'"', &self.body[self.at..])?;
        let s = &self.body[self.at..self.at + len];
        self.at += len + 1;
        Some(s)
    }

    /// A member's name and the colon after it.
    fn member(&mut self) -> Option<&'a [u8]> {
        let name = self.string()?;
        self.eat(b':')?;
        Some(name)
    }

    /// The rest is whitespace.
    fn end(mut self) -> Option<()> {
        self.ws();
        (self.at == self.body.len()).then_some(())
    }
}

/// A delivery stream name as the model's rules take it: 1 to 64 of `[a-zA-Z0-9_.-]`.
fn name_of(raw: &[u8]) -> Option<&str> {
    let ok = (1..=64).contains(&raw.len())
        && raw
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    // Only ASCII passed, so this cannot fail.
    ok.then(|| std::str::from_utf8(raw).ok()).flatten()
}

/// `{"Data": "<base64>"}`: the base64 text.
fn record<'a>(s: &mut Scan<'a>) -> Option<&'a [u8]> {
    s.eat(b'{')?;
    (s.member()? == b"Data").then_some(())?;
    let data = s.string()?;
    s.eat(b'}')?;
    Some(data)
}

/// The records' base64 texts decoded into one buffer, as slices of it; `None` when
/// one is not base64, is over 1,000 KiB decoded, or they are over 4 MiB together.
fn decode_all(texts: &[&[u8]]) -> Option<Vec<Bytes>> {
    let mut lengths = Vec::with_capacity(texts.len());
    let mut total = 0usize;
    for t in texts {
        let n = base64_simd::STANDARD.decoded_length(t).ok()?;
        if n > MAX_RECORD_BYTES {
            return None;
        }
        total += n;
        lengths.push(n);
    }
    if total > MAX_BATCH_BYTES {
        return None;
    }
    let mut buf = vec![0u8; total];
    let mut at = 0;
    for (t, &n) in texts.iter().zip(&lengths) {
        base64_simd::STANDARD
            .decode(t, buf[at..at + n].as_out())
            .ok()?;
        at += n;
    }
    let buf = Bytes::from(buf);
    let mut at = 0;
    Some(
        lengths
            .into_iter()
            .map(|n| {
                at += n;
                buf.slice(at - n..at)
            })
            .collect(),
    )
}

/// An object of members `member` reads (given each member's name, after its colon;
/// `None` for a name it does not take) and nothing after it but whitespace.
fn object<'a>(
    body: &'a [u8],
    mut member: impl FnMut(&mut Scan<'a>, &'a [u8]) -> Option<()>,
) -> Option<()> {
    let mut s = Scan { body, at: 0 };
    s.eat(b'{')?;
    loop {
        let name = s.member()?;
        member(&mut s, name)?;
        if !s.takes(b',') {
            break;
        }
    }
    s.eat(b'}')?;
    s.end()
}

/// A PutRecordBatch body read on the typed path: the name and the decoded records.
pub fn put_record_batch(body: &[u8]) -> Option<(&str, Vec<Bytes>)> {
    let (mut name, mut texts) = (None, None);
    object(body, |s, member| {
        match member {
            b"DeliveryStreamName" if name.is_none() => name = Some(name_of(s.string()?)?),
            b"Records" if texts.is_none() => {
                s.eat(b'[')?;
                let mut list = Vec::with_capacity(MAX_BATCH_RECORDS);
                loop {
                    list.push(record(s)?);
                    if list.len() > MAX_BATCH_RECORDS {
                        return None;
                    }
                    if !s.takes(b',') {
                        break;
                    }
                }
                s.eat(b']')?;
                texts = Some(list);
            }
            _ => return None,
        }
        Some(())
    })?;
    Some((name?, decode_all(&texts?)?))
}

/// A PutRecord body read on the typed path.
pub fn put_record(body: &[u8]) -> Option<(&str, Bytes)> {
    let (mut name, mut text) = (None, None);
    object(body, |s, member| {
        match member {
            b"DeliveryStreamName" if name.is_none() => name = Some(name_of(s.string()?)?),
            b"Record" if text.is_none() => text = Some(record(s)?),
            _ => return None,
        }
        Some(())
    })?;
    let data = decode_all(&[text?])?.pop()?;
    Some((name?, data))
}

/// The decimal text of ascending record ids: one id after another is the previous
/// text with one added in place (a batch's records have consecutive sequence
/// numbers), not divided out again.
struct Decimals {
    last: Option<u128>,
    text: itoa::Buffer,
    digits: [u8; 40],
    len: usize,
}

impl Decimals {
    fn new() -> Decimals {
        Decimals {
            last: None,
            text: itoa::Buffer::new(),
            digits: [0; 40],
            len: 0,
        }
    }

    fn of(&mut self, id: u128) -> &[u8] {
        let follows = self.last.is_some_and(|l| l.checked_add(1) == Some(id));
        self.last = Some(id);
        if follows {
            // Add one from the last digit; a carry out of the first (999 -> 1000)
            // changes the length: written out again.
            for d in self.digits[..self.len].iter_mut().rev() {
                if *d == b'9' {
                    *d = b'0';
                } else {
                    *d += 1;
                    return &self.digits[..self.len];
                }
            }
        }
        let s = self.text.format(id).as_bytes();
        self.digits[..s.len()].copy_from_slice(s);
        self.len = s.len();
        &self.digits[..self.len]
    }
}

/// PutRecordBatch's reply for the outcome of each record, in order: its record id, or
/// the message of its failure.
pub fn batch_reply<'a>(
    results: impl ExactSizeIterator<Item = Result<u128, &'a str>> + Clone,
) -> Vec<u8> {
    let failed = results.clone().filter(|r| r.is_err()).count();
    let mut out = Vec::with_capacity(64 + results.len() * 56);
    out.extend_from_slice(br#"{"FailedPutCount":"#);
    out.extend_from_slice(itoa::Buffer::new().format(failed).as_bytes());
    out.extend_from_slice(br#","Encrypted":false,"RequestResponses":["#);
    let mut ids = Decimals::new();
    for (i, r) in results.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match r {
            Ok(id) => {
                out.extend_from_slice(br#"{"RecordId":""#);
                out.extend_from_slice(ids.of(id));
                out.extend_from_slice(br#""}"#);
            }
            Err(message) => {
                out.extend_from_slice(
                    br#"{"ErrorCode":"ServiceUnavailableException","ErrorMessage":"#,
                );
                out.extend_from_slice(
                    serde_json::Value::String(message.to_string())
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
        let spaced = format!(
            " {{ \"Records\" :\n[ {{ \"Data\" : \"{}\" }} ] ,\t\"DeliveryStreamName\" : \"s\" }} \r\n",
            b64(b"hi")
        );
        assert_eq!(
            put_record_batch(spaced.as_bytes()),
            Some(("s", vec![Bytes::from_static(b"hi")]))
        );
        for bad in [
            r#"{"DeliveryStreamName":"s","Records":[]}"#.to_string(),
            r#"{"DeliveryStreamName":"s","Records":[{"Data":"!!"}]}"#.to_string(),
            r#"{"DeliveryStreamName":"a b","Records":[{"Data":""}]}"#.to_string(),
            r#"{"DeliveryStreamName":"s","Records":[{"Data":""}],"X":1}"#.to_string(),
            r#"{"DeliveryStreamName":"s","Records":[{"Data":1}]}"#.to_string(),
            r#"{"DeliveryStreamName":"s","Records":[{"Data":"","Data":""}]}"#.to_string(),
            r#"{"DeliveryStreamName":"s","DeliveryStreamName":"t","Records":[{"Data":""}]}"#
                .to_string(),
            r#"{"DeliveryStreamName":"s","Records":[{"Data":"aGk\"="}]}"#.to_string(),
            r#"{"DeliveryStreamName":"s\"","Records":[{"Data":""}]}"#.to_string(),
            r#"{"Deliver\u0079StreamName":"s","Records":[{"Data":""}]}"#.to_string(),
            r#"{"DeliveryStreamName":"s","Records":[{"Data":""},]}"#.to_string(),
            r#"{"DeliveryStreamName":"s","Records":[{"Data":""}],}"#.to_string(),
            r#"{"DeliveryStreamName":"s","Records":[{"Data":""}]} x"#.to_string(),
            r#"{"DeliveryStreamName":"s","Records":[{"Data":""}]"#.to_string(),
            r#"{"DeliveryStreamName":"s","Records":[{"Data":""}"#.to_string(),
            r#"{"DeliveryStreamName":"s","Records":[{"Data":"aGk="#.to_string(),
            r#"{"DeliveryStreamName":null,"Records":[{"Data":""}]}"#.to_string(),
            r#"{"Records":[{"Data":""}]}"#.to_string(),
            r#"{"DeliveryStreamName":"s"}"#.to_string(),
            String::new(),
            format!(
                r#"{{"DeliveryStreamName":"s","Records":[{{"Data":"{}"}}]}}"#,
                b64(&vec![0; MAX_RECORD_BYTES + 1])
            ),
            format!(
                r#"{{"DeliveryStreamName":"s","Records":[{}]}}"#,
                vec![r#"{"Data":""}"#; MAX_BATCH_RECORDS + 1].join(",")
            ),
            format!(
                r#"{{"DeliveryStreamName":"s","Records":[{}]}}"#,
                vec![format!(r#"{{"Data":"{}"}}"#, b64(&vec![7; 900_000])); 5].join(",")
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
        for bad in [
            r#"{"DeliveryStreamName":"s","Record":{"Data":"eA=="},"Record":{"Data":""}}"#,
            r#"{"DeliveryStreamName":"s","Record":{}}"#,
            r#"{"DeliveryStreamName":"s","Records":[{"Data":"eA=="}]}"#,
            r#"{"DeliveryStreamName":"s"}"#,
        ] {
            assert!(put_record(bad.as_bytes()).is_none(), "{bad}");
        }
    }

    /// Whatever the typed path accepts, the generic path accepts with the same name and
    /// records.
    #[test]
    fn the_typed_path_agrees_with_the_generic_one() {
        let bodies = [
            format!(
                r#"{{"DeliveryStreamName":"a-b.c_9","Records":[{}]}}"#,
                (0..500)
                    .map(|i| format!(r#"{{"Data":"{}"}}"#, b64(&vec![i as u8; i % 97])))
                    .collect::<Vec<_>>()
                    .join(" , ")
            ),
            format!(
                "{{\n  \"Records\": [{{\"Data\": \"{}\"}}],\n  \"DeliveryStreamName\": \"x\"\n}}",
                b64(&[0xff; 1000])
            ),
            format!(
                r#"{{"DeliveryStreamName":"s","Records":[{{"Data":"{}"}}]}}"#,
                b64(&vec![1; MAX_RECORD_BYTES])
            ),
        ];
        for body in &bodies {
            let (name, records) = put_record_batch(body.as_bytes()).expect("typed");
            let doc: serde_json::Value = serde_json::from_str(body).expect("JSON");
            assert_eq!(doc["DeliveryStreamName"], name);
            let generic = crate::params::records_of_batch(&doc).expect("generic");
            assert_eq!(records, generic);
        }
    }

    /// Every one-byte change and deletion of a small valid body: whatever the typed path
    /// still takes, the generic path takes too, with the same name and records.
    #[test]
    fn mutated_bodies_the_typed_path_takes_the_generic_one_takes_alike() {
        let body = format!(
            r#"{{"DeliveryStreamName":"ab","Records":[{{"Data":"{}"}},{{"Data":"{}"}}]}}"#,
            b64(b"hey"),
            b64(b"x")
        );
        let mut taken = 0;
        for at in 0..body.len() {
            let mut variants: Vec<Vec<u8>> = b"\\\"{}[]:, \t\nA=+/0\x00\xff"
                .iter()
                .map(|&b| {
                    let mut v = body.as_bytes().to_vec();
                    v[at] = b;
                    v
                })
                .collect();
            let mut deleted = body.as_bytes().to_vec();
            deleted.remove(at);
            variants.push(deleted);
            for v in variants {
                let Some((name, records)) = put_record_batch(&v) else {
                    continue;
                };
                taken += 1;
                let doc: serde_json::Value = serde_json::from_slice(&v).expect("generic: JSON");
                assert_eq!(
                    doc["DeliveryStreamName"],
                    name,
                    "{}",
                    String::from_utf8_lossy(&v)
                );
                let generic = crate::params::records_of_batch(&doc).expect("generic: valid");
                assert_eq!(records, generic, "{}", String::from_utf8_lossy(&v));
            }
        }
        assert!(
            taken > 0,
            "no mutation was taken at all: the test would prove nothing"
        );
    }

    #[test]
    fn the_batch_reply_is_what_the_generic_path_writes() {
        let reply = batch_reply([Ok(7), Err("disk \"full\"")].into_iter());
        let v: serde_json::Value = serde_json::from_slice(&reply).expect("JSON");
        assert_eq!(
            v,
            serde_json::json!({"FailedPutCount": 1, "Encrypted": false, "RequestResponses": [
                {"RecordId": "7"},
                {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "disk \"full\""}
            ]})
        );
    }

    #[test]
    fn record_ids_counted_up_in_place_match_their_numbers() {
        let base = freshet_storage::SequenceNumber::new(3, 0).to_u128();
        let mut ids: Vec<u128> = (0..1200).map(|i| base + i).collect();
        ids.extend([
            99,
            100,
            101,
            5,
            6,
            999_999,
            1_000_000,
            1_000_001,
            u128::MAX - 1,
        ]);
        ids.push(u128::MAX);
        ids.extend([9, 10, 11]);
        let mut d = Decimals::new();
        for id in ids {
            assert_eq!(d.of(id), id.to_string().as_bytes(), "{id}");
        }
    }
}
