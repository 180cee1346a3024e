//! Which service owns a request: by `X-Amz-Target` prefix (AWS JSON and CBOR
//! protocols), by path prefix (REST protocols), longest prefix first, or by SigV4
//! signing name (Query protocol).

use std::sync::Arc;

use freshet_protocol::service::{Route, Service};

/// The services behind the front door and the routes they claimed.
#[derive(Default)]
pub struct Router {
    targets: Vec<(&'static str, Arc<dyn Service>)>,
    paths: Vec<(&'static str, Arc<dyn Service>)>,
    queries: Vec<(&'static str, Arc<dyn Service>)>,
    services: Vec<Arc<dyn Service>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.services.iter().map(|s| s.name()).collect();
        f.debug_struct("Router").field("services", &names).finish()
    }
}

/// Two services claimed the same route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConflict(pub String);

impl std::fmt::Display for RouteConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "two services claim the route {}", self.0)
    }
}

impl Router {
    /// Adds a service and its routes.
    pub fn add(&mut self, service: Arc<dyn Service>) -> Result<(), RouteConflict> {
        for route in service.routes() {
            let (table, prefix) = match route {
                Route::TargetPrefix(p) => (&mut self.targets, p),
                Route::PathPrefix(p) => (&mut self.paths, p),
                Route::Query(p) => (&mut self.queries, p),
            };
            if table.iter().any(|(q, _)| *q == prefix) {
                return Err(RouteConflict(prefix.to_string()));
            }
            table.push((prefix, Arc::clone(&service)));
            table.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        }
        self.services.push(service);
        Ok(())
    }

    /// The service owning an `X-Amz-Target`, with its route and the operation.
    pub fn by_target<'t>(&self, target: &'t str) -> Option<(&Arc<dyn Service>, Route, &'t str)> {
        self.targets.iter().find_map(|(p, s)| {
            target
                .strip_prefix(p)
                .map(|op| (s, Route::TargetPrefix(p), op))
        })
    }

    /// The service owning a path.
    pub fn by_path(&self, path: &str) -> Option<(&Arc<dyn Service>, Route)> {
        self.paths
            .iter()
            .find(|(p, _)| path.starts_with(p))
            .map(|(p, s)| (s, Route::PathPrefix(p)))
    }

    /// The Query-protocol service for a request whose `Action` is `action`: the one
    /// claiming `signing_name` (the credential scope's service) when the request is
    /// signed, else the first that knows the action.
    pub fn by_query(
        &self,
        signing_name: Option<&str>,
        action: &str,
    ) -> Option<(&Arc<dyn Service>, Route)> {
        self.queries
            .iter()
            .find(|(name, s)| match signing_name {
                Some(signed) => *name == signed,
                None => s.knows(&Route::Query(name), action),
            })
            .map(|(name, s)| (s, Route::Query(name)))
    }

    /// Every service, in the order added.
    pub fn services(&self) -> &[Arc<dyn Service>] {
        &self.services
    }
}
