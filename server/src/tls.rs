//! HTTPS on the front door's port: `freshet serve --tls-cert PATH --tls-key PATH` loads
//! a PEM certificate chain and its private key (PKCS#8, PKCS#1 RSA or SEC1 EC) into a
//! rustls server (ring provider, TLS 1.2 and 1.3) that offers ALPN `h2` and `http/1.1`,
//! so HTTP/2 (SubscribeToShard) works over TLS as it does over h2c.
//!
//! The handshake happens after admission (a connection slot) and is bounded by the
//! header read timeout, like a request head: a client that stalls in it cannot hold a
//! slot. A connection over the cap is closed at once rather than answered: a 503 needs a
//! handshake first, the very work an overloaded server should not do, and the AWS SDKs
//! retry a closed connection as they retry a 503.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
pub use tokio_rustls::server::TlsStream;
pub use tokio_rustls::TlsAcceptor;

/// The protocols offered in ALPN, preferred first.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The `freshet serve` flags of HTTPS (boxed in `ServeArgs`, so that the command's
/// variants stay close in size).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// Serve HTTPS (HTTP/1.1 and HTTP/2 through ALPN) with this PEM certificate chain,
    /// leaf first; needs `--tls-key`.
    #[arg(long, env = "FRESHET_TLS_CERT", value_name = "PATH")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key (PKCS#8, RSA or EC) of `--tls-cert`.
    #[arg(long, env = "FRESHET_TLS_KEY", value_name = "PATH")]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The acceptor of the flags' files, `None` without TLS; errors name the flag and
    /// the file.
    pub fn acceptor(&self) -> Result<Option<TlsAcceptor>, String> {
        TlsFiles::from_flags(self.tls_cert.as_deref(), self.tls_key.as_deref())?
            .map(|files| files.acceptor())
            .transpose()
    }
}

/// Where the certificate chain and key are (`--tls-cert`, `--tls-key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key of the leaf.
    pub key: PathBuf,
}

impl TlsFiles {
    /// Both paths or neither: `Ok(None)` without TLS, an error naming the missing flag
    /// when only one is given.
    pub fn from_flags(cert: Option<&Path>, key: Option<&Path>) -> Result<Option<Self>, String> {
        match (cert, key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some(TlsFiles {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            })),
            (Some(_), None) => Err(
                "--tls-cert needs --tls-key (FRESHET_TLS_KEY): the private key of the certificate"
                    .into(),
            ),
            (None, Some(_)) => Err(
                "--tls-key needs --tls-cert (FRESHET_TLS_CERT): the certificate chain of the key"
                    .into(),
            ),
        }
    }

    /// Reads and checks both files and builds the acceptor; errors name the flag, the
    /// file and what is wrong with it.
    pub fn acceptor(&self) -> Result<TlsAcceptor, String> {
        let certs = load_certs(&self.cert)?;
        let key = load_key(&self.key)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up failed: {e}"))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| {
                format!(
                    "--tls-key {} does not go with --tls-cert {}: {e}",
                    self.key.display(),
                    self.cert.display()
                )
            })?;
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

fn read(flag: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{flag} {}: cannot read it: {e}", path.display()))
}

/// Every `CERTIFICATE` block of the PEM file at `path` (leaf first).
fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read("--tls-cert", path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--tls-cert {}: not a PEM file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "--tls-cert {}: no PEM CERTIFICATE block in it",
            path.display()
        ));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, RSA or EC) of the PEM file at `path`.
fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read("--tls-key", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => format!(
            "--tls-key {}: no PEM PRIVATE KEY block (PKCS#8, RSA or EC) in it",
            path.display()
        ),
        e => format!("--tls-key {}: not a PEM key file: {e}", path.display()),
    })
}

/// Runs the server side of the handshake on `stream`, giving up after `timeout`.
pub async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    timeout: Duration,
) -> Result<TlsStream<TcpStream>, String> {
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
        Err(_) => Err(format!(
            "TLS handshake not done within {} ms",
            timeout.as_millis()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_come_in_pairs() {
        let p = Path::new("/x");
        assert_eq!(TlsFiles::from_flags(None, None), Ok(None));
        assert!(TlsFiles::from_flags(Some(p), Some(p)).is_ok_and(|f| f.is_some()));
        let e = TlsFiles::from_flags(Some(p), None).unwrap_err();
        assert!(e.contains("--tls-key"), "{e}");
        let e = TlsFiles::from_flags(None, Some(p)).unwrap_err();
        assert!(e.contains("--tls-cert"), "{e}");
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not pem at all\n").unwrap();
        let files = TlsFiles {
            cert: missing.clone(),
            key: junk.clone(),
        };
        let e = files.acceptor().err().unwrap();
        assert!(e.contains("--tls-cert") && e.contains("missing.pem"), "{e}");
        let files = TlsFiles {
            cert: junk.clone(),
            key: junk.clone(),
        };
        let e = files.acceptor().err().unwrap();
        assert!(e.contains("--tls-cert") && e.contains("junk.pem"), "{e}");
    }
}
