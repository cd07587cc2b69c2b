//! Guest log lines into the host's tracing, tagged with the connection and bounded so a chatty or hostile
//! connector cannot flood the log: each message and field is truncated, and each call has a budget of lines and
//! bytes after which its lines are dropped (with one warning). The connection's secret values are redacted
//! from whatever a guest logs.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use qiao_config::Connection;
use qiao_contract::bindings::log::{self, Level};

use crate::observe::Observer;
use crate::sandbox::CpuMeter;
use crate::redact::{clean, secret_values};

const MAX_MESSAGE_BYTES: usize = 4096;
const MAX_FIELDS: usize = 32;
const MAX_FIELD_KEY_BYTES: usize = 64;
const MAX_FIELD_VALUE_BYTES: usize = 256;
/// Lines one call may log; further lines of that call are dropped.
pub const MAX_LINES_PER_CALL: u32 = 1_000;
/// Bytes (messages and fields, after truncation) one call may log.
pub const MAX_BYTES_PER_CALL: usize = 1024 * 1024;
/// One call's logging: what it has used of its budget, and the secrets to redact.
#[derive(Debug, Default)]
pub struct LogState {
    pub lines: u32,
    pub bytes: usize,
    /// Lines dropped because the budget ran out.
    pub dropped: u64,
    /// Computed at the first line.
    secrets: Option<Vec<String>>,
    /// Whose lines these are: named in each, and its secrets redacted from them.
    pub connection: Arc<Connection>,
    pub observer: Option<Arc<Observer>>,
    /// Where the time spent on each line (redaction, formatting, the subscriber) is charged.
    pub cpu: Option<Arc<CpuMeter>>,
}

/// Adds `qiao:connector/log` to a linker whose store data holds a [`LogState`].
pub fn link<T: Send + 'static>(linker: &mut Linker<T>, get: fn(&mut T) -> &mut LogState) -> wasmtime::Result<()> {
    log::add_to_linker::<T, HasSelf<LogState>>(linker, get)
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
    pub fn new(connection: Arc<Connection>, observer: Option<Arc<Observer>>) -> LogState {
        LogState { lines: 0, bytes: 0, dropped: 0, secrets: None, connection, observer, cpu: None }
    }

    /// Charges each line's time to a call's CPU budget.
    pub fn charged_to(mut self, cpu: Arc<CpuMeter>) -> LogState {
        self.cpu = Some(cpu);
        self
    }

    fn secrets(&mut self) -> &[String] {
        let connection = &self.connection;
        self.secrets.get_or_insert_with(|| secret_values(connection))
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

impl log::Host for LogState {
    fn log(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        let Some(cpu) = self.cpu.clone() else { return self.write(level, message, fields) };
        if cpu.exhausted() {
            self.dropped += 1;
            return;
        }
        cpu.measure(|| self.write(level, message, fields))
    }
}

impl LogState {
    fn write(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        if self.dropped > 0 {
            // Over budget: nothing more is looked at.
            self.dropped += 1;
            return;
        }
        let secrets = self.secrets();
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
        let admitted = self.admit(message.len() + fields.len());
        let connection = &self.connection.name;
        match admitted {
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
        if let Some(observer) = &self.observer {
            observer.line(format!("{message} {fields}"));
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
