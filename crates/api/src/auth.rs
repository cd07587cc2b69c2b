//! Where every API request is checked: which key is calling, whether it has the route's scope and may reach the
//! connection, and where each change is written to the audit log.

use std::sync::{Arc, Mutex};

use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ErrorCode;
use super::{ApiError, AppState};
use qiao_services::access::{self, ApiKey, Scope};
use qiao_store::{NewAuditEntry, OperationRow, now_ms};

/// What a route needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key: health, and webhooks (the connector checks the platform's signature instead).
    Open,
    /// A key with `scope` that may reach the connection(s) the request touches, found as `reach` says.
    Key { scope: Scope, reach: Reach },
}

/// How the connection a request touches is known, for keys limited to some connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The `{connection}` in the path.
    Path,
    /// `?connection=`: a limited key must name one of its connections.
    Query,
    /// The route spans every connection: limited keys are refused.
    All,
    /// An outbox operation's connection, checked by the handler once the operation is read (see
    /// [`Caller::check_operation`]).
    Operation,
}

/// The key behind a request, for handlers that need to know who asks.
#[derive(Debug, Clone)]
pub struct Caller(pub ApiKey);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("route has no caller: it is missing an access rule")))
    }
}

impl Caller {
    /// An operation may be read by the key that made it, or with `operations:read`; changed with `scope`. In both
    /// cases only if the key reaches its connection.
    pub fn check_operation(&self, op: &OperationRow, scope: Scope) -> Result<(), ApiError> {
        let own = op.actor.as_deref() == Some(self.0.id.as_str());
        let readable_as_maker = own && scope == Scope::OperationsRead;
        if !(self.0.has(scope) || readable_as_maker) {
            return Err(insufficient_scope(&self.0, scope, &format!("operation {}", op.id)));
        }
        if !self.0.reaches(&op.connection) {
            return Err(connection_not_allowed(&self.0, &op.connection));
        }
        Ok(())
    }
}

/// The middleware on every route: `route` is its path template (for messages and the audit log).
pub async fn authorize(
    State((app, access, route)): State<(AppState, Access, &'static str)>,
    request: Request,
    next: Next,
) -> Response {
    let Access::Key { scope, reach } = access else {
        return next.run(request).await;
    };
    // A rule's write, made in-process through this router (`internal`): no HTTP client can set an extension, and
    // the operation records the rule as its actor and cause.
    if request.extensions().get::<crate::internal::RuleCaller>().is_some() {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let key = match authenticate(&app, &parts).await {
        Ok(key) => key,
        Err(e) => return refused(e),
    };
    let connection = match connection_of(&mut parts, reach).await {
        Ok(connection) => connection,
        Err(e) => return e.into_response(),
    };
    let action = format!("{} {route}", parts.method);
    let changes = parts.method != Method::GET;
    let permitted = permit(&key, scope, reach, &action, connection.as_deref());
    let audit = changes.then(|| {
        PendingAudit(Arc::new(Mutex::new(Some(NewAuditEntry {
            actor: key.id.clone(),
            actor_name: Some(key.name.clone()),
            action,
            target: parts.uri.path().to_string(),
            connection,
            status: 0,
            error: None,
            operation_id: None,
        }))))
    });
    let response = match permitted {
        Err(e) => e.into_response(),
        Ok(()) => {
            parts.extensions.insert(Caller(key));
            if let Some(audit) = &audit {
                parts.extensions.insert(audit.clone());
            }
            next.run(Request::from_parts(parts, body)).await
        }
    };
    // Unless the handler wrote the row with the operation it made, it is written now that the answer is known.
    if let Some(mut entry) = audit.and_then(|a| a.take()) {
        entry.status = response.status().as_u16();
        entry.error = response.extensions().get::<ErrorCode>().map(|c| c.0.to_string());
        entry.operation_id = operation_id(&response);
        // The change has happened; a failure to record it must not turn its answer into an error.
        if let Err(e) = app.db.audit(entry).await {
            tracing::error!("cannot write the audit log: {e:#}");
        }
    }
    response
}

/// The audit row of a change whose answer is not known yet. A write through the outbox that makes a new operation
/// takes it, to be written in its operation's transaction as accepted (one commit instead of two, and no operation
/// without its row after a crash), whether or not its caller waits; otherwise [`authorize`] writes it after the
/// answer.
#[derive(Clone)]
pub struct PendingAudit(Arc<Mutex<Option<NewAuditEntry>>>);

impl PendingAudit {
    pub fn take(&self) -> Option<NewAuditEntry> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Hands a taken row back: it was not written after all.
    pub fn put_back(&self, entry: NewAuditEntry) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(entry);
    }
}

/// The answer to a request whose key did not authenticate; RFC 6750: a 401 names the scheme to use.
pub(crate) fn refused(e: ApiError) -> Response {
    let mut response = e.into_response();
    if response.status() == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"qiao\""));
    }
    response
}

/// The valid, usable key the request presents (also for `GET /v1/auth/me`, which needs no scope).
pub(crate) async fn authenticate(app: &AppState, parts: &Parts) -> Result<ApiKey, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Err(unauthenticated(
            "this route needs an API key: send `Authorization: Bearer qiao_…` (an operator makes one with \
             `qiao keys create`)",
        ));
    };
    let presented = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|v| access::parse(v.trim()))
        .ok_or_else(|| unauthenticated("the Authorization header must be `Bearer qiao_…` with a Qiao API key"))?;
    let found = app
        .keys
        .find(&app.db, &presented.id)
        .await
        .map_err(ApiError::internal)?
        .filter(|(_, hash)| access::same_hash(hash, &presented.secret_hash));
    // Unknown id and wrong secret answer alike, so ids cannot be probed.
    let (key, _) = found.ok_or_else(|| unauthenticated("the API key is not valid"))?;
    match key.unusable(now_ms()) {
        Some(why) => Err(unauthenticated(why)),
        None => Ok(key),
    }
}

/// The connection the request names, where the route has one.
async fn connection_of(parts: &mut Parts, reach: Reach) -> Result<Option<String>, ApiError> {
    match reach {
        Reach::Path => {
            let params = RawPathParams::from_request_parts(parts, &())
                .await
                .map_err(|e| ApiError::bad_request(e.body_text()))?;
            Ok(params.iter().find(|(k, _)| *k == "connection").map(|(_, v)| v.to_string()))
        }
        Reach::Query => Ok(parts.uri.query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "connection")
                .map(|(_, v)| v.into_owned())
        })),
        Reach::All | Reach::Operation => Ok(None),
    }
}

fn permit(key: &ApiKey, scope: Scope, reach: Reach, action: &str, connection: Option<&str>) -> Result<(), ApiError> {
    // An operation's maker may read it without the scope: the handler decides once it has the operation.
    if reach != Reach::Operation && !key.has(scope) {
        return Err(insufficient_scope(key, scope, action));
    }
    let Some(limit) = &key.connections else { return Ok(()) };
    match (reach, connection) {
        (Reach::Path | Reach::Query, Some(c)) if key.reaches(c) => Ok(()),
        (Reach::Path | Reach::Query, Some(c)) => Err(connection_not_allowed(key, c)),
        (Reach::Query, None) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "connection_not_allowed",
            format!(
                "this API key is limited to connections {}: name one with ?connection=",
                limit.join(", ")
            ),
        )),
        (Reach::Operation, _) => Ok(()),
        (Reach::All | Reach::Path, _) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "connection_not_allowed",
            format!(
                "{action} spans every connection; this API key is limited to connections {}",
                limit.join(", ")
            ),
        )),
    }
}

fn unauthenticated(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
}

fn insufficient_scope(key: &ApiKey, scope: Scope, what: &str) -> ApiError {
    let has: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
    ApiError::new(
        StatusCode::FORBIDDEN,
        "insufficient_scope",
        format!(
            "API key {} ({}) lacks scope {scope}, which {what} needs; it has: {}",
            key.id,
            key.name,
            has.join(", ")
        ),
    )
}

fn connection_not_allowed(key: &ApiKey, connection: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "connection_not_allowed",
        format!(
            "API key {} ({}) may not reach connection {connection:?}; it is limited to: {}",
            key.id,
            key.name,
            key.connections.as_deref().unwrap_or_default().join(", ")
        ),
    )
}

/// The operation a write created, from the `Location` its answer carries.
fn operation_id(response: &Response) -> Option<i64> {
    response
        .headers()
        .get(header::LOCATION)?
        .to_str()
        .ok()?
        .strip_prefix("/v1/operations/")?
        .parse()
        .ok()
}
