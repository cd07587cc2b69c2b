//! The enterprise's person ids given where a connection's platform user ids go (a chat's members, a message's
//! mentions): turned into that connection's ids through the directory's links when the write is accepted, and
//! those that cannot be are answered in `unresolved`, never dropped in silence.

use qiao_contract::Capability;
use qiao_services::addressing::{self, MAX_IDS, Unresolved};

use super::{ApiError, AppState};

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
        return Err(ApiError::bad_request(format!("{what} lists more than {MAX_IDS} ids; send in batches")));
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
