//! A connector that attacks its sandbox. `messaging.send` takes its text as a command; each command breaks one
//! rule, and a host test checks the matching limit stops it and the host keeps serving.

use qiao_sdk::{Error, json_http, require_config};

qiao_sdk::export_bindings!(
    "package qiao:hostile;
    world hostile {
        include qiao:connector/host@0.1.0;
        export qiao:connector/describe@0.1.0;
        export qiao:connector/messaging@0.1.0;
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
            hosts: vec!["hostile.invalid".into()],
            config: vec![ConfigField {
                key: "api_base".into(),
                description: "Base URL of the test server".into(),
                required: true,
                secret: false,
                api_base: true,
            }],
        }
    }
}

fn url(path: &str) -> Result<String, Error> {
    Ok(format!("{}{path}", require_config("api_base")?))
}

/// Tries to reach outside the sandbox; reports what each attempt got.
fn escape() -> String {
    let read_dir = std::fs::read_dir("/").map(|d| d.count().to_string());
    let read = std::fs::read("/etc/passwd").map(|b| b.len().to_string());
    let tcp = std::net::TcpStream::connect("127.0.0.1:1").map(|_| "connected".to_string());
    let show = |r: std::io::Result<String>| match r {
        Ok(v) => format!("ok: {v}"),
        Err(e) => format!("err: {e}"),
    };
    serde_json::json!({
        "read_dir": show(read_dir),
        "read": show(read),
        "env_vars": std::env::vars().count(),
        "tcp": show(tcp),
    })
    .to_string()
}

impl exports::qiao::connector::messaging::Guest for Hostile {
    fn send(message: Message) -> Result<SendResult, Error> {
        let Content::Text(command) = message.content else {
            return Err(Error::invalid_input("send a text command"));
        };
        let message_id = match command.as_str() {
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
            other => format!("ok:{other}"),
        };
        Ok(SendResult {
            message_id,
            problems: vec![],
            extra: None,
        })
    }

    fn recall(_message_id: String) -> Result<(), Error> {
        Err(Error::unsupported("hostile does not recall"))
    }

    fn read_status(_message_id: String) -> Result<ReadReceipts, Error> {
        Err(Error::unsupported("hostile has no read status"))
    }
}

export!(Hostile);
