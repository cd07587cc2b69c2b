//! Qiao's DingTalk (钉钉) connector, for an enterprise's internal app: the directory and sign-in (identity),
//! roles (roles), work notifications, DING and scene-group messages with @mentions (messaging, group), OA
//! approvals (approval), to-dos (tasks), scene groups (chats), and events either by HTTP push (webhook) or over
//! DingTalk's Stream mode (stream, contract 0.3.0 `event-stream`: no public URL needed). Point `oapi_base` and `api_base` at a simulator or proxy to test without DingTalk.
//!
//! It does not export `user-status`: DingTalk gives an app no way to disable an account and enable it again,
//! only to delete it, so directory sync deletes leavers on DingTalk (see `roles.rs`).

mod approval;
mod chats;
mod client;
mod errors;
mod group;
mod identity;
mod messaging;
mod people;
mod roles;
mod stream;
mod tasks;
mod todo_events;
mod webhook;

qiao_sdk::export_bindings!(
    "package qiao:dingtalk;
    world dingtalk {
        include qiao:connector/host@0.2.0;
        export qiao:connector/describe@0.2.0;
        export qiao:connector/identity@0.2.0;
        export qiao:connector/roles@0.2.0;
        export qiao:connector/messaging@0.2.0;
        export qiao:connector/approval@0.2.0;
        export qiao:connector/tasks@0.2.0;
        export qiao:connector/chats@0.2.0;
        export qiao:connector/webhook@0.2.0;
    }"
);
qiao_sdk::user_fields!();
qiao_sdk::event_stream_bindings!();

use exports::qiao::connector::describe::{ConfigField, Guest, Info, RateHint};

struct DingTalk;

impl Guest for DingTalk {
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
            id: "dingtalk".into(),
            name: "DingTalk (钉钉)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            vendor: "Qiao".into(),
            platform: "dingtalk".into(),
            hosts: vec![client::OAPI_HOST.into(), client::API_HOST.into()],
            config: vec![
                field(
                    "app_key",
                    true,
                    false,
                    false,
                    "The internal app's AppKey (Client ID)",
                ),
                field(
                    "app_secret",
                    true,
                    true,
                    false,
                    "The internal app's AppSecret (Client Secret)",
                ),
                field(
                    "agent_id",
                    true,
                    false,
                    false,
                    "The app's AgentId: work notifications and approvals are sent as it",
                ),
                field(
                    "events",
                    false,
                    false,
                    false,
                    "How events arrive: \"stream\" (DingTalk's Stream mode, an outbound connection: no public URL \
                     needed) or \"webhook\" (HTTP push to Qiao's webhook URL, with the callback credentials); \
                     defaults to webhook when callback_token or callback_aes_key is set, else stream",
                ),
                field(
                    "callback_token",
                    false,
                    true,
                    false,
                    "Event subscription token (签名 Token), for verifying HTTP-push callbacks",
                ),
                field(
                    "callback_aes_key",
                    false,
                    true,
                    false,
                    "Event subscription EncodingAESKey (43 characters), for decrypting callbacks",
                ),
                field(
                    "callback_owner_key",
                    false,
                    false,
                    false,
                    "Whom callbacks are encrypted for: defaults to app_key (event subscription); the corpId for callbacks registered with the old register_call_back API",
                ),
                field(
                    "robot_code",
                    false,
                    false,
                    false,
                    "Robot code DING reminders are sent as; defaults to app_key",
                ),
                field(
                    "operator_user_id",
                    false,
                    false,
                    false,
                    "The userid the app acts as where DingTalk wants a person and the caller named none: a \
                     to-do's creator, a scene group's owner, whose to-dos are listed",
                ),
                field(
                    "todo_detail_link",
                    false,
                    false,
                    false,
                    "The detail page link DingTalk requires on every to-do an app creates, unless the task's \
                     extra.detail_url gives one",
                ),
                field(
                    "scene_group_template_id",
                    false,
                    false,
                    false,
                    "The scene-group template (developer console → 场景群 → 群模板) groups are created from; \
                     without it creating a chat answers unsupported",
                ),
                field(
                    "scene_group_robot_code",
                    false,
                    false,
                    false,
                    "The group template's robot, which sends messages (with @mentions) into scene groups; \
                     without it sending to to.chats answers unsupported",
                ),
                field(
                    "oapi_base",
                    false,
                    false,
                    true,
                    "Base URL replacing https://oapi.dingtalk.com (simulator, proxy)",
                ),
                field(
                    "api_base",
                    false,
                    false,
                    true,
                    "Base URL replacing https://api.dingtalk.com (simulator, proxy)",
                ),
            ],
            rate_hints: rate_hints(),
        }
    }
}

/// DingTalk's documented pace for an app. Only requests per second can be a hint: its other sending limits count
/// recipients (5000 a minute for work notifications) or days (500 notifications per user, 3 to everyone), which
/// the host's pacing cannot express, and which DingTalk enforces silently (see `messaging.rs`).
fn rate_hints() -> Vec<RateHint> {
    vec![RateHint {
        operation: "*".into(),
        per_second: 20.0,
        source: "DingTalk: 20 requests per second per app and API on the standard edition; beyond it errcode \
                 90018 / Forbidden.AccessDenied.QpsLimitForAppkeyAndApi (DingTalk open platform, API call limits)"
            .into(),
    }]
}

export!(DingTalk);
event_stream_bindings::export!(DingTalk with_types_in event_stream_bindings);
