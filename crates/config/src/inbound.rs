//! Limits on what the internet may send Qiao's open webhook routes: `/v1/hooks/{connection}` accepts anyone's
//! requests, and each one that passes the cheap checks costs a connector call.

use anyhow::{Result, bail};
use serde::Deserialize;

/// `[connections.X.inbound]`: a token bucket per connection. Real platforms call back at tens to hundreds of
/// requests per second at peak; the defaults leave them room and stop a flood long before it costs the server.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundLimits {
    /// Requests per second accepted on average.
    pub rate_per_second: f64,
    /// Requests accepted at once after a quiet spell.
    pub burst: u32,
}

impl Default for InboundLimits {
    fn default() -> Self {
        InboundLimits { rate_per_second: 200.0, burst: 400 }
    }
}

impl InboundLimits {
    pub fn checked(self, connection: &str) -> Result<InboundLimits> {
        if !(self.rate_per_second.is_finite() && self.rate_per_second > 0.0) {
            bail!("connection {connection}: inbound.rate_per_second must be a positive number");
        }
        if self.burst == 0 {
            bail!("connection {connection}: inbound.burst must be at least 1");
        }
        Ok(self)
    }
}

/// `[inbound]`: the webhook pool, shared by every connection, so callbacks (forged or not) cannot take the
/// machine from the authenticated API.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundSettings {
    /// Webhook calls into connectors in flight at once, across connections.
    pub concurrency: u32,
    /// How long a callback waits for a place in the pool before it is answered 503 with `Retry-After`.
    pub queue_wait_ms: u64,
}

impl Default for InboundSettings {
    fn default() -> Self {
        InboundSettings { concurrency: 8, queue_wait_ms: 2_000 }
    }
}
