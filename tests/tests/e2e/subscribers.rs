//! Delivery of stored events to subscribers, end to end: events come in through the echo connector's webhook
//! (and poll), and a subscriber served inside the test receives them. Every signature it receives is checked
//! with the `standardwebhooks` crate, an implementation independent of Qiao's.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use qiao_tests::TestServer;
use qiao_tests::sim_support::{Served, serve};
use serde_json::{Value, json};

/// How long a test waits for something to happen in the background.
const DEADLINE: Duration = Duration::from_secs(15);

fn config(retry_schedule_ms: &[u64]) -> String {
    format!(
        r#"
        [subscribers]
        retry_schedule_ms = {retry_schedule_ms:?}
        timeout_ms = 2000

        [connections.main]
        connector = "echo"

        [connections.second]
        connector = "echo"
        "#
    )
}

/// One request the subscriber received, and whether it accepted it.
#[derive(Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
    accepted: bool,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct Inbox {
    /// Refuse with 503 until then (`None`: accept).
    refuse_until: Option<Instant>,
    requests: Vec<Received>,
}

/// The enterprise system at the other end: records every request and answers 204, or 503 while told to.
struct Subscriber {
    url: String,
    inbox: Arc<Mutex<Inbox>>,
    _server: Served,
}

impl Subscriber {
    async fn start() -> Subscriber {
        let inbox = Arc::new(Mutex::new(Inbox::default()));
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

    /// Answers 503 for this long from now.
    fn refuse_for(&self, how_long: Duration) {
        self.inbox.lock().unwrap().refuse_until = Some(Instant::now() + how_long);
    }

    fn refuse(&self) {
        self.refuse_for(Duration::from_secs(3600));
    }

    fn accept(&self) {
        self.inbox.lock().unwrap().refuse_until = None;
    }

    fn requests(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().requests.clone()
    }

    /// The bodies of the requests it accepted, in arrival order.
    fn delivered(&self) -> Vec<Value> {
        self.requests()
            .iter()
            .filter(|r| r.accepted)
            .map(Received::json)
            .collect()
    }

    /// Waits until it has accepted `count` deliveries.
    async fn wait_for_deliveries(&self, count: usize) -> Vec<Value> {
        wait_until("deliveries", || self.delivered().len() >= count).await;
        self.delivered()
    }

    /// Checks every request it received (accepted or not) with the reference implementation.
    fn verify_signatures(&self, secret: &str) {
        let webhook = standardwebhooks::Webhook::new(secret).expect("a valid whsec_ secret");
        let requests = self.requests();
        assert!(!requests.is_empty());
        for r in &requests {
            if let Err(e) = webhook.verify(&r.body, &r.headers) {
                panic!(
                    "signature of {} does not verify: {e:?}",
                    String::from_utf8_lossy(&r.body)
                );
            }
        }
    }
}

async fn receive(
    State(inbox): State<Arc<Mutex<Inbox>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut inbox = inbox.lock().unwrap();
    let accepted = inbox
        .refuse_until
        .is_none_or(|until| Instant::now() >= until);
    inbox.requests.push(Received {
        headers,
        body,
        accepted,
    });
    if accepted {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// Polls `check` until it holds, failing the test after [`DEADLINE`].
async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Stores one `echo.received` event on `connection`, with subject `/<subject>`.
async fn hook(qiao: &TestServer, connection: &str, subject: &str, id: &str, n: usize) {
    let response = qiao
        .client
        .post(qiao.url(&format!("/v1/hooks/{connection}/{subject}")))
        .header("x-event-id", id)
        .header("content-type", "application/json")
        .body(json!({ "n": n }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// Creates a subscription; answers its id and secret.
async fn subscribe(qiao: &TestServer, body: Value) -> (i64, String) {
    let (status, created) = qiao.post("/v1/subscriptions", body).await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"]
        .as_str()
        .expect("the secret, once")
        .to_string();
    (created["id"].as_i64().unwrap(), secret)
}

async fn subscription(qiao: &TestServer, id: i64) -> Value {
    let (status, body) = qiao.get(&format!("/v1/subscriptions/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn dead_letters(qiao: &TestServer, id: i64) -> Vec<Value> {
    let (status, body) = qiao
        .get(&format!("/v1/subscriptions/{id}/dead-letters"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["dead_letters"].as_array().unwrap().clone()
}

/// Waits for a subscription to satisfy `check` (its state changes in the background).
async fn wait_for_subscription(
    qiao: &TestServer,
    id: i64,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let sub = subscription(qiao, id).await;
        if check(&sub) {
            return sub;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "subscription never got there: {sub}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn last_seq(qiao: &TestServer) -> i64 {
    let (_, page) = qiao.get("/v1/events?limit=1000").await;
    page["next_after"].as_i64().unwrap()
}

fn ids(delivered: &[Value]) -> Vec<String> {
    delivered
        .iter()
        .map(|d| d["data"]["id"].as_str().unwrap().to_string())
        .collect()
}

fn assert_in_seq_order(delivered: &[Value]) {
    let seqs: Vec<i64> = delivered
        .iter()
        .map(|d| d["data"]["seq"].as_i64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "not in seq order: {seqs:?}"
    );
}

#[tokio::test]
async fn a_subscriber_that_was_down_receives_everything_in_order_with_valid_signatures() {
    let qiao = TestServer::start(&["echo"], &config(&[200, 400, 800, 1600, 3200]))
        .await
        .unwrap();
    let subscriber = Subscriber::start().await;
    subscriber.refuse_for(Duration::from_millis(1500));
    let (id, secret) =
        subscribe(&qiao, json!({ "url": subscriber.url, "types": ["echo.*"] })).await;

    let subjects = ["orders", "invoices", "approvals"];
    for n in 0..30 {
        hook(&qiao, "main", subjects[n % 3], &format!("ev-{n}"), n).await;
    }
    let delivered = subscriber.wait_for_deliveries(30).await;

    assert_eq!(delivered.len(), 30, "each event is accepted once");
    assert_eq!(
        ids(&delivered),
        (0..30).map(|n| format!("ev-{n}")).collect::<Vec<_>>()
    );
    assert_in_seq_order(&delivered);
    for subject in subjects {
        let ns: Vec<u64> = delivered
            .iter()
            .filter(|d| d["data"]["subject"] == format!("/{subject}"))
            .map(|d| {
                let body: Value =
                    serde_json::from_str(d["data"]["payload"]["body"].as_str().unwrap()).unwrap();
                body["n"].as_u64().unwrap()
            })
            .collect();
        assert_eq!(ns.len(), 10);
        assert!(
            ns.windows(2).all(|w| w[0] < w[1]),
            "{subject} out of order: {ns:?}"
        );
    }
    let first = &delivered[0];
    assert_eq!(first["type"], "echo.received");
    assert_eq!(first["data"]["connection"], "main");
    assert!(
        first["timestamp"].as_str().unwrap().ends_with('Z'),
        "{first}"
    );
    subscriber.verify_signatures(&secret);

    // A webhook-id repeats only for retries: every earlier request with it was refused, the last accepted.
    let requests = subscriber.requests();
    assert!(
        requests.iter().any(|r| !r.accepted),
        "the subscriber was down at first"
    );
    for r in &requests {
        let with_id: Vec<&Received> = requests
            .iter()
            .filter(|o| o.header("webhook-id") == r.header("webhook-id"))
            .collect();
        let (last, earlier) = with_id.split_last().unwrap();
        assert!(
            last.accepted && earlier.iter().all(|o| !o.accepted),
            "{} repeated",
            r.header("webhook-id")
        );
        assert_eq!(
            r.header("webhook-id"),
            format!("msg_{}", r.json()["data"]["seq"])
        );
        assert_eq!(r.header("content-type"), "application/json");
    }

    let sub =
        wait_for_subscription(&qiao, id, |s| s["cursor"] == delivered[29]["data"]["seq"]).await;
    assert_eq!(
        (
            sub["pending_attempts"].as_u64(),
            sub["dead_letters"].as_u64()
        ),
        (Some(0), Some(0)),
        "{sub}"
    );
    assert!(
        sub.get("secret").is_none(),
        "the secret is shown only at creation: {sub}"
    );
}

#[tokio::test]
async fn exhausted_deliveries_are_dead_lettered_then_retried_or_discarded() {
    let qiao = TestServer::start(&["echo"], &config(&[50, 50]))
        .await
        .unwrap();
    let subscriber = Subscriber::start().await;
    subscriber.refuse();
    let (id, secret) = subscribe(&qiao, json!({ "url": subscriber.url, "types": ["*"] })).await;
    for n in 1..=3 {
        hook(&qiao, "main", "x", &format!("dead-{n}"), n).await;
    }

    let start = Instant::now();
    let dead = loop {
        let dead = dead_letters(&qiao, id).await;
        if dead.len() == 3 {
            break dead;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "not all dead-lettered: {dead:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    for (n, d) in dead.iter().enumerate() {
        assert_eq!(d["attempts"], 3, "one attempt and two retries: {d}");
        assert!(d["last_error"].as_str().unwrap().contains("503"), "{d}");
        assert_eq!(d["event"]["id"], format!("dead-{}", n + 1));
    }
    assert_eq!(subscriber.requests().len(), 9);
    assert_eq!(subscription(&qiao, id).await["dead_letters"], 3);

    // The cursor moved past them: once the subscriber is back, a new event flows at once.
    subscriber.accept();
    hook(&qiao, "main", "x", "after", 4).await;
    assert_eq!(ids(&subscriber.wait_for_deliveries(1).await), ["after"]);

    let seq = |n: usize| dead[n]["event_seq"].as_i64().unwrap();
    let (status, body) = qiao
        .post(
            &format!("/v1/subscriptions/{id}/dead-letters/{}/retry", seq(0)),
            json!({}),
        )
        .await;
    assert_eq!((status, &body), (200, &json!({ "delivered": true })));
    assert_eq!(ids(&subscriber.delivered()), ["after", "dead-1"]);

    let (status, _) = qiao
        .delete(&format!("/v1/subscriptions/{id}/dead-letters/{}", seq(1)))
        .await;
    assert_eq!(status, 204);
    let (status, body) = qiao
        .delete(&format!("/v1/subscriptions/{id}/dead-letters/{}", seq(1)))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );

    // A retry the subscriber refuses keeps the dead letter, with the attempt counted.
    subscriber.refuse();
    let (status, body) = qiao
        .post(
            &format!("/v1/subscriptions/{id}/dead-letters/{}/retry", seq(2)),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (502, Some("delivery_failed")),
        "{body}"
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains("503"),
        "{body}"
    );
    let left = dead_letters(&qiao, id).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(
        (
            left[0]["event"]["id"].as_str(),
            left[0]["attempts"].as_u64()
        ),
        (Some("dead-3"), Some(4))
    );
    subscriber.verify_signatures(&secret);
}

#[tokio::test]
async fn type_and_connection_filters_apply() {
    let qiao = TestServer::start(&["echo"], &config(&[100, 200, 300, 400]))
        .await
        .unwrap();
    let ticks = Subscriber::start().await;
    let second = Subscriber::start().await;
    let main_hooks = Subscriber::start().await;
    let (ticks_id, _) = subscribe(&qiao, json!({ "url": ticks.url, "types": ["echo.tick"] })).await;
    let (second_id, _) = subscribe(
        &qiao,
        json!({ "url": second.url, "types": ["echo.*"], "connections": ["second"] }),
    )
    .await;
    let (main_id, _) = subscribe(
        &qiao,
        json!({ "url": main_hooks.url, "types": ["echo.received"], "connections": ["main"], "from": "now" }),
    )
    .await;

    for connection in ["main", "second"] {
        for n in 1..=2 {
            hook(&qiao, connection, "s", &format!("{connection}-{n}"), n).await;
        }
        let (status, body) = qiao
            .post(&format!("/v1/connections/{connection}/poll"), json!({}))
            .await;
        assert_eq!((status, body["new"].as_u64()), (200, Some(2)), "{body}");
    }

    // Once every cursor is at the end of the log, each subscriber has had everything it will get.
    let end = last_seq(&qiao).await;
    for id in [ticks_id, second_id, main_id] {
        wait_for_subscription(&qiao, id, |s| s["cursor"] == end).await;
    }
    let kinds_and_connections = |s: &Subscriber| {
        s.delivered()
            .iter()
            .map(|d| {
                format!(
                    "{} {} {}",
                    d["type"].as_str().unwrap(),
                    d["data"]["connection"].as_str().unwrap(),
                    d["data"]["id"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds_and_connections(&ticks),
        [
            "echo.tick main tick-1",
            "echo.tick main tick-2",
            "echo.tick second tick-1",
            "echo.tick second tick-2"
        ]
    );
    assert_eq!(
        kinds_and_connections(&second),
        [
            "echo.received second second-1",
            "echo.received second second-2",
            "echo.tick second tick-1",
            "echo.tick second tick-2"
        ]
    );
    assert_eq!(
        kinds_and_connections(&main_hooks),
        ["echo.received main main-1", "echo.received main main-2"]
    );

    // `from` places the cursor: "start" gets the whole log, a seq gets the log from there on.
    let everything = Subscriber::start().await;
    let from_third = Subscriber::start().await;
    subscribe(
        &qiao,
        json!({ "url": everything.url, "types": ["*"], "from": "start" }),
    )
    .await;
    subscribe(
        &qiao,
        json!({ "url": from_third.url, "types": ["*"], "from": end - 5 }),
    )
    .await;
    assert_eq!(everything.wait_for_deliveries(8).await.len(), 8);
    let tail = from_third.wait_for_deliveries(6).await;
    assert_eq!(tail[0]["data"]["seq"], end - 5);
    assert_in_seq_order(&everything.delivered());

    // A deleted subscription's deliveries stop with it.
    let (status, _) = qiao.delete(&format!("/v1/subscriptions/{main_id}")).await;
    assert_eq!(status, 204);
    let (status, _) = qiao.get(&format!("/v1/subscriptions/{main_id}")).await;
    assert_eq!(status, 404);
    hook(&qiao, "main", "s", "late", 9).await;
    everything.wait_for_deliveries(9).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(main_hooks.delivered().len(), 2);
    let (_, list) = qiao.get("/v1/subscriptions").await;
    let listed: Vec<i64> = list["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert!(
        !listed.contains(&main_id) && listed.contains(&ticks_id),
        "{list}"
    );
}

#[tokio::test]
async fn subscription_requests_are_validated() {
    let qiao = TestServer::start(&["echo"], &config(&[100])).await.unwrap();
    let url = "http://127.0.0.1:9/hook";
    let long_url = format!("http://example.com/{}", "a".repeat(2048));
    let too_many: Vec<String> = (0..51).map(|n| format!("t{n}")).collect();
    let cases = [
        (
            json!({ "url": "ftp://example.com/x", "types": ["*"] }),
            "http",
        ),
        (json!({ "url": "not a url", "types": ["*"] }), "url"),
        (json!({ "url": long_url, "types": ["*"] }), "2048"),
        (json!({ "url": url, "types": [] }), "types"),
        (json!({ "url": url, "types": too_many }), "types"),
        (json!({ "url": url, "types": ["a.*.b"] }), "*"),
        (json!({ "url": url, "types": ["x".repeat(129)] }), "128"),
        (
            json!({ "url": url, "types": ["*"], "connections": ["nope"] }),
            "nope",
        ),
        (
            json!({ "url": url, "types": ["*"], "connections": [] }),
            "connections",
        ),
        (
            json!({ "url": url, "types": ["*"], "from": "yesterday" }),
            "from",
        ),
        (json!({ "url": url, "types": ["*"], "from": -1 }), "from"),
        (json!({ "url": url, "type": ["*"] }), "type"),
        (json!({ "types": ["*"] }), "url"),
    ];
    for (body, mentions) in cases {
        let (status, answer) = qiao.post("/v1/subscriptions", body.clone()).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{body} -> {answer}"
        );
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains(mentions),
            "{body} -> {answer}"
        );
    }
    for path in [
        "/v1/subscriptions/999",
        "/v1/subscriptions/abc",
        "/v1/subscriptions/999/dead-letters",
    ] {
        let (status, answer) = qiao.get(path).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    let (status, _) = qiao.delete("/v1/subscriptions/999").await;
    assert_eq!(status, 404);
    let (status, _) = qiao
        .post("/v1/subscriptions/999/dead-letters/1/retry", json!({}))
        .await;
    assert_eq!(status, 404);

    // The secret is shown once, and never listed.
    let (id, secret) = subscribe(&qiao, json!({ "url": url, "types": ["*"] })).await;
    assert!(secret.starts_with("whsec_"));
    let (_, list) = qiao.get("/v1/subscriptions").await;
    assert!(!list.to_string().contains(&secret), "{list}");
    let (status, _) = qiao
        .post(
            &format!("/v1/subscriptions/{id}/dead-letters/1/retry"),
            json!({}),
        )
        .await;
    assert_eq!(status, 404, "no such dead letter");
}

#[tokio::test]
async fn deliveries_resume_after_a_restart_from_the_stored_cursor() {
    let schedule = [200, 400, 800, 1600, 3200];
    let qiao = TestServer::start(&["echo"], &config(&schedule))
        .await
        .unwrap();
    let subscriber = Subscriber::start().await;
    subscriber.refuse();
    let (id, secret) =
        subscribe(&qiao, json!({ "url": subscriber.url, "types": ["echo.*"] })).await;
    for n in 0..5 {
        hook(&qiao, "main", "s", &format!("before-{n}"), n).await;
    }
    let sub = wait_for_subscription(&qiao, id, |s| s["pending_attempts"].as_u64() >= Some(1)).await;
    assert!(sub["last_error"].as_str().unwrap().contains("503"), "{sub}");

    let qiao = qiao.restart(&config(&schedule)).await.unwrap();
    subscriber.accept();
    for n in 0..5 {
        hook(&qiao, "main", "s", &format!("after-{n}"), n).await;
    }
    let delivered = subscriber.wait_for_deliveries(10).await;
    let expected: Vec<String> = (0..5)
        .map(|n| format!("before-{n}"))
        .chain((0..5).map(|n| format!("after-{n}")))
        .collect();
    assert_eq!(ids(&delivered), expected);
    assert_in_seq_order(&delivered);
    subscriber.verify_signatures(&secret);
    let sub =
        wait_for_subscription(&qiao, id, |s| s["cursor"] == delivered[9]["data"]["seq"]).await;
    assert_eq!(sub["dead_letters"], 0);
}
