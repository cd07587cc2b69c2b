//! Guest log lines into the host's tracing, tagged with the connection and bounded so a chatty or hostile
//! connector cannot flood the log: each message and field is truncated, and each call has a budget of lines and
//! bytes after which its lines are dropped (with one warning). The connection's secret values are redacted
//! from whatever a guest logs.

use std::borrow::Cow;

use crate::bindings::log::{self, Level};
use crate::config::Connection;
use crate::sandbox::HostState;

const MAX_MESSAGE_BYTES: usize = 4096;
const MAX_FIELDS: usize = 32;
const MAX_FIELD_KEY_BYTES: usize = 64;
const MAX_FIELD_VALUE_BYTES: usize = 256;
/// Lines one call may log; further lines of that call are dropped.
pub const MAX_LINES_PER_CALL: u32 = 1_000;
/// Bytes (messages and fields, after truncation) one call may log.
pub const MAX_BYTES_PER_CALL: usize = 1024 * 1024;
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

/// One call's logging: what it has used of its budget, and the secrets to redact.
#[derive(Debug, Default)]
pub struct LogState {
    pub lines: u32,
    pub bytes: usize,
    /// Lines dropped because the budget ran out.
    pub dropped: u64,
    /// Computed at the first line.
    secrets: Option<Vec<String>>,
}

/// Whether a line may be logged.
#[derive(Debug, PartialEq)]
enum Admit {
    Yes,
    /// The first line over budget: warn once, then drop.
    Exceeded,
    No,
}

impl LogState {
    fn secrets(&mut self, connection: &Connection) -> &[String] {
        self.secrets
            .get_or_insert_with(|| secret_values(connection))
    }

    fn admit(&mut self, bytes: usize) -> Admit {
        if self.dropped > 0 {
            self.dropped += 1;
            return Admit::No;
        }
        if self.lines >= MAX_LINES_PER_CALL || self.bytes + bytes > MAX_BYTES_PER_CALL {
            self.dropped = 1;
            return Admit::Exceeded;
        }
        self.lines += 1;
        self.bytes += bytes;
        Admit::Yes
    }
}

impl log::Host for HostState {
    fn log(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        if self.log.dropped > 0 {
            // Over budget: nothing more is looked at.
            self.log.dropped += 1;
            return;
        }
        let secrets = self.log.secrets(&self.connection);
        let message = clean(&message, MAX_MESSAGE_BYTES, secrets).into_owned();
        let fields: Vec<String> = fields
            .iter()
            .take(MAX_FIELDS)
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    clean(k, MAX_FIELD_KEY_BYTES, secrets),
                    clean(v, MAX_FIELD_VALUE_BYTES, secrets)
                )
            })
            .collect();
        let fields = fields.join(" ");
        let connection = &self.connection.name;
        match self.log.admit(message.len() + fields.len()) {
            Admit::Yes => {}
            Admit::Exceeded => {
                tracing::warn!(
                    %connection,
                    max_lines = MAX_LINES_PER_CALL,
                    max_bytes = MAX_BYTES_PER_CALL,
                    "connection {connection}'s connector exceeded its log budget; further lines of this call dropped"
                );
                return;
            }
            Admit::No => return,
        }
        match level {
            Level::Trace => tracing::trace!(target: "connector", %connection, fields, "{message}"),
            Level::Debug => tracing::debug!(target: "connector", %connection, fields, "{message}"),
            Level::Info => tracing::info!(target: "connector", %connection, fields, "{message}"),
            Level::Warn => tracing::warn!(target: "connector", %connection, fields, "{message}"),
            Level::Error => tracing::error!(target: "connector", %connection, fields, "{message}"),
        }
    }
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

    #[test]
    fn the_budget_admits_lines_then_drops_the_rest_with_one_warning() {
        let mut state = LogState::default();
        for _ in 0..MAX_LINES_PER_CALL {
            assert_eq!(state.admit(10), Admit::Yes);
        }
        assert_eq!(state.admit(10), Admit::Exceeded);
        assert_eq!(state.admit(10), Admit::No);
        assert_eq!(state.dropped, 2);

        let mut state = LogState::default();
        let mut admitted = 0;
        while state.admit(4096) == Admit::Yes {
            admitted += 1;
        }
        assert_eq!(
            admitted,
            MAX_BYTES_PER_CALL / 4096,
            "bytes run out first for long lines"
        );
        assert_eq!(state.admit(1), Admit::No, "nothing more once over budget");
    }
}
