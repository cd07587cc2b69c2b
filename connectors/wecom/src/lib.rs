//! Qiao's WeCom (企业微信) connector, for an enterprise's self-built app: the directory and sign-in (identity),
//! tags as roles (roles), disabling and enabling members (user-status), app messages (messaging), approvals
//! through the 审批 app (approval), the app's group chats (chats), its to-dos as far as WeCom's API reaches
//! (tasks), the encrypted XML callbacks (webhook), and approvals listed by time range (poll). Point `api_base` at
//! a simulator or proxy to test without WeCom.

mod approval;
mod chats;
mod client;
mod errors;
mod identity;
mod messaging;
mod poll;
mod roles;
mod tasks;
mod webhook;

qiao_sdk::export_bindings!(
    "package qiao:wecom;
    world wecom {
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
        export qiao:connector/poll@0.2.0;
    }"
);
qiao_sdk::user_fields!();

use exports::qiao::connector::describe::{ConfigField, Guest, Info, RateHint};

struct WeCom;

impl Guest for WeCom {
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
            id: "wecom".into(),
            name: "WeCom (企业微信)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            vendor: "Qiao".into(),
            platform: "wecom".into(),
            hosts: vec![client::HOST.into()],
            config: vec![
                field(
                    "corp_id",
                    true,
                    false,
                    false,
                    "The enterprise's CorpID (企业ID)",
                ),
                field(
                    "corp_secret",
                    true,
                    true,
                    false,
                    "The self-built app's Secret",
                ),
                field(
                    "agent_id",
                    true,
                    false,
                    false,
                    "The app's AgentId: messages are sent as it",
                ),
                field(
                    "duplicate_check_interval_s",
                    false,
                    false,
                    false,
                    "Seconds in which WeCom drops a send identical to an earlier one with a key (Qiao's outbox \
                     keys every send, so its retries are not delivered twice); default 1800, at most 14400, 0 = off",
                ),
                field(
                    "callback_token",
                    false,
                    true,
                    false,
                    "Callback Token (接收消息 Token)",
                ),
                field(
                    "callback_aes_key",
                    false,
                    true,
                    false,
                    "Callback EncodingAESKey (43 characters)",
                ),
                field(
                    "employee_no_attr",
                    false,
                    false,
                    false,
                    "Name of the text custom member field (扩展属性, created in the admin console) that holds the \
                     employee number: WeCom has none of its own and ignores fields it does not have; default 工号, \
                     empty = employee numbers are not kept",
                ),
                field(
                    "oauth_scope",
                    false,
                    false,
                    false,
                    "OAuth2 scope for sign-in: snsapi_base (default) or snsapi_privateinfo (adds mobile and email)",
                ),
                field(
                    "api_base",
                    false,
                    false,
                    true,
                    "Base URL replacing https://qyapi.weixin.qq.com (simulator, proxy)",
                ),
            ],
            rate_hints: rate_hints(),
        }
    }
}

/// WeCom's documented pace, per enterprise and API: the hourly limit is the one a long directory sync meets.
/// Its per-recipient limits (30 messages a minute to one member) are not a pace of the app's, so no hint.
fn rate_hints() -> Vec<RateHint> {
    vec![RateHint {
        operation: "*".into(),
        per_second: 30_000.0 / 3600.0,
        source: "WeCom: 30,000 calls an hour (1,000 a minute) per enterprise and API, the figure of the one copy \
                 of WeCom's limits found (an older edition); newer figures (150,000 an hour) are unconfirmed; \
                 beyond it errcode 45009"
            .into(),
    }]
}

export!(WeCom);
