//! webhook: the platform's callbacks. Verify the signature before anything else, and refuse what does not verify:
//! Qiao stores the events you return and acknowledges the platform only after that.

use qiao_sdk::Error;

use crate::exports::qiao::connector::webhook::{Guest, Outcome, Request};
use crate::{Connector, not_yet};

impl Guest for Connector {
    fn handle(_request: Request) -> Result<Outcome, Error> {
        Err(not_yet("webhook.handle"))
    }
}
