//! Secrets at rest, end to end: a connection whose secret is written encrypted in qiao.toml works against the
//! Feishu simulator; after activity the SQLite files hold neither the subscriber's secret nor the connector's
//! cached access token in plain text; and `qiao secrets rotate` (the real binary) moves everything to a new
//! master key: the server works with the new key afterwards and refuses to start with the old one, saying why.
//!
//! The rotation test runs the `qiao` binary (`cargo build -p qiao`; `make test` builds it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use qiao_secrets::{MasterKey, config_place};
use qiao_tests::TestServer;
use qiao_tests::child::{QiaoChild, qiao_binary};
use qiao_tests::feishu_sim::{FeishuSim, Options};
use qiao_tests::sim_support::{Served, serve};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(15);
const TOKEN_PATH: &str = "tenant_access_token/internal";

/// An echo connection (`main`, whose webhook events go to subscribers) and, once `app_secret` is given, a Feishu
/// connection `fs` on the simulator with that value written for its app secret.
fn config(sim: &FeishuSim, app_secret: Option<&str>) -> String {
    let mut text = String::from(
        "# connections of the secrets test\n[connections.main]\nconnector = \"echo\"\n",
    );
    if let Some(app_secret) = app_secret {
        let o = &sim.options;
        text += &format!(
            r#"
[connections.fs]
connector = "feishu"   # the simulator
settings = {{ app_id = "{}", api_base = "{}", user_id_type = "user_id" }}
secrets = {{ app_secret = "{app_secret}", verification_token = "{}", encrypt_key = "{}" }}
limits = {{ timeout_ms = 5000 }}
"#,
            o.app_id, sim.base, o.verification_token, o.encrypt_key
        );
    }
    text
}

fn read_key(path: &Path) -> MasterKey {
    MasterKey::decode(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The store's bytes as they are on disk: the database file and its write-ahead log.
fn raw_store(data_dir: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(data_dir.join("qiao.db")).expect("the store");
    bytes.extend(std::fs::read(data_dir.join("qiao.db-wal")).unwrap_or_default());
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// One request a subscriber received.
#[derive(Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

/// The enterprise system at the other end of a subscription: records every request, answers 204.
struct Subscriber {
    url: String,
    inbox: Arc<Mutex<Vec<Received>>>,
    _server: Served,
}

impl Subscriber {
    async fn start() -> Subscriber {
        async fn receive(
            State(inbox): State<Arc<Mutex<Vec<Received>>>>,
            headers: HeaderMap,
            body: Bytes,
        ) -> StatusCode {
            inbox.lock().unwrap().push(Received { headers, body });
            StatusCode::NO_CONTENT
        }
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(inbox.clone());
        let server = serve("127.0.0.1:0".parse().unwrap(), app).await.unwrap();
        Subscriber {
            url: format!("http://{}/hook", server.addr),
            inbox,
            _server: server,
        }
    }

    /// Waits for `count` deliveries and checks every one's signature with `secret` (an implementation
    /// independent of Qiao's): the secret Qiao opened from the store is the one it handed out.
    async fn wait_verified(&self, count: usize, secret: &str) {
        let start = Instant::now();
        while self.inbox.lock().unwrap().len() < count {
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {count} deliveries"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let webhook = standardwebhooks::Webhook::new(secret).unwrap();
        for r in self.inbox.lock().unwrap().iter() {
            webhook
                .verify(&r.body, &r.headers)
                .expect("the delivery is signed with the subscription's secret");
        }
    }
}

/// Stores one echo event on connection `main` through its webhook.
async fn hook(client: &reqwest::Client, url: String, id: &str) {
    let response = client
        .post(url)
        .header("x-event-id", id)
        .header("content-type", "application/json")
        .body(json!({ "n": 1 }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

fn message(text: &str) -> Value {
    json!({ "to": { "users": ["alice"] }, "text": text })
}

#[tokio::test]
async fn an_encrypted_config_secret_works_and_the_store_holds_no_secret_in_plain_text() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let app_secret = sim.options.app_secret.clone();
    // Written only encrypted in the config: listed for the leak check of the logs by hand.
    qiao_tests::logs::secret(&app_secret);
    // The first start makes the data dir's master key; the secret is encrypted with it for the next.
    let qiao = TestServer::start(&["feishu", "echo"], &config(&sim, None))
        .await
        .unwrap();
    let key_file = qiao.data_dir.join("master.key");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the generated key is private");
    }
    let key = read_key(&key_file);
    let sealed = key.seal(app_secret.as_bytes(), &config_place("fs", "app_secret"));
    let text = config(&sim, Some(&sealed));
    assert!(!text.contains(&app_secret));
    let qiao = qiao.restart(&text).await.unwrap();

    // (a) The connection works: the connector got the real secret (the simulator checks it for the token).
    let (status, sent) = qiao
        .post("/v1/connections/fs/messages", message("hello"))
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sim.state().messages.len(), 1);
    let (_, connections) = qiao.get("/v1/connections").await;
    let listed = connections.to_string();
    assert!(
        listed.contains("app_secret") && !listed.contains(&app_secret) && !listed.contains("qenc:"),
        "secret names only: {listed}"
    );

    // Activity that stores the other secrets: a subscription (its secret) delivered to, a cached token.
    let subscriber = Subscriber::start().await;
    let (status, created) = qiao
        .post(
            "/v1/subscriptions",
            json!({ "url": subscriber.url, "types": ["*"], "connections": ["main"] }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_string();
    hook(&qiao.client, qiao.url("/v1/hooks/main/x"), "e-1").await;
    subscriber.wait_verified(1, &secret).await;

    // (b) On disk: none of them in plain text, and the sealed values are there.
    let tokens: Vec<String> = sim.state().tokens.keys().cloned().collect();
    assert_eq!(tokens.len(), 1, "the connector fetched one token");
    let raw = raw_store(&qiao.data_dir);
    let secret_key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    for (what, needle) in [
        ("the subscriber secret", secret.as_bytes()),
        (
            "the subscriber secret's base64",
            secret.trim_start_matches("whsec_").as_bytes(),
        ),
        ("the subscriber secret's key bytes", &secret_key[..]),
        ("the access token", tokens[0].as_bytes()),
        ("the app secret", app_secret.as_bytes()),
    ] {
        assert!(
            !contains(&raw, needle),
            "{what} is in the store in plain text"
        );
    }
    let conn = rusqlite::Connection::open(qiao.data_dir.join("qiao.db")).unwrap();
    let sealed_kv: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM kv WHERE connection = 'fs' AND value LIKE 'qenc:v1:' || ?1 || ':%'",
            [key.id()],
            |r| r.get(0),
        )
        .unwrap();
    assert!(sealed_kv >= 1, "the token is cached, sealed");
    let stored_secret: String = conn
        .query_row("SELECT secret FROM subscriptions", [], |r| r.get(0))
        .unwrap();
    assert!(stored_secret.starts_with(&format!("qenc:v1:{}:", key.id())));
}

/// Runs the `qiao` binary with `args` (and `stdin`), without master key settings from the environment.
fn run_qiao(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new(qiao_binary())
        .args(args)
        .env_remove("QIAO_MASTER_KEY")
        .env_remove("QIAO_MASTER_KEY_FILE")
        .env_remove("QIAO_CONFIG")
        .env_remove("QIAO_DATA_DIR")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn stop(qiao: &mut QiaoChild) {
    qiao.terminate().unwrap();
    assert!(
        qiao.wait_exit(Duration::from_secs(20))
            .await
            .unwrap()
            .success()
    );
}

async fn send(qiao: &QiaoChild, text: &str) {
    let (status, sent) = qiao
        .post("/v1/connections/fs/messages?wait=30", message(text))
        .await;
    assert_eq!(status, 200, "{sent}");
}

#[tokio::test]
async fn rotate_reseals_everything_then_the_new_key_works_and_the_old_one_is_refused() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let subscriber = Subscriber::start().await;
    let mut qiao = QiaoChild::start(&["feishu", "echo"], &config(&sim, None))
        .await
        .unwrap();
    let data_dir = qiao.data_dir.clone();
    let dir: PathBuf = data_dir.parent().unwrap().to_path_buf();
    let config_path = dir.join("qiao.toml");
    let data = data_dir.to_str().unwrap();
    let old_key = read_key(&data_dir.join("master.key"));

    // The operator encrypts the app secret with the CLI and pastes it into qiao.toml.
    stop(&mut qiao).await;
    let (ok, sealed, err) = run_qiao(
        &[
            "secrets",
            "encrypt",
            "--connection",
            "fs",
            "--key",
            "app_secret",
            "--data-dir",
            data,
        ],
        Some(&format!("{}\n", sim.options.app_secret)),
    );
    assert!(ok, "{err}");
    let sealed = sealed.trim().to_string();
    assert!(
        sealed.starts_with(&format!("qenc:v1:{}:", old_key.id())),
        "{sealed}"
    );
    assert!(
        err.contains("[connections.fs]"),
        "says where it goes: {err}"
    );
    std::fs::write(&config_path, config(&sim, Some(&sealed))).unwrap();
    qiao.restart().await.unwrap();
    // As the server read it (the harness may have added to it).
    let before = std::fs::read_to_string(&config_path).unwrap();

    send(&qiao, "before").await;
    let (status, created) = qiao
        .post(
            "/v1/subscriptions",
            json!({ "url": subscriber.url, "types": ["*"], "connections": ["main"] }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_string();
    hook(&qiao.client, qiao.url("/v1/hooks/main/x"), "e-1").await;
    subscriber.wait_verified(1, &secret).await;
    assert_eq!(sim.count(TOKEN_PATH), 1);

    // Stop, make a new key, rotate.
    stop(&mut qiao).await;
    let new_key_file = dir.join("new.key");
    let new_key_path = new_key_file.to_str().unwrap();
    let (ok, out, err) = run_qiao(&["secrets", "keygen", "--out", new_key_path], None);
    assert!(ok, "{err}");
    let new_key = read_key(&new_key_file);
    assert!(out.contains(new_key.id()), "{out}");
    let (ok, _, err) = run_qiao(&["secrets", "keygen", "--out", new_key_path], None);
    assert!(
        !ok && err.contains("already exists"),
        "never overwrites a key: {err}"
    );
    let (ok, out, err) = run_qiao(
        &[
            "secrets",
            "rotate",
            "--data-dir",
            data,
            "--config",
            config_path.to_str().unwrap(),
            "--new-key-file",
            new_key_path,
        ],
        None,
    );
    assert!(ok, "rotate failed: {out}{err}");
    assert!(
        out.contains("re-sealed 1 subscriber secrets and ")
            && !out.contains(" 0 connector kv values")
            && out.contains("re-encrypted 1 secrets")
            && out.contains(&format!(
                "from master key {} to {}",
                old_key.id(),
                new_key.id()
            )),
        "{out}"
    );
    // The config: the value rewritten in place, every other byte kept.
    let after = std::fs::read_to_string(&config_path).unwrap();
    let at = before.find(&sealed).unwrap();
    let tail = &before[at + sealed.len()..];
    assert!(
        after.starts_with(&before[..at]) && after.ends_with(tail),
        "{after}"
    );
    let resealed = &after[at..after.len() - tail.len()];
    assert!(
        resealed.starts_with(&format!("qenc:v1:{}:", new_key.id())),
        "{after}"
    );
    // Run again (as after a rotation cut short): nothing left to do, and that is fine.
    let (ok, out, err) = run_qiao(
        &[
            "secrets",
            "rotate",
            "--data-dir",
            data,
            "--config",
            config_path.to_str().unwrap(),
            "--new-key-file",
            new_key_path,
        ],
        None,
    );
    assert!(ok, "rotate again failed: {out}{err}");
    assert!(
        out.contains("re-sealed 0 subscriber secrets and 0 connector kv values")
            && out.contains("re-encrypted 0 secrets (1 already under the new key)"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(&config_path).unwrap(), after);

    // Started with the new key: the stored token and subscriber secret open, the config's secret too.
    let old_key_file = dir.join("old.key");
    std::fs::rename(data_dir.join("master.key"), &old_key_file).unwrap();
    std::fs::copy(&new_key_file, data_dir.join("master.key")).unwrap();
    qiao.restart().await.unwrap();
    send(&qiao, "after").await;
    assert_eq!(
        sim.count(TOKEN_PATH),
        1,
        "the cached token was read, not fetched again"
    );
    assert_eq!(sim.state().messages.len(), 2);
    hook(&qiao.client, qiao.url("/v1/hooks/main/x"), "e-2").await;
    subscriber.wait_verified(2, &secret).await;
    stop(&mut qiao).await;

    // The old key is refused, with both key ids: by the config, and (without the encrypted secret) by the store.
    std::fs::copy(&old_key_file, data_dir.join("master.key")).unwrap();
    let err = format!("{:#}", qiao.restart().await.unwrap_err());
    assert!(
        err.contains(&format!(
            "connection fs: secret app_secret: encrypted with master key {}, but the master key in use is {}",
            new_key.id(),
            old_key.id()
        )),
        "{err}"
    );
    std::fs::write(&config_path, config(&sim, None)).unwrap();
    let err = format!("{:#}", qiao.restart().await.unwrap_err());
    assert!(
        err.contains(&format!(
            "its secrets are sealed with master key {}, but the master key in use is {}",
            new_key.id(),
            old_key.id()
        )),
        "{err}"
    );
}
