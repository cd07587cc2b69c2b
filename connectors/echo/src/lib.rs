//! The reference connector: every capability of the latest contract (0.2.0), backed by the connection's `kv`
//! store, with messages delivered over the `http` import to an echo server. The end-to-end tests drive the host
//! through it; connector authors can read it as an example. Each capability is its own module; `store` holds the
//! kv conventions they share (id indexes, idempotency keys, timestamps).
//!
//! The same connector as it was at contract 0.1.0 is kept, frozen, in `tests/connectors/v0.1.0/echo`.

mod approval;
mod chats;
mod identity;
mod messaging;
mod store;
mod tasks;
mod webhook;

use qiao_sdk::{Error, types};

qiao_sdk::export_bindings!(
    "package qiao:echo;
    world echo {
        include qiao:connector/host@0.2.0;
        export qiao:connector/describe@0.2.0;
        export qiao:connector/identity@0.2.0;
        export qiao:connector/messaging@0.2.0;
        export qiao:connector/approval@0.2.0;
        export qiao:connector/tasks@0.2.0;
        export qiao:connector/chats@0.2.0;
        export qiao:connector/webhook@0.2.0;
        export qiao:connector/poll@0.2.0;
    }"
);
qiao_sdk::user_fields!();

use exports::qiao::connector::describe::{ConfigField, Info, RateHint};
use exports::qiao::connector::poll::Batch;

pub const VERSION: &str = if cfg!(feature = "v2") {
    "2.0.0"
} else {
    "1.0.0"
};

struct Echo;

impl exports::qiao::connector::describe::Guest for Echo {
    fn describe() -> Info {
        let field = |key: &str, description: &str, secret: bool, api_base: bool| ConfigField {
            key: key.into(),
            description: description.into(),
            required: false,
            secret,
            api_base,
        };
        Info {
            id: "echo".into(),
            name: "Echo (Rust)".into(),
            version: VERSION.into(),
            vendor: "Qiao".into(),
            platform: "echo".into(),
            hosts: vec!["echo.invalid".into()],
            config: vec![
                field("api_base", "Base URL of the echo test server", false, true),
                field(
                    "greeting",
                    "A greeting (unused; shows a plain setting)",
                    false,
                    false,
                ),
                field(
                    "token",
                    "Sent as x-echo-token; the webhook signing key",
                    true,
                    false,
                ),
            ],
            // A real connector quotes its platform's documented limit here, so operators need not look it up.
            rate_hints: vec![RateHint {
                operation: "*".into(),
                per_second: 50.0,
                source: "echo: a made-up limit for tests".into(),
            }],
        }
    }
}

/// Five ticks in all, two per poll: enough to show cursors resuming.
const TICKS: u64 = 5;

impl exports::qiao::connector::poll::Guest for Echo {
    fn poll(cursor: Option<String>) -> Result<Batch, Error> {
        let after: u64 = match cursor.as_deref() {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| Error::invalid_input(format!("bad cursor {c:?}")))?,
        };
        let events: Vec<types::Event> = (after + 1..=(after + 2).min(TICKS))
            .map(|n| types::Event {
                id: format!("tick-{n}"),
                kind: "echo.tick".into(),
                time_ms: None,
                subject: "ticks".into(),
                payload: serde_json::json!({ "n": n }).to_string(),
            })
            .collect();
        let last = after + events.len() as u64;
        Ok(Batch {
            events,
            next_cursor: Some(last.to_string()),
        })
    }
}

export!(Echo);
