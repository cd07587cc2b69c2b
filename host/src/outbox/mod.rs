//! The outbox (being written).

pub struct Outbox {}

impl Outbox {
    pub fn new() -> Outbox {
        Outbox {}
    }
}
