//! Qiao's Kingdee K3Cloud (金蝶云星空) connector: the ERP side of an integration. Bills (expense claims, purchase
//! requests...) as approvals, employees and departments as identity, and bill changes by polling, since K3Cloud
//! cannot call back. No messaging and no sign-in: K3Cloud has neither for end users.

mod approval;
mod auth;
mod client;
mod errors;
mod identity;
mod poll;

qiao_sdk::export_bindings!(
    "package qiao:kingdee;
    world kingdee {
        include qiao:connector/host@0.2.0;
        export qiao:connector/describe@0.2.0;
        export qiao:connector/identity@0.2.0;
        export qiao:connector/approval@0.2.0;
        export qiao:connector/poll@0.2.0;
    }"
);
qiao_sdk::user_fields!();

use exports::qiao::connector::describe::{ConfigField, Guest, Info};

struct Kingdee;

impl Guest for Kingdee {
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
            id: "kingdee".into(),
            name: "Kingdee K3Cloud (金蝶云星空)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            vendor: "Qiao".into(),
            platform: "kingdee".into(),
            // Every K3Cloud site has its own address: `server_url` grants it.
            hosts: vec![],
            config: vec![
                field(
                    "server_url",
                    true,
                    false,
                    true,
                    "The site's WebAPI base, e.g. https://erp.example.com/k3cloud/",
                ),
                field("acct_id", true, false, false, "Account set (数据中心) id"),
                field(
                    "user_name",
                    true,
                    false,
                    false,
                    "The K3Cloud user the integration acts as",
                ),
                field(
                    "auth",
                    false,
                    false,
                    false,
                    "signed (default: the SDK's signed headers) or session (login, cookie)",
                ),
                field(
                    "app_id",
                    false,
                    false,
                    false,
                    "Third-party system app id (<clientId>_<secret part>), for signed auth or LoginByAppSecret",
                ),
                field(
                    "app_secret",
                    false,
                    true,
                    false,
                    "Third-party system app secret",
                ),
                field(
                    "password",
                    false,
                    true,
                    false,
                    "The user's password: session auth logs in with ValidateUser when set",
                ),
                field(
                    "lcid",
                    false,
                    false,
                    false,
                    "Language id (default 2052, Simplified Chinese)",
                ),
                field(
                    "org_num",
                    false,
                    false,
                    false,
                    "Organisation number for signed auth (default 0)",
                ),
                field(
                    "user_form",
                    false,
                    false,
                    false,
                    "Form of people: BD_Empinfo (default, employees) or SEC_User (system users)",
                ),
                field(
                    "department_form",
                    false,
                    false,
                    false,
                    "Form of departments (default BD_Department)",
                ),
                field(
                    "workflow_forms",
                    false,
                    false,
                    false,
                    "Bill forms under a BOS workflow: approve/reject use WorkflowAudit (comma list)",
                ),
                field(
                    "poll_forms",
                    false,
                    false,
                    false,
                    "Bill forms whose changes poll reports (comma list)",
                ),
            ],
            // K3Cloud publishes no rate limits: a site is as fast as its own server.
            rate_hints: vec![],
        }
    }
}

export!(Kingdee);
