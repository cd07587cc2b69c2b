//! A connector that attacks its sandbox. `messaging.send` takes its text as a command (and `read-status` its
//! message id, for attacks that must not queue behind the outbox); each command breaks one rule, and a host test
//! checks the matching limit stops it and the host keeps serving.
//!
//! Its `event-stream` (contract 0.3.0) speaks a tiny text protocol to a test gateway, so the host's stream
//! handling is tested apart from any platform: `event:ID` is an event answered `ack:ID`, `trap` and `spin`
//! break the handler, `bye` asks for a reconnect, anything else is refused.

use qiao_sdk::{Error, config, crypto, http, json_http, kv, log, require_config};

qiao_sdk::export_bindings!(
    "package qiao:hostile;
    world hostile {
        include qiao:connector/host@0.2.0;
        export qiao:connector/describe@0.2.0;
        export qiao:connector/messaging@0.2.0;
    }"
);

use exports::qiao::connector::describe::{ConfigField, Info};
use exports::qiao::connector::messaging::{Content, Message, ReadReceipts, SendResult};

struct Hostile;

impl exports::qiao::connector::describe::Guest for Hostile {
    fn describe() -> Info {
        Info {
            id: "hostile".into(),
            name: "Hostile (test)".into(),
            version: "1.0.0".into(),
            vendor: "Qiao tests".into(),
            platform: "none".into(),
            // Two hosts, so a connection can grant one and not the other. `localhost` answers at once (nothing
            // listens on its port 443, or what does is not a TLS server Qiao trusts); `.invalid` never resolves.
            hosts: vec!["localhost".into(), "hostile.invalid".into()],
            config: vec![
                ConfigField {
                    key: "api_base".into(),
                    description: "Base URL of the test server".into(),
                    required: true,
                    secret: false,
                    api_base: true,
                },
                ConfigField {
                    key: "stream".into(),
                    description: "on: open an event stream (otherwise open answers unsupported)".into(),
                    required: false,
                    secret: false,
                    api_base: false,
                },
                ConfigField {
                    key: "stream_to".into(),
                    description: "Where the event stream connects instead of api_base + /stream".into(),
                    required: false,
                    secret: false,
                    api_base: false,
                },
                ConfigField {
                    key: "token".into(),
                    description: "A secret it tries to leak".into(),
                    required: false,
                    secret: true,
                    api_base: false,
                },
            ],
            rate_hints: vec![],
        }
    }
}

fn url(path: &str) -> Result<String, Error> {
    Ok(format!("{}{path}", require_config("api_base")?))
}

/// Tries to reach outside the sandbox; reports what each attempt got.
fn escape() -> String {
    use std::net::ToSocketAddrs;
    let read_dir = std::fs::read_dir("/").map(|d| d.count().to_string());
    let read = std::fs::read("/etc/passwd").map(|b| b.len().to_string());
    let write = std::fs::write("hostile.txt", b"x").map(|_| "written".to_string());
    let tcp = std::net::TcpStream::connect("127.0.0.1:1").map(|_| "connected".to_string());
    let udp = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|socket| socket.send_to(b"x", "127.0.0.1:9"))
        .map(|n| format!("sent {n} bytes"));
    let dns = ("localhost", 80)
        .to_socket_addrs()
        .map(|addrs| format!("{:?}", addrs.collect::<Vec<_>>()));
    let show = |r: std::io::Result<String>| match r {
        Ok(v) => format!("ok: {v}"),
        Err(e) => format!("err: {e}"),
    };
    serde_json::json!({
        "read_dir": show(read_dir),
        "read": show(read),
        "write": show(write),
        "env_vars": std::env::vars().count(),
        "home": std::env::var("HOME").ok(),
        "args": std::env::args().count(),
        "tcp": show(tcp),
        "udp": show(udp),
        "dns": show(dns),
    })
    .to_string()
}

/// Keys under which another connection's kv value might be found if connections were not kept apart.
fn kv_probes(other: &str) -> Vec<String> {
    [
        "key",
        "{o}:key",
        "{o}/key",
        "{o}.key",
        "/{o}/key",
        "../{o}/key",
        "{o}\0key",
        "{o}\u{1f}key",
        "connection:{o}:key",
        "kv:{o}:key",
        "{o}|key",
        "%",
        "*",
    ]
    .iter()
    .map(|p| p.replace("{o}", other))
    .collect()
}

/// Config keys that might reveal another connection's secret, or something not configured at all.
fn config_probes(other: &str) -> Vec<String> {
    [
        "token",
        "{o}:token",
        "{o}.token",
        "{o}/token",
        "connections.{o}.secrets.token",
        "connections.{o}.token",
        "secrets.token",
        "app_secret",
        "password",
        "HOME",
        "PATH",
        "QIAO_CONFIG",
        "",
        "*",
    ]
    .iter()
    .map(|p| p.replace("{o}", other))
    .collect()
}

/// What this connection can see of `other`'s kv and secrets (and, as a control, of its own).
fn snoop(other: &str) -> String {
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    let kv: serde_json::Map<String, serde_json::Value> = kv_probes(other)
        .into_iter()
        .map(|key| (key.clone(), kv::get(&key).map(text).into()))
        .collect();
    let config: serde_json::Map<String, serde_json::Value> = config_probes(other)
        .into_iter()
        .map(|key| (key.clone(), config::get(&key).into()))
        .collect();
    serde_json::json!({
        "connection": config::connection(),
        "own_api_base": config::get("api_base").is_some(),
        "kv": kv,
        "config": config,
    })
    .to_string()
}

/// One request through the host, reporting the outcome instead of failing.
fn fetch(url: &str) -> String {
    let request = http::Request {
        method: http::Method::Get,
        url: url.to_string(),
        headers: vec![],
        body: vec![],
        timeout_ms: Some(5_000),
    };
    match http::send(&request) {
        Ok(response) => format!("ok: {}", response.status),
        Err(e) => format!("err: {e:?}"),
    }
}

/// Logs `lines` lines of `size` bytes each.
fn flood(lines: u64, size: usize) -> String {
    let line = format!("hostile-flood {}", "x".repeat(size.saturating_sub(14)));
    for _ in 0..lines {
        log::log(log::Level::Info, &line, &[]);
    }
    format!("logged {lines} lines")
}

/// Runs one command; its result is the reply's text.
fn run(command: &str) -> Result<String, Error> {
    Ok(match command {
        // No host calls: only the CPU limit can interrupt it.
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        // Each chunk is written (and kept) so the pages are really committed.
        "oom" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        // Burns CPU in the host: hashes a 4 MiB buffer through the crypto import, over and over, with next to
        // nothing done in Wasm. Only the host calls' time charged to the CPU budget stops it.
        "hash-loop" => {
            let mut buffer = vec![7u8; 4 << 20];
            let mut rounds: u64 = 0;
            loop {
                let digest = crypto::sha256(&buffer);
                buffer[..digest.len().min(32)].copy_from_slice(&digest[..digest.len().min(32)]);
                rounds += 1;
                if rounds == u64::MAX {
                    break format!("hashed {rounds} times");
                }
            }
        }
        // One hash of more than the host takes in one crypto call.
        "hash-huge" => format!("{} bytes of digest", crypto::sha256(&vec![1u8; 5 << 20]).len()),
        // A short burst of host work (CPU-heavy, host-call-heavy but within any budget): 16 hashes of 1 MiB.
        "hash-some" => {
            let buffer = vec![3u8; 1 << 20];
            let mut last = Vec::new();
            for _ in 0..16 {
                last = crypto::sha256(&buffer);
            }
            format!("hashed: {}", last.len())
        }
        "panic" => panic!("hostile panic"),
        "forbidden-host" => {
            json_http::get("https://example.com/", &[])?;
            "escaped".to_string()
        }
        "huge-response" => format!(
            "got {} bytes",
            json_http::get(&url("/huge")?, &[])?.body.len()
        ),
        "many-requests" => {
            let ping = url("/ping")?;
            for _ in 0..10_000 {
                json_http::get(&ping, &[])?;
            }
            "no limit".to_string()
        }
        "slow" => json_http::get(&url("/slow")?, &[])?.text(),
        "escape" => escape(),
        // The connection's own kv: a value to steal, and whether it reads back (the control).
        "kv-write" => {
            let value = format!("value-of-{}", config::connection());
            kv::set("key", value.as_bytes(), None)?;
            "wrote".to_string()
        }
        // Fills its kv with 64 KiB values until the host refuses (its quota), reporting how far it got.
        "kv-fill" => {
            let value = vec![b'x'; 64 * 1024];
            let mut written = 0u32;
            loop {
                match kv::set(&format!("fill-{written}"), &value, None) {
                    Ok(()) => written += 1,
                    Err(e) => break format!("wrote {written}; refused: {} {:?}", e.message, e.platform_code),
                }
                if written >= 100_000 {
                    break format!("wrote {written}; never refused");
                }
            }
        }
        "kv-read" => kv::get("key")
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_else(|| "none".into()),
        "has-token" => config::get("token").is_some().to_string(),
        // Answers with its own secret: the host must not pass it on.
        "reply-secret" => format!("here it is: {}", require_config("token")?),
        // Logs its own secret, in the message, a field value and a field name.
        "log-secret" => {
            let token = require_config("token")?;
            log::log(
                log::Level::Warn,
                &format!("hostile secret in the message: {token}"),
                &[
                    ("token".into(), token.clone()),
                    (format!("key-{token}"), "v".into()),
                ],
            );
            "logged".to_string()
        }
        // Fails with its own secret in the error (as a connector echoing a platform's message might).
        "error-secret" => {
            let token = require_config("token")?;
            let mut e = Error::invalid_input(format!("bad token {token}"));
            e.platform_message = Some(format!("platform says: {token} is wrong"));
            return Err(e);
        }
        other => {
            if let Some(connection) = other.strip_prefix("snoop:") {
                snoop(connection)
            } else if let Some(target) = other.strip_prefix("fetch:") {
                fetch(target)
            } else if let Some(spec) = other.strip_prefix("log-flood:") {
                let (lines, size) = spec
                    .split_once(':')
                    .and_then(|(l, s)| Some((l.parse().ok()?, s.parse().ok()?)))
                    .ok_or_else(|| Error::invalid_input("log-flood:LINES:BYTES"))?;
                flood(lines, size)
            } else {
                format!("ok:{other}")
            }
        }
    })
}

impl exports::qiao::connector::messaging::Guest for Hostile {
    fn send(message: Message) -> Result<SendResult, Error> {
        let Content::Text(command) = message.content else {
            return Err(Error::invalid_input("send a text command"));
        };
        Ok(SendResult {
            message_id: run(&command)?,
            problems: vec![],
            extra: None,
        })
    }

    /// What `qiao connectors test` must catch, on the inputs it sends: an empty id panics (a trap), a 1 MiB id
    /// spins (the CPU limit), and every other id logs the connection's token and reaches a host it never declared.
    fn recall(message_id: String) -> Result<(), Error> {
        if message_id.is_empty() {
            panic!("hostile: recall of an empty id");
        }
        if message_id.len() >= 1 << 20 {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        if let Some(token) = config::get("token") {
            log::log(log::Level::Info, &format!("recalling {message_id} with token {token}"), &[]);
        }
        let _ = json_http::get("https://undeclared.example.com/recall", &[]);
        Err(Error::unsupported("hostile does not recall"))
    }

    /// The message id is a command, run without the outbox in between (reads are not queued).
    fn read_status(message_id: String) -> Result<ReadReceipts, Error> {
        Ok(ReadReceipts {
            read: vec![run(&message_id)?],
            unread: vec![],
            problems: vec![],
        })
    }
}

export!(Hostile);

qiao_sdk::event_stream_bindings!();
event_stream_bindings::export!(Hostile with_types_in event_stream_bindings);

mod stream {
    use crate::event_stream_bindings::event_stream::{Endpoint, Frame, Guest, Outcome};
    use qiao_sdk::{Error, config, require_config, types::Event};

    impl Guest for crate::Hostile {
        /// `stream_to` when set (to test egress refusals), else the test gateway at `api_base` + `/stream`.
        fn open() -> Result<Endpoint, Error> {
            if config::get("stream").as_deref() != Some("on") {
                return Err(Error::unsupported("no event stream unless the connection sets stream = on"));
            }
            let url = match config::get("stream_to") {
                Some(url) => url,
                None => format!("{}/stream", require_config("api_base")?.replacen("http", "ws", 1)),
            };
            Ok(Endpoint { url, headers: vec![("x-hostile".into(), "1".into())], keepalive_ms: 1000, keepalive_frame: None })
        }

        fn on_frame(frame: Frame) -> Result<Outcome, Error> {
            let Frame::Text(text) = frame else {
                return Err(Error::invalid_input("hostile speaks text frames"));
            };
            let outcome = |events: Vec<Event>, replies: Vec<Frame>, reconnect: bool| Outcome {
                events,
                replies,
                reconnect,
                keepalive_ms: None,
            };
            match text.as_str() {
                "trap" => panic!("hostile traps in on-frame"),
                "spin" => loop {
                    std::hint::black_box(());
                },
                "bye" => Ok(outcome(vec![], vec![Frame::Text("bye".into())], true)),
                _ => match text.strip_prefix("event:") {
                    Some(id) => Ok(outcome(
                        vec![Event {
                            id: id.into(),
                            kind: "test.streamed".into(),
                            time_ms: None,
                            subject: id.into(),
                            payload: format!("{{\"id\":{id:?}}}"),
                        }],
                        vec![Frame::Text(format!("ack:{id}"))],
                        false,
                    )),
                    None => Err(Error::invalid_input(format!("hostile does not know {text:?}"))),
                },
            }
        }
    }
}
