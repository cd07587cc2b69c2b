//! Guest log lines into the host's tracing, tagged with the connection and bounded in size so a chatty or hostile
//! connector cannot flood the log.

use crate::bindings::log::{self, Level};
use crate::sandbox::HostState;

const MAX_MESSAGE_BYTES: usize = 4096;
const MAX_FIELDS: usize = 32;

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

impl log::Host for HostState {
    fn log(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        let message = truncate(&message, MAX_MESSAGE_BYTES);
        let fields: Vec<String> = fields
            .iter()
            .take(MAX_FIELDS)
            .map(|(k, v)| format!("{}={}", truncate(k, 64), truncate(v, 256)))
            .collect();
        let fields = fields.join(" ");
        let connection = &self.connection.name;
        match level {
            Level::Trace => tracing::trace!(target: "connector", %connection, fields, "{message}"),
            Level::Debug => tracing::debug!(target: "connector", %connection, fields, "{message}"),
            Level::Info => tracing::info!(target: "connector", %connection, fields, "{message}"),
            Level::Warn => tracing::warn!(target: "connector", %connection, fields, "{message}"),
            Level::Error => tracing::error!(target: "connector", %connection, fields, "{message}"),
        }
    }
}
