//! Contract 0.1.0 (`wit/v0.1.0`, frozen): its bindings, and the conversions to and from the latest contract's
//! types. Interfaces whose shape did not change reuse the latest Rust types (`with:`): a record crosses the
//! component boundary by its structure, not its name, so `types.error` of 0.1.0 is the latest `types::Error`.

wasmtime::component::bindgen!({
    path: "../../wit/v0.1.0",
    world: "connector",
    imports: {
        "qiao:connector/http": async,
        "qiao:connector/kv": async,
    },
    exports: { default: async },
    with: {
        "qiao:connector/types": crate::bindings::types,
    },
    additional_derives: [serde::Serialize, serde::Deserialize],
});

pub use exports::qiao::connector::{approval, describe, identity, messaging, poll, roles, user_status, webhook};
pub use qiao::connector::{config, crypto, http, kv, log};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings as latest;
use crate::types::{Error, ErrorKind};

/// A record whose shape is the same in 0.1.0 and the latest contract, from one version's Rust type to the other's
/// (bindgen makes a type per version even when nothing changed). Its fields carry over by name.
pub fn same_shape<A: Serialize, B: DeserializeOwned>(value: &A) -> wasmtime::Result<B> {
    let json = serde_json::to_value(value).map_err(|e| wasmtime::format_err!("contract 0.1.0 conversion: {e}"))?;
    serde_json::from_value(json).map_err(|e| wasmtime::format_err!("contract 0.1.0 conversion: {e}"))
}

/// What a 0.1.0 connector cannot be asked: the operation or field came in a later contract.
pub fn not_in_v0_1_0(what: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("{what} needs connector contract 0.2.0; this connector is built for 0.1.0 (update the connector)"),
    )
}

impl From<describe::Info> for latest::describe::Info {
    fn from(info: describe::Info) -> Self {
        latest::describe::Info {
            id: info.id,
            name: info.name,
            version: info.version,
            vendor: info.vendor,
            platform: info.platform,
            hosts: info.hosts,
            config: info
                .config
                .into_iter()
                .map(|f| latest::describe::ConfigField {
                    key: f.key,
                    description: f.description,
                    required: f.required,
                    secret: f.secret,
                    api_base: f.api_base,
                })
                .collect(),
            rate_hints: Vec::new(),
        }
    }
}

impl From<identity::Department> for latest::identity::Department {
    fn from(d: identity::Department) -> Self {
        latest::identity::Department {
            id: d.id,
            name: d.name,
            parent_id: d.parent_id,
            order: d.order,
            code: None,
            extra: d.extra,
        }
    }
}

/// The code is dropped: a 0.1.0 connector's platform assigns its own ids.
impl From<&latest::identity::DepartmentFields> for identity::DepartmentFields {
    fn from(f: &latest::identity::DepartmentFields) -> Self {
        identity::DepartmentFields {
            name: f.name.clone(),
            parent_id: f.parent_id.clone(),
            order: f.order,
            extra: f.extra.clone(),
        }
    }
}

impl TryFrom<&latest::identity::UserFields> for identity::UserFields {
    type Error = Error;

    /// Clearing a field is refused rather than silently left undone.
    fn try_from(f: &latest::identity::UserFields) -> Result<Self, Error> {
        if !f.clear.is_empty() {
            return Err(not_in_v0_1_0("clearing a user's fields"));
        }
        Ok(identity::UserFields {
            id: f.id.clone(),
            name: f.name.clone(),
            mobile: f.mobile.clone(),
            email: f.email.clone(),
            title: f.title.clone(),
            employee_no: f.employee_no.clone(),
            department_ids: f.department_ids.clone(),
            manager_id: f.manager_id.clone(),
            extra: f.extra.clone(),
        })
    }
}

/// Mentions are dropped here; the caller reports each as a delivery problem.
impl TryFrom<&latest::messaging::Message> for messaging::Message {
    type Error = wasmtime::Error;

    fn try_from(m: &latest::messaging::Message) -> wasmtime::Result<Self> {
        Ok(messaging::Message {
            to: same_shape(&m.to)?,
            content: same_shape(&m.content)?,
            urgent: m.urgent,
            idempotency_key: m.idempotency_key.clone(),
        })
    }
}

/// A mention a 0.1.0 connector was not told about, as the problem the sender sees.
pub fn unrendered_mentions(mentions: &latest::messaging::Mentions) -> Vec<latest::messaging::DeliveryProblem> {
    let everyone = mentions.everyone.then(|| "everyone".to_string());
    mentions
        .users
        .iter()
        .cloned()
        .chain(everyone)
        .map(|recipient| latest::messaging::DeliveryProblem {
            recipient,
            code: "mention-unsupported".into(),
            reason: "not mentioned: the connector is built for contract 0.1.0, which has no mentions".into(),
        })
        .collect()
}

// Webhook bodies are bytes: converted field by field rather than through JSON.
impl From<&latest::webhook::Request> for webhook::Request {
    fn from(r: &latest::webhook::Request) -> Self {
        webhook::Request {
            method: r.method.clone(),
            path: r.path.clone(),
            query: r.query.clone(),
            headers: r.headers.clone(),
            body: r.body.clone(),
        }
    }
}

impl From<webhook::Outcome> for latest::webhook::Outcome {
    fn from(o: webhook::Outcome) -> Self {
        latest::webhook::Outcome {
            response: latest::webhook::Response {
                status: o.response.status,
                headers: o.response.headers,
                body: o.response.body,
            },
            events: o.events,
        }
    }
}
