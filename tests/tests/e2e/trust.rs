//! Signed connectors: `NAME.wasm.sig` checked against `[trust]` as files are loaded, and the `qiao connectors
//! keygen | sign | verify` commands.
//!
//! The CLI test runs the built binary: `cargo build -p qiao` first (`make test` does).

use std::path::Path;
use std::process::Command;

use qiao_trust::{decode_private_key, encode_private_key, encode_public_key, generate_key};
use qiao_tests::echo_server::EchoServer;
use qiao_tests::signing::{BUILD_PUBLISHER, build_public_key};
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
    qiao_trust::sign(bytes, &decode_private_key(key).unwrap(), publisher).to_json()
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

/// What a refused unsigned file's error says, under policy require.
fn unsigned_refused(file: &str) -> String {
    format!(
        "unsigned (no {file}.sig) and policy is require: sign it (qiao connectors sign) with a key whose \
         publisher [trust] publishers lists, or set [trust] policy = \"off\" for development"
    )
}

/// What a refused file signed by a publisher not listed says, under policy require.
fn untrusted_refused(publisher: &str) -> String {
    format!(
        "publisher {publisher} is not trusted and policy is require: list its public key in [trust] \
         publishers if you trust it, or set [trust] policy = \"off\" for development"
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
    let qiao = TestServer::start(&[], &config(&echo.base, &trust))
        .await
        .unwrap();
    let dir = qiao.plugins_dir.clone();
    let bytes = echo_bytes();
    install(&dir, "echo.wasm", &bytes);
    qiao.wait_for_connector("echo.wasm", |row| {
        row.is_some_and(|r| r["state"] == "failed")
    })
    .await
    .unwrap();
    let (state, error, row_trust) = row_parts(qiao.connector_row("echo.wasm").await.as_ref());
    assert_eq!(state, "failed");
    assert_eq!(error, unsigned_refused("echo.wasm"));
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
    // (A forged key gets no advice to trust it.)
    for (file, why, refused, publisher) in [
        (
            "other.wasm",
            "publisher mallory is not trusted",
            untrusted_refused("mallory"),
            "mallory",
        ),
        (
            "forged.wasm",
            "public key does not match trusted publisher acme",
            "public key does not match trusted publisher acme".to_string(),
            "acme",
        ),
    ] {
        qiao.wait_for_connector(file, |row| row.is_some_and(|r| r["state"] == "failed"))
            .await
            .unwrap();
        let row = qiao.connector_row(file).await.unwrap();
        assert_eq!(row["error"], refused, "{row}");
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
    assert_eq!(error, unsigned_refused("echo.wasm"));
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
    // The bundled file, with no signature next to it.
    let qiao = TestServer::start(&[], &config(&echo.base, &trust))
        .await
        .unwrap();
    let bytes = echo_bytes();
    install(&qiao.plugins_dir, "echo.wasm", &bytes);
    qiao.wait_for_connector("echo.wasm", |row| {
        row.is_some_and(|r| r["state"] == "loaded")
    })
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

/// No `[trust]` section at all (the server's own default, not the harness's): the server starts, says at start
/// that nothing can load, and loads nothing, build-signed or not; each file's error says what to do.
#[tokio::test]
async fn without_a_trust_section_the_policy_is_require_and_nothing_loads() {
    let echo = EchoServer::start().await;
    qiao_tests::logs::remember();
    // echo.wasm comes with its build signature (publisher qiao-build), which nothing here trusts.
    let qiao = TestServer::start_as_is(&["echo"], &config(&echo.base, ""))
        .await
        .unwrap();
    install(&qiao.plugins_dir, "unsigned.wasm", &echo_bytes());
    qiao.wait_for_connector("unsigned.wasm", |row| {
        row.is_some_and(|r| r["state"] == "failed")
    })
    .await
    .unwrap();
    let (state, error, row_trust) = row_parts(qiao.connector_row("echo.wasm").await.as_ref());
    assert_eq!(state, "failed");
    assert_eq!(error, untrusted_refused(BUILD_PUBLISHER));
    assert_eq!(
        row_trust,
        json!({ "signed": true, "publisher": BUILD_PUBLISHER, "verified": false,
                "problem": "publisher qiao-build is not trusted" })
    );
    let (state, error, _) = row_parts(qiao.connector_row("unsigned.wasm").await.as_ref());
    assert_eq!(
        (state.as_str(), error),
        ("failed", unsigned_refused("unsigned.wasm"))
    );
    let (_, connections) = qiao.get("/v1/connections").await;
    assert_eq!(
        connections["connections"][0]["connector_loaded"], false,
        "nothing serves: {connections}"
    );
    let warned = qiao_tests::logs::logged("no connector will load");
    assert!(
        warned
            .iter()
            .any(|l| l.contains("WARN") && l.contains("policy = \"off\"")),
        "said at start: {warned:?}"
    );
}

/// What `make test` and `make run` rely on: with the build key trusted (the harness adds it to a test config
/// without `[trust]`, as examples/qiao.toml lists it) under `require`, the connectors signed at build time load,
/// and an unsigned copy does not.
#[tokio::test]
async fn build_signed_connectors_load_under_require_and_unsigned_ones_do_not() {
    let echo = EchoServer::start().await;
    let qiao = TestServer::start(&["echo"], &config(&echo.base, ""))
        .await
        .unwrap();
    let (state, error, row_trust) = row_parts(qiao.connector_row("echo.wasm").await.as_ref());
    assert_eq!((state.as_str(), error.as_str()), ("loaded", ""));
    assert_eq!(
        row_trust,
        json!({ "signed": true, "publisher": BUILD_PUBLISHER, "verified": true, "problem": null })
    );
    assert_eq!(send(&qiao).await, 200);

    install(&qiao.plugins_dir, "unsigned.wasm", &echo_bytes());
    qiao.wait_for_connector("unsigned.wasm", |row| {
        row.is_some_and(|r| r["state"] == "failed")
    })
    .await
    .unwrap();
    let (_, error, _) = row_parts(qiao.connector_row("unsigned.wasm").await.as_ref());
    assert_eq!(error, unsigned_refused("unsigned.wasm"));
    assert_eq!(send(&qiao).await, 200, "the signed file keeps serving");
}

/// A publisher's key given as a file: absolute, or relative to the config file's directory (whatever the
/// working directory); and examples/qiao.toml (`make run`) trusts the build key that way.
#[tokio::test]
async fn publisher_keys_from_key_files() {
    let echo = EchoServer::start().await;
    let build_pub = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/signing/qiao-build.pub");
    build_public_key(); // a clear message when it is missing
    let trust = format!(
        "[trust]\npublishers = {{ qiao-build = {{ key_file = {:?} }} }}",
        build_pub.display().to_string()
    );
    let qiao = TestServer::start(&["echo"], &config(&echo.base, &trust))
        .await
        .unwrap();
    let row = qiao.connector_row("echo.wasm").await.unwrap();
    assert_eq!(
        (&row["state"], &row["trust"]["verified"]),
        (&json!("loaded"), &json!(true)),
        "{row}"
    );
    drop(qiao);

    // Missing, or not a key: the server does not start, and says which publisher and file.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk.pub"), "-----BEGIN PUBLIC KEY-----\n").unwrap();
    let junk = dir.path().join("junk.pub").display().to_string();
    for (file, expect) in [
        (
            "missing.pub".to_string(),
            "[trust] publishers.acme: cannot read key_file",
        ),
        (junk, "is not a base64 ed25519 public key"),
    ] {
        let trust = format!("[trust]\npublishers = {{ acme = {{ key_file = {file:?} }} }}");
        let err = match TestServer::start(&[], &config("http://127.0.0.1:9", &trust)).await {
            Ok(_) => panic!("{trust:?} was accepted"),
            Err(e) => format!("{e:#}"),
        };
        assert!(
            err.contains(expect) && err.contains(".pub"),
            "{trust:?}: {err}"
        );
    }

    // Relative to the config file, not to the working directory.
    let qiao_bin = qiao_tests::child::qiao_binary();
    let verify = |config: &Path| {
        let out = Command::new(&qiao_bin)
            .args(["connectors", "verify"])
            .arg(component("echo"))
            .arg("--config")
            .arg(config)
            .current_dir("/")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    std::fs::copy(&build_pub, dir.path().join("keys/build.pub")).unwrap();
    let relative = dir.path().join("qiao.toml");
    std::fs::write(
        &relative,
        "[trust]\npublishers = { qiao-build = { key_file = \"keys/build.pub\" } }\n",
    )
    .unwrap();
    let (code, out) = verify(&relative);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("trusted publisher qiao-build"), "{out}");

    // What `make run` serves with.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/qiao.toml");
    let (code, out) = verify(&example);
    assert_eq!(
        code,
        Some(0),
        "examples/qiao.toml trusts the build key: {out}"
    );
}

#[tokio::test]
async fn off_checks_nothing() {
    let echo = EchoServer::start().await;
    let qiao = TestServer::start(&[], &config(&echo.base, "[trust]\npolicy = \"off\""))
        .await
        .unwrap();
    install(&qiao.plugins_dir, "echo.wasm", &echo_bytes());
    qiao.wait_for_connector("echo.wasm", |row| {
        row.is_some_and(|r| r["state"] == "loaded")
    })
    .await
    .unwrap();
    let (_, _, row_trust) = row_parts(qiao.connector_row("echo.wasm").await.as_ref());
    assert_eq!(
        row_trust,
        json!({ "signed": false, "publisher": null, "verified": false, "problem": null })
    );
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
        ("[trust]\npublishers = {}", "at least one publisher"),
        (
            "[trust]\npublishers = { acme = { path = \"acme.pub\" } }",
            "key_file",
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
