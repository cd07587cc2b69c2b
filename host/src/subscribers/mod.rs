//! Delivery of stored events to subscribers (being written).

use std::sync::Arc;

use crate::runtime::Runtime;

/// Starts delivering to every subscriber; aborted at shutdown (a delivery cut short is retried, never lost).
pub fn spawn(_rt: &Arc<Runtime>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {})
}
