//! Crashes and stops of the real `qiao` binary, run as a child process: killed with SIGKILL mid-burst (the outbox
//! and the deliveries to subscribers pick up where the store says they were, losing nothing and, where the
//! platform de-duplicates, sending nothing twice), and stopped with SIGTERM (a clean exit that hands unfinished
//! attempts back to the queue).
//!
//! Needs the `qiao` binary next to this test (`cargo build -p qiao`; `make test` builds it).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use futures::StreamExt;
use qiao_tests::child::QiaoChild;
use qiao_tests::feishu_sim::{Fault, FeishuSim, Options};
use qiao_tests::operations::{self, all_operations, wait_for_counts};
use qiao_tests::sim_support::{Served, serve};
use serde_json::{Value, json};

/// A Feishu connection `fs` on the simulator, with this call timeout and these outbox settings.
fn feishu_config(sim: &FeishuSim, timeout_ms: u64, outbox: &str) -> String {
    operations::feishu_config(sim, &[("fs", timeout_ms, outbox)])
}

/// Accepts `n` sends on connection `fs` (each `202 Accepted`); answers their operation ids.
async fn accept_sends(qiao: &QiaoChild, n: usize) -> Vec<i64> {
    let accepted: Vec<(u16, Value)> = futures::stream::iter(0..n)
        .map(|i| {
            qiao.post(
                "/v1/connections/fs/messages?wait=0",
                json!({ "to": { "users": ["alice"] }, "text": format!("send {i}") }),
            )
        })
        .buffer_unordered(16)
        .collect()
        .await;
    accepted
        .iter()
        .map(|(status, op)| {
            assert_eq!(*status, 202, "every send is accepted: {op}");
            op["id"].as_i64().expect("an operation id")
        })
        .collect()
}

fn count(counts: &Value, status: &str) -> u64 {
    counts[status].as_u64().unwrap_or_default()
}

/// Every accepted send ended `succeeded`, and the simulator holds exactly one message per send (none sent twice),
/// each the one its operation's result names. Answers the operations.
async fn assert_each_sent_once(qiao: &QiaoChild, sim: &FeishuSim, accepted: &[i64]) -> Vec<Value> {
    let ops = all_operations(qiao, "").await;
    let by_id: HashMap<i64, &Value> = ops.iter().map(|o| (o["id"].as_i64().unwrap(), o)).collect();
    assert_eq!(ops.len(), accepted.len(), "one operation per accepted send");
    for id in accepted {
        let op = by_id
            .get(id)
            .unwrap_or_else(|| panic!("accepted operation {id} is gone"));
        assert_eq!(op["status"], "succeeded", "{op}");
    }
    let state = sim.state();
    let texts: BTreeSet<String> = state
        .messages
        .iter()
        .map(|m| m.content.to_string())
        .collect();
    assert_eq!(
        state.messages.len(),
        accepted.len(),
        "one platform message per send, none twice"
    );
    assert_eq!(texts.len(), accepted.len(), "each send's own text");
    let message_ids: HashSet<&str> = state
        .messages
        .iter()
        .map(|m| m.message_id.as_str())
        .collect();
    for op in &ops {
        let id = op["result"]["body"]["message_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no message_id in the result: {op}"));
        assert!(
            message_ids.contains(id),
            "the simulator has no message {id}: {op}"
        );
    }
    ops
}

/// A burst of 200 sends to a slow platform; the server is killed (SIGKILL) once some are done, with others in
/// flight (`running`) and the rest queued. After a restart on the same data directory, every accepted send ends
/// delivered, and none twice: an attempt cut short is redone with the same `qiao-op-<id>` key, which the
/// platform de-duplicates.
#[tokio::test]
async fn a_killed_server_finishes_every_accepted_operation_after_restart() {
    let sim = FeishuSim::start(Options {
        qps: 10_000,
        ..Options::default()
    })
    .await
    .unwrap();
    let config = feishu_config(
        &sim,
        2000,
        "backoff_initial_ms = 50, backoff_max_ms = 500, concurrency = 4, rate_per_second = 50",
    );
    let mut qiao = QiaoChild::start(&["feishu"], &config).await.unwrap();
    // The platform acts at once but answers late on a share of the sends: a kill then lands after the message
    // exists and before Qiao knows it, the case that sends twice without de-duplication.
    sim.chaos(
        "/open-apis/im/",
        0.3,
        vec![Fault::LateAnswer(Duration::from_millis(800))],
    );
    let accepted = accept_sends(&qiao, 200).await;

    let at_kill = wait_for_counts(
        &qiao,
        "the first sends to succeed",
        Duration::from_secs(30),
        |c| count(c, "succeeded") >= 10,
    )
    .await;
    qiao.kill();
    assert!(
        count(&at_kill, "succeeded") < 200,
        "the kill came after everything was done, proving nothing: {at_kill}"
    );
    eprintln!("killed with operation counts {at_kill}");

    qiao.restart().await.unwrap();
    let done = wait_for_counts(
        &qiao,
        "all 200 sends to succeed after the restart",
        Duration::from_secs(90),
        |c| count(c, "succeeded") == 200 || count(c, "failed") + count(c, "dead") > 0,
    )
    .await;
    assert_eq!(count(&done, "succeeded"), 200, "{done}");

    let ops = assert_each_sent_once(&qiao, &sim, &accepted).await;
    let redone = ops
        .iter()
        .filter(|o| o["attempts"].as_u64() > Some(1))
        .count();
    assert!(
        redone > 0,
        "some attempt in flight at the kill was made again (attempts > 1); counts at the kill: {at_kill}"
    );
    eprintln!("{redone} operations were attempted again after the kill");
}

/// One request the subscriber received.
#[derive(Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn webhook_id(&self) -> String {
        self.headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
}

/// The enterprise system at the other end: records each request as it arrives, takes `delay` over it, then
/// answers 200.
struct Subscriber {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    _server: Served,
}

impl Subscriber {
    async fn start(delay: Duration) -> Subscriber {
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state((received.clone(), delay));
        let server = serve("127.0.0.1:0".parse().unwrap(), app).await.unwrap();
        Subscriber {
            url: format!("http://{}/hook", server.addr),
            received,
            _server: server,
        }
    }

    fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn distinct_ids(&self) -> usize {
        self.requests()
            .iter()
            .map(Received::webhook_id)
            .collect::<HashSet<_>>()
            .len()
    }
}

type Inbox = (Arc<Mutex<Vec<Received>>>, Duration);

async fn receive(
    State((received, delay)): State<Inbox>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    received.lock().unwrap().push(Received { headers, body });
    tokio::time::sleep(delay).await;
    StatusCode::OK
}

/// Waits until `check` holds; fails with `what` and `state()` after `limit`.
async fn wait_until(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> bool,
    state: impl Fn() -> String,
) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}; {}",
            state()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// 100 stored events on their way to a slow subscriber; the server is killed (SIGKILL) mid-way. After a restart
/// the subscriber has every event, signed, and the first delivery of each comes in seq order (a delivery cut
/// short by the kill may come again: at-least-once).
#[tokio::test]
async fn a_killed_server_delivers_every_stored_event_to_its_subscriber() {
    let config = r#"
        [subscribers]
        retry_schedule_ms = [100, 200, 400, 800]
        timeout_ms = 2000

        [connections.main]
        connector = "echo"
        "#;
    let mut qiao = QiaoChild::start(&["echo"], config).await.unwrap();
    let subscriber = Subscriber::start(Duration::from_millis(30)).await;
    let (status, created) = qiao
        .post(
            "/v1/subscriptions",
            json!({ "url": subscriber.url, "types": ["*"], "from": "start" }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().expect("the secret").to_string();

    let hooked: Vec<u16> = futures::stream::iter(0..100)
        .map(|n| {
            let request = qiao
                .client
                .post(qiao.url("/v1/hooks/main"))
                .header("x-event-id", format!("ev-{n}"))
                .header("content-type", "application/json")
                .body(json!({ "n": n }).to_string())
                .send();
            async move { request.await.expect("webhook request").status().as_u16() }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(
        hooked.iter().all(|s| *s == 200),
        "every event is stored: {hooked:?}"
    );

    wait_until(
        "the first deliveries",
        Duration::from_secs(20),
        || subscriber.distinct_ids() >= 10,
        || format!("{} delivered", subscriber.distinct_ids()),
    )
    .await;
    qiao.kill();
    let at_kill = subscriber.distinct_ids();
    assert!(
        at_kill < 100,
        "the kill came after every event was delivered, proving nothing"
    );
    eprintln!("killed after {at_kill} of 100 events were delivered");

    qiao.restart().await.unwrap();
    wait_until(
        "all 100 events after the restart",
        Duration::from_secs(30),
        || subscriber.distinct_ids() == 100,
        || format!("{} of 100 delivered", subscriber.distinct_ids()),
    )
    .await;

    let requests = subscriber.requests();
    let webhook = standardwebhooks::Webhook::new(&secret).expect("a valid whsec_ secret");
    for r in &requests {
        if let Err(e) = webhook.verify(&r.body, &r.headers) {
            panic!(
                "signature of {} does not verify: {e:?}",
                String::from_utf8_lossy(&r.body)
            );
        }
        assert_eq!(r.webhook_id(), format!("msg_{}", r.json()["data"]["seq"]));
    }
    let mut seen = HashSet::new();
    let first: Vec<&Received> = requests
        .iter()
        .filter(|r| seen.insert(r.webhook_id()))
        .collect();
    let seqs: Vec<i64> = first
        .iter()
        .map(|r| r.json()["data"]["seq"].as_i64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "first deliveries not in seq order: {seqs:?}"
    );
    let ids: BTreeSet<String> = first
        .iter()
        .map(|r| r.json()["data"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        (0..100).map(|n| format!("ev-{n}")).collect::<BTreeSet<_>>(),
        "each event once, by its own id"
    );
    eprintln!(
        "{} requests for 100 events ({} repeated around the kill)",
        requests.len(),
        requests.len() - 100
    );
}

/// SIGTERM while sends are in flight: the server stops accepting, lets the short attempts finish, hands the one
/// that outlasts the grace period back to the queue, and exits 0 by itself. After a restart every send ends
/// delivered, once.
#[tokio::test]
async fn sigterm_stops_cleanly_and_hands_back_work_in_flight() {
    let sim = FeishuSim::start(Options {
        qps: 10_000,
        ..Options::default()
    })
    .await
    .unwrap();
    // Calls may take 20 s, so the long sends below outlast the 10 s shutdown grace without timing out.
    let config = feishu_config(
        &sim,
        20_000,
        "backoff_initial_ms = 50, backoff_max_ms = 500, concurrency = 4, rate_per_second = 50",
    );
    let mut qiao = QiaoChild::start(&["feishu"], &config).await.unwrap();
    // The first two sends take 15 s (longer than the grace), every other one 2 s.
    sim.inject("im/v1/messages", Fault::Delay(Duration::from_secs(15)), 2);
    sim.chaos(
        "/open-apis/im/",
        1.0,
        vec![Fault::Delay(Duration::from_secs(2))],
    );
    let accepted = accept_sends(&qiao, 20).await;

    // Sends in flight, the two long ones among them.
    wait_for_counts(&qiao, "a send in flight", Duration::from_secs(20), |c| {
        count(c, "running") >= 1 && sim.count("im/v1/messages") >= 2
    })
    .await;
    let addr = qiao.addr();
    let sigterm = Instant::now();
    qiao.terminate().unwrap();
    let status = match qiao.wait_exit(Duration::from_secs(15)).await {
        Ok(status) => status,
        Err(e) => panic!("SIGTERM did not stop qiao: {e:#}"),
    };
    assert!(status.success(), "qiao exited with {status}");
    eprintln!("qiao exited {:?} after SIGTERM", sigterm.elapsed());
    match tokio::net::TcpStream::connect(addr).await {
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
        other => panic!("{addr} should refuse connections once qiao exited: {other:?}"),
    }

    qiao.restart().await.unwrap();
    let done = wait_for_counts(
        &qiao,
        "all 20 sends to succeed after the restart",
        Duration::from_secs(45),
        |c| count(c, "succeeded") == 20 || count(c, "failed") + count(c, "dead") > 0,
    )
    .await;
    assert_eq!(count(&done, "succeeded"), 20, "{done}");
    let ops = assert_each_sent_once(&qiao, &sim, &accepted).await;
    assert!(
        ops.iter().any(|o| o["attempts"].as_u64() > Some(1)),
        "a send in flight past the grace was handed back and made again: {ops:#?}"
    );
}
