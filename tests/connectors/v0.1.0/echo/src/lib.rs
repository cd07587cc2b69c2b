//! The Rust echo connector as it was at contract 0.1.0, frozen: a compatibility fixture. Every future host must
//! keep loading and running it unchanged (`tests/connectors/v0.1.0/`). Only its names differ from the original
//! (crate `qiao-echo-v0-1-0`, id `echo-v0-1-0`, so it loads next to today's `echo`) and its SDK paths
//! (`qiao_sdk::v0_1_0`, `export_bindings!("0.1.0", ...)`). Do not add features here: `connectors/echo` moves on.
//!
//! The original's description: the reference connector, every capability of the contract, backed by the
//! connection's `kv` store, with messages delivered over the `http` import to an echo server.

mod approval;
mod identity;
mod messaging;
mod webhook;

use qiao_sdk::v0_1_0::{Error, types};

qiao_sdk::export_bindings!(
    "0.1.0",
    "package qiao:echo;
    world echo {
        include qiao:connector/host@0.1.0;
        export qiao:connector/describe@0.1.0;
        export qiao:connector/identity@0.1.0;
        export qiao:connector/messaging@0.1.0;
        export qiao:connector/approval@0.1.0;
        export qiao:connector/webhook@0.1.0;
        export qiao:connector/poll@0.1.0;
    }"
);

use exports::qiao::connector::describe::{ConfigField, Info};
use exports::qiao::connector::poll::Batch;

pub const VERSION: &str = "1.0.0";

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
            id: "echo-v0-1-0".into(),
            name: "Echo (Rust, contract 0.1.0)".into(),
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
