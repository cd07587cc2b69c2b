//! `GET /v1/openapi.json`: served without a key, as JSON, with every route of the table (`qiao_api::routes()`) and
//! its scope, and valid OpenAPI 3.1 by an external validator: openapi-spec-validator from PyPI, installed into
//! target/py-openapi by `scripts/install-openapi-validator.sh` (`make test` runs it).

use std::path::{Path, PathBuf};
use std::time::Duration;

use qiao_api::Access;
use qiao_tests::TestServer;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

const VALIDATE: &str = "\
import json, sys
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
validate(json.load(open(sys.argv[1])), cls=OpenAPIV31SpecValidator)
print('valid')
";

#[tokio::test]
async fn the_openapi_document_lists_every_route_with_its_scope_and_is_valid_openapi_3_1() {
    let validator = root().join("target/py-openapi");
    assert!(
        validator.join("openapi_spec_validator").exists(),
        "the OpenAPI test needs openapi-spec-validator in {}: run scripts/install-openapi-validator.sh",
        validator.display()
    );
    let qiao = TestServer::start(&["echo"], "").await.unwrap();

    // Open: no key.
    let response = reqwest::get(qiao.url("/v1/openapi.json")).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let text = response.text().await.unwrap();
    let doc: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");

    for (method, path, access) in qiao_api::routes() {
        let op = &doc["paths"][path.replace("{*", "{")][method.as_str().to_ascii_lowercase()];
        assert!(op.is_object(), "{method} {path} is not in the served document");
        if let Access::Key { scope, .. } = access {
            assert_eq!(op["security"][0]["bearer"][0], scope.as_str(), "{method} {path}");
        }
    }
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"][0], "error", "{error}");
    let send = &doc["paths"]["/v1/connections/{connection}/messages"]["post"];
    assert_eq!(send["responses"]["401"]["$ref"], "#/components/responses/Unauthorized", "{send}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &text).unwrap();
    let run = tokio::process::Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
        .arg("-c")
        .arg(VALIDATE)
        .arg(&file)
        .env("PYTHONPATH", &validator)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the validator took over two minutes")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.trim() == "valid",
        "openapi-spec-validator refused /v1/openapi.json ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
