//! "Any language": the same small echo connector written in Rust, JavaScript (componentize-js) and Python
//! (componentize-py) behaves the same through Qiao. The JavaScript and Python ones, and the Rust one as it was then
//! (`echo-v0.1.0.wasm`), are frozen at contract 0.1.0 (`tests/connectors/v0.1.0/`, built into
//! `target/test-connectors`); today's Rust `echo` is on the latest contract: both load side by side.

use qiao_tests::TestServer;
use qiao_tests::echo_server::EchoServer;
use serde_json::json;

/// Each component's file name (without `.wasm`) and the connector id it describes, which is also its connection's
/// name here.
const CONNECTORS: [(&str, &str); 4] = [
    ("echo", "echo"),
    ("echo-v0.1.0", "echo-v0-1-0"),
    ("echo-js", "echo-js"),
    ("echo-py", "echo-py"),
];

async fn server() -> (TestServer, EchoServer) {
    let echo = EchoServer::start().await;
    let mut config = String::new();
    for (_, id) in CONNECTORS {
        config += &format!(
            "[connections.{id}]\nconnector = \"{id}\"\nsettings = {{ api_base = \"{}\" }}\nsecrets = {{ token = \"tok-{id}\" }}\n",
            echo.base
        );
    }
    let files = CONNECTORS.map(|(file, _)| file);
    (TestServer::start(&files, &config).await.unwrap(), echo)
}

#[tokio::test]
async fn every_language_loads_and_behaves_alike() {
    let (qiao, echo) = server().await;
    // Each loads, with the capabilities it exports.
    for (file, id) in CONNECTORS {
        let row = qiao.connector_row(&format!("{file}.wasm")).await.unwrap();
        assert_eq!(
            (row["id"].as_str(), row["state"].as_str()),
            (Some(id), Some("loaded")),
            "{row}"
        );
        let caps = row["capabilities"].as_array().unwrap();
        for cap in ["describe", "messaging", "webhook"] {
            assert!(caps.contains(&json!(cap)), "{id} lacks {cap}: {row}");
        }
    }
    for (_, id) in CONNECTORS {
        let msg = json!({ "to": { "users": ["ann", "bad-x"] }, "text": format!("from {id}") });
        let (status, first) = qiao
            .post(&format!("/v1/connections/{id}/messages"), msg.clone())
            .await;
        assert_eq!(status, 200, "{id}: {first}");
        assert_eq!(first["message_id"], "msg-1", "{id}");
        assert_eq!(first["problems"][0]["recipient"], "bad-x", "{id}: {first}");
        assert_eq!(
            first["extra"]["token_sha256"],
            qiao_tests::echo_server::sha256_hex(&format!("tok-{id}")),
            "{id}: {first}"
        );
        let (_, second) = qiao
            .post(&format!("/v1/connections/{id}/messages"), msg)
            .await;
        assert_eq!(second["message_id"], "msg-2", "{id}: kv counter");

        let (status, _) = qiao
            .post(
                &format!("/v1/connections/{id}/messages/msg-1/recall"),
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{id}");
        let (status, body) = qiao
            .post(
                &format!("/v1/connections/{id}/messages/msg-1/recall"),
                json!({}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["details"]["kind"].as_str()),
            (404, Some("not-found")),
            "{id}: {body}"
        );

        // Signed with hmac-sha256(token, body) through the crypto import; a bad signature is refused.
        let body = format!("{{\"from\":\"{id}\"}}");
        let good = hex_hmac(&format!("tok-{id}"), &body);
        let response = qiao
            .client
            .post(qiao.url(&format!("/v1/hooks/{id}/in")))
            .header("x-echo-signature", good)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{id}");
        assert_eq!(response.text().await.unwrap(), body, "{id}");
        let response = qiao
            .client
            .post(qiao.url(&format!("/v1/hooks/{id}/in")))
            .header("x-echo-signature", "bad")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{id}");

        let (_, page) = qiao.get(&format!("/v1/events?connection={id}")).await;
        let events = page["events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "{id}: {page}");
        assert_eq!(
            events[0]["id"],
            sha256_hex(&format!("{{\"from\":\"{id}\"}}")),
            "{id}: id is the body's SHA-256"
        );
        assert_eq!(events[0]["subject"], "/in");
    }
    assert_eq!(echo.recorded.all().len(), 2 * CONNECTORS.len());
}

use qiao_tests::echo_server::hex_hmac;

fn sha256_hex(body: &str) -> String {
    use sha2::Digest;
    qiao_hex(&sha2::Sha256::digest(body.as_bytes()))
}

fn qiao_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
