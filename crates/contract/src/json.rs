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

/// The user fields an update can clear, as the REST API names them.
pub const USER_FIELDS: [&str; 5] = ["mobile", "email", "title", "employee_no", "manager_id"];

pub fn user_field_name(field: crate::identity::UserField) -> &'static str {
    use crate::identity::UserField::*;
    match field {
        Mobile => USER_FIELDS[0],
        Email => USER_FIELDS[1],
        Title => USER_FIELDS[2],
        EmployeeNo => USER_FIELDS[3],
        ManagerId => USER_FIELDS[4],
    }
}

/// A user field from its REST name.
pub fn user_field(name: &str) -> Option<crate::identity::UserField> {
    use crate::identity::UserField::*;
    [Mobile, Email, Title, EmployeeNo, ManagerId].into_iter().find(|f| user_field_name(*f) == name)
}

/// A task status category as the REST API writes it.
pub fn status_category_name(category: crate::tasks::StatusCategory) -> &'static str {
    use crate::tasks::StatusCategory::*;
    match category {
        Open => "open",
        InProgress => "in_progress",
        Done => "done",
    }
}

/// A task status category from its REST name.
pub fn status_category(name: &str) -> Option<crate::tasks::StatusCategory> {
    use crate::tasks::StatusCategory::*;
    [Open, InProgress, Done].into_iter().find(|c| status_category_name(*c) == name)
}

/// A task as the REST API (and a stored write's result) shows it: `status` as `{"category": "in_progress",
/// "name": ...}` and `extra` as JSON.
pub fn task(task: crate::tasks::Task) -> serde_json::Value {
    let category = status_category_name(task.status.category);
    let mut value = render(task);
    value["status"]["category"] = category.into();
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
                mentions: crate::messaging::Mentions { users: vec![], everyone: false },
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
