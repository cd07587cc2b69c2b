//! The platform double: an HTTP server on loopback that the connector's api-base fields point at. It replays
//! recorded fixtures strictly (a request that matches none is answered 404 and reported with the closest one)
//! and counts what it served.
//!
//! A fixture file (`--fixtures DIR`, every `*.json` in it) holds one fixture or an array of them:
//!
//! ```json
//! {"request": {"method": "GET", "path": "/v1/users", "query": "page=1"},
//!  "response": {"status": 200, "headers": {"content-type": "application/json"}, "body": {"users": []}}}
//! ```
//!
//! `query` and `body` are matched only when given (`body` as JSON when both are JSON, else as text); a `body` in
//! a response that is not a string is sent as JSON.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
pub struct Fixture {
    pub request: FixtureRequest,
    pub response: FixtureResponse,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FixtureRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub body: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FixtureResponse {
    pub status: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Value,
}

pub fn load(dir: &Path) -> Result<Vec<Fixture>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the fixtures directory {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut fixtures = vec![];
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        let value: Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
        let list = if value.is_array() { value } else { Value::Array(vec![value]) };
        let mut found: Vec<Fixture> = serde_json::from_value(list)
            .with_context(|| format!("{}: a fixture is {{\"request\": {{method, path, query?, body?}}, \"response\": {{status, headers?, body?}}}}", file.display()))?;
        fixtures.append(&mut found);
    }
    if fixtures.is_empty() {
        anyhow::bail!("{} has no *.json fixtures", dir.display());
    }
    Ok(fixtures)
}

#[derive(Default)]
struct State {
    fixtures: Vec<Fixture>,
    served: usize,
    misses: Vec<String>,
}

pub struct Double {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Double {
    pub fn fixtures_loaded(&self) -> bool {
        !self.state.lock().unwrap().fixtures.is_empty()
    }

    pub fn served(&self) -> usize {
        self.state.lock().unwrap().served
    }

    pub fn misses(&self) -> Vec<String> {
        self.state.lock().unwrap().misses.clone()
    }
}

pub async fn start(fixtures: Vec<Fixture>) -> Result<Double> {
    let state = Arc::new(Mutex::new(State { fixtures, ..State::default() }));
    let shared = state.clone();
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let state = shared.clone();
        async move { answer(&state, method, uri, headers, body) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Double { url, state })
}

fn matches(fixture: &FixtureRequest, method: &Method, uri: &Uri, body: &[u8]) -> bool {
    if !fixture.method.eq_ignore_ascii_case(method.as_str()) || fixture.path != uri.path() {
        return false;
    }
    if let Some(query) = &fixture.query
        && query != uri.query().unwrap_or("")
    {
        return false;
    }
    match &fixture.body {
        None => true,
        Some(Value::String(text)) => text.as_bytes() == body,
        Some(json) => serde_json::from_slice::<Value>(body).is_ok_and(|b| &b == json),
    }
}

fn answer(state: &Mutex<State>, method: Method, uri: Uri, _headers: HeaderMap, body: Bytes) -> Response {
    let mut state = state.lock().unwrap();
    if let Some(fixture) = state.fixtures.iter().find(|f| matches(&f.request, &method, &uri, &body)).cloned() {
        state.served += 1;
        let r = fixture.response;
        let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = match r.body {
            Value::String(text) => (status, text).into_response(),
            Value::Null => status.into_response(),
            json => (status, axum::Json(json)).into_response(),
        };
        for (name, value) in r.headers {
            if let (Ok(name), Ok(value)) = (name.parse::<axum::http::HeaderName>(), value.parse()) {
                response.headers_mut().insert(name, value);
            }
        }
        return response;
    }
    if !state.fixtures.is_empty() {
        let closest = state
            .fixtures
            .iter()
            .max_by_key(|f| closeness(&f.request, &method, &uri))
            .map(|f| format!("{} {}{}", f.request.method, f.request.path, f.request.query.as_deref().map(|q| format!("?{q}")).unwrap_or_default()))
            .unwrap_or_default();
        let miss = format!("no fixture for {method} {uri}; closest: {closest}");
        if !state.misses.contains(&miss) {
            state.misses.push(miss);
        }
    }
    (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"error": "no fixture for this request"}))).into_response()
}

/// Same method first, then the longest common path prefix.
fn closeness(fixture: &FixtureRequest, method: &Method, uri: &Uri) -> (bool, usize) {
    let common = fixture.path.bytes().zip(uri.path().bytes()).take_while(|(a, b)| a == b).count();
    (fixture.method.eq_ignore_ascii_case(method.as_str()), common)
}
