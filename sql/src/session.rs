//! The DataFusion session: every stream (and every declared table) in schema
//! `public`, PostgreSQL's catalog and functions for clients, `discover_schema()`.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::prelude::{SessionConfig, SessionContext};
use freshet_storage::Engine;

use crate::catalog::{Catalog, TableDef};
use crate::discover::DiscoverSchema;
use crate::scan::StreamTable;

/// Streams and declared tables as the `public` schema.
#[derive(Debug)]
pub struct StreamSchema {
    engine: Engine,
    catalog: Catalog,
    default_limit: u64,
}

impl StreamSchema {
    /// The definition behind a table name: a declaration, else the stream's raw table.
    pub fn definition(&self, name: &str) -> Option<TableDef> {
        if let Ok(Some(def)) = self.catalog.table(name) {
            return Some(def);
        }
        self.engine
            .stream_summary(name)
            .ok()
            .map(|_| TableDef::raw(name))
    }
}

#[async_trait]
impl SchemaProvider for StreamSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.engine.list_streams().unwrap_or_default();
        for t in self.catalog.tables().unwrap_or_default() {
            if !names.contains(&t.name) {
                names.push(t.name);
            }
        }
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        Ok(self.definition(name).map(|def| {
            Arc::new(StreamTable::new(
                self.engine.clone(),
                def,
                self.default_limit,
            )) as Arc<dyn TableProvider>
        }))
    }

    fn register_table(
        &self,
        name: String,
        _table: Arc<dyn TableProvider>,
    ) -> DfResult<Option<Arc<dyn TableProvider>>> {
        Err(DataFusionError::Plan(format!(
            "cannot create table {name}: tables are streams; declare one with \
             CREATE TABLE {name} (...) WITH (stream = '...', format = 'json')"
        )))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.definition(name).is_some()
    }
}

/// A session over the engine's streams.
pub fn context(engine: &Engine, catalog: &Catalog, default_limit: u64) -> DfResult<SessionContext> {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema("datafusion", "public")
        .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()));
    let ctx = SessionContext::new_with_config(config);
    let schema = Arc::new(StreamSchema {
        engine: engine.clone(),
        catalog: catalog.clone(),
        default_limit,
    });
    if let Some(c) = ctx.catalog("datafusion") {
        c.register_schema("public", schema)?;
    }
    datafusion_postgres::datafusion_pg_catalog::setup_pg_catalog(
        &ctx,
        "datafusion",
        datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider,
    )
    .map_err(|e| *e)?;
    ctx.register_udtf(
        "discover_schema",
        Arc::new(DiscoverSchema {
            engine: engine.clone(),
        }),
    );
    Ok(ctx)
}
