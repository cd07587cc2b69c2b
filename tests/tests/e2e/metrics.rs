//! `GET /metrics`: Prometheus text that an independent parser reads, named by the conventions (`qiao_` prefix,
//! `_total` counters, units in names), counting what happened on a connection (calls, outbox attempts, events)
//! and reading the store at the scrape (outbox depth); behind the `metrics:read` scope.

use std::collections::HashMap;

use prometheus_parse::{Sample, Scrape, Value};
use qiao_tests::TestServer;
use qiao_tests::echo_server::EchoServer;
use serde_json::json;

async fn scrape(qiao: &TestServer, key: &str) -> (u16, String) {
    let response = qiao_tests::client_with_key(key).get(qiao.url("/metrics")).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn sample<'a>(scrape: &'a Scrape, name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    scrape.samples.iter().find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
}

fn counter(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    match sample(scrape, name, labels).map(|s| &s.value) {
        Some(Value::Counter(v)) => *v,
        other => panic!("{name} {labels:?} is not a counter: {other:?}\n{:?}", scrape.samples.iter().filter(|s| s.metric == name).map(|s| &s.labels).collect::<Vec<_>>()),
    }
}

#[tokio::test]
async fn metrics_count_calls_attempts_and_events_and_read_the_outbox_in_the_prometheus_format() {
    let echo = EchoServer::start().await;
    let config = format!("[connections.metered]\nconnector = \"echo\"\nsettings = {{ api_base = \"{}\" }}\n", echo.base);
    let qiao = TestServer::start(&["echo"], &config).await.unwrap();
    for i in 0..3 {
        let message = json!({ "to": { "users": ["u1"] }, "text": format!("hi {i}") });
        let (status, body) = qiao.post("/v1/connections/metered/messages?wait=10", message).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = qiao.get("/v1/connections/metered/messages/msg-1/read-status").await;
    assert_eq!(status, 200);

    let reader = qiao.create_key(&["metrics:read"], None).await;
    let (status, text) = scrape(&qiao, &reader).await;
    assert_eq!(status, 200, "{text}");
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let parsed = Scrape::parse(lines).expect("the Prometheus text format");

    let sent = [("connection", "metered"), ("operation", "send"), ("outcome", "ok")];
    assert_eq!(counter(&parsed, "qiao_connector_calls_total", &sent), 3.0, "{text}");
    let attempts = [("connection", "metered"), ("outcome", "succeeded")];
    assert_eq!(counter(&parsed, "qiao_outbox_attempts_total", &attempts), 3.0);
    let sends = [("connection", "metered"), ("operation", "send")];
    match sample(&parsed, "qiao_connector_call_duration_seconds", &sends).map(|s| &s.value) {
        Some(Value::Histogram(buckets)) => {
            let all = buckets.iter().map(|b| b.count).fold(0.0, f64::max);
            assert_eq!(all, 3.0, "three sends in the +Inf bucket: {buckets:?}");
        }
        other => panic!("the call duration is a histogram: {other:?}"),
    }
    match sample(&parsed, "qiao_outbox_operations", &[("status", "succeeded")]).map(|s| &s.value) {
        Some(Value::Gauge(n)) => assert!(*n >= 3.0, "read from the store at the scrape: {n}"),
        other => panic!("outbox depth is a gauge: {other:?}"),
    }
    // The echo connector keeps each send in kv: usage as `GET /v1/connections` shows it, beside the quota.
    let (_, connections) = qiao.get("/v1/connections").await;
    let kv = &connections["connections"][0]["kv"];
    let gauge = |name: &str| match sample(&parsed, name, &[("connection", "metered")]).map(|s| &s.value) {
        Some(Value::Gauge(n)) => *n,
        other => panic!("{name} is a gauge of the connection: {other:?}\n{text}"),
    };
    assert!(gauge("qiao_connector_kv_keys") >= 3.0, "{kv}");
    assert_eq!(gauge("qiao_connector_kv_keys"), kv["keys"].as_f64().unwrap(), "{kv}");
    assert_eq!(gauge("qiao_connector_kv_bytes"), kv["bytes"].as_f64().unwrap(), "{kv}");
    assert_eq!((gauge("qiao_connector_kv_quota_keys"), gauge("qiao_connector_kv_quota_bytes")), (100_000.0, 67_108_864.0));
    let routes = [("route", "/v1/connections/:connection/messages"), ("method", "POST"), ("status", "2xx")];
    assert!(counter(&parsed, "qiao_http_requests_total", &routes) >= 3.0, "{text}");

    // Conventions: every family is Qiao's, documented, and a counter's name ends in `_total`.
    let mut kinds: HashMap<&str, &Value> = HashMap::new();
    for s in &parsed.samples {
        assert!(s.metric.starts_with("qiao_"), "{}", s.metric);
        let family = ["_sum", "_count", "_bucket"].iter().find_map(|x| s.metric.strip_suffix(x)).unwrap_or(&s.metric);
        assert!(parsed.docs.contains_key(family), "{} has no HELP", s.metric);
        kinds.insert(&s.metric, &s.value);
    }
    for (name, value) in kinds {
        if matches!(value, Value::Counter(_)) {
            assert!(name.ends_with("_total"), "{name}");
        }
    }

    // Another key's scopes do not reach it; no key at all is refused too.
    let other = qiao.create_key(&["status:read"], None).await;
    assert_eq!(scrape(&qiao, &other).await.0, 403);
    let anonymous = reqwest::Client::new().get(qiao.url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}
