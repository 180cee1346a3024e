//! PostgreSQL's wire protocol (pgwire through datafusion-postgres): Freshet's own
//! statements are recognised first, in the simple and the extended protocol; every
//! other statement goes to datafusion-postgres (pg_catalog, `SET`/`SHOW`, arrow
//! encoding) under the session's scan limit.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::hooks::QueryHook;
use datafusion_postgres::pgwire::api::auth::noop::NoopStartupHandler;
use datafusion_postgres::pgwire::api::cancel::DefaultCancelHandler;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionManager, PgWireServerHandlers, Type,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::types::format::FormatOptions;
use datafusion_postgres::{DfSessionService, Parser};
use futures::StreamExt;
use tokio::net::TcpListener;

use crate::command::{classify, Command};
use crate::{Error, Output, SqlService};

/// The client metadata key of the session's scan limit.
const SCAN_LIMIT_KEY: &str = "freshet.scan_limit";

type DfStatement = <DfSessionService as ExtendedQueryHandler>::Statement;

/// A prepared statement: Freshet's own, or DataFusion's.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// One of Freshet's statements, with the columns it answers with.
    Freshet(Arc<(Command, SchemaRef)>),
    /// A statement for DataFusion.
    Df(Box<DfStatement>),
}

/// The handlers of one server.
pub struct Handlers {
    query: Arc<FreshetQuery>,
    startup: Arc<Startup>,
    cancel: Arc<DefaultCancelHandler>,
}

/// Answers queries.
pub struct FreshetQuery {
    df: Arc<DfSessionService>,
    hooks: Vec<Arc<dyn QueryHook>>,
    parser: Arc<FreshetParser>,
    svc: SqlService,
}

/// Parses statements for the extended protocol.
pub struct FreshetParser {
    inner: Arc<Parser>,
    svc: SqlService,
}

/// No authentication (the port is local by default).
pub struct Startup {
    cm: Arc<ConnectionManager>,
}

impl NoopStartupHandler for Startup {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(Arc::clone(&self.cm))
    }
}

impl Handlers {
    /// The handlers over a service.
    pub fn new(svc: SqlService) -> Handlers {
        let hooks: Vec<Arc<dyn QueryHook>> =
            vec![Arc::new(SetShowHook), Arc::new(TransactionStatementHook)];
        let df = Arc::new(DfSessionService::new_with_hooks(
            svc.context(),
            hooks.clone(),
        ));
        let parser = Arc::new(FreshetParser {
            inner: df.query_parser(),
            svc: svc.clone(),
        });
        let cm = Arc::new(ConnectionManager::new());
        Handlers {
            query: Arc::new(FreshetQuery {
                df,
                hooks,
                parser,
                svc,
            }),
            startup: Arc::new(Startup {
                cm: Arc::clone(&cm),
            }),
            cancel: Arc::new(DefaultCancelHandler::new(cm)),
        }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.query)
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.query)
    }

    fn startup_handler(&self) -> Arc<impl datafusion_postgres::pgwire::api::auth::StartupHandler> {
        Arc::clone(&self.startup)
    }

    fn cancel_handler(&self) -> Arc<impl datafusion_postgres::pgwire::api::cancel::CancelHandler> {
        Arc::clone(&self.cancel)
    }
}

/// Serves PostgreSQL clients on `listener` until `shutdown` completes.
pub async fn serve(svc: SqlService, listener: TcpListener, shutdown: impl Future<Output = ()>) {
    let handlers = Arc::new(Handlers::new(svc));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let h = Arc::clone(&handlers);
                    tokio::spawn(async move {
                        if let Err(e) = datafusion_postgres::pgwire::tokio::process_socket(socket, None, h).await {
                            tracing::debug!(%peer, error = %e, "postgres connection ended");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "postgres accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// An error as PostgreSQL words it: SQLSTATE by kind.
fn pg_error(e: Error) -> PgWireError {
    let code = match &e {
        Error::Syntax { .. } => "42601",
        Error::NotFound { .. } => "42P01",
        Error::ScanLimit(_) => "54000",
        Error::Invalid(_) => "22023",
        _ => "XX000",
    };
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        e.to_string(),
    )))
}

fn session_limit<C: ClientInfo + ?Sized>(client: &C) -> Option<u64> {
    client
        .metadata()
        .get(SCAN_LIMIT_KEY)
        .and_then(|v| v.parse().ok())
}

/// Encodes an output as a response.
fn response(out: Output, format: &Format) -> PgWireResult<Response> {
    match out {
        Output::Done(tag) => Ok(Response::Execution(Tag::new(&tag))),
        Output::Rows(schema, stream) => Ok(Response::Query(encode(schema, stream, format)?)),
    }
}

fn encode(
    schema: SchemaRef,
    stream: SendableRecordBatchStream,
    format: &Format,
) -> PgWireResult<QueryResponse> {
    let fields = Arc::new(arrow_schema_to_pg_fields(&schema, format, None)?);
    let f = Arc::clone(&fields);
    let rows = stream
        .map(move |b| {
            let it: Box<dyn Iterator<Item = PgWireResult<_>> + Send + Sync> = match b {
                Ok(b) => encode_recordbatch(Arc::clone(&f), b),
                Err(e) => Box::new(std::iter::once(Err(PgWireError::ApiError(Box::new(e))))),
            };
            futures::stream::iter(it)
        })
        .flatten();
    Ok(QueryResponse::new(fields, rows))
}

/// Sends a push query's rows as they come, each flushed (pgwire's own response path
/// buffers rows until the end, which an endless query never reaches), then its tag.
async fn stream_live<C>(
    client: &mut C,
    out: Output,
    format: &Format,
    describe: bool,
) -> PgWireResult<Response>
where
    C: futures::Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: std::fmt::Debug,
    PgWireError: From<<C as futures::Sink<PgWireBackendMessage>>::Error>,
{
    use futures::SinkExt;
    let Output::Rows(schema, mut stream) = out else {
        return response(out, format);
    };
    let fields = Arc::new(arrow_schema_to_pg_fields(&schema, format, None)?);
    if describe {
        let desc = datafusion_postgres::pgwire::messages::data::RowDescription::new(
            fields.iter().map(Into::into).collect(),
        );
        client
            .send(PgWireBackendMessage::RowDescription(desc))
            .await?;
    }
    let mut rows = 0;
    while let Some(b) = stream.next().await {
        let b = b.map_err(|e| PgWireError::ApiError(Box::new(e)))?;
        for row in encode_recordbatch(Arc::clone(&fields), b) {
            client.send(PgWireBackendMessage::DataRow(row?)).await?;
            rows += 1;
        }
    }
    Ok(Response::Execution(Tag::new("SELECT").with_rows(rows)))
}

impl FreshetQuery {
    async fn run_live<C>(
        &self,
        client: &mut C,
        cmd: Command,
        format: &Format,
        describe: bool,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + futures::Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(cmd, Command::Continuous { .. }) {
            return self.run(client, cmd, format).await;
        }
        let mut limit = session_limit(client);
        let out = self
            .svc
            .run_command(cmd, &mut limit)
            .await
            .map_err(pg_error)?;
        stream_live(client, out, format, describe).await
    }

    async fn run<C: ClientInfo + ?Sized>(
        &self,
        client: &mut C,
        cmd: Command,
        format: &Format,
    ) -> PgWireResult<Response> {
        let mut limit = session_limit(client);
        let out = self
            .svc
            .run_command(cmd, &mut limit)
            .await
            .map_err(pg_error)?;
        match limit {
            Some(v) => client
                .metadata_mut()
                .insert(SCAN_LIMIT_KEY.to_string(), v.to_string()),
            None => client.metadata_mut().remove(SCAN_LIMIT_KEY),
        };
        response(out, format)
    }

    /// The extended protocol's execution of a DataFusion plan: hooks (SET, SHOW,
    /// transactions), parameters, then the plan.
    async fn run_plan<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        statement: &datafusion::sql::sqlparser::ast::Statement,
        plan: &datafusion::logical_expr::LogicalPlan,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo
            + ClientPortalStore
            + futures::Sink<PgWireBackendMessage>
            + Unpin
            + Send
            + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<PgWireBackendMessage>>::Error>,
    {
        let api = |e: datafusion::error::DataFusionError| PgWireError::ApiError(Box::new(e));
        let mut types: Vec<(usize, Option<datafusion::arrow::datatypes::DataType>)> = plan
            .get_parameter_types()
            .map_err(api)?
            .into_iter()
            .filter_map(|(k, v)| {
                k.trim_start_matches('$')
                    .parse::<usize>()
                    .ok()
                    .map(|i| (i, v))
            })
            .collect();
        types.sort_by_key(|(i, _)| *i);
        let refs: Vec<Option<&datafusion::arrow::datatypes::DataType>> =
            types.iter().map(|(_, t)| t.as_ref()).collect();
        let params =
            datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters(portal, &refs)?;
        let ctx = self.svc.context();
        for hook in &self.hooks {
            if let Some(r) = hook
                .handle_extended_query(statement, plan, &params, &ctx, client)
                .await
            {
                return r;
            }
        }
        let plan = plan
            .clone()
            .replace_params_with_values(&params)
            .map_err(api)?;
        let plan = ctx.state().optimize(&plan).map_err(api)?;
        let df = ctx.execute_logical_plan(plan).await.map_err(api)?;
        let format_options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        let resp = datafusion_postgres::arrow_pg::datatypes::df::encode_dataframe(
            df,
            &portal.result_column_format,
            Some(format_options),
        )
        .await?;
        Ok(Response::Query(resp))
    }

    fn limit<C: ClientInfo + ?Sized>(&self, client: &C) -> u64 {
        session_limit(client).unwrap_or(self.svc.default_scan_limit())
    }
}

#[async_trait]
impl SimpleQueryHandler for FreshetQuery {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo
            + ClientPortalStore
            + futures::Sink<PgWireBackendMessage>
            + Unpin
            + Send
            + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(cmd) = classify(query).map_err(pg_error)? {
            return Ok(vec![
                self.run_live(client, cmd, &Format::UnifiedText, true)
                    .await?,
            ]);
        }
        let limit = self.limit(client);
        crate::scan::SCAN_LIMIT
            .scope(
                limit,
                SimpleQueryHandler::do_query(&*self.df, client, query),
            )
            .await
    }
}

#[async_trait]
impl QueryParser for FreshetParser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        if let Some(cmd) = classify(sql).map_err(pg_error)? {
            let schema = crate::continuous::result_schema(&self.svc, &cmd)
                .await
                .map_err(pg_error)?;
            return Ok(Some(Prepared::Freshet(Arc::new((cmd, schema)))));
        }
        Ok(self
            .inner
            .parse_sql(client, sql, types)
            .await?
            .map(|s| Prepared::Df(Box::new(s))))
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        match stmt {
            Prepared::Freshet(_) => Ok(Vec::new()),
            Prepared::Df(s) => self.inner.get_parameter_types(s.as_ref()),
        }
    }

    fn get_result_schema(
        &self,
        stmt: &Prepared,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        match stmt {
            Prepared::Freshet(c) => {
                arrow_schema_to_pg_fields(&c.1, column_format.unwrap_or(&Format::UnifiedText), None)
            }
            Prepared::Df(s) => self.inner.get_result_schema(s.as_ref(), column_format),
        }
    }
}

#[async_trait]
impl ExtendedQueryHandler for FreshetQuery {
    type Statement = Prepared;
    type QueryParser = FreshetParser;

    fn query_parser(&self) -> Arc<FreshetParser> {
        Arc::clone(&self.parser)
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo
            + ClientPortalStore
            + futures::Sink<PgWireBackendMessage>
            + Unpin
            + Send
            + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<PgWireBackendMessage>>::Error>,
    {
        match &portal.statement.statement {
            Prepared::Freshet(c) => {
                self.run_live(client, c.0.clone(), &portal.result_column_format, false)
                    .await
            }
            Prepared::Df(df) => match df.as_ref() {
                (_, Some((statement, plan))) => {
                    let limit = self.limit(client);
                    crate::scan::SCAN_LIMIT
                        .scope(limit, self.run_plan(client, portal, statement, plan))
                        .await
                }
                (_, None) => Ok(Response::EmptyQuery),
            },
        }
    }
}
