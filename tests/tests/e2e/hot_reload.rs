//! The connector directory is live: add, replace, break and remove connector files while the server runs.

use std::time::Duration;

use qiao_tests::echo_server::EchoServer;
use qiao_tests::{TestServer, component};
use serde_json::json;

fn config(base: &str) -> String {
    format!("[connections.main]\nconnector = \"echo\"\nsettings = {{ api_base = \"{base}\" }}\n")
}

/// Installs a built component and its build signature the way deploy tools should: each written aside, then
/// renamed over; the signature first (a `.sig` without its `.wasm` is not looked at, and a new `.wasm` is read
/// with its own signature next to it).
fn install(src: &std::path::Path, dir: &std::path::Path, name: &str) {
    let sig = qiao_tests::signing::signature_of(src);
    write_aside(dir, &format!("{name}.sig"), &std::fs::read(sig).unwrap());
    write_aside(dir, name, &std::fs::read(src).unwrap());
}

/// Installs bytes made by the test, signed with the build key (so they are refused for what they are, not for
/// being unsigned).
fn install_signed(dir: &std::path::Path, name: &str, bytes: &[u8]) {
    let sig = qiao_tests::signing::build_signature(bytes);
    write_aside(dir, &format!("{name}.sig"), sig.as_bytes());
    write_aside(dir, name, bytes);
}

/// Write aside, then rename over the file.
fn write_aside(dir: &std::path::Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

#[tokio::test]
async fn replacing_a_connector_under_load_fails_no_call() {
    let echo = EchoServer::start().await;
    let qiao = TestServer::start(&["echo"], &config(&echo.base))
        .await
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..4 {
        let (client, url, stop) = (
            qiao.client.clone(),
            qiao.url("/v1/connections/main/messages?wait=30"),
            stop.clone(),
        );
        workers.push(tokio::spawn(async move {
            let (mut ok, mut versions) = (0, std::collections::BTreeSet::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let body = json!({ "to": { "users": [format!("w{w}")] }, "text": "tick" });
                let response = client.post(&url).json(&body).send().await.unwrap();
                let (status, body) = qiao_tests::read(response).await;
                assert_eq!(status, 200, "a call failed during reload: {body}");
                versions.insert(
                    body["extra"]["echo"]["connector_version"]
                        .as_str()
                        .unwrap_or("?")
                        .to_string(),
                );
                ok += 1;
            }
            (ok, versions)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    install(&component("echo-v2"), &qiao.plugins_dir, "echo.wasm");
    qiao.wait_for_connector("echo.wasm", |row| {
        row.is_some_and(|r| r["version"] == "2.0.0")
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut seen = std::collections::BTreeSet::new();
    for worker in workers {
        let (ok, versions) = worker.await.unwrap();
        assert!(ok > 0);
        seen.extend(versions);
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["1.0.0", "2.0.0"],
        "calls saw both versions, in turn"
    );
    let (_, body) = qiao
        .post(
            "/v1/connections/main/messages",
            json!({ "to": { "users": ["u"] }, "text": "after" }),
        )
        .await;
    assert_eq!(
        body["extra"]["echo"]["connector_version"], "2.0.0",
        "new calls see the new version"
    );
}

#[tokio::test]
async fn add_break_and_remove_files() {
    let echo = EchoServer::start().await;
    let qiao = TestServer::start(&[], &config(&echo.base)).await.unwrap();
    let send = json!({ "to": { "users": ["u"] }, "text": "x" });
    // No connector yet: the write is kept, and delivered once the connector is dropped in.
    let (status, early) = qiao
        .post("/v1/connections/main/messages?wait=0", send.clone())
        .await;
    assert_eq!(status, 202, "{early}");

    install(&component("echo"), &qiao.plugins_dir, "echo.wasm");
    qiao.wait_for_connector("echo.wasm", |row| {
        row.is_some_and(|r| r["state"] == "loaded")
    })
    .await
    .unwrap();
    let (status, _) = qiao
        .post("/v1/connections/main/messages", send.clone())
        .await;
    assert_eq!(status, 200, "dropped in, live");
    let (_, early) = qiao
        .get(&format!("/v1/operations/{}?wait=20", early["id"]))
        .await;
    assert_eq!(early["status"], "succeeded", "{early}");

    // A broken replacement is reported, and the previous version keeps serving.
    // (Signed, so it is refused by the loader for what it is; seen once both the .sig and the file arrived.)
    install_signed(&qiao.plugins_dir, "echo.wasm", b"\0asm not really");
    qiao.wait_for_connector("echo.wasm", |row| {
        row.is_some_and(|r| r["state"] == "stale" && r["trust"]["verified"] == true)
    })
    .await
    .unwrap();
    let row = qiao.connector_row("echo.wasm").await.unwrap();
    assert!(!row["error"].as_str().unwrap().is_empty(), "{row}");
    let (status, _) = qiao
        .post("/v1/connections/main/messages", send.clone())
        .await;
    assert_eq!(status, 200, "previous version still serving");

    // A file that is not a component at all, next to it, is reported without affecting anything.
    install_signed(&qiao.plugins_dir, "junk.wasm", b"hello");
    qiao.wait_for_connector("junk.wasm", |row| {
        row.is_some_and(|r| r["state"] == "failed" && r["trust"]["verified"] == true)
    })
    .await
    .unwrap();

    std::fs::remove_file(qiao.plugins_dir.join("echo.wasm")).unwrap();
    qiao.wait_for_connector("echo.wasm", |row| row.is_none())
        .await
        .unwrap();
    let (status, op) = qiao
        .post("/v1/connections/main/messages?wait=1", send)
        .await;
    assert_eq!(
        (status, op["last_error"]["code"].as_str()),
        (202, Some("connector_not_loaded")),
        "removed, gone: {op}"
    );
}

#[tokio::test]
async fn restart_loads_compiled_code_from_the_cache() {
    use sha2::Digest;
    let echo = EchoServer::start().await;
    let qiao = TestServer::start(&["echo"], &config(&echo.base))
        .await
        .unwrap();
    let hash = hex(&sha2::Sha256::digest(
        std::fs::read(component("echo")).unwrap(),
    ));
    // The entry for this exact file, and when it was written.
    let entry = || {
        std::fs::read_dir(qiao_tests::shared_cache_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name().unwrap().to_string_lossy().starts_with(&hash)
                    && p.extension().is_some_and(|x| x == "cwasm")
            })
            .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
    };
    let written = entry().expect("the compiled component is cached under its content hash");
    let qiao = qiao.restart(&config(&echo.base)).await.unwrap();
    assert_eq!(
        entry(),
        Some(written),
        "a restart loads the cached code instead of compiling again"
    );
    let (status, _) = qiao
        .post(
            "/v1/connections/main/messages",
            json!({ "to": { "users": ["u"] }, "text": "x" }),
        )
        .await;
    assert_eq!(status, 200);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `--plugins-dir`, the connector directory flag's name before it was renamed `--connectors-dir`, still names
/// it (scripts and service files written for it keep working), with a warning that says what to use instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deprecated_plugins_dir_flag_still_names_the_connector_directory() {
    let config = "[connections.main]\nconnector = \"echo\"\n";
    let mut qiao = qiao_tests::child::QiaoChild::start(&["echo"], config).await.unwrap();
    let (status, body) = qiao.get("/v1/connectors").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["connectors_dir"], body["plugins_dir"], "the old field stays, with the same value: {body}");
    qiao.kill();
    qiao.connectors_dir_flag = "--plugins-dir";
    qiao.restart().await.unwrap();
    let (status, body) = qiao.get("/v1/connectors").await;
    assert_eq!(status, 200, "{body}");
    let loaded = body["connectors"].as_array().unwrap();
    assert!(
        loaded.iter().any(|c| c["id"] == "echo" && c["state"] == "loaded"),
        "the connector directory named by --plugins-dir is loaded: {body}"
    );
    assert!(
        qiao.logs_text().contains("--plugins-dir is deprecated: use --connectors-dir"),
        "a warning names the new flag:\n{}",
        qiao.logs_text()
    );
}

/// A connector built for a contract version this host does not know (here: echo with every `@0.2.0` in its
/// interface names turned into `@0.9.0`, same length, so the component stays valid) is refused at load with an
/// error naming the versions this host supports; the host says which versions it supports and which one each
/// loaded connector is built for.
#[tokio::test]
async fn a_connector_for_an_unknown_contract_version_is_refused_naming_the_supported_ones() {
    let echo = EchoServer::start().await;
    let qiao = TestServer::start(&["echo"], &config(&echo.base)).await.unwrap();
    let (status, health) = qiao.get("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(health["contract_versions"], json!(["0.1.0", "0.2.0", "0.3.0"]), "{health}");
    let row = qiao.connector_row("echo.wasm").await.expect("echo listed");
    assert_eq!(row["contract"], "0.2.0", "{row}");

    let bytes = echo_for_unknown_contract();
    install_signed(&qiao.plugins_dir, "future.wasm", &bytes);
    qiao.wait_for_connector("future.wasm", |row| row.is_some_and(|r| r["state"] == "failed"))
        .await
        .unwrap();
    let row = qiao.connector_row("future.wasm").await.unwrap();
    let error = row["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("qiao:connector@0.9.0") && error.contains("supports 0.1.0, 0.2.0, 0.3.0"),
        "the error names the component's version and the supported ones: {row}"
    );
    let row = qiao.connector_row("echo.wasm").await.unwrap();
    assert_eq!(row["state"], "loaded", "the other connector is unaffected: {row}");
}

/// The echo component with every `qiao:connector/NAME@0.2.0` turned into `@0.9.0` (same length: still valid).
fn echo_for_unknown_contract() -> Vec<u8> {
    let mut bytes = std::fs::read(component("echo")).unwrap();
    let (from, to) = (b"qiao:connector/", b"@0.2.0");
    let mut renamed = 0;
    let mut i = 0;
    while let Some(at) = bytes[i..].windows(from.len()).position(|w| w == from) {
        let start = i + at;
        // The interface name ends at its version.
        if let Some(end) = (start..bytes.len().min(start + 64)).find(|&j| bytes[j..].starts_with(to)) {
            bytes[end..end + to.len()].copy_from_slice(b"@0.9.0");
            renamed += 1;
        }
        i = start + from.len();
    }
    assert!(renamed > 0, "echo names its interfaces with their version");
    bytes
}

/// `qiao connectors inspect` (which needs only the runtime: no store, no server) names a component's contract
/// version, or why this host would refuse it; `qiao --version` names the versions it supports.
#[test]
fn inspect_and_version_name_the_contract() {
    let qiao = qiao_tests::child::qiao_binary();
    let out = std::process::Command::new(&qiao)
        .args(["connectors", "inspect", "--json"])
        .arg(component("echo"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["valid"].clone(), report["contract"].clone()), (json!(true), json!("0.2.0")), "{report}");

    // A connector frozen at contract 0.1.0 is still valid, and says so.
    let out = std::process::Command::new(&qiao)
        .args(["connectors", "inspect", "--json"])
        .arg(component("echo-v0.1.0"))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["valid"].clone(), report["contract"].clone()), (json!(true), json!("0.1.0")), "{report}");
    assert_eq!(report["describe"]["rate_hints"], json!([]), "a 0.1.0 connector has no rate hints: {report}");

    let dir = tempfile::tempdir().unwrap();
    let future = dir.path().join("future.wasm");
    std::fs::write(&future, echo_for_unknown_contract()).unwrap();
    let out = std::process::Command::new(&qiao)
        .args(["connectors", "inspect", "--json"])
        .arg(&future)
        .output()
        .unwrap();
    assert!(!out.status.success(), "an unsupported component is reported invalid");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let error = report["error"].as_str().unwrap_or_default();
    assert!(error.contains("qiao:connector@0.9.0") && error.contains("supports 0.1.0, 0.2.0, 0.3.0"), "{report}");

    let out = std::process::Command::new(&qiao).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(version.contains("connector contract qiao:connector 0.1.0"), "{version}");
}
