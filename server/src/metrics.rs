//! The front door's Prometheus metrics: requests by service, action and outcome. Each
//! service appends its own series ([`Service::render_metrics`]).
//!
//! [`Service::render_metrics`]: freshet_protocol::service::Service::render_metrics

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Request counts, by (service, action, outcome).
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, String, String), u64>>,
}

/// Escapes a Prometheus label value.
pub fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Counts a request by service, action and outcome (`ok` or the exception type).
    pub fn request(&self, service: &'static str, action: &str, outcome: &str) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((service, action.to_string(), outcome.to_string()))
            .or_default() += 1;
    }

    /// Appends the request counters to `out`.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP freshet_requests_total API requests by service, action and outcome.\n# TYPE freshet_requests_total counter");
        let requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        for ((service, action, outcome), n) in requests.iter() {
            let _ = writeln!(
                out,
                "freshet_requests_total{{service=\"{service}\",action=\"{}\",outcome=\"{}\"}} {n}",
                escape_label(action),
                escape_label(outcome)
            );
        }
    }
}
