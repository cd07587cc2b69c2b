//! `/healthz`, `/readyz`, `/v1/connectors`, `/v1/connections`: what is loaded and configured.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::{ApiError, AppState};
use qiao_runtime::imports::http::Grants;

pub async fn healthz() -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "contract_versions": qiao_contract::SUPPORTED_VERSIONS,
    }))
}

/// Readiness: 503 until the connector directory's first scan has ended (every file present at start has
/// loaded or failed), then 200. The port opens before that, so liveness (`/healthz`) and readiness differ.
pub async fn readyz(State(app): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let ready = app.runtime.connectors.is_ready();
    let files = app.runtime.connectors.status();
    let failed = files.iter().filter(|c| c.state == "failed").count();
    let body = Json(json!({ "ready": ready, "connector_files": files.len(), "failed": failed }));
    if ready {
        body.into_response()
    } else {
        (axum::http::StatusCode::SERVICE_UNAVAILABLE, [(axum::http::header::RETRY_AFTER, "1")], body).into_response()
    }
}

pub async fn connectors(State(app): State<AppState>) -> Json<Value> {
    let dir = app.runtime.connectors.dir();
    // `plugins_dir`: the field's name before "connector" named the directory too; kept for existing clients.
    Json(json!({ "connectors_dir": dir, "plugins_dir": dir, "connectors": app.runtime.connectors.status() }))
}

/// Connections with their settings; secrets are listed by name only. `hosts`: what the connector declares, what
/// the connection grants, and the difference both ways (`missing`: declared, not granted, so refused; `unused`:
/// granted, not declared).
pub async fn connections(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let mut list: Vec<_> = app.runtime.connections.values().collect();
    list.sort_by(|a, b| a.name.cmp(&b.name));
    let mut usage = Vec::new();
    for c in &list {
        usage.push(app.db.kv_usage(c.name.clone()).await.map_err(ApiError::internal)?);
    }
    let rows: Vec<Value> = list
        .into_iter()
        .zip(usage)
        .map(|(c, (kv_bytes, kv_keys))| {
            let connector = app.runtime.connectors.get(&c.connector);
            let settings: serde_json::Map<String, Value> = c
                .values
                .iter()
                .filter(|(k, _)| !c.secret_keys.contains(k))
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            let mut secrets = c.secret_keys.clone();
            secrets.sort();
            // Declared hosts come from the connector loaded now; without one, only the grants are known.
            let hosts = match &connector {
                Some(k) => json!(Grants::new(&k.info.hosts, c)),
                None => json!({
                    "declared": null,
                    "granted": c.hosts,
                    "missing": null,
                    "unused": null,
                }),
            };
            json!({
                "name": c.name,
                "connector": c.connector,
                "connector_loaded": connector.is_some(),
                "connector_version": connector.as_ref().map(|k| k.info.version.clone()),
                "settings": settings,
                "secrets": secrets,
                "hosts": hosts,
                "limits": c.limits,
                // What its connector keeps in kv, against limits.kv_max_bytes / kv_max_keys.
                "kv": { "bytes": kv_bytes, "keys": kv_keys },
                // The write pace in force: the operator's, else the connector's documented rate, else 20/s.
                "pacing": app.pacing(&c.name),
                // Its event stream (outbound WebSocket), when its connector exports `event-stream`: state,
                // last error, last frame, connects, frames and events stored.
                "stream": app.streams.status(&c.name),
            })
        })
        .collect();
    Ok(Json(json!({ "connections": rows })))
}
