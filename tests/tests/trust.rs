//! Signed connectors: `NAME.wasm.sig` checked against `[trust]` as files are loaded, and the `qiao connectors
//! keygen | sign | verify` commands.
//!
//! The CLI test runs the built binary: `cargo build -p qiao` first (`make test` does).

use std::path::Path;
use std::process::Command;

use qiao::trust::{decode_private_key, encode_private_key, encode_public_key, generate_key};
use qiao_tests::echo_server::EchoServer;
use qiao_tests::{TestServer, component};
use serde_json::{Value, json};

fn config(api_base: &str, trust: &str) -> String {
    format!(
        "[connections.main]\nconnector = \"echo\"\nsettings = {{ api_base = \"{api_base}\" }}\n\n{trust}\n"
    )
}

/// A new private key, as a key file holds it.
fn new_key() -> String {
    encode_private_key(&generate_key())
}

fn public_key(key: &str) -> String {
    encode_public_key(&decode_private_key(key).unwrap().verifying_key())
}

/// The `.sig` file for `bytes`, signed with `key` as `publisher`.
fn signature(bytes: &[u8], key: &str, publisher: &str) -> String {
    qiao::trust::sign(bytes, &decode_private_key(key).unwrap(), publisher).to_json()
}

/// Installs `bytes` as `dir/name` the way deploy tools should: write aside, then rename over it.
fn install(dir: &Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

fn echo_bytes() -> Vec<u8> {
    std::fs::read(component("echo")).unwrap()
}

/// A row's state and error, and its trust field.
fn row_parts(row: Option<&Value>) -> (String, String, Value) {
    let row = row.cloned().unwrap_or(Value::Null);
    (
        row["state"].as_str().unwrap_or("absent").to_string(),
        row["error"].as_str().unwrap_or("").to_string(),
        row["trust"].clone(),
    )
}

async fn send(qiao: &TestServer) -> u16 {
    qiao.post(
        "/v1/connections/main/messages",
        json!({ "to": { "users": ["u"] }, "text": "x" }),
    )
    .await
    .0
}

#[tokio::test]
async fn require_loads_only_files_signed_by_a_trusted_publisher() {
    let echo = EchoServer::start().await;
    let (acme, mallory) = (new_key(), new_key());
    let trust = format!(
        "[trust]\npolicy = \"require\"\npublishers = {{ acme = \"{}\" }}",
        public_key(&acme)
    );
    // The bundled file, with no signature next to it.
    let qiao = TestServer::start(&["echo"], &config(&echo.base, &trust))
        .await
        .unwrap();
    let dir = qiao.plugins_dir.clone();
    let (state, error, row_trust) = row_parts(qiao.connector_row("echo.wasm").await.as_ref());
    assert_eq!(state, "failed");
    assert_eq!(error, "unsigned (no echo.wasm.sig) and policy is require");
    assert_eq!(
        row_trust,
        json!({ "signed": false, "publisher": null, "verified": false,
                "problem": "unsigned (no echo.wasm.sig)" })
    );
    let (_, connections) = qiao.get("/v1/connections").await;
    assert_eq!(
        connections["connections"][0]["connector_loaded"], false,
        "nothing serves: {connections}"
    );

    // The signature alone arrives: the file is checked again, and loads.
    let bytes = echo_bytes();
    install(
        &dir,
        "echo.wasm.sig",
        signature(&bytes, &acme, "acme").as_bytes(),
    );
    qiao.wait_for_connector("echo.wasm", |row| {
        row.is_some_and(|r| r["state"] == "loaded")
    })
    .await
    .unwrap();
    let row = qiao.connector_row("echo.wasm").await.unwrap();
    assert_eq!(
        row["trust"],
        json!({ "signed": true, "publisher": "acme", "verified": true, "problem": null }),
        "{row}"
    );
    assert_eq!(row["error"], Value::Null);
    assert_eq!(send(&qiao).await, 200);

    // One byte changed, the old signature kept: refused, and the verified version keeps serving.
    let mut tampered = bytes.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    install(&dir, "echo.wasm", &tampered);
    qiao.wait_for_connector("echo.wasm", |row| {
        row.is_some_and(|r| r["state"] == "stale")
    })
    .await
    .unwrap();
    let row = qiao.connector_row("echo.wasm").await.unwrap();
    assert_eq!(
        row["error"], "signature does not match the file (sha256 differs)",
        "{row}"
    );
    assert_eq!(row["trust"]["verified"], false);
    assert_eq!(send(&qiao).await, 200, "the previous version still serves");

    // The good file back: loaded again.
    install(&dir, "echo.wasm", &bytes);
    qiao.wait_for_connector("echo.wasm", |row| {
        row.is_some_and(|r| r["state"] == "loaded")
    })
    .await
    .unwrap();

    // New files signed with a key the server does not trust: under another name, or under acme's name.
    install(
        &dir,
        "other.wasm.sig",
        signature(&bytes, &mallory, "mallory").as_bytes(),
    );
    install(&dir, "other.wasm", &bytes);
    install(
        &dir,
        "forged.wasm.sig",
        signature(&bytes, &mallory, "acme").as_bytes(),
    );
    install(&dir, "forged.wasm", &bytes);
    for (file, why, publisher) in [
        ("other.wasm", "publisher mallory is not trusted", "mallory"),
        (
            "forged.wasm",
            "public key does not match trusted publisher acme",
            "acme",
        ),
    ] {
        qiao.wait_for_connector(file, |row| row.is_some_and(|r| r["state"] == "failed"))
            .await
            .unwrap();
        let row = qiao.connector_row(file).await.unwrap();
        assert_eq!(row["error"], why, "{row}");
        assert_eq!(
            row["trust"],
            json!({ "signed": true, "publisher": publisher, "verified": false, "problem": why })
        );
    }

    // A signature that is not a signature at all.
    install(&dir, "junk.wasm.sig", b"{\"version\": 1, \"algorithm\": ");
    install(&dir, "junk.wasm", &bytes);
    qiao.wait_for_connector("junk.wasm", |row| {
        row.is_some_and(|r| r["state"] == "failed")
    })
    .await
    .unwrap();
    let (_, error, _) = row_parts(qiao.connector_row("junk.wasm").await.as_ref());
    assert!(error.starts_with("malformed signature file"), "{error}");

    // A tampered signature.
    let mut sig: Value = serde_json::from_str(&signature(&bytes, &acme, "acme")).unwrap();
    let mut raw = base64_decode(sig["signature"].as_str().unwrap());
    raw[10] ^= 0x01;
    sig["signature"] = base64_encode(&raw).into();
    install(&dir, "bent.wasm.sig", sig.to_string().as_bytes());
    install(&dir, "bent.wasm", &bytes);
    qiao.wait_for_connector("bent.wasm", |row| {
        row.is_some_and(|r| r["state"] == "failed")
    })
    .await
    .unwrap();
    let (_, error, _) = row_parts(qiao.connector_row("bent.wasm").await.as_ref());
    assert_eq!(error, "signature invalid");

    // The signature removed: the verified version loaded before keeps serving, reported stale.
    std::fs::remove_file(dir.join("echo.wasm.sig")).unwrap();
    qiao.wait_for_connector("echo.wasm", |row| {
        row.is_some_and(|r| r["state"] == "stale")
    })
    .await
    .unwrap();
    let (_, error, row_trust) = row_parts(qiao.connector_row("echo.wasm").await.as_ref());
    assert_eq!(error, "unsigned (no echo.wasm.sig) and policy is require");
    assert_eq!(row_trust["signed"], false);
    assert_eq!(send(&qiao).await, 200, "the previous version still serves");
}

#[tokio::test]
async fn warn_loads_unverified_files_and_says_why() {
    let echo = EchoServer::start().await;
    let acme = new_key();
    let trust = format!(
        "[trust]\npolicy = \"warn\"\npublishers = {{ acme = \"{}\" }}",
        public_key(&acme)
    );
    let qiao = TestServer::start(&["echo"], &config(&echo.base, &trust))
        .await
        .unwrap();
    let (state, error, row_trust) = row_parts(qiao.connector_row("echo.wasm").await.as_ref());
    assert_eq!((state.as_str(), error.as_str()), ("loaded", ""));
    assert_eq!(
        row_trust,
        json!({ "signed": false, "publisher": null, "verified": false,
                "problem": "unsigned (no echo.wasm.sig)" })
    );
    assert_eq!(send(&qiao).await, 200);

    // Signed by someone not listed: loads all the same, and says so.
    let bytes = echo_bytes();
    install(
        &qiao.plugins_dir,
        "echo.wasm.sig",
        signature(&bytes, &new_key(), "stranger").as_bytes(),
    );
    qiao.wait_for_connector("echo.wasm", |row| {
        row.is_some_and(|r| r["trust"]["signed"] == true)
    })
    .await
    .unwrap();
    let (state, _, row_trust) = row_parts(qiao.connector_row("echo.wasm").await.as_ref());
    assert_eq!(state, "loaded");
    assert_eq!(
        row_trust,
        json!({ "signed": true, "publisher": "stranger", "verified": false,
                "problem": "publisher stranger is not trusted" })
    );
}

#[tokio::test]
async fn default_policy_is_warn_and_off_checks_nothing() {
    let echo = EchoServer::start().await;
    let qiao = TestServer::start(&["echo"], &config(&echo.base, ""))
        .await
        .unwrap();
    let (state, _, row_trust) = row_parts(qiao.connector_row("echo.wasm").await.as_ref());
    assert_eq!(state, "loaded");
    assert_eq!(row_trust["problem"], "unsigned (no echo.wasm.sig)");
    drop(qiao);

    let qiao = TestServer::start(&["echo"], &config(&echo.base, "[trust]\npolicy = \"off\""))
        .await
        .unwrap();
    std::fs::write(qiao.plugins_dir.join("echo.wasm.sig"), b"not even json").unwrap();
    qiao.wait_for_connector("echo.wasm", |row| {
        row.is_some_and(|r| r["trust"]["signed"] == true)
    })
    .await
    .unwrap();
    let (state, error, row_trust) = row_parts(qiao.connector_row("echo.wasm").await.as_ref());
    assert_eq!((state.as_str(), error.as_str()), ("loaded", ""));
    assert_eq!(
        row_trust,
        json!({ "signed": true, "publisher": null, "verified": false, "problem": null })
    );
}

#[tokio::test]
async fn bad_trust_config_is_a_clear_error() {
    for (trust, expect) in [
        ("[trust]\npolicy = \"strict\"", "strict"),
        ("[trust]\npolicy = \"require\"", "at least one publisher"),
        (
            "[trust]\npolicy = \"warn\"\npublishers = { acme = \"not-a-key\" }",
            "publishers.acme",
        ),
    ] {
        let err = match TestServer::start(&[], &config("http://127.0.0.1:9", trust)).await {
            Ok(_) => panic!("{trust:?} was accepted"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains(expect), "{trust:?}: {err}");
    }
}

#[test]
fn cli_keygen_sign_verify() {
    let qiao = qiao_tests::child::qiao_binary();
    let dir = tempfile::tempdir().unwrap();
    let (key, file) = (dir.path().join("acme.key"), dir.path().join("echo.wasm"));
    std::fs::copy(component("echo"), &file).unwrap();
    let run = |args: &[&dyn AsRef<std::ffi::OsStr>]| {
        let out = Command::new(&qiao).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, public, err) = run(&[&"connectors", &"keygen", &"--out", &key]);
    assert_eq!(code, Some(0), "{err}");
    let public = public.trim().to_string();
    assert_eq!(public.len(), 44, "base64 of 32 bytes: {public:?}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (code, _, err) = run(&[&"connectors", &"keygen", &"--out", &key]);
    assert_eq!(code, Some(1), "an existing key is not overwritten");
    assert!(err.contains("already exists"), "{err}");

    let (code, out, err) = run(&[&"connectors", &"verify", &file]);
    assert_eq!(code, Some(1), "unsigned: {out}{err}");
    assert!(out.contains("unsigned"), "{out}");

    let (code, out, err) = run(&[
        &"connectors",
        &"sign",
        &file,
        &"--key",
        &key,
        &"--publisher",
        &"acme",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    let sig: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("echo.wasm.sig")).unwrap()).unwrap();
    assert_eq!(
        (&sig["publisher"], &sig["public_key"]),
        (&json!("acme"), &json!(public))
    );

    let (code, out, err) = run(&[&"connectors", &"verify", &file]);
    assert_eq!(code, Some(0), "{out}{err}");

    // Against a config: trusted with this key, or not.
    let trusting = dir.path().join("trusting.toml");
    std::fs::write(
        &trusting,
        format!("[trust]\npolicy = \"require\"\npublishers = {{ acme = \"{public}\" }}\n"),
    )
    .unwrap();
    let (code, out, err) = run(&[&"connectors", &"verify", &file, &"--config", &trusting]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("acme"), "{out}");
    let other = dir.path().join("other.toml");
    std::fs::write(
        &other,
        format!(
            "[trust]\npublishers = {{ acme = \"{}\" }}\n",
            public_key(&new_key())
        ),
    )
    .unwrap();
    let (code, out, _) = run(&[&"connectors", &"verify", &file, &"--config", &other]);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("public key does not match trusted publisher acme"),
        "{out}"
    );

    // One byte changed after signing.
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
    let (code, out, _) = run(&[&"connectors", &"verify", &file]);
    assert_eq!(code, Some(1));
    assert!(out.contains("sha256 differs"), "{out}");
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
