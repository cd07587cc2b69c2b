//! `/v1/hooks/{connection}[/...]`: inbound platform callbacks. The connector verifies and parses the request;
//! its events are committed to the store before the platform gets its reply, so an acknowledged event is never
//! lost, and a redelivered one is stored once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, call, expect_reply};
use qiao_contract::bindings::webhook::Request;
use qiao_contract::calls::{Call, Reply};
use qiao_services::gate::Refused;

pub async fn handle(
    State(app): State<AppState>,
    Path(params): Path<Vec<(String, String)>>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let connection = params
        .iter()
        .find(|(k, _)| k == "connection")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let rest = params
        .iter()
        .find(|(k, _)| k == "rest")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    // Anyone may name any connection here: only configured names become metric labels.
    let label = if app.runtime.connections.contains_key(&connection) { connection.as_str() } else { "(unknown)" };
    // Before any connector runs: the route is open to the internet.
    let _place = match app.gate.admit(&connection).await {
        Ok(place) => place,
        Err(refused) => {
            let limited = matches!(refused, Refused::RateLimited(_));
            qiao_metrics::webhook(label, if limited { "rate_limited" } else { "busy" });
            if limited {
                slow_down().await;
            }
            return Ok(refusal(refused));
        }
    };
    let request = Request {
        method: method.as_str().to_string(),
        path: format!("/{rest}"),
        query: query.unwrap_or_default(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    let outcome = match call(&app, &connection, Call::Webhook { request }).await {
        Ok(reply) => expect_reply!(reply, Reply::Webhook),
        // A request that fails verification is the sender's fault, not a gateway problem.
        Err(mut e) if e.code == "platform_unauthorized" => {
            qiao_metrics::webhook(label, "bad_signature");
            e.status = StatusCode::UNAUTHORIZED;
            e.code = "invalid_signature".into();
            return Err(e);
        }
        Err(e) => {
            qiao_metrics::webhook(label, "failed");
            return Err(e);
        }
    };
    qiao_metrics::webhook(label, "accepted");
    let count = outcome.events.len();
    let inserted = qiao_services::inbound::store_events(&app, &connection, outcome.events)
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(%connection, received = count, new = inserted, "webhook events stored");
    let response = outcome.response;
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
    let mut out = (status, response.body).into_response();
    out.extensions_mut().insert(super::error::Verbatim);
    // The connector's headers replace the defaults (content-type); a name it repeats stays repeated.
    let mut seen = Vec::new();
    for (name, value) in response.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            if seen.contains(&name) {
                out.headers_mut().append(name, value);
            } else {
                out.headers_mut().insert(name.clone(), value);
                seen.push(name);
            }
        }
    }
    Ok(out)
}

/// How long a callback over its connection's rate waits for its 429, as nginx's `limit_req` delays excess
/// requests: a sender that floods in a loop then slows itself down instead of taking the machine's CPU from the
/// API (a sleeping request costs a timer, not a core).
const REFUSAL_DELAY: Duration = Duration::from_millis(100);
/// At most this many refusals wait at once; past it they are answered at once, so the delay never holds an
/// unbounded number of connections open.
const MAX_DELAYED: usize = 1024;

async fn slow_down() {
    static DELAYED: AtomicUsize = AtomicUsize::new(0);
    if DELAYED.fetch_add(1, Ordering::Relaxed) < MAX_DELAYED {
        tokio::time::sleep(REFUSAL_DELAY).await;
    }
    DELAYED.fetch_sub(1, Ordering::Relaxed);
}

fn refusal(refused: Refused) -> Response {
    let (status, code, message, wait) = match refused {
        Refused::RateLimited(wait) => (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many callbacks for this connection; slow down (see [connections.X.inbound])",
            wait,
        ),
        Refused::Busy(wait) => {
            (StatusCode::SERVICE_UNAVAILABLE, "busy", "the webhook pool is full; try again shortly", wait)
        }
    };
    let mut response = ApiError::new(status, code, message).into_response();
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}
