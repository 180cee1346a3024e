//! The actions end to end over a real catalog: lifecycles, AWS's errors, paging, XML
//! shapes, and state across a reopen. The fixture and XML helpers are here; the
//! scenarios in `roles` (roles, tags, inline policies, paging) and `policies`
//! (managed policies, quotas, STS, reopen).

mod policies;
mod roles;

use freshet_protocol::error::ApiError;
use freshet_storage::{Engine, EngineConfig};
use quick_xml::events::Event;
use quick_xml::Reader;

use crate::query::Params;
use crate::service::{Iam, IamConfig};

const ACCOUNT: &str = "123456789012";
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;

struct Fixture {
    dir: tempfile::TempDir,
    engine: Option<Engine>,
    /// Holds a clone of the engine: dropped before the engine shuts down.
    iam: Option<Iam>,
}

fn open(dir: &std::path::Path) -> (Engine, Iam) {
    let engine = Engine::open(EngineConfig::new(dir)).unwrap();
    let state = engine.service_state("iam").unwrap();
    let cfg = IamConfig {
        account_id: ACCOUNT.into(),
        region: "eu-west-1".into(),
    };
    (engine, Iam::new(state, cfg))
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (engine, iam) = open(dir.path());
        Fixture {
            dir,
            engine: Some(engine),
            iam: Some(iam),
        }
    }

    fn reopen(&mut self) {
        self.iam = None;
        if let Some(e) = self.engine.take() {
            e.shutdown().unwrap();
        }
        let (engine, iam) = open(self.dir.path());
        self.engine = Some(engine);
        self.iam = Some(iam);
    }

    fn answer(
        &self,
        route: &str,
        action: &str,
        params: &Params,
        headers: &http::HeaderMap,
    ) -> Result<String, ApiError> {
        let iam = self.iam.as_ref().unwrap();
        iam.answer(route, action, params, headers, "req-1")
    }

    /// Calls `route` with `pairs` (the first is the action), form-encoded as botocore does.
    fn call(&self, route: &str, pairs: &[(&str, &str)]) -> Result<String, ApiError> {
        let form: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter())
            .finish();
        let params = Params::parse(form.as_bytes());
        let action = params.get("Action").unwrap_or_default().to_string();
        self.answer(route, &action, &params, &http::HeaderMap::new())
    }

    fn iam(&self, pairs: &[(&str, &str)]) -> Result<String, ApiError> {
        self.call("iam", pairs)
    }

    fn ok(&self, pairs: &[(&str, &str)]) -> String {
        self.iam(pairs).unwrap_or_else(|e| panic!("{pairs:?}: {e}"))
    }

    fn err(&self, pairs: &[(&str, &str)]) -> ApiError {
        match self.iam(pairs) {
            Ok(x) => panic!("{pairs:?} succeeded: {x}"),
            Err(e) => e,
        }
    }

    fn create_role(&self, name: &str) -> String {
        self.ok(&[
            ("Action", "CreateRole"),
            ("RoleName", name),
            ("AssumeRolePolicyDocument", TRUST),
        ])
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.iam = None;
        if let Some(e) = self.engine.take() {
            let _ = e.shutdown();
        }
    }
}

/// The texts of every `<tag>` element, in order; panics on XML that is not well formed.
fn texts(xml: &str, tag: &str) -> Vec<String> {
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    loop {
        match reader.read_event().unwrap_or_else(|e| panic!("{e}: {xml}")) {
            Event::Start(e) if e.name().as_ref() == tag.as_bytes() => cur = Some(String::new()),
            Event::Empty(e) if e.name().as_ref() == tag.as_bytes() => out.push(String::new()),
            Event::Text(t) => {
                if let Some(c) = cur.as_mut() {
                    c.push_str(&t.decode().unwrap());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(c) = cur.as_mut() {
                    let entity = format!("&{};", r.decode().unwrap());
                    c.push_str(&quick_xml::escape::unescape(&entity).unwrap());
                }
            }
            Event::End(e) if e.name().as_ref() == tag.as_bytes() => {
                if let Some(c) = cur.take() {
                    out.push(c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

fn text(xml: &str, tag: &str) -> String {
    texts(xml, tag)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
}

fn decoded(document: &str) -> String {
    percent_encoding::percent_decode_str(document)
        .decode_utf8()
        .unwrap()
        .into_owned()
}
