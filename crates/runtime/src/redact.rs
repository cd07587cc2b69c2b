//! A connection's secrets kept out of what leaves a call: its connector's log lines, stdout/stderr and errors.

use std::borrow::Cow;

use qiao_config::Connection;
use qiao_contract::types;

/// What a secret value is replaced with.
pub const REDACTED: &str = "[redacted]";
/// Shorter secret values are not redacted: they would match ordinary text.
const MIN_SECRET_CHARS: usize = 4;

pub fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The connection's secret values worth redacting, longest first (so a secret containing another is redacted
/// whole).
pub fn secret_values(connection: &Connection) -> Vec<String> {
    let mut secrets: Vec<String> = connection
        .secret_keys
        .iter()
        .filter_map(|k| connection.values.get(k))
        .filter(|v| v.chars().count() >= MIN_SECRET_CHARS)
        .cloned()
        .collect();
    secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    secrets.dedup();
    secrets
}

/// `text` with every occurrence of a secret replaced by [`REDACTED`], cut to at most `max` bytes (on a char
/// boundary). A secret is matched whole even where the cut would split it, so no part of one survives; the scan
/// stops once `max` bytes are written.
pub fn clean<'a>(text: &'a str, max: usize, secrets: &[String]) -> Cow<'a, str> {
    // A secret that starts in the kept part ends within `longest` bytes after it: no need to search further
    // (a guest's message may be far longer than what is kept).
    let longest = secrets.iter().map(String::len).max().unwrap_or(0);
    let head = truncate(text, max.saturating_add(longest));
    let first = secrets
        .iter()
        .filter_map(|s| head.find(s.as_str()))
        .min()
        .filter(|&at| at < max);
    let Some(first) = first else {
        return Cow::Borrowed(truncate(text, max));
    };
    let mut out = String::with_capacity(max.min(text.len()));
    out.push_str(&text[..first]);
    let mut rest = &text[first..];
    while out.len() < max && !rest.is_empty() {
        if let Some(secret) = secrets.iter().find(|s| rest.starts_with(s.as_str())) {
            out.push_str(REDACTED);
            rest = &rest[secret.len()..];
        } else {
            let c = rest.chars().next().expect("not empty");
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    Cow::Owned(truncate(&out, max).to_string())
}

/// A connector's error goes into API answers, the outbox's store and the log: none of its connection's secrets may
/// ride along (a connector echoing a platform's "invalid secret xyz"), and its text is bounded like a log line.
pub fn redacted_error(mut e: types::Error, conn: &Connection) -> types::Error {
    const MAX_ERROR_BYTES: usize = 4096;
    let secrets = secret_values(conn);
    e.message = clean(&e.message, MAX_ERROR_BYTES, &secrets).into_owned();
    e.platform_message = e.platform_message.map(|m| clean(&m, MAX_ERROR_BYTES, &secrets).into_owned());
    e.platform_code = e.platform_code.map(|c| clean(&c, 256, &secrets).into_owned());
    e
}


#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(values: &[&str]) -> Vec<String> {
        let connection = Connection {
            values: values
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("s{i}"), v.to_string()))
                .chain([("plain".to_string(), "not-a-secret".to_string())])
                .collect(),
            secret_keys: (0..values.len()).map(|i| format!("s{i}")).collect(),
            ..Default::default()
        };
        secret_values(&connection)
    }

    #[test]
    fn secrets_are_redacted_longest_first_and_short_ones_kept() {
        let s = secrets(&["abc", "s3cret", "s3cret-and-more", "s3cret"]);
        assert_eq!(
            s,
            ["s3cret-and-more", "s3cret"],
            "3-char values and duplicates are skipped"
        );
        assert_eq!(
            clean(
                "token=s3cret-and-more, again s3cret; abc not-a-secret",
                4096,
                &s
            ),
            "token=[redacted], again [redacted]; abc not-a-secret"
        );
        assert_eq!(clean("nothing here", 4096, &s), "nothing here");
        assert!(matches!(clean("nothing here", 4096, &s), Cow::Borrowed(_)));
    }

    #[test]
    fn a_secret_cut_by_truncation_is_not_half_shown() {
        let s = secrets(&["0123456789abcdef"]);
        // The secret starts before the limit and ends after it.
        let text = format!("{}0123456789abcdef", "x".repeat(10));
        assert_eq!(clean(&text, 14, &s), "xxxxxxxxxx[red");
        // A long secret shrinks to the marker: text after it moves into the kept part, and a second copy of
        // the secret there is redacted too, not cut.
        let text = "0123456789abcdef0123456789abcdef0123456789abcdef";
        let cleaned = clean(text, 24, &s);
        assert!(!cleaned.contains("0123"), "{cleaned}");
        assert_eq!(cleaned, "[redacted][redacted][red");
        // Multi-byte text is cut on a char boundary.
        assert_eq!(
            clean("密钥s3cret-value", 4, &secrets(&["s3cret-value"])),
            "密"
        );
    }
}

/// A connector's successful answer, as JSON, with its connection's secret values replaced by [`REDACTED`]: what is
/// stored as an operation's result and answered to callers never carries them.
pub fn redacted_json(value: serde_json::Value, conn: &Connection) -> serde_json::Value {
    let secrets = secret_values(conn);
    if secrets.is_empty() {
        return value;
    }
    let text = value.to_string();
    if !secrets.iter().any(|s| text.contains(s.as_str())) {
        return value;
    }
    let mut cleaned = text;
    for secret in &secrets {
        cleaned = cleaned.replace(secret.as_str(), REDACTED);
    }
    serde_json::from_str(&cleaned).unwrap_or(serde_json::Value::String(REDACTED.into()))
}
