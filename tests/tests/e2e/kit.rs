//! The connector kit end to end, as a vendor uses it, with the real `qiao` binary: `qiao connectors new` writes a
//! project in each language into a temporary directory, the project's own build command makes NAME.wasm (with
//! only the public registries and what `new` wrote: no path into this repository), `qiao connectors test` passes
//! it, and `qiao serve` loads it and answers a call through it. Also: every bundled connector passes the suite, and
//! the hostile test connector fails it with the findings it was built to cause.
//!
//! The three languages build in parallel (each takes 10–60 s; npm and pip download their toolchains on a clean
//! machine). The numbers each prints (size, compile, load, per-call time) are what the note reports; nothing
//! here asserts a time.

use std::path::{Path, PathBuf};
use std::process::Command;

use qiao_tests::TestServer;
use qiao_tests::child::qiao_binary;
use qiao_tests::signing::build_signature;
use serde_json::{Value, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Runs a command to completion; panics with its output when it fails.
fn run(what: &str, command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{what} failed ({}):\n{text}", out.status);
    text
}

/// `qiao connectors test FILE --json [OPTIONS]`: (exit code, report).
fn conformance_with(file: &Path, options: &[&std::ffi::OsStr]) -> (i32, Value) {
    let out = Command::new(qiao_binary())
        .args(["connectors", "test", "--json"])
        .args(options)
        .arg(file)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), report)
}

fn conformance(file: &Path) -> (i32, Value) {
    conformance_with(file, &[])
}

fn check<'r>(report: &'r Value, name: &str) -> &'r Value {
    report["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no {name}: {report}"))
}

/// Writes the project, builds it with its own command, and answers NAME.wasm.
fn new_and_build(dir: &Path, name: &str, lang: &str) -> PathBuf {
    let project = dir.join(name);
    let said = run(
        &format!("qiao connectors new ({lang})"),
        Command::new(qiao_binary())
            .args(["connectors", "new", name, "--lang", lang, "--capabilities", "messaging,webhook", "--dir"])
            .arg(&project),
    );
    // The build command `new` printed, run as a vendor would, in the project.
    let build = said
        .lines()
        .find_map(|l| l.split_once("# builds").map(|(cmd, _)| cmd.trim().to_string()))
        .unwrap_or_else(|| panic!("no build command in: {said}"));
    let mut command = Command::new("sh");
    command.arg("-c").arg(&build).current_dir(&project);
    // Toolchains this build already has, reused instead of downloaded again (the projects work without them).
    let py_tools = repo().join("target/echo-py-tools/componentize-py-0.25.1");
    if py_tools.join(".installed").exists() {
        command.env("COMPONENTIZE_PY_TOOLS", py_tools);
    }
    command.env("CARGO_TARGET_DIR", repo().join("target/kit-projects"));
    command.env_remove("RUSTFLAGS");
    run(&format!("{lang} build `{build}`"), &mut command);
    let wasm = project.join(format!("{name}.wasm"));
    assert!(wasm.is_file(), "{lang}: {build} made no {}", wasm.display());
    assert!(
        !std::fs::read_to_string(project.join("wit/world.wit")).unwrap().contains("__"),
        "a placeholder is left in the world"
    );
    wasm
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_project_in_each_language_builds_passes_the_suite_and_serves() {
    let _heavy = qiao_tests::one_heavy_test_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    const LANGS: [(&str, &str); 3] = [("acme-rs", "rust"), ("acme-ts", "typescript"), ("acme-py", "python")];
    let langs = LANGS;
    let builds: Vec<_> = LANGS
        .iter()
        .map(|&(name, lang)| {
            let dir = dir.path().to_path_buf();
            std::thread::spawn(move || new_and_build(&dir, name, lang))
        })
        .collect();
    let files: Vec<PathBuf> = builds.into_iter().map(|b| b.join().unwrap()).collect();

    let mut budgets = vec![];
    for ((name, lang), file) in langs.iter().zip(&files) {
        let (code, report) = conformance(file);
        assert_eq!((code, &report["passed"]), (0, &json!(true)), "{lang}: {report:#}");
        assert_eq!(report["connector"], *name);
        assert_eq!(report["contract"], "0.2.0");
        assert_eq!(report["capabilities"], json!(["describe", "messaging", "webhook"]), "{lang}");
        assert_eq!(check(&report, "webhook")["status"], "pass", "{lang}: the stub refuses callbacks");
        budgets.push((lang, report["budget"].clone()));
    }
    let rust = &budgets[0].1;
    for (lang, b) in &budgets {
        let ratio = |key: &str| b[key].as_f64().unwrap() / rust[key].as_f64().unwrap().max(1e-9);
        eprintln!(
            "kit {lang:<10} size {:>9} B ({:.0}x) cold compile {:>7.0} ms ({:.0}x) cached load {:>6.1} ms ({:.1}x) \
             instantiate+describe {:>6.1} ms per call {:>6.2} ms ({:.1}x)",
            b["size_bytes"], ratio("size_bytes"), b["cold_compile_ms"].as_f64().unwrap(), ratio("cold_compile_ms"),
            b["cached_load_ms"].as_f64().unwrap(), ratio("cached_load_ms"),
            b["instantiate_describe_ms"].as_f64().unwrap(), b["mean_call_ms"].as_f64().unwrap(), ratio("mean_call_ms"),
        );
    }

    // Served: each loads (signed by the build key, as a vendor signs theirs) and answers a call with its stub.
    let config: String = langs
        .iter()
        .map(|(name, _)| format!("[connections.{name}]\nconnector = \"{name}\"\nsettings = {{ api_base = \"http://127.0.0.1:9\" }}\nsecrets = {{ token = \"tok-{name}\" }}\n"))
        .collect();
    let qiao = TestServer::start(&[], &config).await.unwrap();
    for ((name, _), file) in langs.iter().zip(&files) {
        let bytes = std::fs::read(file).unwrap();
        std::fs::write(qiao.plugins_dir.join(format!("{name}.wasm.sig")), build_signature(&bytes)).unwrap();
        std::fs::write(qiao.plugins_dir.join(format!("{name}.wasm")), &bytes).unwrap();
    }
    for ((name, lang), _) in langs.iter().zip(&files) {
        // A debug build compiles a 12-18 MiB JavaScript or Python component in 10-20 s: give it time.
        let started = std::time::Instant::now();
        let row = loop {
            match qiao.connector_row(&format!("{name}.wasm")).await {
                Some(row) if row["state"] == "loaded" => break row,
                row if started.elapsed().as_secs() > 180 => panic!("{lang}: not loaded: {row:?}"),
                _ => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            }
        };
        assert_eq!(row["contract"], "0.2.0", "{lang}: {row}");
        let (status, body) = qiao.get(&format!("/v1/connections/{name}/messages/m1/read-status")).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (501, Some("unsupported")),
            "{lang}: the stub answers unsupported, typed: {body}"
        );
    }
}

#[test]
fn every_bundled_connector_passes_and_hostile_fails_with_its_findings() {
    for entry in std::fs::read_dir(repo().join("target/connectors")).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            let (code, report) = conformance(&path);
            assert_eq!((code, &report["passed"]), (0, &json!(true)), "{}: {report:#}", path.display());
        }
    }

    let (code, report) = conformance(&qiao_tests::component("hostile"));
    assert_eq!((code, &report["passed"]), (1, &json!(false)), "{report:#}");
    let findings = |name: &str| -> Vec<String> {
        let c = check(&report, name);
        assert_eq!(c["status"], "fail", "{name}: {c}");
        c["findings"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect()
    };
    let malformed = findings("malformed-input");
    assert!(
        malformed.iter().any(|f| f.starts_with("messaging.recall with empty strings") && f.contains("crashed")),
        "an empty id traps: {malformed:?}"
    );
    assert!(
        malformed.iter().any(|f| f.starts_with("messaging.recall with 1 MiB strings") && f.contains("CPU time limit")),
        "a 1 MiB id spins: {malformed:?}"
    );
    assert_eq!(
        findings("egress"),
        ["a request to https://undeclared.example.com/recall (not a declared host, not an api-base origin)"]
    );
    let secrets = findings("secrets");
    assert!(secrets.iter().all(|f| f.contains("logged a secret") && f.contains("[redacted]")), "{secrets:?}");
    assert_eq!(check(&report, "describe")["status"], "pass");
    assert_eq!(check(&report, "imports")["status"], "warn", "it imports sockets and files it can never use");
}

/// The Jira connector's own fixtures (`plugins/jira/fixtures`, recorded by its vendor against the Jira simulator
/// with `qiao connectors record`) replay offline as its vendor ships them: a third party's CI needs no Jira.
#[test]
fn the_jira_connectors_recorded_fixtures_replay_offline() {
    let fixtures = repo().join("plugins/jira/fixtures");
    let (code, report) = conformance_with(
        &qiao_tests::component("jira"),
        &["--config".as_ref(), fixtures.join("qiao.toml").as_os_str(), "--fixtures".as_ref(), fixtures.as_os_str()],
    );
    assert_eq!((code, &report["passed"]), (0, &json!(true)), "{report:#}");
    assert_eq!(check(&report, "fixtures")["status"], "pass", "{report:#}");
}

/// `qiao connectors record` against the WeCom simulator writes fixtures without the connection's secrets, and
/// `qiao connectors test --fixtures` replays them offline: every recorded call ends as it did, every request matches
/// a fixture. A fixture changed by hand is a miss naming the closest one.
#[tokio::test(flavor = "multi_thread")]
async fn traffic_recorded_from_a_simulator_replays_offline() {
    use qiao_tests::wecom_sim::{Options, WeComSim};
    let sim = WeComSim::start(Options::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("qiao.toml");
    std::fs::write(&config, sim.connection("wc", "")).unwrap();
    let calls = dir.path().join("calls.json");
    std::fs::write(
        &calls,
        json!([
            {"operation": "list_departments", "parent": null, "recursive": true},
            {"operation": "get_user", "id": "alice"},
            {"operation": "get_user", "id": "nobody"},
            {"operation": "list_users", "department": "2", "cursor": null, "limit": 10}
        ])
        .to_string(),
    )
    .unwrap();
    let fixtures = dir.path().join("fixtures");
    let wecom = qiao_tests::component("wecom");
    // Blocking commands on their own threads: the simulator answers on this runtime.
    let said = {
        let (wecom, config, calls, fixtures) = (wecom.clone(), config.clone(), calls.clone(), fixtures.clone());
        tokio::task::spawn_blocking(move || {
            run(
                "qiao connectors record",
                Command::new(qiao_binary())
                    .args(["connectors", "record"])
                    .arg(&wecom)
                    .arg("--config")
                    .arg(&config)
                    .arg("--calls")
                    .arg(&calls)
                    .arg("--out")
                    .arg(&fixtures),
            )
        })
        .await
        .unwrap()
    };
    assert!(said.contains("identity.get-user") && said.contains("error: NotFound"), "{said}");
    let recorded = std::fs::read_to_string(fixtures.join("recorded.json")).unwrap();
    assert!(!recorded.contains(&sim.options.corp_secret), "the secret is not written: {recorded}");
    assert!(recorded.contains("{secret:corp_secret}"), "{recorded}");
    assert!(recorded.contains("Li Na"), "alice as the simulator answered: {recorded}");

    // Against the simulator itself (--config, no fixtures): the lists are walked to their end within the limit.
    let online = {
        let (wecom, config) = (wecom.clone(), config.clone());
        tokio::task::spawn_blocking(move || conformance_with(&wecom, &["--config".as_ref(), config.as_os_str()]).1)
            .await
            .unwrap()
    };
    let lists = check(&online, "lists");
    assert_eq!(lists["status"], "pass", "{online:#}");
    assert!(lists["summary"].as_str().unwrap().contains("identity.list-users ("), "{lists}");

    drop(sim); // offline from here on
    let test = |fixtures: PathBuf| {
        let (wecom, config) = (wecom.clone(), config.clone());
        tokio::task::spawn_blocking(move || {
            let options = ["--fixtures".as_ref(), fixtures.as_os_str(), "--config".as_ref(), config.as_os_str()];
            conformance_with(&wecom, &options)
        })
    };
    let (code, report) = test(fixtures.clone()).await.unwrap();
    let replay = check(&report, "fixtures");
    assert_eq!((code, &replay["status"]), (0, &json!("pass")), "{report:#}");
    assert!(replay["summary"].as_str().unwrap().starts_with("4 recorded call(s) replayed as recorded"), "{replay}");

    // alice's fixture edited to another path: her call now misses, and the report names the closest fixture.
    let edited = recorded.replace("userid=alice", "userid=alicia");
    assert_ne!(edited, recorded, "the recording has alice's request: {recorded}");
    std::fs::write(fixtures.join("recorded.json"), edited).unwrap();
    let (code, report) = test(fixtures).await.unwrap();
    let replay = check(&report, "fixtures");
    assert_eq!((code, &replay["status"]), (1, &json!("fail")), "{report:#}");
    let findings = replay["findings"].to_string();
    assert!(findings.contains("identity.get-user: recorded \\\"ok\\\"") && findings.contains("closest: GET /cgi-bin/user/get"), "{findings}");
}
