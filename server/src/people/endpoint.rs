//! Where the commands connect and how they sign: the endpoint (`--endpoint`, else
//! `FRESHET_ENDPOINT`, `AWS_ENDPOINT_URL_KINESIS`, `AWS_ENDPOINT_URL`, else the
//! server's default address), credentials and region as the client finds them (the
//! AWS environment variables and profiles; `--profile` and `--region` set them), and
//! client errors worded for people with their exit codes.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use freshet_client::{ClientConfig, Error, KinesisApi, KinesisClient, StreamSummary};

use super::Failure;

/// Where `freshet serve` listens by default.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4567";
/// Environment variables naming the endpoint, in the order they are read.
pub const ENDPOINT_VARIABLES: [&str; 3] = [
    "FRESHET_ENDPOINT",
    "AWS_ENDPOINT_URL_KINESIS",
    "AWS_ENDPOINT_URL",
];
/// How long the first connection may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The connection options every command for people takes.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Connection")]
pub struct Connection {
    /// The server's URL [default: FRESHET_ENDPOINT, else AWS_ENDPOINT_URL_KINESIS, else
    /// AWS_ENDPOINT_URL, else http://127.0.0.1:4567].
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The AWS profile whose credentials (and region) sign requests (sets AWS_PROFILE).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The region requests are signed for (sets AWS_REGION).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

impl Connection {
    /// Sets `AWS_PROFILE` and `AWS_REGION` from `--profile` and `--region`, for the
    /// client's credential and region chains. Call before threads start.
    pub fn apply_environment(&self) {
        if let Some(p) = self.profile.as_deref().filter(|p| !p.is_empty()) {
            std::env::set_var("AWS_PROFILE", p);
        }
        if let Some(r) = self.region.as_deref().filter(|r| !r.is_empty()) {
            std::env::set_var("AWS_REGION", r);
        }
    }

    /// The endpoint: the option, else the first set variable of
    /// [`ENDPOINT_VARIABLES`], else [`DEFAULT_ENDPOINT`]; without a trailing `/`.
    pub fn endpoint(&self) -> String {
        self.endpoint_with(|name| std::env::var(name).ok())
    }

    fn endpoint_with(&self, var: impl Fn(&str) -> Option<String>) -> String {
        let set = |v: Option<String>| v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let chosen = set(self.endpoint.clone())
            .or_else(|| ENDPOINT_VARIABLES.iter().find_map(|name| set(var(name))))
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        chosen.trim_end_matches('/').to_string()
    }
}

/// A server the commands talk to: its endpoint and a client for it.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The endpoint, as the person gave it (or the default).
    pub endpoint: String,
    /// The client (credentials and region from the AWS chains).
    pub client: Arc<KinesisClient>,
}

impl Remote {
    /// A client for the endpoint of `conn`, once a TCP connection to it succeeds (so
    /// an absent server is reported at once, not after the client's retries).
    pub async fn connect(conn: &Connection) -> Result<Remote, Failure> {
        let endpoint = conn.endpoint();
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|e| Failure::usage(format!("the endpoint {endpoint:?} is not a URL: {e}")))?;
        let host = uri
            .host()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string())
            .ok_or_else(|| Failure::usage(format!("the endpoint {endpoint:?} has no host")))?;
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        let client = KinesisClient::with_config(ClientConfig::new(endpoint.clone()))
            .map_err(|e| Failure::usage(format!("cannot use the endpoint {endpoint}: {e}")))?;
        let remote = Remote {
            endpoint,
            client: Arc::new(client),
        };
        let reached = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::TcpStream::connect((&*host, port)),
        )
        .await;
        match reached {
            Ok(Ok(_)) => Ok(remote),
            Ok(Err(e)) => Err(remote.unreachable(&plain_io_error(&e))),
            Err(_) => Err(remote.unreachable(&format!(
                "no connection within {} s",
                CONNECT_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Whether the endpoint is on this host (so the hint about `freshet serve` fits).
    fn is_local(&self) -> bool {
        let uri: Option<http::Uri> = self.endpoint.parse().ok();
        let host = uri.as_ref().and_then(|u| u.host()).unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// "cannot reach the server at ...", exit code 4.
    pub fn unreachable(&self, why: &str) -> Failure {
        let hint = if self.is_local() {
            " (is `freshet serve` running?)"
        } else {
            ""
        };
        Failure::unreachable(format!(
            "cannot reach the server at {}{hint}: {why}",
            self.endpoint
        ))
    }

    /// `stream "NAME" not found at ENDPOINT`, exit code 3.
    pub fn stream_not_found(&self, stream: &str) -> Failure {
        Failure::not_found(format!("stream {stream:?} not found at {}", self.endpoint))
    }

    /// Words a client error of `doing` (such as "creating stream \"x\"") for a person,
    /// with its exit code; a missing resource is the stream `stream` when given.
    pub fn fail(&self, e: Error, doing: &str, stream: Option<&str>) -> Failure {
        match e {
            Error::ResourceNotFound(m) => match stream {
                Some(s) => self.stream_not_found(s),
                None => Failure::not_found(format!("{doing}: not found: {m}")),
            },
            Error::Transport(m) => self.unreachable(&plain_transport_error(&m)),
            Error::Timeout(d) => {
                self.unreachable(&format!("no answer within {} s while {doing}", d.as_secs()))
            }
            Error::Signing(m) => Failure::failed(format!(
                "cannot sign the request for {doing} (check the AWS credentials): {m}"
            )),
            Error::ResourceInUse(m) => Failure::failed(format!("{doing} failed: {m}")),
            Error::InvalidArgument(m) => Failure::failed(format!("{doing} was refused: {m}")),
            Error::LimitExceeded(m) => {
                Failure::failed(format!("{doing} was refused (a limit): {m}"))
            }
            Error::Throttled(m) => Failure::failed(format!(
                "{doing} was throttled and retries did not get through: {m}"
            )),
            Error::Service {
                code,
                message,
                status,
            } => Failure::failed(format!(
                "{doing} failed: the server answered {code} (HTTP {status}): {message}"
            )),
            other => Failure::failed(format!("{doing} failed: {other}")),
        }
    }

    /// `DescribeStreamSummary`, a missing stream worded as such.
    pub async fn summary(&self, stream: &str) -> Result<StreamSummary, Failure> {
        self.client
            .describe_stream_summary(stream)
            .await
            .map_err(|e| self.fail(e, &format!("describing stream {stream:?}"), Some(stream)))
    }
}

/// An I/O error as a few words ("connection refused"), without the OS error number.
fn plain_io_error(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "connection refused".into(),
        K::ConnectionReset => "connection reset".into(),
        K::TimedOut => "timed out".into(),
        K::AddrNotAvailable => "address not available".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_lowercase(),
                None => s,
            }
        }
    }
}

/// The gist of a transport error of the HTTP client (its `Debug` text).
fn plain_transport_error(m: &str) -> String {
    let lower = m.to_lowercase();
    for (needle, said) in [
        ("connection refused", "connection refused"),
        ("connection reset", "connection reset by the server"),
        ("broken pipe", "the connection broke"),
        ("dns error", "the host name does not resolve"),
        ("failed to lookup address", "the host name does not resolve"),
        ("timed out", "timed out"),
        (
            "incompletemessage",
            "the server closed the connection mid-answer",
        ),
        ("connection closed", "the server closed the connection"),
    ] {
        if lower.contains(needle) {
            return said.to_string();
        }
    }
    m.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_comes_from_the_option_then_the_variables_then_the_default() {
        let none = |_: &str| None;
        let conn = Connection::default();
        assert_eq!(conn.endpoint_with(none), DEFAULT_ENDPOINT);
        let only_aws = |n: &str| (n == "AWS_ENDPOINT_URL").then(|| "http://aws:1/".to_string());
        assert_eq!(conn.endpoint_with(only_aws), "http://aws:1");
        let both = |n: &str| match n {
            "AWS_ENDPOINT_URL" => Some("http://aws:1".to_string()),
            "AWS_ENDPOINT_URL_KINESIS" => Some("http://kinesis:2".to_string()),
            "FRESHET_ENDPOINT" => Some(" ".to_string()),
            _ => None,
        };
        assert_eq!(conn.endpoint_with(both), "http://kinesis:2");
        let given = Connection {
            endpoint: Some("http://given:3".into()),
            ..Connection::default()
        };
        assert_eq!(given.endpoint_with(both), "http://given:3");
    }

    #[test]
    fn transport_errors_are_worded_plainly() {
        assert_eq!(
            plain_transport_error("hyper_util::Error(Connect, ConnectError(\"tcp connect error\", Os { code: 111, kind: ConnectionRefused, message: \"Connection refused\" }))"),
            "connection refused"
        );
        assert_eq!(plain_transport_error("something else"), "something else");
    }
}
