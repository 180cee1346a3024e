//! Credentials and region as the AWS SDKs find them, through the SDK's own providers
//! (`aws-config`), resolved once per client and cached.
//!
//! [`Credentials::default_chain`] (what [`ClientConfig::new`](crate::ClientConfig::new)
//! uses) tries, in the SDK's order:
//!
//! 1. the environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`;
//! 2. the profile files: `~/.aws/credentials` and `~/.aws/config` (or
//!    `AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`), profile `AWS_PROFILE` (else
//!    `default`): static keys, `role_arn` with `source_profile`, `credential_process`,
//!    and SSO (with the `tls` feature);
//! 3. web identity: `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN` (STS, so `tls`);
//! 4. the container endpoint: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or
//!    `AWS_CONTAINER_CREDENTIALS_FULL_URI` (ECS, EKS Pod Identity), with
//!    `AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]`;
//! 5. instance metadata (IMDSv2), unless `AWS_EC2_METADATA_DISABLED=true`: at most 2
//!    attempts with 1 s connect and read timeouts each.
//!
//! **Loopback endpoints** (`127.0.0.0/8`, `::1`, `localhost`, a Freshet on this host)
//! skip step 5: instance credentials rotate, so they can never match a `freshet serve
//! --access-key`, and probing an absent metadata service costs seconds. When steps 1 to 4
//! find nothing there, requests are signed with the placeholder [`Credentials::local`]
//! (`freshet`/`freshet`), which a server without `--auth` accepts. Any other endpoint
//! gets an error instead of a placeholder. A provider that found its configuration but
//! failed (an unreadable profile, a container endpoint that is down) is an error
//! everywhere.
//!
//! Credentials are cached per client (and its clones) and fetched again a minute before
//! they expire; ones without an expiry (static keys, the placeholder) are looked up again
//! every 15 minutes, as the SDKs' identity cache does. One request at a time fetches;
//! the others wait for its result.
//!
//! The signing region: [`ClientConfig::region`](crate::ClientConfig::region) when set,
//! else `AWS_REGION` / `AWS_DEFAULT_REGION`, else the profile's `region`, else (not for
//! loopback endpoints) instance metadata, else the region in an `*.amazonaws.com`
//! endpoint's name, else `us-east-1`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::environment::{
    EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
};
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::{ProfileFileCredentialsProvider, ProfileFileRegionProvider};
use aws_config::provider_config::ProviderConfig;
use aws_config::BehaviorVersion;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_types::region::Region;

use crate::error::{Error, Result};

/// Credentials without an expiry are looked up again after this long.
const STATIC_REFRESH: Duration = Duration::from_secs(15 * 60);
/// Expiring credentials are fetched again this long before they expire.
const EXPIRY_BUFFER: Duration = Duration::from_secs(60);
/// Instance metadata: attempts, and the connect and read timeouts of each.
const IMDS_ATTEMPTS: u32 = 2;
const IMDS_TIMEOUT: Duration = Duration::from_secs(1);
/// The region when nothing names one.
const DEFAULT_REGION: &str = "us-east-1";
/// The name the signing identity carries for fixed credentials.
const PROVIDER_NAME: &str = "freshet-client";

/// Where a client's signing credentials come from: fixed keys, any credentials
/// provider of the AWS SDK, or the standard chain (see the [module docs](self)).
#[derive(Clone)]
pub struct Credentials {
    source: Source,
}

#[derive(Clone)]
enum Source {
    Fixed(aws_credential_types::Credentials),
    Provider(SharedCredentialsProvider),
    DefaultChain,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::Fixed(c) => f
                .debug_struct("Credentials")
                .field("access_key_id", &c.access_key_id())
                .finish_non_exhaustive(),
            Source::Provider(p) => f.debug_tuple("Credentials").field(p).finish(),
            Source::DefaultChain => f.write_str("Credentials(DefaultChain)"),
        }
    }
}

impl Credentials {
    /// Fixed long-term keys.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self::from(aws_credential_types::Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            PROVIDER_NAME,
        ))
    }

    /// Fixed temporary credentials (from STS AssumeRole, say): sent with
    /// `X-Amz-Security-Token`.
    pub fn temporary(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: impl Into<String>,
    ) -> Self {
        Self::from(aws_credential_types::Credentials::new(
            access_key_id,
            secret_access_key,
            Some(session_token.into()),
            None,
            PROVIDER_NAME,
        ))
    }

    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` as fixed
    /// credentials, when the first two are set (the first step of
    /// [`Credentials::default_chain`], read once, now).
    pub fn from_env() -> Option<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|s| !s.is_empty());
        let (id, secret) = (var("AWS_ACCESS_KEY_ID")?, var("AWS_SECRET_ACCESS_KEY")?);
        Some(match var("AWS_SESSION_TOKEN") {
            Some(token) => Credentials::temporary(id, secret, token),
            None => Credentials::new(id, secret),
        })
    }

    /// The placeholder `freshet`/`freshet`, for local endpoints that do not check
    /// signatures.
    pub fn local() -> Self {
        Credentials::new("freshet", "freshet")
    }

    /// The standard AWS chain, resolved on the first request and cached: see the
    /// [module docs](self) for the order and the loopback rule.
    pub fn default_chain() -> Self {
        Credentials {
            source: Source::DefaultChain,
        }
    }

    /// Any credentials provider of the AWS SDK (an `AssumeRoleProvider`, an
    /// `ImdsCredentialsProvider`, ...), called when its credentials are near expiry.
    pub fn from_provider(provider: impl ProvideCredentials + 'static) -> Self {
        Credentials {
            source: Source::Provider(SharedCredentialsProvider::new(provider)),
        }
    }

    /// The access key id of fixed credentials (`None` for a provider or the chain).
    pub fn access_key_id(&self) -> Option<&str> {
        match &self.source {
            Source::Fixed(c) => Some(c.access_key_id()),
            _ => None,
        }
    }
}

impl From<aws_credential_types::Credentials> for Credentials {
    fn from(c: aws_credential_types::Credentials) -> Self {
        Credentials {
            source: Source::Fixed(c),
        }
    }
}

/// Whether `host` (a URI authority's host, IPv6 in brackets or not) is this machine.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// The region in an AWS endpoint's host name: `kinesis.eu-west-1.amazonaws.com` ->
/// `eu-west-1`.
fn region_of_aws_host(host: &str) -> Option<String> {
    let labels: Vec<&str> = host.split('.').collect();
    let at = labels.iter().position(|l| *l == "amazonaws")?;
    let candidate = labels.get(at.checked_sub(1)?)?;
    let looks_like_region = candidate.contains('-')
        && candidate.chars().any(|c| c.is_ascii_digit())
        && candidate
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    looks_like_region.then(|| candidate.to_string())
}

/// The client's HTTP stack for the providers that call out (container endpoint,
/// instance metadata, STS, SSO): plain HTTP, or with `tls` HTTPS through rustls (ring)
/// trusting the system's roots and the CA bundle.
fn provider_http_client(
    ca_bundle: Option<&[u8]>,
) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    #[cfg(feature = "tls")]
    {
        use aws_smithy_http_client::tls;
        let mut trust = tls::TrustStore::default();
        if let Some(pem) = ca_bundle {
            trust = trust.with_pem_certificate(pem.to_vec());
        }
        match tls::TlsContext::builder().with_trust_store(trust).build() {
            Ok(context) => {
                return aws_smithy_http_client::Builder::new()
                    .tls_provider(tls::Provider::Rustls(
                        tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .tls_context(context)
                    .build_https()
            }
            Err(e) => tracing::warn!(error = %e, "credential providers: no HTTPS, only HTTP"),
        }
    }
    let _ = ca_bundle;
    aws_smithy_http_client::Builder::new().build_http()
}

/// The CA bundle file the AWS SDKs and CLI trust in addition to the usual roots:
/// `AWS_CA_BUNDLE`, else the `ca_bundle` setting of the profile (`AWS_PROFILE`, else
/// `default`) in `~/.aws/config`.
/// Returns the file and which of the two named it.
pub(crate) fn ca_bundle_path() -> Option<(&'static str, PathBuf)> {
    if let Some(p) = std::env::var_os("AWS_CA_BUNDLE").filter(|p| !p.is_empty()) {
        return Some(("AWS_CA_BUNDLE", PathBuf::from(p)));
    }
    profile_setting("ca_bundle").map(|p| ("ca_bundle of the AWS profile", expand_home(&p)))
}

/// A setting of the selected profile. The SDK's profile loader only reads files (it is
/// `async` for its file-system abstraction), so it completes on its first poll; should
/// that ever change, the setting is skipped with a warning.
fn profile_setting(key: &str) -> Option<String> {
    use aws_runtime::env_config::file::EnvConfigFiles;
    use aws_types::os_shim_internal::{Env, Fs};
    use futures_util::FutureExt as _;
    let files = EnvConfigFiles::default();
    let (fs, env) = (Fs::real(), Env::real());
    match aws_config::profile::load(&fs, &env, &files, None).now_or_never() {
        Some(Ok(profiles)) => profiles.get(key).map(str::to_string),
        Some(Err(e)) => {
            tracing::debug!(error = %e, key, "AWS profile files not read");
            None
        }
        None => {
            tracing::warn!(
                key,
                "the AWS profile files did not load at once: setting ignored"
            );
            None
        }
    }
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// A client's signing identity: the region and the credentials, resolved on first use
/// and shared by the client's clones.
pub(crate) struct Signer {
    source: Source,
    explicit_region: Option<String>,
    host: String,
    loopback: bool,
    ca_bundle: Option<Arc<[u8]>>,
    resolved: tokio::sync::OnceCell<Resolved>,
    cache: tokio::sync::Mutex<Option<Cached>>,
}

struct Resolved {
    region: String,
    provider: Option<SharedCredentialsProvider>,
}

struct Cached {
    credentials: aws_credential_types::Credentials,
    refresh_at: SystemTime,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("host", &self.host)
            .field("loopback", &self.loopback)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// The identity of requests to `host` (the endpoint's host, without port).
    pub(crate) fn new(
        credentials: &Credentials,
        region: Option<&str>,
        host: &str,
        ca_bundle: Option<Arc<[u8]>>,
    ) -> Self {
        Signer {
            source: credentials.source.clone(),
            explicit_region: region.filter(|r| !r.is_empty()).map(str::to_string),
            host: host.to_string(),
            loopback: is_loopback_host(host),
            ca_bundle,
            resolved: tokio::sync::OnceCell::new(),
            cache: tokio::sync::Mutex::new(None),
        }
    }

    /// The signing region.
    pub(crate) async fn region(&self) -> &str {
        &self.resolved.get_or_init(|| self.resolve()).await.region
    }

    /// The region and the credentials to sign a request with now.
    pub(crate) async fn identity(&self) -> Result<(&str, aws_credential_types::Credentials)> {
        let resolved = self.resolved.get_or_init(|| self.resolve()).await;
        let credentials = match (&self.source, &resolved.provider) {
            (_, Some(provider)) => self.cached(provider).await?,
            (Source::Fixed(c), None) => c.clone(),
            (_, None) => placeholder(),
        };
        Ok((resolved.region.as_str(), credentials))
    }

    /// Builds the region and the provider, once.
    async fn resolve(&self) -> Resolved {
        let http = provider_http_client(self.ca_bundle.as_deref());
        let conf = ProviderConfig::without_region()
            .with_http_client(http)
            .with_behavior_version(Some(BehaviorVersion::latest()));
        let imds = (!self.loopback).then(|| {
            aws_config::imds::Client::builder()
                .configure(&conf)
                .max_attempts(IMDS_ATTEMPTS)
                .connect_timeout(IMDS_TIMEOUT)
                .read_timeout(IMDS_TIMEOUT)
                .build()
        });
        let region = match &self.explicit_region {
            Some(r) => r.clone(),
            None => {
                let mut chain =
                    RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
                        .or_else(
                            ProfileFileRegionProvider::builder()
                                .configure(&conf)
                                .build(),
                        );
                if let Some(imds) = &imds {
                    chain = chain.or_else(
                        aws_config::imds::region::ImdsRegionProvider::builder()
                            .configure(&conf)
                            .imds_client(imds.clone())
                            .build(),
                    );
                }
                match chain.region().await {
                    Some(r) => r.to_string(),
                    None => region_of_aws_host(&self.host).unwrap_or_else(|| {
                        if !self.loopback {
                            tracing::warn!(host = %self.host, "no AWS region configured: signing for {DEFAULT_REGION}");
                        }
                        DEFAULT_REGION.to_string()
                    }),
                }
            }
        };
        let conf = conf.with_region(Some(Region::new(region.clone())));
        let provider = match &self.source {
            Source::Fixed(_) => None,
            Source::Provider(p) => Some(p.clone()),
            Source::DefaultChain => Some(match imds {
                None => SharedCredentialsProvider::new(local_chain(&conf)),
                Some(imds) => SharedCredentialsProvider::new(
                    aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                        .configure(conf)
                        .region(Region::new(region.clone()))
                        .imds_client(imds)
                        .build()
                        .await,
                ),
            }),
        };
        tracing::debug!(host = %self.host, %region, loopback = self.loopback, "signing identity resolved");
        Resolved { region, provider }
    }

    /// The provider's credentials, from the cache while fresh.
    async fn cached(
        &self,
        provider: &SharedCredentialsProvider,
    ) -> Result<aws_credential_types::Credentials> {
        let mut cache = self.cache.lock().await;
        let now = SystemTime::now();
        if let Some(c) = cache.as_ref().filter(|c| now < c.refresh_at) {
            return Ok(c.credentials.clone());
        }
        let credentials = match provider.provide_credentials().await {
            Ok(c) => c,
            Err(CredentialsError::CredentialsNotLoaded(_))
                if self.loopback && matches!(self.source, Source::DefaultChain) =>
            {
                tracing::debug!(host = %self.host, "no AWS credentials found: signing with the local placeholder");
                placeholder()
            }
            Err(e) => {
                return Err(Error::Signing(format!(
                    "no AWS credentials for {}: {}",
                    self.host,
                    error_chain(&e)
                )))
            }
        };
        let refresh_at = match credentials.expiry() {
            Some(expiry) => expiry.checked_sub(EXPIRY_BUFFER).unwrap_or(expiry),
            None => now + STATIC_REFRESH,
        };
        *cache = Some(Cached {
            credentials: credentials.clone(),
            refresh_at,
        });
        Ok(credentials)
    }
}

/// The placeholder of [`Credentials::local`].
fn placeholder() -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new("freshet", "freshet", None, None, PROVIDER_NAME)
}

/// The default chain less instance metadata, for loopback endpoints.
fn local_chain(conf: &ProviderConfig) -> CredentialsProviderChain {
    CredentialsProviderChain::first_try(
        "Environment",
        EnvironmentVariableCredentialsProvider::new(),
    )
    .or_else(
        "Profile",
        ProfileFileCredentialsProvider::builder()
            .configure(conf)
            .build(),
    )
    .or_else(
        "WebIdentityToken",
        aws_config::web_identity_token::WebIdentityTokenCredentialsProvider::builder()
            .configure(conf)
            .build(),
    )
    .or_else(
        "EcsContainer",
        aws_config::ecs::EcsCredentialsProvider::builder()
            .configure(conf)
            .build(),
    )
}

/// An error and its sources, `: `-separated.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    // Bounded: source chains are short; cap them anyway.
    for _ in 0..8 {
        let Some(s) = source else { break };
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1",
            "127.9.9.9",
            "[::1]",
            "::1",
            "localhost",
            "a.localhost",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "kinesis.us-east-1.amazonaws.com",
            "10.0.0.1",
            "example.com",
            "[fe80::1]",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn regions_of_aws_hosts() {
        assert_eq!(
            region_of_aws_host("kinesis.eu-west-1.amazonaws.com").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            region_of_aws_host("kinesis.cn-north-1.amazonaws.com.cn").as_deref(),
            Some("cn-north-1")
        );
        assert_eq!(region_of_aws_host("example.com"), None);
        assert_eq!(region_of_aws_host("amazonaws.com"), None);
    }

    #[tokio::test]
    async fn fixed_credentials_and_explicit_region_need_no_lookup() {
        let signer = Signer::new(
            &Credentials::temporary("AKID", "SECRET", "TOKEN"),
            Some("eu-central-1"),
            "127.0.0.1",
            None,
        );
        let (region, c) = signer.identity().await.unwrap();
        assert_eq!(region, "eu-central-1");
        assert_eq!(c.access_key_id(), "AKID");
        assert_eq!(c.session_token(), Some("TOKEN"));
    }

    #[derive(Debug)]
    struct Counting(std::sync::atomic::AtomicU32, Option<SystemTime>);

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            aws_credential_types::provider::future::ProvideCredentials::ready(Ok(
                aws_credential_types::Credentials::new(
                    format!("AKID{n}"),
                    "SECRET",
                    None,
                    self.1,
                    "counting",
                ),
            ))
        }
    }

    #[tokio::test]
    async fn provider_credentials_are_cached_until_near_expiry() {
        let long = Counting(
            Default::default(),
            Some(SystemTime::now() + Duration::from_secs(3600)),
        );
        let signer = Signer::new(
            &Credentials::from_provider(long),
            Some("us-east-1"),
            "127.0.0.1",
            None,
        );
        for _ in 0..3 {
            assert_eq!(signer.identity().await.unwrap().1.access_key_id(), "AKID0");
        }
        // Expiring within the buffer: fetched every time.
        let short = Counting(
            Default::default(),
            Some(SystemTime::now() + Duration::from_secs(10)),
        );
        let signer = Signer::new(
            &Credentials::from_provider(short),
            Some("us-east-1"),
            "127.0.0.1",
            None,
        );
        assert_eq!(signer.identity().await.unwrap().1.access_key_id(), "AKID0");
        assert_eq!(signer.identity().await.unwrap().1.access_key_id(), "AKID1");
    }
}
