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
