//! The platform double: an HTTP server on loopback that the connector's api-base fields point at. It either
//! replays recorded fixtures strictly (a request that matches none is answered 404 and reported with the closest
//! one), or records: forwards each request to the real platform (or a simulator) and keeps the exchange.
//!
//! A fixture file (`--fixtures DIR`, every `*.json` in it) holds one fixture or an array of them:
//!
//! ```json
//! {"request": {"method": "GET", "path": "/v1/users", "query": "page=1"},
//!  "response": {"status": 200, "headers": {"content-type": "application/json"}, "body": {"users": []}}}
//! ```
//!
//! `query` and `body` are matched only when given (`body` as JSON when both are JSON, else as text); a response
//! `body` that is not a string is sent as JSON. A connection's secret value never appears in a fixture: it is
//! written `{secret:KEY}` and put back, from the connection under test, when matching.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fixture {
    pub request: FixtureRequest,
    pub response: FixtureResponse,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FixtureRequest {
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FixtureResponse {
    pub status: u16,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Value,
}

/// Beside the fixtures: the calls a recording made and how each ended, replayed by `test --fixtures` (not a
/// fixture file).
pub const CALLS_FILE: &str = "calls.json";

pub fn load(dir: &Path) -> Result<Vec<Fixture>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the fixtures directory {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| p.file_name().is_none_or(|n| n != CALLS_FILE))
        .collect();
    files.sort();
    let mut fixtures = vec![];
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        let value: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", file.display()))?;
        let list = if value.is_array() {
            value
        } else {
            Value::Array(vec![value])
        };
        let mut found: Vec<Fixture> = serde_json::from_value(list).with_context(|| {
            format!(
                "{}: a fixture is {{\"request\": {{method, path, query?, body?}}, \"response\": {{status, headers?, body?}}}}",
                file.display()
            )
        })?;
        fixtures.append(&mut found);
    }
    if fixtures.is_empty() {
        anyhow::bail!("{} has no *.json fixtures", dir.display());
    }
    Ok(fixtures)
}

enum Mode {
    Replay(Vec<Fixture>),
    /// Forward to this origin and keep every exchange.
    Record {
        upstream: String,
        client: reqwest::Client,
        recorded: Vec<Fixture>,
    },
}

struct State {
    mode: Mode,
    /// (key, value) of the connection's secrets, longest value first: written as `{secret:KEY}`.
    secrets: Vec<(String, String)>,
    served: usize,
    misses: Vec<String>,
}

impl State {
    fn hide(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_string(), |t, (k, v)| {
            t.replace(v.as_str(), &format!("{{secret:{k}}}"))
        })
    }

    fn reveal(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_string(), |t, (k, v)| {
            t.replace(&format!("{{secret:{k}}}"), v)
        })
    }
}

pub struct Double {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Double {
    pub async fn replay(fixtures: Vec<Fixture>) -> Result<Double> {
        Double::start(Mode::Replay(fixtures)).await
    }

    /// `upstream`: the origin (scheme, host, port) requests are forwarded to.
    pub async fn record(upstream: &str) -> Result<Double> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Double::start(Mode::Record {
            upstream: upstream.trim_end_matches('/').to_string(),
            client,
            recorded: vec![],
        })
        .await
    }

    async fn start(mode: Mode) -> Result<Double> {
        let state = Arc::new(Mutex::new(State {
            mode,
            secrets: vec![],
            served: 0,
            misses: vec![],
        }));
        let shared = state.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = shared.clone();
                async move { answer(&state, method, uri, headers, body).await }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Double { url, state })
    }

    /// The secrets of the connection under test (kept out of recordings, put back into fixtures when matching).
    pub fn set_secrets(&self, secrets: Vec<(String, String)>) {
        let mut secrets: Vec<_> = secrets.into_iter().filter(|(_, v)| v.len() >= 4).collect();
        secrets.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        self.state.lock().unwrap().secrets = secrets;
    }

    pub fn served(&self) -> usize {
        self.state.lock().unwrap().served
    }

    pub fn misses(&self) -> Vec<String> {
        self.state.lock().unwrap().misses.clone()
    }

    /// Starts counting afresh (the suite's own malformed calls are not what the fixtures were recorded for).
    pub fn reset(&self) {
        let mut state = self.state.lock().unwrap();
        state.misses.clear();
        state.served = 0;
    }

    /// What a recording double kept, in order.
    pub fn recorded(&self) -> Vec<Fixture> {
        match &self.state.lock().unwrap().mode {
            Mode::Record { recorded, .. } => recorded.clone(),
            Mode::Replay(_) => vec![],
        }
    }
}

fn matches(
    fixture: &FixtureRequest,
    state: &State,
    method: &Method,
    uri: &Uri,
    body: &[u8],
) -> bool {
    if !fixture.method.eq_ignore_ascii_case(method.as_str()) || fixture.path != uri.path() {
        return false;
    }
    if let Some(query) = &fixture.query
        && state.reveal(query) != uri.query().unwrap_or("")
    {
        return false;
    }
    match &fixture.body {
        None => true,
        Some(Value::String(text)) => state.reveal(text).as_bytes() == body,
        Some(json) => {
            let expected: Option<Value> =
                serde_json::from_str(&state.reveal(&json.to_string())).ok();
            serde_json::from_slice::<Value>(body).is_ok_and(|b| Some(b) == expected)
        }
    }
}

fn respond(r: FixtureResponse) -> Response {
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
    response
}

async fn answer(
    state: &Mutex<State>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let forward = match &state.lock().unwrap().mode {
        Mode::Record {
            upstream, client, ..
        } => Some((upstream.clone(), client.clone())),
        Mode::Replay(_) => None,
    };
    if let Some((upstream, client)) = forward {
        return record(state, &upstream, &client, method, uri, headers, body).await;
    }
    let mut state = state.lock().unwrap();
    let Mode::Replay(fixtures) = &state.mode else {
        unreachable!()
    };
    if let Some(fixture) = fixtures
        .iter()
        .find(|f| matches(&f.request, &state, &method, &uri, &body))
        .cloned()
    {
        state.served += 1;
        let mut response = fixture.response;
        response.body = serde_json::from_str(&state.reveal(&response.body.to_string()))
            .unwrap_or(response.body);
        return respond(response);
    }
    if !fixtures.is_empty() {
        let closest = fixtures
            .iter()
            .max_by_key(|f| closeness(&f.request, &method, &uri))
            .map(|f| {
                format!(
                    "{} {}{}",
                    f.request.method,
                    f.request.path,
                    f.request
                        .query
                        .as_deref()
                        .map(|q| format!("?{q}"))
                        .unwrap_or_default()
                )
            })
            .unwrap_or_default();
        let miss = format!(
            "no fixture for {method} {}; closest: {closest}",
            state.hide(&uri.to_string())
        );
        if !state.misses.contains(&miss) {
            state.misses.push(miss);
        }
    }
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"error": "no fixture for this request"})),
    )
        .into_response()
}

/// Forwards one request and keeps the exchange, with the connection's secrets written as placeholders.
async fn record(
    state: &Mutex<State>,
    upstream: &str,
    client: &reqwest::Client,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let url = format!(
        "{upstream}{}",
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut request = client.request(method.clone(), &url).body(body.clone());
    for (name, value) in &headers {
        if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
            request = request.header(name, value);
        }
    }
    let (status, content_type, bytes) = match request.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let content_type = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            (status, content_type, r.bytes().await.unwrap_or_default())
        }
        Err(e) => {
            return (
                StatusCode::BAD_GATEWAY,
                format!("recording: {upstream} did not answer: {e}"),
            )
                .into_response();
        }
    };
    let mut state = state.lock().unwrap();
    let as_value = |bytes: &[u8], state: &State| -> Value {
        let text = state.hide(&String::from_utf8_lossy(bytes));
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    let fixture = Fixture {
        request: FixtureRequest {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().map(|q| state.hide(q)),
            body: (!body.is_empty()).then(|| as_value(&body, &state)),
        },
        response: FixtureResponse {
            status,
            headers: content_type
                .iter()
                .map(|c| ("content-type".to_string(), c.clone()))
                .collect(),
            body: as_value(&bytes, &state),
        },
    };
    state.served += 1;
    let reply = FixtureResponse {
        body: serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned())),
        ..fixture.response.clone()
    };
    if let Mode::Record { recorded, .. } = &mut state.mode {
        recorded.push(fixture);
    }
    respond(reply)
}

/// Same method first, then the longest common path prefix.
fn closeness(fixture: &FixtureRequest, method: &Method, uri: &Uri) -> (bool, usize) {
    let common = fixture
        .path
        .bytes()
        .zip(uri.path().bytes())
        .take_while(|(a, b)| a == b)
        .count();
    (fixture.method.eq_ignore_ascii_case(method.as_str()), common)
}
