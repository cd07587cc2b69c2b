//! Qiao's Feishu (飞书) / Lark connector, for a self-built app: the directory and sign-in (identity), user groups
//! as roles (roles), freezing accounts (user-status), messages with urgent reminders and read users (messaging),
//! approvals (approval), tasks (Task v2), group chats, and events by HTTP callbacks (webhook) or Feishu's long
//! connection (stream). Set `region = "lark"` for Lark; point `api_base` at a
//! simulator or proxy to test without Feishu.

mod approval;
mod chats;
mod client;
mod errors;
mod identity;
mod messaging;
mod pbbp2;
mod roles;
mod stream;
mod task_events;
mod tasks;
mod user_tokens;
mod webhook;

qiao_sdk::export_bindings!(
    "package qiao:feishu;
    world feishu {
        include qiao:connector/host@0.2.0;
        export qiao:connector/describe@0.2.0;
        export qiao:connector/identity@0.2.0;
        export qiao:connector/roles@0.2.0;
        export qiao:connector/user-status@0.2.0;
        export qiao:connector/messaging@0.2.0;
        export qiao:connector/approval@0.2.0;
        export qiao:connector/tasks@0.2.0;
        export qiao:connector/chats@0.2.0;
        export qiao:connector/webhook@0.2.0;
    }"
);
qiao_sdk::user_fields!();
// Contract 0.3.0: events over Feishu's long connection (stream.rs), next to the 0.2.0 callbacks.
qiao_sdk::event_stream_bindings!();

use exports::qiao::connector::describe::{ConfigField, Guest, Info, RateHint};

struct Feishu;

impl Guest for Feishu {
    fn describe() -> Info {
        let field = |key: &str, required: bool, secret: bool, api_base: bool, description: &str| {
            ConfigField {
                key: key.into(),
                description: description.into(),
                required,
                secret,
                api_base,
            }
        };
        Info {
            id: "feishu".into(),
            name: "Feishu (飞书) / Lark".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            vendor: "Qiao".into(),
            platform: "feishu".into(),
            hosts: vec![client::FEISHU_HOST.into(), client::LARK_HOST.into()],
            config: vec![
                field(
                    "app_id",
                    true,
                    false,
                    false,
                    "The self-built app's App ID (cli_...)",
                ),
                field("app_secret", true, true, false, "The app's App Secret"),
                field(
                    "verification_token",
                    false,
                    true,
                    false,
                    "Event subscription Verification Token",
                ),
                field(
                    "encrypt_key",
                    false,
                    true,
                    false,
                    "Event subscription Encrypt Key (callbacks are then encrypted and signed)",
                ),
                field(
                    "events",
                    false,
                    false,
                    false,
                    "How events arrive: stream (Feishu's long connection: no public URL needed) or webhook (HTTP \
                     callbacks); default webhook when verification_token or encrypt_key is set, else stream",
                ),
                field(
                    "region",
                    false,
                    false,
                    false,
                    "feishu (default, open.feishu.cn) or lark (open.larksuite.com)",
                ),
                field(
                    "user_id_type",
                    false,
                    false,
                    false,
                    "Which user id Qiao speaks: open_id (default), union_id or user_id",
                ),
                field(
                    "department_id_type",
                    false,
                    false,
                    false,
                    "Which department id Qiao speaks: open_department_id (default) or department_id",
                ),
                field(
                    "remind_as_signed_in_users",
                    false,
                    false,
                    false,
                    "true keeps each user's Feishu token from their sign-in through Qiao (kv, never logged), so approval reminders can be sent as them; off by default",
                ),
                field(
                    "urgent_kind",
                    false,
                    false,
                    false,
                    "How urgent messages are raised: app (default), sms or phone (need quota)",
                ),
                field(
                    "api_base",
                    false,
                    false,
                    true,
                    "Base URL replacing https://open.feishu.cn (simulator, proxy)",
                ),
            ],
            rate_hints: rate_hints(),
        }
    }
}

/// Feishu's documented pace: most APIs take 1,000 calls a minute and 50 a second per app and tenant, so the
/// minute is what a steady stream of writes meets. Sending also allows 5 a second to one user or chat, a limit
/// per target the host's pacing cannot express. Task v2 creates allow 10 a second (NEXT.md §2.1).
fn rate_hints() -> Vec<RateHint> {
    let hint = |operation: &str, per_second: f64, source: &str| RateHint {
        operation: operation.into(),
        per_second,
        source: source.into(),
    };
    vec![
        hint(
            "*",
            1000.0 / 60.0,
            "Feishu: most APIs allow 1,000 calls a minute and 50 a second per app and tenant (频控策略); beyond \
             them code 99991400, HTTP 429",
        ),
        hint(
            "create_task",
            10.0,
            "Feishu: creating and updating tasks (task/v2/tasks) allows 10 a second per app",
        ),
        hint(
            "send",
            1000.0 / 60.0,
            "Feishu: sending messages (im/v1/messages) allows 1,000 a minute and 50 a second per app, and 5 a \
             second to the same user or chat",
        ),
    ]
}

export!(Feishu);
event_stream_bindings::export!(Feishu with_types_in event_stream_bindings);
