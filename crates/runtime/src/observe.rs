//! What connector calls did, for tools that judge a connector rather than serve it (`qiao connectors test`):
//! every outbound request and whether the allow-list let it through, every line it logged (as logged: secrets
//! already redacted), and the most linear memory one instance asked for. A serving runtime has no observer.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Clone)]
pub struct Egress {
    pub url: String,
    pub permitted: bool,
}

#[derive(Debug, Default)]
pub struct Observer {
    requests: Mutex<Vec<Egress>>,
    lines: Mutex<Vec<String>>,
    peak_memory: AtomicUsize,
}

impl Observer {
    pub fn request(&self, url: &str, permitted: bool) {
        self.requests.lock().unwrap().push(Egress { url: url.to_string(), permitted });
    }

    pub fn line(&self, line: String) {
        self.lines.lock().unwrap().push(line);
    }

    pub fn memory(&self, bytes: usize) {
        self.peak_memory.fetch_max(bytes, Ordering::Relaxed);
    }

    pub fn requests(&self) -> Vec<Egress> {
        self.requests.lock().unwrap().clone()
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    pub fn peak_memory(&self) -> usize {
        self.peak_memory.load(Ordering::Relaxed)
    }

    /// Forgets what was observed (the peak stays: it is the high-water mark of the whole run).
    pub fn clear(&self) {
        self.requests.lock().unwrap().clear();
        self.lines.lock().unwrap().clear();
    }
}
