//! `GET /v1/openapi.json`: an OpenAPI 3.1 description of the REST API, generated from the route table
//! ([`crate::routes`]) so it cannot drift from it: every route is an operation, with its path parameters, its tag
//! (the area it belongs to), its security (the scope it needs, for keys) and the shared error shape for its errors.
//!
//! Request and response bodies are described as JSON values (objects for requests); their fields are in README.md.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::{Method, header};
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use crate::{Access, Reach};

/// Routes that are `Access::Open` in the table but whose handler authenticates the key itself (any valid key).
const ANY_KEY: &[&str] = &["/v1/auth/me"];

/// The handler: the document is built once, on first request, and served as it is after.
pub async fn serve() -> impl IntoResponse {
    static DOCUMENT: OnceLock<Vec<u8>> = OnceLock::new();
    let bytes = DOCUMENT.get_or_init(|| serde_json::to_vec(&document()).expect("a JSON value serializes"));
    ([(header::CONTENT_TYPE, "application/json")], bytes.as_slice())
}

/// The whole document, from the route table.
pub fn document() -> Value {
    build(&crate::routes())
}

fn build(routes: &[(Method, &'static str, Access)]) -> Value {
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut tags: BTreeMap<&'static str, ()> = BTreeMap::new();
    for (method, path, access) in routes {
        let tag = tag(path);
        tags.insert(tag, ());
        let item = paths.entry(openapi_path(path)).or_default();
        item.insert(method.as_str().to_ascii_lowercase(), operation(method, path, *access, tag));
    }
    let tags: Vec<Value> = tags
        .keys()
        .map(|name| json!({ "name": name, "description": tag_description(name) }))
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Qiao REST API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "One REST API over every connection's capabilities (identity, messaging, approvals, \
                tasks, chats), plus the enterprise directory, the outbox, events, subscriptions, rules and the \
                audit log. Bodies are JSON with snake_case fields; their fields are described in README.md. \
                Errors are `{\"error\": {\"code\", \"message\", \"details\"?}}`. Generated from the server's \
                route table.",
        },
        "tags": tags,
        "paths": paths,
        "components": components(),
    })
}

/// axum's `{*rest}` (a catch-all) is `{rest}` in OpenAPI, which has no catch-all; its description says so.
fn openapi_path(path: &str) -> String {
    path.replace("{*", "{")
}

/// `{x}` and `{*x}` segments: (name, catch-all).
fn path_params(path: &str) -> Vec<(&str, bool)> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| match name.strip_prefix('*') {
            Some(rest) => (rest, true),
            None => (name, false),
        })
        .collect()
}

/// `get_connections_by_connection_users_by_id`: method, then the path without `/v1`, `{x}` as `by_x`.
fn operation_id(method: &Method, path: &str) -> String {
    let mut id = method.as_str().to_ascii_lowercase();
    for segment in path.trim_start_matches("/v1").split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                id.push_str("by_");
                id.push_str(name.trim_start_matches('*'));
            }
            None => id.extend(segment.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })),
        }
    }
    id
}

/// The area a route belongs to.
fn tag(path: &str) -> &'static str {
    if let Some(rest) = path.strip_prefix("/v1/connections/{connection}/") {
        return match rest.split('/').next().unwrap_or("") {
            "departments" | "users" | "roles" | "sso" | "people" => "identity",
            "directory" => "directory",
            "messages" => "messages",
            "approvals" => "approvals",
            "tasks" => "tasks",
            "chats" => "chats",
            "poll" => "events",
            _ => "connections",
        };
    }
    let first = path.trim_start_matches("/v1").trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "healthz" | "readyz" | "metrics" | "connectors" | "connections" => "status",
        "console" | "auth" => "console",
        "openapi.json" => "meta",
        "directory" => "directory",
        "operations" => "operations",
        "events" | "hooks" => "events",
        "subscriptions" => "subscriptions",
        "rules" => "rules",
        "approvals" => "approvals",
        "messages" => "messages",
        "audit" => "audit",
        _ => "other",
    }
}

fn tag_description(tag: &str) -> &'static str {
    match tag {
        "status" => "Health, readiness, metrics, connectors and connections",
        "console" => "The operator console's files, and the calling key",
        "meta" => "This description",
        "identity" => "Departments, users, roles and sign-in on a connection's platform",
        "directory" => "The enterprise directory and its sync runs to the platforms",
        "messages" => "Sending, recalling and reading messages",
        "approvals" => "Approvals on a platform, their deadlines and statistics",
        "tasks" => "Tasks and to-dos on a platform",
        "chats" => "Group chats on a platform",
        "events" => "The event log, inbound platform callbacks and polling",
        "operations" => "The outbox: writes, their attempts, retries and dead letters",
        "subscriptions" => "Subscribers to the event log and their dead letters",
        "rules" => "Rules: when an event matches, what is written",
        "audit" => "The audit log",
        _ => "",
    }
}

/// One line per route; the unit test requires every route to have one.
fn summary(method: &Method, path: &str) -> Option<&'static str> {
    let m = method.as_str();
    let c = path.strip_prefix("/v1/connections/{connection}");
    Some(match (m, c.unwrap_or(path)) {
        _ if c.is_some() => return connection_summary(m, c.unwrap()),
        ("GET", "/healthz") => "Liveness",
        ("GET", "/readyz") => "Readiness: 503 until the connectors present at start have loaded",
        ("GET", "/metrics") => "Prometheus metrics",
        ("GET", "/console") => "The operator console",
        ("GET", "/console/{file}") => "A file of the operator console",
        ("GET", "/v1/auth/me") => "The calling key: id, name, scopes, connections, expiry",
        ("GET", "/v1/openapi.json") => "This OpenAPI description",
        ("GET", "/v1/connectors") => "Every connector file: version, contract, capabilities, hosts, state",
        ("GET", "/v1/connections") => "Configured connections: connector, settings, hosts, limits, pacing",
        ("GET", "/v1/events") => "The event log, read with a cursor",
        ("GET", "/v1/audit") => "The audit log, read with a cursor",
        ("GET", "/v1/directory") => "The enterprise directory",
        ("PUT", "/v1/directory") => "Replace the enterprise directory (a full snapshot)",
        ("POST", "/v1/directory/changes") => "Change the enterprise directory (upserts and deletions)",
        ("POST", "/v1/directory/pull") => "Pull the enterprise directory from its source connection",
        ("GET", "/v1/directory/people/{id}") => "A person and their platform accounts",
        ("GET", "/v1/operations") => "The outbox, filtered by status and connection",
        ("GET", "/v1/operations/counts") => "Outbox operations counted by status",
        ("GET", "/v1/operations/{id}") => "One operation, waiting up to `wait` seconds for it to finish",
        ("DELETE", "/v1/operations/{id}") => "Discard an operation that is not running or done",
        ("POST", "/v1/operations/{id}/retry") => "Re-queue a failed or dead operation with a fresh budget",
        ("GET", "/v1/rules") => "Rules and their counters",
        ("POST", "/v1/rules") => "Create a rule",
        ("POST", "/v1/rules/test") => "What a rule would do with an event, without doing it",
        ("GET", "/v1/rules/{id}") => "One rule",
        ("PUT", "/v1/rules/{id}") => "Replace a rule",
        ("DELETE", "/v1/rules/{id}") => "Delete a rule",
        ("POST", "/v1/rules/{id}/enable") => "Turn a rule on, optionally with a backfill",
        ("POST", "/v1/rules/{id}/disable") => "Turn a rule off",
        ("GET", "/v1/rules/{id}/runs") => "What a rule did with each event that triggered it",
        ("GET", "/v1/subscriptions") => "Subscribers to the event log",
        ("POST", "/v1/subscriptions") => "Subscribe a URL to the event log",
        ("GET", "/v1/subscriptions/{id}") => "One subscriber",
        ("DELETE", "/v1/subscriptions/{id}") => "Delete a subscriber",
        ("GET", "/v1/subscriptions/{id}/dead-letters") => "Events a subscriber never accepted",
        ("DELETE", "/v1/subscriptions/{id}/dead-letters/{seq}") => "Discard a subscriber's dead letter",
        ("POST", "/v1/subscriptions/{id}/dead-letters/{seq}/retry") => "Deliver a subscriber's dead letter again",
        ("GET" | "POST", "/v1/hooks/{connection}") => "An inbound platform callback, verified by the connector",
        ("GET" | "POST", "/v1/hooks/{connection}/{*rest}") => {
            "An inbound platform callback on a sub-path, verified by the connector"
        }
        ("POST", "/v1/messages") => "Send to the enterprise's people, each on their platform",
        ("GET", "/v1/approvals/overdue") => "Pending approvals past their first deadline",
        ("GET", "/v1/approvals/stats") => "Per-template pending, overdue and time to decision",
        _ => return None,
    })
}

fn connection_summary(m: &str, rest: &str) -> Option<&'static str> {
    Some(match (m, rest) {
        ("GET", "/departments") => "List departments",
        ("POST", "/departments") => "Create a department",
        ("GET", "/departments/{id}") => "One department",
        ("PATCH", "/departments/{id}") => "Change a department",
        ("DELETE", "/departments/{id}") => "Delete a department",
        ("GET", "/departments/{id}/users") => "Users of a department, paged",
        ("POST", "/users") => "Create a user",
        ("GET", "/users/lookup") => "Find a user by mobile, email or union id",
        ("GET", "/users/{id}") => "One user",
        ("PATCH", "/users/{id}") => "Change a user",
        ("DELETE", "/users/{id}") => "Delete a user",
        ("PUT", "/users/{id}/active") => "Turn an account off or on without deleting it",
        ("GET", "/roles") => "The platform's roles",
        ("POST", "/roles") => "Create a role",
        ("GET", "/roles/{id}/members") => "A role's members",
        ("POST", "/roles/{id}/members") => "Add members to a role",
        ("POST", "/roles/{id}/members/remove") => "Remove members from a role",
        ("POST", "/directory/runs") => "Start a directory sync run (a dry run answers its plan)",
        ("GET", "/directory/runs") => "Directory sync runs on the connection",
        ("GET", "/directory/runs/{id}") => "One sync run with its plan, progress and report",
        ("POST", "/sso/authorize-url") => "The platform's sign-in URL (raw connector call)",
        ("POST", "/sso/resolve") => "Resolve a sign-in code to a user (raw connector call)",
        ("POST", "/sso/start") => "Start single sign-on with Qiao's state",
        ("POST", "/sso/exchange") => "Finish single sign-on: a single-use code to the person",
        ("POST", "/users/{id}/login-url") => "A URL that signs the user straight in to the connected system",
        ("POST", "/people/{person}/login-url") => "A sign-in URL for the enterprise's person on this connection",
        ("POST", "/messages") => "Send a message (a write)",
        ("POST", "/messages/{id}/recall") => "Recall a message",
        ("GET", "/messages/{id}/read-status") => "A message's read receipts",
        ("POST", "/approvals") => "Create an approval",
        ("GET", "/approvals/{id}") => "An approval's status, tasks and fields",
        ("POST", "/approvals/{id}/approve") => "Approve an approval's task",
        ("POST", "/approvals/{id}/reject") => "Reject an approval's task",
        ("POST", "/approvals/{id}/cancel") => "Cancel an approval",
        ("POST", "/approvals/{id}/remind") => "Remind the approvers of pending tasks",
        ("GET", "/tasks") => "List tasks, paged",
        ("POST", "/tasks") => "Create a task",
        ("GET", "/tasks/{id}") => "One task",
        ("PATCH", "/tasks/{id}") => "Change a task",
        ("POST", "/tasks/{id}/move") => "Move a task to a status or through a transition",
        ("POST", "/tasks/{id}/complete") => "Complete a task",
        ("POST", "/tasks/{id}/reopen") => "Reopen a task",
        ("POST", "/tasks/{id}/comments") => "Comment on a task",
        ("POST", "/chats") => "Create a group chat",
        ("GET", "/chats/{id}") => "One group chat",
        ("POST", "/chats/{id}/members") => "Add members to a group chat",
        ("POST", "/chats/{id}/members/remove") => "Remove members from a group chat",
        ("POST", "/poll") => "Poll a connector that cannot call back",
        _ => return None,
    })
}

fn reach_description(reach: Reach) -> &'static str {
    match reach {
        Reach::Path => "a key limited to some connections must reach `{connection}`",
        Reach::Query => "a key limited to some connections must name one of them in `?connection=`",
        Reach::All => "spans every connection: keys limited to some connections are refused",
        Reach::Operation => {
            "a key limited to some connections must reach the operation's connection (the key that made an \
             operation may read it without `operations:read`)"
        }
    }
}

fn reach_name(reach: Reach) -> &'static str {
    match reach {
        Reach::Path => "path",
        Reach::Query => "query",
        Reach::All => "all",
        Reach::Operation => "operation",
    }
}

fn response_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

fn operation(method: &Method, path: &str, access: Access, tag: &str) -> Value {
    let hook = path.starts_with("/v1/hooks/");
    let mut op = Map::new();
    op.insert("operationId".into(), operation_id(method, path).into());
    op.insert("tags".into(), json!([tag]));
    if let Some(summary) = summary(method, path) {
        op.insert("summary".into(), summary.into());
    }

    let params: Vec<Value> = path_params(path)
        .into_iter()
        .map(|(name, catch_all)| {
            let description = match (name, catch_all) {
                (_, true) => "the rest of the path (may contain `/`)",
                ("connection", _) => "a configured connection's name",
                ("person", _) => "an enterprise person's id",
                ("seq", _) => "an event's sequence number",
                _ => "an id",
            };
            json!({ "name": name, "in": "path", "required": true, "description": description,
                    "schema": { "type": "string" } })
        })
        .collect();
    let has_params = !params.is_empty();
    if has_params {
        op.insert("parameters".into(), params.into());
    }

    let has_body = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
    if has_body {
        let content = if hook {
            json!({ "*/*": { "schema": {} } })
        } else {
            json!({ "application/json": { "schema": { "type": "object" } } })
        };
        op.insert("requestBody".into(), json!({ "required": false, "content": content }));
    }

    let mut responses = Map::new();
    let success = match path {
        "/metrics" => json!({ "text/plain": { "schema": { "type": "string" } } }),
        "/console" => json!({ "text/html": { "schema": { "type": "string" } } }),
        _ if hook || path.starts_with("/console/") => json!({ "*/*": { "schema": {} } }),
        _ => json!({ "application/json": { "schema": {} } }),
    };
    let description = if hook { "The connector's answer to the platform, verbatim" } else { "Success" };
    responses.insert("2XX".into(), json!({ "description": description, "content": success }));

    match access {
        Access::Key { scope, reach } => {
            op.insert("security".into(), json!([{ "bearer": [scope.as_str()] }]));
            op.insert("x-qiao-scope".into(), scope.as_str().into());
            op.insert("x-qiao-reach".into(), reach_name(reach).into());
            op.insert(
                "description".into(),
                format!("Needs a key with the `{scope}` scope (or `admin`); {}.", reach_description(reach)).into(),
            );
            responses.insert("400".into(), response_ref("BadRequest"));
            responses.insert("401".into(), response_ref("Unauthorized"));
            responses.insert("403".into(), response_ref("Forbidden"));
            responses.insert("503".into(), response_ref("Unavailable"));
        }
        Access::Open if ANY_KEY.contains(&path) => {
            op.insert("security".into(), json!([{ "bearer": [] }]));
            op.insert("description".into(), "Any valid key (no scope needed).".into());
            responses.insert("401".into(), response_ref("Unauthorized"));
        }
        Access::Open => {
            op.insert("security".into(), json!([]));
        }
    }
    if has_params {
        responses.insert("404".into(), response_ref("NotFound"));
    }
    if has_body && !hook {
        responses.insert("413".into(), response_ref("BodyTooLarge"));
    }
    responses.insert("default".into(), response_ref("Error"));
    op.insert("responses".into(), responses.into());
    op.into()
}

fn components() -> Value {
    let error = |description: &str| {
        json!({
            "description": description,
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
        })
    };
    json!({
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key (`qiao keys create`) as `Authorization: Bearer <key>`. An operation's \
                    security names the scope it needs; `admin` has every scope.",
            },
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": { "type": "string", "description": "Stable, snake_case (`invalid_request`, \
                                `not_found`, `rate_limited`, ...)" },
                            "message": { "type": "string" },
                            "details": {
                                "type": "object",
                                "description": "The connector's error kind, the platform's own code and message, \
                                    and how long to wait before trying again (also sent as `Retry-After`)",
                                "properties": {
                                    "kind": { "type": "string" },
                                    "platform_code": { "type": "string" },
                                    "platform_message": { "type": "string" },
                                    "retry_after_ms": { "type": "integer", "minimum": 0 },
                                },
                                "additionalProperties": true,
                            },
                        },
                    },
                },
            },
        },
        "responses": {
            "BadRequest": error("A malformed request: body, query or path (`invalid_request`)"),
            "Unauthorized": error("No API key, or not a valid one"),
            "Forbidden": error("The key lacks the operation's scope, or may not reach the connection"),
            "NotFound": error("No such connection or object (`not_found`)"),
            "BodyTooLarge": error("The request body is over the limit (`body_too_large`; 1 MiB, more for a directory)"),
            "Unavailable": error("The store is full, or the connector is loading or busy; see `Retry-After`"),
            "Error": error("An error, in the shared error shape"),
        },
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_route_is_an_operation_with_its_scope_summary_and_parameters() {
        let doc = document();
        let routes = crate::routes();
        let mut ids = HashSet::new();
        let mut operations = 0;
        for (method, path, access) in &routes {
            let op = &doc["paths"][openapi_path(path)][method.as_str().to_ascii_lowercase()];
            assert!(op.is_object(), "{method} {path} is missing from the OpenAPI document");
            assert!(summary(method, path).is_some(), "{method} {path} has no summary in openapi.rs");
            assert!(ids.insert(op["operationId"].as_str().unwrap().to_string()), "{method} {path}: id taken");
            match access {
                Access::Key { scope, .. } => {
                    assert_eq!(op["security"], json!([{ "bearer": [scope.as_str()] }]), "{method} {path}");
                    assert_eq!(op["x-qiao-scope"], scope.as_str(), "{method} {path}");
                    for status in ["401", "403"] {
                        assert!(op["responses"][status].is_object(), "{method} {path} has no {status}");
                    }
                }
                Access::Open if ANY_KEY.contains(path) => assert_eq!(op["security"], json!([{ "bearer": [] }])),
                Access::Open => assert_eq!(op["security"], json!([]), "{method} {path}"),
            }
            let names: Vec<&str> = op["parameters"]
                .as_array()
                .map(|ps| ps.iter().map(|p| p["name"].as_str().unwrap()).collect())
                .unwrap_or_default();
            let expected: Vec<&str> = path_params(path).into_iter().map(|(name, _)| name).collect();
            assert_eq!(names, expected, "{method} {path}");
            operations += 1;
        }
        let paths = doc["paths"].as_object().unwrap();
        let in_doc: usize = paths.values().map(|item| item.as_object().unwrap().len()).sum();
        assert_eq!(in_doc, operations, "the document has only the table's routes");
        assert!(routes.iter().any(|(m, p, a)| m == Method::GET && *p == "/v1/openapi.json" && *a == Access::Open));
        assert!(doc["paths"]["/v1/hooks/{connection}/{rest}"]["post"].is_object());
    }

    #[test]
    fn operation_ids_and_tags() {
        assert_eq!(
            operation_id(&Method::GET, "/v1/connections/{connection}/users/{id}"),
            "get_connections_by_connection_users_by_id"
        );
        assert_eq!(
            operation_id(&Method::POST, "/v1/subscriptions/{id}/dead-letters/{seq}/retry"),
            "post_subscriptions_by_id_dead_letters_by_seq_retry"
        );
        assert_eq!(tag("/v1/connections/{connection}/sso/start"), "identity");
        assert_eq!(tag("/v1/operations/{id}"), "operations");
        for (_, path, _) in crate::routes() {
            assert_ne!(tag(path), "other", "{path} has no tag in openapi.rs");
        }
    }
}
