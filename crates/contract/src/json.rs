//! Replies as JSON: the API's and the outbox's view of a connector's answer.

/// A connector's free-form `extra` JSON is returned as JSON, not as a string of it.
pub fn extra(value: Option<String>) -> serde_json::Value {
    value.map_or(serde_json::Value::Null, |s| {
        serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s))
    })
}

/// A reply record as JSON, with every `extra` inside it (users of a page, too) turned into JSON by [`extra`].
pub fn render(reply: impl serde::Serialize) -> serde_json::Value {
    fn fix(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(s)) = map.get("extra") {
                    let parsed = extra(Some(s.clone()));
                    map.insert("extra".into(), parsed);
                }
                map.values_mut().for_each(fix);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(fix),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(reply).unwrap_or_default();
    fix(&mut value);
    value
}

/// A stored call (`{"operation": "send", "message": {...}}`) as its caller wrote it: the WIT variant a message's
/// content is (serialized `{"Text": "hi"}`) becomes the `text`, `markdown` or `card` field of the REST body.
/// For reading only: the stored form itself stays what the outbox reads back.
pub fn as_written(call: &mut serde_json::Value) {
    let Some(message) = call.get_mut("message").and_then(|m| m.as_object_mut()) else {
        return;
    };
    let Some(serde_json::Value::Object(content)) = message.remove("content") else {
        return;
    };
    for (case, mut value) in content {
        if case == "Card"
            && let Some(data) = value.get_mut("template_data")
            && let Some(text) = data.as_str()
        {
            *data = extra(Some(text.to_string()));
        }
        message.insert(case.to_lowercase(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messaging::{Content, Message, Recipients};

    #[test]
    fn a_stored_send_reads_like_its_rest_body() {
        let call = crate::Call::Send {
            message: Message {
                to: Recipients {
                    users: vec!["alice".into()],
                    departments: vec![],
                    chats: vec![],
                    tags: vec![],
                    everyone: false,
                },
                content: Content::Text("hi".into()),
                urgent: false,
                idempotency_key: None,
            },
        };
        let mut view = serde_json::to_value(&call).unwrap();
        assert_eq!(view["message"]["content"], serde_json::json!({"Text": "hi"}));
        as_written(&mut view);
        assert_eq!(view["message"]["text"], "hi");
        assert!(view["message"].get("content").is_none());
        assert_eq!(view["operation"], "send");
        assert_eq!(view["message"]["to"]["users"], serde_json::json!(["alice"]));
    }
}
