//! The REST API: one router over every connection's capabilities, plus status, webhooks and events.
//!
//! Bodies are JSON with snake_case fields; errors are `{"error": {"code", "message", "details"?}}`.

mod approval;
pub mod error;
mod events;
mod hooks;
mod identity;
mod messaging;
pub mod operations;
mod status;
mod subscriptions;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

use crate::calls::{Call, Reply};
use crate::runtime::Runtime;
pub use error::ApiError;

/// JSON request bodies larger than this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub type AppState = Arc<Runtime>;

pub fn router(runtime: Arc<Runtime>) -> Router {
    let connection = Router::new()
        .route(
            "/departments",
            get(identity::list_departments).post(identity::create_department),
        )
        .route(
            "/departments/{id}",
            get(identity::get_department)
                .patch(identity::update_department)
                .delete(identity::delete_department),
        )
        .route("/departments/{id}/users", get(identity::list_users))
        .route("/users", post(identity::create_user))
        .route("/users/lookup", get(identity::find_user))
        .route(
            "/users/{id}",
            get(identity::get_user)
                .patch(identity::update_user)
                .delete(identity::delete_user),
        )
        .route("/sso/authorize-url", post(identity::sso_authorize_url))
        .route("/sso/resolve", post(identity::sso_resolve))
        .route("/messages", post(messaging::send))
        .route("/messages/{id}/recall", post(messaging::recall))
        .route("/messages/{id}/read-status", get(messaging::read_status))
        .route("/approvals", post(approval::create))
        .route("/approvals/{id}", get(approval::get))
        .route("/approvals/{id}/approve", post(approval::approve))
        .route("/approvals/{id}/reject", post(approval::reject))
        .route("/approvals/{id}/cancel", post(approval::cancel))
        .route("/poll", post(events::poll));
    Router::new()
        .route("/healthz", get(status::healthz))
        .route("/v1/connectors", get(status::connectors))
        .route("/v1/connections", get(status::connections))
        .route("/v1/events", get(events::list))
        .route("/v1/operations", get(operations::list))
        .route("/v1/operations/counts", get(operations::counts))
        .route(
            "/v1/operations/{id}",
            get(operations::get).delete(operations::discard),
        )
        .route("/v1/operations/{id}/retry", post(operations::retry))
        .route(
            "/v1/subscriptions",
            get(subscriptions::list).post(subscriptions::create),
        )
        .route(
            "/v1/subscriptions/{id}",
            get(subscriptions::get).delete(subscriptions::delete),
        )
        .route(
            "/v1/subscriptions/{id}/dead-letters",
            get(subscriptions::dead_letters),
        )
        .route(
            "/v1/subscriptions/{id}/dead-letters/{seq}",
            axum::routing::delete(subscriptions::discard),
        )
        .route(
            "/v1/subscriptions/{id}/dead-letters/{seq}/retry",
            post(subscriptions::retry),
        )
        .route(
            "/v1/hooks/{connection}",
            get(hooks::handle).post(hooks::handle),
        )
        .route(
            "/v1/hooks/{connection}/{*rest}",
            get(hooks::handle).post(hooks::handle),
        )
        .nest("/v1/connections/{connection}", connection)
        .fallback(|| async { ApiError::not_found("no such route; see README.md for the API") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(error::json_errors))
        .with_state(runtime)
}

/// `Json<T>`, but a malformed body answers with our error shape and says what is wrong.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::new(
                    e.status(),
                    "body_too_large",
                    format!("request body is larger than {MAX_BODY_BYTES} bytes"),
                ))
            }
            // Syntax and shape errors alike are the caller's: 400 (415 only for a missing JSON content type).
            Err(e) => {
                let status = match e.status() {
                    axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE => e.status(),
                    _ => axum::http::StatusCode::BAD_REQUEST,
                };
                Err(ApiError::new(status, "invalid_request", e.body_text()))
            }
        }
    }
}

/// Runs a call and hands back the reply; handlers know which `Reply` variant their call produces.
async fn call(runtime: &Runtime, connection: &str, call: Call) -> Result<Reply, ApiError> {
    Ok(runtime.call(connection, call).await?)
}

/// Extracts the expected variant of a `Reply`; any other is a host bug, reported as an internal error.
macro_rules! expect_reply {
    ($reply:expr, $variant:path) => {
        match $reply {
            $variant(value) => value,
            _ => {
                return Err($crate::api::ApiError::internal(anyhow::anyhow!(
                    "unexpected reply variant"
                )))
            }
        }
    };
}
pub(crate) use expect_reply;

/// A connector's free-form `extra` JSON is returned as JSON, not as a string of it.
pub fn extra(value: Option<String>) -> serde_json::Value {
    value.map_or(serde_json::Value::Null, |s| {
        serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s))
    })
}

/// A reply record as JSON, with every `extra` inside it (users of a page, too) turned into JSON by [`extra`].
pub fn render(reply: impl serde::Serialize) -> serde_json::Value {
    fn fix(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(s)) = map.get("extra") {
                    let parsed = extra(Some(s.clone()));
                    map.insert("extra".into(), parsed);
                }
                map.values_mut().for_each(fix);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(fix),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(reply).unwrap_or_default();
    fix(&mut value);
    value
}
