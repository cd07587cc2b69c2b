//! Rules' writes, made in-process through this same router: a rule's action is exactly the REST request a caller
//! would make, so it is checked, addressed (people → platform ids) and queued the same way, and the operation
//! records the rule as its actor and cause.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use tower::ServiceExt;

use qiao_services::rules::{RuleWrite, Writer, Written};

/// Marks a request as a rule's (an extension: no HTTP client can set one).
#[derive(Clone, Debug)]
pub struct RuleCaller {
    pub actor: String,
    pub cause: Value,
}

/// Largest answer body read back (an operation's 202 view, or an error).
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

pub struct RouterWriter(pub Router);

impl Writer for RouterWriter {
    fn write(&self, w: RuleWrite) -> BoxFuture<'static, Written> {
        let router = self.0.clone();
        Box::pin(async move {
            let request = Request::builder()
                .method(w.method)
                .uri(&w.path)
                .header(header::CONTENT_TYPE, "application/json")
                .header("idempotency-key", &w.idempotency_key)
                .extension(RuleCaller { actor: w.actor, cause: w.cause })
                .body(Body::from(w.body.to_string()));
            let request = match request {
                Ok(r) => r,
                Err(e) => return Written::Refused { status: 400, error: json!({ "message": e.to_string() }) },
            };
            let response = match router.oneshot(request).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let status = response.status().as_u16();
            let body = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES).await.unwrap_or_default();
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            match status {
                // `operation_id` first: an operation found final (a replay after a crash) answers the platform's
                // result, whose `id` is the created object's, with the operation's id beside it.
                200..=299 => Written::Accepted {
                    operation_id: body.get("operation_id").or(body.get("id")).and_then(Value::as_i64),
                    status,
                },
                // A replay whose request now differs (the directory changed since): the action was made the
                // first time; making it again would be the duplicate this key exists to prevent.
                409 if body["error"]["code"] == "idempotency_key_reused" => Written::Accepted { operation_id: None, status },
                _ => Written::Refused { status, error: body.get("error").cloned().unwrap_or(body) },
            }
        })
    }
}
