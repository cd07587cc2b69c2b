//! The directory as rules see it: read once per batch of events.

use std::sync::Arc;

use anyhow::Result;

use qiao_rules::Lookups;

use crate::App;

pub async fn lookups(app: &App) -> Result<Arc<Lookups>> {
    let directory = app.db.directory().await?;
    let accounts = app.db.person_accounts().await?;
    Ok(Arc::new(Lookups::new(directory, accounts)))
}
