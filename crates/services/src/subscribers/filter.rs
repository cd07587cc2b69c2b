//! Which events a subscription wants: type patterns and an optional list of connections.

use qiao_store::{StoredEvent, Subscription};

/// Most type patterns one subscription may have.
pub const MAX_TYPES: usize = 50;
/// Longest type pattern.
pub const MAX_TYPE_CHARS: usize = 128;

/// Checks one type pattern: an exact type (`approval.status_changed`), a prefix ending in `*`
/// (`approval.*`), or `*` alone. A `*` anywhere but at the end would suggest a glob we do not implement.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() || pattern.chars().count() > MAX_TYPE_CHARS {
        return Err(format!("each type must be 1-{MAX_TYPE_CHARS} characters"));
    }
    if pattern.chars().any(char::is_whitespace) {
        return Err(format!("type {pattern:?} contains whitespace"));
    }
    if pattern.trim_end_matches('*').contains('*') || pattern.ends_with("**") {
        return Err(format!(
            "type {pattern:?}: `*` may only end a pattern (`approval.*`) or stand alone (`*`)"
        ));
    }
    Ok(())
}

/// Whether an event type matches a pattern checked by [`check_pattern`].
pub fn type_matches(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => kind.starts_with(prefix),
        None => pattern == kind,
    }
}

/// Whether a subscription wants an event.
pub fn matches(sub: &Subscription, event: &StoredEvent) -> bool {
    let connection_ok = sub
        .connections
        .as_ref()
        .is_none_or(|names| names.contains(&event.connection));
    connection_ok && sub.types.iter().any(|p| type_matches(p, &event.kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_exact_prefix_or_everything() {
        assert!(type_matches(
            "approval.status_changed",
            "approval.status_changed"
        ));
        assert!(!type_matches(
            "approval.status_changed",
            "approval.status_changed.x"
        ));
        assert!(type_matches("approval.*", "approval.created"));
        assert!(!type_matches("approval.*", "approvals.created"));
        assert!(!type_matches("approval.*", "message.read"));
        assert!(type_matches("*", "anything.at.all"));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for ok in ["*", "approval.*", "echo.received", "a*"] {
            assert!(check_pattern(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a.*.b",
            "*.created",
            "a**",
            "has space",
            &"x".repeat(MAX_TYPE_CHARS + 1),
        ] {
            assert!(check_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn connections_narrow_what_types_allow() {
        let sub = |connections: Option<Vec<String>>| Subscription {
            id: 1,
            url: String::new(),
            secret: String::new(),
            types: vec!["echo.*".into()],
            connections,
            cursor: 0,
            attempts: 0,
            next_attempt_ms: None,
            last_error: None,
            dead_letters: 0,
            created_ms: 0,
        };
        let event = |connection: &str, kind: &str| StoredEvent {
            seq: 1,
            connection: connection.into(),
            id: "e".into(),
            kind: kind.into(),
            subject: String::new(),
            time_ms: None,
            payload: serde_json::Value::Null,
            received_ms: 0,
            echo_of: None,
            hops: 0,
        };
        assert!(matches(&sub(None), &event("a", "echo.tick")));
        assert!(!matches(&sub(None), &event("a", "other.tick")));
        let only_b = sub(Some(vec!["b".into()]));
        assert!(!matches(&only_b, &event("a", "echo.tick")));
        assert!(matches(&only_b, &event("b", "echo.tick")));
    }
}
