//! qiao-api: the REST API — one router over every connection's capabilities, plus status, webhooks, events,
//! operations, subscriptions, the directory and the audit log. Routes and their access rules are one table
//! (`table`); `auth` checks a caller against it; `error` is the only place an HTTP error is made.
//!
//! Must not know about: SQL, Wasm, or the services' rules; handlers parse, call qiao-services or the runtime,
//! and render. This is the only crate that uses axum.
//!
//! Bodies are JSON with snake_case fields; errors are `{"error": {"code", "message", "details"?}}`.

mod approval;
mod audit;
mod deadlines;
pub mod auth;
mod directory;
pub mod error;
mod events;
mod hooks;
mod identity;
mod messaging;
mod metrics;
mod openapi;
pub mod operations;
mod people;
mod redact;
mod rules;
pub mod internal;
mod roles;
mod status;
mod subscriptions;
mod tasks;
mod chats;
mod console;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};
use serde::de::DeserializeOwned;

use qiao_services::access::Scope;
use qiao_contract::calls::{Call, Reply};
use qiao_services::App;
pub use auth::{Access, Reach};
pub use error::ApiError;

/// JSON request bodies larger than this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub type AppState = Arc<App>;

/// One route: method, path, what it needs from the caller, and its handler.
struct Route {
    method: Method,
    path: &'static str,
    access: Access,
    handler: MethodRouter<AppState>,
}

fn route<H: Handler<T, AppState>, T: 'static>(method: Method, path: &'static str, access: Access, handler: H) -> Route {
    let filter = MethodFilter::try_from(method.clone()).expect("a method axum routes");
    Route { method, path, access, handler: on(filter, handler) }
}

/// A route taking a whole directory: its body may be larger than the API's default limit.
fn big(mut route: Route) -> Route {
    route.handler = route.handler.layer(DefaultBodyLimit::max(directory::MAX_DIRECTORY_BYTES));
    route
}

fn key(scope: Scope, reach: Reach) -> Access {
    Access::Key { scope, reach }
}

/// Every route and its access rule, in one table: the router is built from it, so no route can exist without a
/// rule, and the access tests walk it.
fn table() -> Vec<Route> {
    use Method as M;
    use Reach::*;
    use Scope::*;
    macro_rules! c {
        ($path:literal) => {
            concat!("/v1/connections/{connection}", $path)
        };
    }
    vec![
        route(M::GET, "/healthz", Access::Open, status::healthz),
        // The console's files hold no data; it calls the API below with the operator's key.
        route(M::GET, "/console", Access::Open, console::index),
        route(M::GET, "/console/{file}", Access::Open, console::file),
        // Any valid key may ask what it is: the handler authenticates it (no scope needed).
        route(M::GET, "/v1/auth/me", Access::Open, console::me),
        route(M::GET, "/readyz", Access::Open, status::readyz),
        route(M::GET, "/v1/openapi.json", Access::Open, openapi::serve),
        route(M::GET, "/metrics", key(MetricsRead, All), metrics::scrape),
        route(M::GET, "/v1/connectors", key(StatusRead, All), status::connectors),
        route(M::GET, "/v1/connections", key(StatusRead, All), status::connections),
        route(M::GET, "/v1/events", key(EventsRead, Query), events::list),
        route(M::GET, "/v1/audit", key(AuditRead, Query), audit::list),
        route(M::GET, "/v1/directory", key(IdentityRead, All), directory::get),
        big(route(M::PUT, "/v1/directory", key(IdentityWrite, All), directory::replace)),
        big(route(M::POST, "/v1/directory/changes", key(IdentityWrite, All), directory::change)),
        route(M::POST, "/v1/directory/pull", key(IdentityWrite, All), directory::pull),
        route(M::GET, "/v1/directory/people/{id}", key(IdentityRead, All), directory::person),
        route(M::GET, "/v1/operations", key(OperationsRead, Query), operations::list),
        route(M::GET, "/v1/operations/counts", key(OperationsRead, All), operations::counts),
        route(M::GET, "/v1/operations/{id}", key(OperationsRead, Operation), operations::get),
        route(M::DELETE, "/v1/operations/{id}", key(OperationsWrite, Operation), operations::discard),
        route(M::POST, "/v1/operations/{id}/retry", key(OperationsWrite, Operation), operations::retry),
        route(M::GET, "/v1/rules", key(RulesRead, All), rules::list),
        route(M::POST, "/v1/rules", key(RulesWrite, All), rules::create),
        route(M::POST, "/v1/rules/test", key(RulesRead, All), rules::test),
        route(M::GET, "/v1/rules/{id}", key(RulesRead, All), rules::get),
        route(M::PUT, "/v1/rules/{id}", key(RulesWrite, All), rules::replace),
        route(M::DELETE, "/v1/rules/{id}", key(RulesWrite, All), rules::delete),
        route(M::POST, "/v1/rules/{id}/enable", key(RulesWrite, All), rules::enable),
        route(M::POST, "/v1/rules/{id}/disable", key(RulesWrite, All), rules::disable),
        route(M::GET, "/v1/rules/{id}/runs", key(RulesRead, All), rules::runs),
        route(M::GET, "/v1/subscriptions", key(EventsRead, All), subscriptions::list),
        route(M::POST, "/v1/subscriptions", key(SubscriptionsWrite, All), subscriptions::create),
        route(M::GET, "/v1/subscriptions/{id}", key(EventsRead, All), subscriptions::get),
        route(M::DELETE, "/v1/subscriptions/{id}", key(SubscriptionsWrite, All), subscriptions::delete),
        route(M::GET, "/v1/subscriptions/{id}/dead-letters", key(EventsRead, All), subscriptions::dead_letters),
        route(
            M::DELETE,
            "/v1/subscriptions/{id}/dead-letters/{seq}",
            key(SubscriptionsWrite, All),
            subscriptions::discard,
        ),
        route(
            M::POST,
            "/v1/subscriptions/{id}/dead-letters/{seq}/retry",
            key(SubscriptionsWrite, All),
            subscriptions::retry,
        ),
        // Open to the platforms: each is accepted only if the connector's signature check passes.
        route(M::GET, "/v1/hooks/{connection}", Access::Open, hooks::handle),
        route(M::POST, "/v1/hooks/{connection}", Access::Open, hooks::handle),
        route(M::GET, "/v1/hooks/{connection}/{*rest}", Access::Open, hooks::handle),
        route(M::POST, "/v1/hooks/{connection}/{*rest}", Access::Open, hooks::handle),
        route(M::GET, c!("/departments"), key(IdentityRead, Path), identity::list_departments),
        route(M::POST, c!("/departments"), key(IdentityWrite, Path), identity::create_department),
        route(M::GET, c!("/departments/{id}"), key(IdentityRead, Path), identity::get_department),
        route(M::PATCH, c!("/departments/{id}"), key(IdentityWrite, Path), identity::update_department),
        route(M::DELETE, c!("/departments/{id}"), key(IdentityWrite, Path), identity::delete_department),
        route(M::GET, c!("/departments/{id}/users"), key(IdentityRead, Path), identity::list_users),
        route(M::POST, c!("/users"), key(IdentityWrite, Path), identity::create_user),
        route(M::GET, c!("/users/lookup"), key(IdentityRead, Path), identity::find_user),
        route(M::GET, c!("/users/{id}"), key(IdentityRead, Path), identity::get_user),
        route(M::PATCH, c!("/users/{id}"), key(IdentityWrite, Path), identity::update_user),
        route(M::DELETE, c!("/users/{id}"), key(IdentityWrite, Path), identity::delete_user),
        route(M::PUT, c!("/users/{id}/active"), key(IdentityWrite, Path), roles::set_active),
        route(M::GET, c!("/roles"), key(IdentityRead, Path), roles::list),
        route(M::POST, c!("/roles"), key(IdentityWrite, Path), roles::create),
        route(M::GET, c!("/roles/{id}/members"), key(IdentityRead, Path), roles::members),
        route(M::POST, c!("/roles/{id}/members"), key(IdentityWrite, Path), roles::add_members),
        route(M::POST, c!("/roles/{id}/members/remove"), key(IdentityWrite, Path), roles::remove_members),
        route(M::POST, c!("/directory/runs"), key(IdentityWrite, Path), directory::start),
        route(M::GET, c!("/directory/runs"), key(IdentityRead, Path), directory::runs),
        route(M::GET, c!("/directory/runs/{id}"), key(IdentityRead, Path), directory::run),
        route(M::POST, c!("/sso/authorize-url"), key(IdentityRead, Path), identity::sso_authorize_url),
        route(M::POST, c!("/sso/resolve"), key(IdentityRead, Path), identity::sso_resolve),
        route(M::POST, c!("/sso/start"), key(IdentityRead, Path), identity::sso_start),
        route(M::POST, c!("/sso/exchange"), key(IdentityRead, Path), identity::sso_exchange),
        // A login URL signs its user in: as strong as a write to the directory.
        route(M::POST, c!("/users/{id}/login-url"), key(IdentityWrite, Path), identity::login_url),
        route(M::POST, c!("/people/{person}/login-url"), key(IdentityWrite, Path), identity::person_login_url),
        route(M::POST, "/v1/messages", key(MessagesSend, All), messaging::send_to_people),
        route(M::POST, c!("/messages"), key(MessagesSend, Path), messaging::send),
        route(M::POST, c!("/messages/{id}/recall"), key(MessagesSend, Path), messaging::recall),
        route(M::GET, c!("/messages/{id}/read-status"), key(MessagesRead, Path), messaging::read_status),
        route(M::GET, "/v1/approvals/overdue", key(ApprovalsRead, All), deadlines::overdue),
        route(M::GET, "/v1/approvals/stats", key(ApprovalsRead, All), deadlines::stats),
        route(M::POST, c!("/approvals"), key(ApprovalsWrite, Path), approval::create),
        route(M::GET, c!("/approvals/{id}"), key(ApprovalsRead, Path), approval::get),
        route(M::POST, c!("/approvals/{id}/approve"), key(ApprovalsWrite, Path), approval::approve),
        route(M::POST, c!("/approvals/{id}/reject"), key(ApprovalsWrite, Path), approval::reject),
        route(M::POST, c!("/approvals/{id}/cancel"), key(ApprovalsWrite, Path), approval::cancel),
        route(M::POST, c!("/approvals/{id}/remind"), key(ApprovalsWrite, Path), approval::remind),
        route(M::GET, c!("/tasks"), key(TasksRead, Path), tasks::list),
        route(M::POST, c!("/tasks"), key(TasksWrite, Path), tasks::create),
        route(M::GET, c!("/tasks/{id}"), key(TasksRead, Path), tasks::get),
        route(M::PATCH, c!("/tasks/{id}"), key(TasksWrite, Path), tasks::update),
        route(M::POST, c!("/tasks/{id}/move"), key(TasksWrite, Path), tasks::move_to),
        route(M::POST, c!("/tasks/{id}/complete"), key(TasksWrite, Path), tasks::complete),
        route(M::POST, c!("/tasks/{id}/reopen"), key(TasksWrite, Path), tasks::reopen),
        route(M::POST, c!("/tasks/{id}/comments"), key(TasksWrite, Path), tasks::comment),
        route(M::POST, c!("/chats"), key(ChatsWrite, Path), chats::create),
        route(M::GET, c!("/chats/{id}"), key(ChatsRead, Path), chats::get),
        route(M::POST, c!("/chats/{id}/members"), key(ChatsWrite, Path), chats::add_members),
        route(M::POST, c!("/chats/{id}/members/remove"), key(ChatsWrite, Path), chats::remove_members),
        route(M::POST, c!("/poll"), key(EventsRead, Path), events::poll),
    ]
}

/// Every route's method, path and access rule (for tests and docs).
pub fn routes() -> Vec<(Method, &'static str, Access)> {
    table().into_iter().map(|r| (r.method, r.path, r.access)).collect()
}

pub fn router(app: Arc<App>) -> Router {
    let mut router = Router::new();
    for Route { path, access, handler, .. } in table() {
        let checked = axum::middleware::from_fn_with_state((app.clone(), access, path), auth::authorize);
        // Same path, another method: axum merges it into the path's existing method router.
        let handler = if path.starts_with("/v1/connections/{connection}") {
            handler.route_layer(axum::middleware::from_fn_with_state(app.clone(), redact::secrets_out))
        } else {
            handler
        };
        router = router.route(path, handler.route_layer(checked));
    }
    router
        .fallback(|| async { ApiError::not_found("no such route; see README.md for the API") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(error::json_errors))
        .layer(axum::middleware::from_fn(metrics::count_requests))
        .with_state(app)
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
async fn call(app: &App, connection: &str, call: Call) -> Result<Reply, ApiError> {
    Ok(app.runtime.call(connection, call).await?)
}

/// Extracts the expected variant of a `Reply`; any other is a host bug, reported as an internal error.
macro_rules! expect_reply {
    ($reply:expr, $variant:path) => {
        match $reply {
            $variant(value) => value,
            _ => {
                return Err($crate::ApiError::internal(anyhow::anyhow!(
                    "unexpected reply variant"
                )))
            }
        }
    };
}
pub(crate) use expect_reply;

