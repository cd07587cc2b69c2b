//! The simulators' control port (`--control-listen`), for demos: what a person would do in the platform's app,
//! done with curl. `POST /approvals/{id}/approve` and `POST /approvals/{id}/reject` act on the approval's running
//! task as its approver would, and the simulator pushes the callbacks that follow to its `--callback-url`.
//! Answers 204, or 409 with the reason (no such approval, nothing left to act on).
//!
//! Shared by the simulator binaries through `#[path]` (a folder under src/bin without a main.rs is no binary).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;

/// Acts on an approval: (its id, approve or reject).
pub type Act = Arc<dyn Fn(&str, bool) -> Result<(), String> + Send + Sync>;

/// [`serve`] when a control address was given (`--control-listen`).
pub async fn serve_if(listen: Option<SocketAddr>, act: Act) -> anyhow::Result<Option<SocketAddr>> {
    match listen {
        Some(listen) => Ok(Some(serve(listen, act).await?)),
        None => Ok(None),
    }
}

/// Serves the control routes on `listen` until the process ends.
pub async fn serve(listen: SocketAddr, act: Act) -> anyhow::Result<SocketAddr> {
    async fn decide(act: Act, id: String, approve: bool) -> (StatusCode, String) {
        match act(&id, approve) {
            Ok(()) => (StatusCode::NO_CONTENT, String::new()),
            Err(reason) => (StatusCode::CONFLICT, format!("{reason}\n")),
        }
    }
    let app = axum::Router::new()
        .route(
            "/approvals/{id}/approve",
            post(|State(act): State<Act>, Path(id): Path<String>| decide(act, id, true)),
        )
        .route(
            "/approvals/{id}/reject",
            post(|State(act): State<Act>, Path(id): Path<String>| decide(act, id, false)),
        )
        .with_state(act);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    Ok(addr)
}
