//! The enterprise's person ids given where a connection's platform user ids go (a chat's members, a message's
//! mentions): turned into that connection's ids through the directory's links when the write is accepted, and
//! those that cannot be are answered in `unresolved`, never dropped in silence.

use axum::http::StatusCode;
use serde_json::json;

use qiao_contract::Capability;
use qiao_services::addressing::{self, MAX_IDS, Unresolved};

use super::{ApiError, AppState};

/// `what` names more ids than one request may.
pub fn too_many(what: &str) -> ApiError {
    ApiError::bad_request(format!("{what} lists more than {MAX_IDS} ids; send in batches"))
}

/// 422 `code`: none of the `who` named could be reached on the platform, with each in `details.unresolved`.
pub fn nobody_found(code: &'static str, who: &str, unresolved: &[Unresolved]) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        code,
        format!(
            "none of the {} {who} named has an account on the platform (see details.unresolved)",
            unresolved.len()
        ),
    );
    e.details = Some(json!({ "unresolved": unresolved }));
    e
}

/// The platform user ids of `people` on `connection`, in the order given, and the people without one. `what`
/// names the field in errors (`members.people`).
pub async fn on_connection(
    app: &AppState,
    connection: &str,
    capability: Capability,
    what: &str,
    people: &[String],
) -> Result<(Vec<String>, Vec<Unresolved>), ApiError> {
    if people.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    if people.len() > MAX_IDS {
        return Err(too_many(what));
    }
    if people.iter().any(|p| p.trim().is_empty()) {
        return Err(ApiError::bad_request(format!("{what} has an empty person id")));
    }
    // An unknown connection is a 404, not a list of people without an account there.
    app.runtime.check_callable(connection, capability)?;
    let (found, unresolved) =
        addressing::people_on(&app.db, connection, people).await.map_err(ApiError::internal)?;
    Ok((found.into_iter().map(|(_, user)| user).collect(), unresolved))
}
