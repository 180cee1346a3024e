//! SigV4 verification, as the front door runs it with `freshet serve --auth --access-key
//! ID:SECRET`. Off by default: like other local emulators, any `Authorization` is then
//! accepted.
//!
//! The check follows the AWS Signature Version 4 algorithm: canonical request (method,
//! path, query, signed headers, payload hash), string to sign over the credential
//! scope, and an HMAC-SHA256 signing key derived from the secret, date, region and
//! service. A request more than 15 minutes from the server's clock is refused, so is one
//! whose credential scope names another day than its `X-Amz-Date`, and the payload hash
//! is always computed from the body received (a `x-amz-content-sha256` header that does
//! not match it is refused), so a captured request cannot be replayed with another body.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// How far a request's `X-Amz-Date` may be from the server's clock, ms.
const MAX_SKEW_MS: i64 = 15 * 60 * 1000;

/// Access keys the server accepts.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// Whether signatures are verified.
    pub enabled: bool,
    /// Access key id to secret.
    pub keys: BTreeMap<String, String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

fn err(kind: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::custom(kind, message, 400)
}

fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(v) = u8::from_str_radix(
                std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                16,
            ) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn canonical_query(query: Option<&str>) -> String {
    let Some(q) = query.filter(|q| !q.is_empty()) else {
        return String::new();
    };
    let mut pairs: Vec<(String, String)> = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k), false),
                uri_encode(&percent_decode(v), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `YYYYMMDD'T'HHMMSS'Z'` to epoch ms.
fn parse_amz_date(s: &str) -> Option<i64> {
    if s.len() != 16 || s.as_bytes().get(8) != Some(&b'T') || !s.ends_with('Z') {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<i64>().ok());
    let (y, mo, d, h, mi, se) = (
        n(0..4)?,
        n(4..6)?,
        n(6..8)?,
        n(9..11)?,
        n(11..13)?,
        n(13..15)?,
    );
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + se * 1000)
}

/// What the signature's payload hash is checked against.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// The whole body, received: its SHA-256 is the payload hash, and a
    /// `x-amz-content-sha256` header must match it.
    Body(&'a [u8]),
    /// A body handed over as it arrives (PutMedia): the signature covers the headers
    /// and the payload hash the client declared in `x-amz-content-sha256`
    /// (`UNSIGNED-PAYLOAD` when absent); the body itself is not hashed.
    Streamed,
}

/// Verifies a request's SigV4 signature.
pub fn verify(
    cfg: &AuthConfig,
    method: &str,
    uri: &http::Uri,
    headers: &HeaderMap,
    body: &[u8],
    now_ms: i64,
) -> Result<(), ApiError> {
    verify_payload(cfg, method, uri, headers, Payload::Body(body), now_ms)
}

/// Verifies a request's SigV4 signature over the given payload.
pub fn verify_payload(
    cfg: &AuthConfig,
    method: &str,
    uri: &http::Uri,
    headers: &HeaderMap,
    payload: Payload<'_>,
    now_ms: i64,
) -> Result<(), ApiError> {
    if !cfg.enabled {
        return Ok(());
    }
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(err(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(|| {
        err(
            "IncompleteSignatureException",
            "Authorization header requires the AWS4-HMAC-SHA256 algorithm.",
        )
    })?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(err(
            "IncompleteSignatureException",
            format!("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters. Authorization={auth}"),
        ));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, date, region, service, terminator] = scope.as_slice() else {
        return Err(err(
            "IncompleteSignatureException",
            format!("Credential {credential} is malformed."),
        ));
    };
    if *terminator != "aws4_request" {
        return Err(err(
            "IncompleteSignatureException",
            format!("Credential {credential} is malformed."),
        ));
    }
    let Some(secret) = cfg.keys.get(*key_id) else {
        return Err(err(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    };
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            err(
                "IncompleteSignatureException",
                "The request must carry an X-Amz-Date header.",
            )
        })?;
    let when = parse_amz_date(amz_date).ok_or_else(|| {
        err(
            "IncompleteSignatureException",
            format!("X-Amz-Date {amz_date} is malformed."),
        )
    })?;
    if amz_date.get(..8) != Some(*date) {
        return Err(err(
            "InvalidSignatureException",
            format!("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{date}' != '{}', from '{amz_date}'.", amz_date.get(..8).unwrap_or_default()),
        ));
    }
    if (now_ms - when).abs() > MAX_SKEW_MS {
        return Err(err(
            "InvalidSignatureException",
            format!("Signature expired: {amz_date} is now earlier or later than 15 minutes from the server's time."),
        ));
    }
    let mut canonical_headers = String::new();
    for name in signed.split(';') {
        let value = if name == "host" && headers.get("host").is_none() {
            uri.authority().map(|a| a.to_string()).unwrap_or_default()
        } else {
            headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join(",")
        };
        canonical_headers.push_str(&format!("{name}:{value}\n"));
    }
    let claimed = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok());
    let payload_hash = match payload {
        Payload::Body(body) => hex(&Sha256::digest(body)),
        Payload::Streamed => claimed.unwrap_or("UNSIGNED-PAYLOAD").to_string(),
    };
    if let (Some(claimed), Payload::Body(_)) = (claimed, payload) {
        if !claimed.eq_ignore_ascii_case(&payload_hash) {
            return Err(err(
                "InvalidSignatureException",
                format!("The x-amz-content-sha256 header ({claimed}) does not match the SHA-256 of the request body ({payload_hash})."),
            ));
        }
    }
    let canonical_request = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed}\n{payload_hash}",
        uri_encode(uri.path(), true),
        canonical_query(uri.query())
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    let expected = hex(&hmac(&k_signing, to_sign.as_bytes()));
    let same = expected.len() == signature.len()
        && expected
            .bytes()
            .zip(signature.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err(err(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_parse() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160_000));
        assert_eq!(parse_amz_date("2015-08-30"), None);
    }

    #[test]
    fn aws_example_signature_verifies() {
        // The GET example of the AWS SigV4 documentation (service iam).
        let mut headers = HeaderMap::new();
        headers.insert(
            "host",
            "iam.amazonaws.com"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        headers.insert(
            "x-amz-date",
            "20150830T123600Z"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        let uri: http::Uri = "/?Action=ListUsers&Version=2010-05-08"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        let mut cfg = example_keys();
        let now = parse_amz_date("20150830T123600Z").unwrap_or(0);
        assert_eq!(verify(&cfg, "GET", &uri, &headers, b"", now), Ok(()));
        cfg.keys.insert("AKIDEXAMPLE".into(), "wrong".into());
        assert_eq!(
            verify(&cfg, "GET", &uri, &headers, b"", now).map_err(|e| e.kind),
            Err("InvalidSignatureException")
        );
    }

    /// Signs a JSON POST as an SDK would (with `x-amz-content-sha256` of `signed_body`).
    fn signed_post(signed_body: &[u8], amz_date: &str, scope_date: &str) -> (http::Uri, HeaderMap) {
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let hash = hex(&Sha256::digest(signed_body));
        let uri: http::Uri = "/".parse().unwrap_or_else(|_| unreachable!());
        let canonical = format!(
            "POST\n/\n\nhost:kinesis.us-east-1.amazonaws.com\nx-amz-content-sha256:{hash}\nx-amz-date:{amz_date}\n\nhost;x-amz-content-sha256;x-amz-date\n{hash}"
        );
        let scope = format!("{scope_date}/us-east-1/kinesis/aws4_request");
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let k = hmac(format!("AWS4{secret}").as_bytes(), scope_date.as_bytes());
        let k = hmac(&hmac(&hmac(&k, b"us-east-1"), b"kinesis"), b"aws4_request");
        let sig = hex(&hmac(&k, to_sign.as_bytes()));
        let mut headers = HeaderMap::new();
        let mut set = |k: &'static str, v: String| {
            headers.insert(k, v.parse().unwrap_or_else(|_| unreachable!()));
        };
        set("host", "kinesis.us-east-1.amazonaws.com".into());
        set("x-amz-content-sha256", hash);
        set("x-amz-date", amz_date.into());
        set("authorization", format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={sig}"));
        (uri, headers)
    }

    fn example_keys() -> AuthConfig {
        let mut cfg = AuthConfig {
            enabled: true,
            keys: BTreeMap::new(),
        };
        cfg.keys.insert(
            "AKIDEXAMPLE".into(),
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        );
        cfg
    }

    #[test]
    fn a_signed_request_cannot_carry_another_body() {
        let cfg = example_keys();
        let now = parse_amz_date("20261130T120000Z").unwrap_or(0);
        let body = br#"{"StreamName":"a"}"#;
        let (uri, headers) = signed_post(body, "20261130T120000Z", "20261130");
        assert_eq!(verify(&cfg, "POST", &uri, &headers, body, now), Ok(()));
        let replayed = verify(&cfg, "POST", &uri, &headers, br#"{"StreamName":"b"}"#, now)
            .map_err(|e| (e.kind, e.message));
        let Err((kind, message)) = replayed else {
            panic!("a replayed request with another body was accepted")
        };
        assert_eq!(kind, "InvalidSignatureException");
        assert!(message.contains("x-amz-content-sha256"), "{message}");
    }

    #[test]
    fn the_scope_date_must_be_the_request_date() {
        let cfg = example_keys();
        let now = parse_amz_date("20261130T000500Z").unwrap_or(0);
        let body = b"{}";
        let (uri, headers) = signed_post(body, "20261130T000500Z", "20261129");
        let e = verify(&cfg, "POST", &uri, &headers, body, now).map_err(|e| (e.kind, e.message));
        assert_eq!(
            e,
            Err((
                "InvalidSignatureException",
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261129' != '20261130', from '20261130T000500Z'.".to_string()
            ))
        );
    }
}
