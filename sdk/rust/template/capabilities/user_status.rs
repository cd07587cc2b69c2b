//! user-status: disable (or enable again) a user without deleting them.

use qiao_sdk::Error;

use crate::exports::qiao::connector::user_status::Guest;
use crate::{Connector, not_yet};

impl Guest for Connector {
    fn set_active(_user_id: String, _active: bool) -> Result<(), Error> {
        Err(not_yet("user-status.set-active"))
    }
}
