//! The __NAME__ connector for Qiao (contract __CONTRACT__). `describe` is here; each capability it exports is a module
//! of `capabilities/`, answering `unsupported` until you write it.

mod capabilities;

use qiao_sdk::Error;

// The connector's world: the host's imports, and what it exports. A capability added here needs its
// `impl ...::Guest for Connector` in capabilities/.
qiao_sdk::export_bindings!(
    "package vendor:__NAME__;
    world __NAME__ {
        include qiao:connector/host@__CONTRACT__;
        export qiao:connector/describe@__CONTRACT__;
        export qiao:connector/__CAP__@__CONTRACT__; __EACH_CAPABILITY__
    }"
);

use exports::qiao::connector::describe::{ConfigField, Info};

pub struct Connector;

/// The connector's identity and settings. Qiao shows it to operators and checks `config` against qiao.toml: a
/// `secret` is never logged or returned, and an `api_base` origin is the one host reachable without a grant.
impl exports::qiao::connector::describe::Guest for Connector {
    fn describe() -> Info {
        let field = |key: &str, description: &str, secret: bool, api_base: bool| ConfigField {
            key: key.into(),
            description: description.into(),
            required: false,
            secret,
            api_base,
        };
        Info {
            id: "__NAME__".into(),
            name: "__NAME_PASCAL__".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            vendor: "Your company".into(),
            platform: "__NAME__".into(),
            // The platform's API hosts (no scheme, no port): the only hosts an operator can grant.
            hosts: vec![],
            config: vec![
                field("api_base", "Base URL of the platform's API", false, true),
                field("token", "The API token", true, false),
            ],
            rate_hints: vec![],
        }
    }
}

/// The answer of everything not written yet.
fn not_yet(operation: &str) -> Error {
    Error::unsupported(format!("__NAME__ does not do {operation} yet"))
}

export!(Connector);

#[cfg(test)]
mod tests {
    use super::exports::qiao::connector::describe::Guest;
    use super::*;

    #[test]
    fn describe_names_the_connector_and_marks_its_secret() {
        let info = Connector::describe();
        assert_eq!(info.id, "__NAME__");
        let token = info.config.iter().find(|f| f.key == "token").unwrap();
        assert!(token.secret, "a token must be marked secret, so Qiao never logs it");
    }
}
