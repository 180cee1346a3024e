//! Freshet's front door and the `freshet` binary: one port, HTTP/1.1 and h2c, that
//! owns what every service shares — admission ([`admission`], [`request_body`]), SigV4
//! ([`auth`]), request metrics ([`metrics`]) and graceful shutdown — and routes each
//! request to the [`Service`](freshet_protocol::service::Service) that owns it
//! ([`router`], [`http`]). The services themselves live in their own crates
//! (`freshet-kinesis`, ...); [`cli`] wires them together. The web console at
//! `/console` is [`console`].

pub mod admission;
pub mod auth;
pub mod bench;
pub mod body;
pub mod ceiling;
pub mod cli;
pub mod console;
pub mod http;
pub mod metrics;
pub mod people;
pub mod request_body;
pub mod router;
pub mod tls;

pub use http::FrontDoor;
