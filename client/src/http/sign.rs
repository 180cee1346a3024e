//! SigV4 request signing.

use std::time::SystemTime;

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::error::{Error, Result};

/// Signs a request with SigV4 for `service` in `region`: adds `Authorization`,
/// `X-Amz-Date` and (with a session token) `X-Amz-Security-Token`.
pub(crate) fn sign_request(
    request: &mut http::Request<bytes::Bytes>,
    credentials: AwsCredentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<()> {
    let identity: Identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| Error::Signing(e.to_string()))?
        .into();
    let mut headers = Vec::with_capacity(request.headers().len());
    for (k, v) in request.headers() {
        let v = v.to_str().map_err(|e| Error::Signing(e.to_string()))?;
        headers.push((k.as_str(), v));
    }
    let uri = request.uri().to_string();
    let signable = SignableRequest::new(
        request.method().as_str(),
        uri,
        headers.into_iter(),
        SignableBody::Bytes(request.body()),
    )
    .map_err(|e| Error::Signing(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| Error::Signing(e.to_string()))?
        .into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_adds_the_auth_headers() {
        let mut req = http::Request::builder()
            .method("POST")
            .uri("http://127.0.0.1:4567/")
            .header("host", "127.0.0.1:4567")
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", "Kinesis_20131202.ListStreams")
            .body(bytes::Bytes::from_static(b"{}"))
            .unwrap();
        let creds = AwsCredentials::new("AKID", "SECRET", Some("TOKEN".into()), None, "test");
        sign_request(
            &mut req,
            creds,
            "us-east-1",
            "kinesis",
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        let auth = req.headers()["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKID/19700101/us-east-1/kinesis/aws4_request"
            ),
            "{auth}"
        );
        assert!(auth.contains("SignedHeaders="));
        assert_eq!(req.headers()["x-amz-date"], "19700101T000000Z");
        assert_eq!(req.headers()["x-amz-security-token"], "TOKEN");
    }
}
