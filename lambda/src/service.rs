//! [`LambdaService`]: the Lambda API behind the front door.

use std::sync::Arc;

use freshet_protocol::service::{BoxFuture, Call, Reply, Route, Service};
use freshet_storage::Engine;

use crate::catalog::Catalog;
use crate::config::LambdaConfig;
use crate::error::LambdaResult;
use crate::esm::Mappings;
use crate::runtime::Runtimes;

/// What every handler shares.
pub(crate) struct Lambda {
    pub cfg: LambdaConfig,
    pub engine: Engine,
    pub catalog: Catalog,
    pub runtimes: Runtimes,
    pub mappings: Mappings,
}

/// Lambda's REST API (`/2015-03-31/...`), served on the front door's port.
pub struct LambdaService {
    inner: Arc<Lambda>,
}

impl LambdaService {
    /// Opens the service over `engine` and starts the mappings the catalog holds.
    /// Call within a tokio runtime.
    pub fn open(engine: Engine, cfg: LambdaConfig) -> LambdaResult<LambdaService> {
        let catalog = Catalog::open(&engine)?;
        let runtimes = Runtimes::new(
            cfg.python.clone(),
            cfg.region.clone(),
            cfg.root.join("logs"),
            cfg.idle_timeout,
            cfg.logs.clone(),
            Arc::clone(&cfg.endpoint),
        );
        let mappings = Mappings::new(
            engine.clone(),
            catalog.clone(),
            runtimes.clone(),
            cfg.clone(),
        );
        let inner = Arc::new(Lambda {
            cfg,
            engine,
            catalog,
            runtimes,
            mappings,
        });
        inner.mappings.start_all()?;
        Ok(LambdaService { inner })
    }

    /// The service as other services invoke its functions (Firehose's transforms).
    pub fn functions(&self) -> Arc<dyn freshet_protocol::service::Functions> {
        Arc::new(FunctionsHandle(Arc::clone(&self.inner)))
    }
}

/// [`freshet_protocol::service::Functions`] over the service.
struct FunctionsHandle(Arc<Lambda>);

impl freshet_protocol::service::Functions for FunctionsHandle {
    fn invoke(
        &self,
        function: &str,
        payload: bytes::Bytes,
    ) -> BoxFuture<'static, Result<freshet_protocol::service::Invoked, String>> {
        let l = Arc::clone(&self.0);
        let reference = function.to_string();
        Box::pin(async move {
            let name =
                crate::api::functions::resolve_name(&l, &reference).map_err(|e| e.message)?;
            let f = crate::api::functions::load(&l, &name)
                .await
                .map_err(|e| e.message)?;
            if f.state == crate::model::FunctionState::Failed {
                return Err(format!("the function {name} is in the Failed state"));
            }
            let spec = crate::api::functions::spec(&l, &f)
                .ok_or_else(|| format!("the runtime {} cannot run here", f.runtime))?;
            let o = l
                .runtimes
                .invoke(&spec, payload, true, false, None)
                .await
                .map_err(|e| format!("{e:?}"))?;
            Ok(freshet_protocol::service::Invoked {
                payload: o.payload,
                function_error: o.function_error.map(str::to_string),
            })
        })
    }
}

impl Service for LambdaService {
    fn name(&self) -> &'static str {
        "lambda"
    }

    fn routes(&self) -> Vec<Route> {
        vec![
            Route::PathPrefix("/2015-03-31/"),
            Route::PathPrefix("/2017-10-31/"),
            Route::PathPrefix("/2019-09-30/"),
        ]
    }

    fn knows(&self, _route: &Route, _operation: &str) -> bool {
        true
    }

    fn auth_error_status(&self) -> u16 {
        403
    }

    fn error_members(&self, error: &freshet_protocol::ApiError) -> Vec<(&'static str, String)> {
        // Lambda says whose fault an error is: the caller's or the service's.
        let side = if error.status >= 500 {
            "Service"
        } else {
            "User"
        };
        vec![("Type", side.to_string())]
    }

    fn max_body_bytes(&self) -> usize {
        // CreateFunction and UpdateFunctionCode carry the zip (AWS: 50 MB, base64).
        70_167_211
    }

    fn call(&self, call: Call) -> BoxFuture<'static, Reply> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { crate::api::handle(inner, call).await })
    }

    fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(
            out,
            "# TYPE freshet_lambda_idle_instances gauge\nfreshet_lambda_idle_instances {}",
            self.inner.runtimes.idle_instances()
        );
        self.inner.mappings.render_metrics(out);
    }

    fn shut_down(&self) {
        self.inner.mappings.shut_down();
        self.inner.runtimes.shut_down();
    }
}
