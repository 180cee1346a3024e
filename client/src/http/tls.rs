//! HTTPS for `https://` endpoints (feature `tls`): rustls with the ring provider,
//! trusting the webpki roots and the CA bundle the AWS SDKs and CLI name
//! (`AWS_CA_BUNDLE`, the profile's `ca_bundle`, or [`ClientConfig::ca_bundle`]), and
//! offering ALPN `h2` and `http/1.1`: HTTP/2 where the server agrees (as Amazon Kinesis
//! does, and requires for SubscribeToShard), else HTTP/1.1.
//!
//! [`ClientConfig::ca_bundle`]: super::ClientConfig::ca_bundle

use std::sync::Arc;

use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::error::{Error, Result};

/// The connector: TCP, with TLS for `https://`.
pub(crate) type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The trusted certificates of a CA bundle (PEM); an error naming `what` when it has
/// none.
pub(crate) fn bundle_certs(what: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::InvalidArgument(format!("CA bundle {what}: not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "CA bundle {what}: no PEM CERTIFICATE block in it"
        )));
    }
    Ok(certs)
}

/// TCP with TLS, trusting the webpki roots and `bundle` (`what` names it in errors).
pub(crate) fn connector(
    mut tcp: HttpConnector,
    bundle: Option<(&str, &[u8])>,
) -> Result<Connector> {
    tcp.enforce_http(false);
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some((what, pem)) = bundle {
        let (added, ignored) = roots.add_parsable_certificates(bundle_certs(what, pem)?);
        if added == 0 {
            return Err(Error::InvalidArgument(format!(
                "CA bundle {what}: none of its {ignored} certificates is usable"
            )));
        }
        tracing::debug!(bundle = what, added, ignored, "CA bundle trusted");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::InvalidArgument(format!("TLS set-up failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(tcp))
}
