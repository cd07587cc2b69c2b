//! What the servers of a test binary log, and what they answer, kept for two readers:
//!
//! - `scripts/check-secret-leaks.sh` (run by `make test` after the tests) greps every file this writes under
//!   `target/test-logs/` for every secret the tests configured, so "no secret reaches a log line or a response" is
//!   checked over a whole test run, not one scenario;
//! - tests that assert on the log ([`logged`]).
//!
//! The file holds Qiao's own log (`qiao::*`, connectors' lines, HTTP traces) at debug, and every response body
//! [`TestServer::request`](crate::TestServer::request) received; simulators' logs are left out (they are the
//! platform, which holds the secrets anyway).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

/// Where the logs and secret lists of every test binary go.
pub fn dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("target/test-logs")
}

struct Sink {
    file: Mutex<std::fs::File>,
    secrets: Mutex<std::fs::File>,
    /// Kept in memory too once a test asks to read the log ([`logged`]).
    memory: Mutex<Vec<u8>>,
    remember: AtomicBool,
}

fn sink() -> &'static Sink {
    static SINK: OnceLock<Sink> = OnceLock::new();
    SINK.get_or_init(|| {
        let dir = dir();
        std::fs::create_dir_all(&dir).expect("create target/test-logs");
        let exe = std::env::current_exe().unwrap_or_default();
        let name = exe.file_stem().and_then(|s| s.to_str()).unwrap_or("test");
        let stem = format!("{name}-{}", std::process::id());
        let open = |file: String| std::fs::File::create(dir.join(file)).expect("create a test log file");
        let sink = Sink {
            file: Mutex::new(open(format!("{stem}.log"))),
            secrets: Mutex::new(open(format!("{stem}.secrets"))),
            memory: Mutex::new(Vec::new()),
            remember: AtomicBool::new(false),
        };
        let filter = tracing_subscriber::EnvFilter::new(
            "warn,qiao=debug,connector=trace,tower_http=debug,qiao_tests=off,qiao_tests::response=info",
        );
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(|| Writer)
            .finish();
        // A test binary that installed its own subscriber first keeps it; its log is then not checked.
        let _ = tracing::subscriber::set_global_default(subscriber);
        sink
    })
}

struct Writer;

impl std::io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let sink = sink();
        sink.file.lock().unwrap().write_all(buf)?;
        if sink.remember.load(Ordering::Relaxed) {
            sink.memory.lock().unwrap().extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        sink().file.lock().unwrap().flush()
    }
}

/// Starts capturing (idempotent); every [`crate::TestServer`] calls it.
pub fn init() {
    sink();
}

/// Adds a value that must never appear in a log line or a response (shorter values are too common to check).
pub fn secret(value: &str) {
    if value.len() >= 8 && !value.contains('\n') {
        writeln!(sink().secrets.lock().unwrap(), "{value}").expect("write the secrets list");
    }
}

/// Every inline secret of a config file (`[connections.*] secrets`), plain or `{ env = … }` resolved.
pub fn secrets_of_config(config: &str) {
    let Ok(toml) = config.parse::<toml::Table>() else { return };
    let connections = toml.get("connections").and_then(|c| c.as_table());
    for spec in connections.into_iter().flat_map(|c| c.values()) {
        let secrets = spec.get("secrets").and_then(|s| s.as_table());
        for value in secrets.into_iter().flat_map(|s| s.values()) {
            let plain = match value {
                toml::Value::String(s) if !s.starts_with("qenc:") => Some(s.clone()),
                toml::Value::Table(t) => t
                    .get("env")
                    .and_then(|v| v.as_str())
                    .and_then(|var| std::env::var(var).ok()),
                _ => None,
            };
            if let Some(plain) = plain {
                secret(&plain);
            }
        }
    }
}

/// A child process's log file (`QiaoChild`), copied in for the leak check.
pub fn keep_child_log(path: &std::path::Path, n: usize) {
    let target = dir().join(format!("child-{}-{n}-{}.log", std::process::id(), rand::random::<u32>()));
    let _ = std::fs::copy(path, target);
}

/// A response the tests received, into the same log.
pub fn response(method: &str, path: &str, status: u16, body: &str) {
    tracing::info!(target: "qiao_tests::response", method, path, status, "{body}");
}

/// Keeps the log in memory from now on, for [`logged`].
pub fn remember() {
    sink().remember.store(true, Ordering::Relaxed);
}

/// The log's lines containing `needle`, from the first [`remember`] on (earlier lines are only in the file).
pub fn logged(needle: &str) -> Vec<String> {
    remember();
    let sink = sink();
    let text = String::from_utf8_lossy(&sink.memory.lock().unwrap()).into_owned();
    text.lines().filter(|l| l.contains(needle)).map(str::to_string).collect()
}
