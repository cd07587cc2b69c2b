//! WeCom callbacks: the URL check (`GET ?msg_signature&timestamp&nonce&echostr`, answered with the decrypted
//! echo verbatim) and events (`POST`, an XML envelope whose `Encrypt` holds the event's XML), verified and
//! decrypted with the crypto WeCom shares with DingTalk, the receive id being our corp id.

use qiao_sdk::msg_crypt::MsgCrypt;
use qiao_sdk::text::{hex, query_param};
use qiao_sdk::{Error, crypto, require_config, types::Event};
use serde_json::{Map, Value, json};

use crate::WeCom;
use crate::approval::status;
use crate::client::corp_id;
use crate::exports::qiao::connector::approval::Status;
use crate::exports::qiao::connector::webhook::{Guest, Outcome, Request, Response};

fn crypt() -> Result<MsgCrypt, Error> {
    MsgCrypt::new(
        &require_config("callback_token")?,
        &require_config("callback_aes_key")?,
        &corp_id()?,
    )
}

fn plain(status: u16, body: &str) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
        body: body.as_bytes().to_vec(),
    }
}

/// WeCom's envelopes and messages are a few elements deep; anything deeper is refused before parsing, because
/// roxmltree recurses per level and a forged body thousands deep would exhaust the connector's stack.
const MAX_XML_DEPTH: usize = 16;

fn parse(xml: &str) -> Result<roxmltree::Document<'_>, Error> {
    if nesting(xml) > MAX_XML_DEPTH {
        return Err(Error::invalid_input(format!(
            "callback is not XML WeCom sends: nested deeper than {MAX_XML_DEPTH}"
        )));
    }
    roxmltree::Document::parse(xml)
        .map_err(|e| Error::invalid_input(format!("callback is not XML: {e}")))
}

/// The deepest element nesting, counted from tags alone (an over-estimate is fine: it only gates parsing).
fn nesting(xml: &str) -> usize {
    let bytes = xml.as_bytes();
    let (mut depth, mut deepest) = (0usize, 0usize);
    for (i, &b) in bytes.iter().enumerate() {
        match (b, bytes.get(i + 1)) {
            (b'<', Some(b'/')) => depth = depth.saturating_sub(1),
            (b'<', Some(b'?' | b'!')) => {}
            (b'<', _) => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (b'/', Some(b'>')) => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// The text of the first element named `tag` (CDATA included).
fn field<'a>(doc: &'a roxmltree::Document, tag: &str) -> Option<&'a str> {
    doc.descendants()
        .find(|n| n.has_tag_name(tag))
        .and_then(|n| n.text())
}

impl Guest for WeCom {
    fn handle(request: Request) -> Result<Outcome, Error> {
        let crypt = crypt()?;
        let param = |name: &str| query_param(&request.query, name).unwrap_or_default();
        let (signature, timestamp, nonce) =
            (param("msg_signature"), param("timestamp"), param("nonce"));
        match request.method.as_str() {
            "GET" => {
                let echo = param("echostr");
                crypt.verify(&signature, &timestamp, &nonce, &echo)?;
                Ok(Outcome {
                    response: plain(200, &crypt.decrypt(&echo)?),
                    events: vec![],
                })
            }
            "POST" => {
                let body = std::str::from_utf8(&request.body)
                    .map_err(|_| Error::invalid_input("callback body is not UTF-8"))?;
                let envelope = parse(body)?;
                let encrypt = field(&envelope, "Encrypt")
                    .ok_or_else(|| Error::invalid_input("callback XML has no Encrypt"))?;
                crypt.verify(&signature, &timestamp, &nonce, encrypt)?;
                let inner = crypt.decrypt(encrypt)?;
                let events = normalize(&parse(&inner)?, &inner);
                // An empty 200 is WeCom's "received".
                Ok(Outcome {
                    response: plain(200, ""),
                    events,
                })
            }
            _ => Err(Error::invalid_input(
                "WeCom callbacks are GET (URL check) or POST (events)",
            )),
        }
    }
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Draft => "draft",
        Status::Pending => "pending",
        Status::Approved => "approved",
        Status::Rejected => "rejected",
        Status::Canceled => "canceled",
    }
}

/// Every leaf element of the event, as a flat JSON object (the platform's view, for subscribers).
fn flat(doc: &roxmltree::Document) -> Value {
    let mut map = Map::new();
    for node in doc
        .descendants()
        .filter(|n| n.is_element() && n.children().all(|c| !c.is_element()))
    {
        map.entry(node.tag_name().name())
            .or_insert_with(|| json!(node.text().unwrap_or_default()));
    }
    Value::Object(map)
}

/// WeCom's events carry no id: a callback and its retries share the type, subject and `CreateTime`, which
/// together make the id Qiao de-duplicates on.
fn normalize(doc: &roxmltree::Document, xml: &str) -> Vec<Event> {
    let text = |tag: &str| field(doc, tag).unwrap_or_default().to_string();
    let created = text("CreateTime");
    let time_ms = created.parse::<u64>().ok().map(|s| s * 1000);
    let event = |id: String, kind: &str, subject: String, payload: Value| Event {
        id,
        kind: kind.into(),
        time_ms,
        subject,
        payload: payload.to_string(),
    };
    let platform = flat(doc);
    match (text("MsgType").as_str(), text("Event").as_str()) {
        ("event", "sys_approval_change") => {
            let sp_no = text("SpNo");
            let change = text("StatuChangeEvent");
            let sp_status = text("SpStatus").parse().unwrap_or(1);
            vec![event(
                format!("sys_approval_change:{sp_no}:{sp_status}:{change}:{created}"),
                "approval.status_changed",
                sp_no.clone(),
                json!({
                    "instance_id": sp_no, "template": text("TemplateId"), "status": status_word(status(sp_status)),
                    "title": text("SpName"), "applicant": text("UserId"), "change": change, "platform": platform,
                }),
            )]
        }
        ("event", "change_contact") => {
            let change = text("ChangeType");
            let (kind, subject) = match change.as_str() {
                "create_user" => ("contact.user_created", text("UserID")),
                "update_user" => ("contact.user_updated", text("UserID")),
                "delete_user" => ("contact.user_deleted", text("UserID")),
                "create_party" => ("contact.department_created", text("Id")),
                "update_party" => ("contact.department_updated", text("Id")),
                "delete_party" => ("contact.department_deleted", text("Id")),
                _ => ("wecom.change_contact", text("UserID")),
            };
            vec![event(
                format!("change_contact:{change}:{subject}:{created}"),
                kind,
                subject.clone(),
                json!({ "id": subject, "change": change, "platform": platform }),
            )]
        }
        (msg_type, event_name) => {
            let id = match text("MsgId") {
                id if !id.is_empty() => id,
                _ => hex(&crypto::sha256(xml.as_bytes())),
            };
            let kind = if event_name.is_empty() {
                format!("wecom.{msg_type}")
            } else {
                format!("wecom.{event_name}")
            };
            vec![event(
                id,
                &kind,
                text("FromUserName"),
                json!({ "platform": platform }),
            )]
        }
    }
}
