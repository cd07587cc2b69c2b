//! One connector call through the host — fresh sandboxed instance, call, return — next to the same logic called
//! natively in Rust, so the cost of isolation is a ratio measured on the same machine in the same run.
//!
//! Each call also goes to the echo frozen at contract 0.1.0, beside the latest echo: the cost of serving an older
//! connector through its converting dispatch, as a ratio to the same call on the latest contract.
//!
//! The webhook call also goes to the same echo written in JavaScript (componentize-js) and Python (componentize-py),
//! frozen at 0.1.0: what an instance of a connector carrying its language's runtime costs per call.
//!
//! Needs `target/connectors/echo.wasm` and `target/test-connectors/echo-{v0.1.0,js,py}.wasm`
//! (`scripts/build-connectors.sh`).
//! Run: `cargo bench -p qiao-runtime --bench call`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use qiao_contract::bindings::identity::UserFields;
use qiao_contract::bindings::webhook::Request;
use qiao_contract::calls::{Call, Reply};
use qiao_config::Connection;
use qiao_runtime::engine::{PoolSize, new_engine};
use qiao_runtime::Runtime;
use qiao_runtime::kv::MemoryKv;
use sha2::{Digest, Sha256};

/// The connection on the latest echo, and the one on the echo frozen at contract 0.1.0.
const LATEST: &str = "bench";
const V0_1_0: &str = "bench-v0-1-0";
const JS: &str = "bench-js";
const PY: &str = "bench-py";

fn runtime(rt: &tokio::runtime::Runtime, dir: &Path) -> Arc<Runtime> {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
    let connectors_dir = dir.join("connectors");
    std::fs::create_dir_all(&connectors_dir).unwrap();
    // Signed at build time (scripts/sign-connectors.sh; `make bench` runs it), and the build key trusted: the
    // default [trust] policy is require.
    let sign_first = "sign the connectors first: scripts/sign-connectors.sh target/release/qiao";
    let test_connectors =
        ["echo-v0.1.0", "echo-js", "echo-py"].map(|f| target.join(format!("test-connectors/{f}.wasm")));
    for wasm in [vec![target.join("connectors/echo.wasm")], test_connectors.to_vec()].concat() {
        assert!(wasm.exists(), "build the connectors first: scripts/build-connectors.sh ({})", wasm.display());
        let name = wasm.file_name().unwrap();
        std::fs::copy(&wasm, connectors_dir.join(name)).unwrap();
        let sig = format!("{}.sig", name.to_string_lossy());
        std::fs::copy(wasm.with_extension("wasm.sig"), connectors_dir.join(sig)).expect(sign_first);
    }
    let build_key = qiao_trust::read_public_key_file(&target.join("signing/qiao-build.pub")).expect(sign_first);
    let connection = |name: &str, connector: &str| Connection {
        name: name.into(),
        connector: connector.into(),
        values: HashMap::from([("api_base".into(), "https://echo.invalid".into())]),
        ..Default::default()
    };
    let engine = new_engine(&PoolSize::default()).unwrap();
    let mut runtime = Runtime::new(
        engine,
        Some(dir.join("compiled")),
        connectors_dir,
        vec![
            connection(LATEST, "echo"),
            connection(V0_1_0, "echo-v0-1-0"),
            connection(JS, "echo-js"),
            connection(PY, "echo-py"),
        ],
        Arc::new(MemoryKv::default()),
    )
    .unwrap();
    runtime.connectors.trust.publishers = [("qiao-build".to_string(), build_key)].into();
    let runtime = Arc::new(runtime);
    rt.block_on(qiao_runtime::connectors::rescan(&runtime));
    for id in ["echo", "echo-v0-1-0", "echo-js", "echo-py"] {
        assert!(runtime.connectors.get(id).is_some(), "connector {id} did not load");
    }
    runtime
}

/// What the echo connector's `sso-authorize-url` does, natively.
fn native_authorize_url(config: &HashMap<String, String>, redirect: &str, state: &str) -> String {
    let base = config
        .get("api_base")
        .map_or("https://echo.invalid", String::as_str);
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "{base}/authorize?redirect_uri={}&state={}",
        enc(redirect),
        enc(state)
    )
}

/// What the echo connector's webhook `handle` does, natively: hash the body, build one event, echo the body.
fn native_webhook(body: &[u8]) -> (Vec<u8>, String, String) {
    let id = hex::encode(Sha256::digest(body));
    let payload =
        serde_json::json!({ "body": String::from_utf8_lossy(body), "method": "POST", "query": "" })
            .to_string();
    (body.to_vec(), id, payload)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let qiao = runtime(&rt, dir.path());
    let config = HashMap::from([("api_base".to_string(), "https://echo.invalid".to_string())]);
    let body = vec![b'a'; 1024];

    let mut group = c.benchmark_group("sso_authorize_url");
    group.bench_function("native", |b| {
        b.iter(|| native_authorize_url(&config, "https://oa.example/cb?x=1", "s1"))
    });
    for (name, connection) in [("through_host", LATEST), ("through_host_v0_1_0", V0_1_0)] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let call = Call::SsoAuthorizeUrl {
                    redirect_uri: "https://oa.example/cb?x=1".into(),
                    state: "s1".into(),
                    flow: None,
                };
                match qiao.call(connection, call).await {
                    Ok(Reply::Url(url)) => url,
                    _ => panic!("call failed"),
                }
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("webhook_1k");
    group.bench_function("native", |b| b.iter(|| native_webhook(&body)));
    let connections = [
        ("through_host", LATEST),
        ("through_host_v0_1_0", V0_1_0),
        ("through_host_js_v0_1_0", JS),
        ("through_host_py_v0_1_0", PY),
    ];
    for (name, connection) in connections {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let request = Request {
                    method: "POST".into(),
                    path: "/".into(),
                    query: String::new(),
                    headers: vec![],
                    body: body.clone(),
                };
                // The JavaScript and Python echoes refuse an unsigned request (a connector error): the call is made
                // and answered all the same, which is what is measured.
                match qiao.call(connection, Call::Webhook { request }).await {
                    Ok(Reply::Webhook(_)) | Err(qiao_runtime::CallError::Connector(_)) => {}
                    Ok(_) => panic!("not a webhook reply"),
                    Err(e) => panic!("call failed: {e}"),
                }
            })
        });
    }
    group.finish();

    // A record-heavy answer: on 0.1.0 the user crosses the version boundary field by field (`same_shape`).
    let mut group = c.benchmark_group("get_user");
    for (name, connection) in [("through_host", LATEST), ("through_host_v0_1_0", V0_1_0)] {
        let fields: UserFields = serde_json::from_value(serde_json::json!({
            "id": "u1", "name": "Li Lei", "mobile": "13900000001", "email": "li@example.com", "title": "CTO",
            "employee_no": "E001", "department_ids": ["1"], "manager_id": null, "extra": null, "clear": []
        }))
        .unwrap();
        rt.block_on(qiao.call(connection, Call::CreateUser { fields, idempotency_key: None })).expect("user created");
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                match qiao.call(connection, Call::GetUser { id: "u1".into() }).await {
                    Ok(Reply::User(user)) => user,
                    _ => panic!("call failed"),
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
