//! Subscribers: their endpoints, secrets, cursors over the event log, and dead-lettered deliveries.
//! (Being written.)

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Subscription {}

#[derive(Debug, Clone, Serialize)]
pub struct DeadDelivery {}
