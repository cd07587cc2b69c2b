//! poll: events from a platform without callbacks, read from a cursor Qiao keeps between calls.

use qiao_sdk::Error;

use crate::exports::qiao::connector::poll::{Batch, Guest};
use crate::{Connector, not_yet};

impl Guest for Connector {
    fn poll(_cursor: Option<String>) -> Result<Batch, Error> {
        Err(not_yet("poll.poll"))
    }
}
