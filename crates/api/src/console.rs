//! `/console`: the operator's web console, and `GET /v1/auth/me`, which it needs to know what its key may do.
//!
//! The console is static files compiled into the binary (`crates/api/console/`), so it works offline and cannot
//! drift from the server it ships with. It holds no data: every pane reads the public REST API with the key the
//! operator types in, so its routes are open and the key's scopes alone decide what it can show or change.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ApiError, AppState, auth};

/// Scripts, styles and connections only from this origin; nothing inline (all rendering goes through DOM text
/// nodes, so an event payload cannot become markup), no plugins, and no framing (clickjacking a retry button).
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; \
                       frame-ancestors 'none'";

/// A console file by its name under `crates/api/console/` (and `/console/`), so the two cannot differ.
macro_rules! embed {
    ($name:literal, $content_type:expr) => {
        ($name, $content_type, include_bytes!(concat!("../console/", $name)))
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the console: its name, content type and bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    embed!("index.html", "text/html; charset=utf-8"),
    embed!("console.css", "text/css; charset=utf-8"),
    embed!("favicon.svg", "image/svg+xml"),
    embed!("app.js", JS),
    embed!("api.js", JS),
    embed!("dom.js", JS),
    embed!("status.js", JS),
    embed!("outbox.js", JS),
    embed!("events.js", JS),
    embed!("subscribers.js", JS),
    embed!("directory.js", JS),
    embed!("approvals.js", JS),
    embed!("rules.js", JS),
    embed!("audit.js", JS),
];

/// `GET /console`: the page.
pub async fn index() -> Response {
    serve("index.html")
}

/// `GET /console/{file}`: one of the console's files; anything else is 404.
pub async fn file(Path(name): Path<String>) -> Response {
    serve(&name)
}

fn serve(name: &str) -> Response {
    let Some((_, content_type, bytes)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return ApiError::not_found("no such console file; the console is at /console").into_response();
    };
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        // Revalidated each load: a newer binary serves newer files under the same names.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    (StatusCode::OK, headers, *bytes).into_response()
}

/// `GET /v1/auth/me`: the calling key's id, name, scopes, connections and expiry — never its secret. Open to any
/// valid key whatever its scopes (a client must be able to ask what it may do), so its route is `Access::Open` in
/// the table and the key is checked here, by the same code as every other route.
pub async fn me(State(app): State<AppState>, parts: Parts) -> Response {
    match auth::authenticate(&app, &parts).await {
        Ok(key) => Json(json!({
            "id": key.id,
            "name": key.name,
            "scopes": key.scopes,
            "connections": key.connections,
            "expires_ms": key.expires_ms,
        }))
        .into_response(),
        Err(e) => auth::refused(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(name: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let response = if name.is_empty() { index().await } else { file(Path(name.to_string())).await };
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (parts.status, parts.headers, bytes.to_vec())
    }

    #[tokio::test]
    async fn every_file_is_served_with_its_type_and_the_policy() {
        for (name, content_type, bytes) in FILES {
            let (status, headers, body) = get(name).await;
            assert_eq!(status, StatusCode::OK, "{name}");
            assert_eq!(headers[header::CONTENT_TYPE], *content_type, "{name}");
            assert_eq!(headers[header::CONTENT_SECURITY_POLICY], CSP, "{name}");
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{name}");
            assert_eq!(&body, bytes, "{name}");
            let expected = match name.rsplit_once('.').map(|(_, ext)| ext) {
                Some("html") => "text/html",
                Some("css") => "text/css",
                Some("js") => "text/javascript",
                Some("svg") => "image/svg+xml",
                other => panic!("{name}: no expected type for {other:?}"),
            };
            assert!(content_type.starts_with(expected), "{name}: {content_type}");
        }
        let (status, headers, body) = get("").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_SECURITY_POLICY], CSP);
        assert!(String::from_utf8(body).unwrap().contains("/console/app.js"));
        for missing in ["secret.txt", "..%2Fqiao.toml", "index.htm"] {
            assert_eq!(get(missing).await.0, StatusCode::NOT_FOUND, "{missing}");
        }
    }

    #[test]
    fn the_policy_allows_nothing_from_elsewhere_and_nothing_inline() {
        assert!(CSP.starts_with("default-src 'self';"));
        assert!(CSP.contains("frame-ancestors 'none'"));
        assert!(!CSP.contains("unsafe") && !CSP.contains("http"), "{CSP}");
    }

    /// A file added to `crates/api/console/` is served too: the table lists every one.
    #[test]
    fn every_file_in_the_folder_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(FILES.iter().any(|(n, _, _)| *n == name), "console/{name} is not in FILES");
        }
    }

    /// Every file the page or a module refers to under /console/ is embedded, and none reaches another origin
    /// or renders with innerHTML.
    #[test]
    fn the_files_refer_only_to_each_other() {
        let names: Vec<&str> = FILES.iter().map(|(n, _, _)| *n).collect();
        for (name, _, bytes) in FILES {
            let text = std::str::from_utf8(bytes).unwrap();
            for bad in ["http://", "https://", "innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "style=\""] {
                // The SVG's XML namespace is a name, not a place it loads from.
                if *name == "favicon.svg" && bad == "http://" {
                    continue;
                }
                assert!(!text.contains(bad), "{name} contains {bad}");
            }
            for part in text.split(['"', '\'']) {
                let referred = part.strip_prefix("/console/").or_else(|| part.strip_prefix("./"));
                if let Some(file) = referred.filter(|f| f.ends_with(".js") || f.ends_with(".css") || f.ends_with(".svg")) {
                    assert!(names.contains(&file), "{name} refers to {part}, which is not embedded");
                }
            }
        }
    }
}
