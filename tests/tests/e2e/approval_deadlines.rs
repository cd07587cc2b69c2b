//! Approval deadlines end to end against the DingTalk simulator: an approval left pending past its deadline
//! reminds its approver, then escalates to their manager from the directory — counted in business hours across a
//! weekend and a holiday, with a restart in between — and one approved before its deadline sends nothing. The
//! deadline worker's clock is moved (the `test-clock` feature) to cross the days in seconds; what was sent is
//! read at the simulator.

use std::time::{Duration, Instant};

use qiao_calendar::{Calendar, Spec};
use qiao_tests::TestServer;
use qiao_tests::dingtalk_sim::{DingTalkSim, Options};
use serde_json::{Value, json};

const DEADLINES: &str = r#"
[approvals]
reconcile_every_s = 0

[[approvals.deadlines]]
templates = ["PROC-LEAVE"]
remind_after_hours = 2
escalate_after_hours = 4
max_reminders = 1
via = "notice"
text = "催办 {id}: waiting {hours} business hours for {approver}"
escalation_text = "升级 {id}: {approver} has not decided in {hours} business hours; {manager}, please follow up"

[calendar]
hours = ["09:00-12:00", "13:00-18:00"]
utc_offset = "+08:00"
holidays = ["2030-11-18"]
workdays = ["2030-11-23"]
"#;

/// The same calendar, to name the instants the test moves the clock to.
fn calendar() -> Calendar {
    Calendar::new(&Spec { utc_offset: "+08:00".into(), ..Spec::default() }).unwrap()
}

fn at(date: &str, hour: u32, minute: u32) -> i64 {
    calendar().at(date, hour, minute).unwrap()
}

/// Moves the deadline worker's clock and has it look at once.
fn set_clock(qiao: &TestServer, instant_ms: i64) {
    let app = qiao.app();
    app.deadlines.clock.set_now_ms(instant_ms);
    app.deadlines.poke();
}

/// Work notices the simulator received: (recipients, text).
fn notices(sim: &DingTalkSim) -> Vec<(Vec<String>, String)> {
    sim.state()
        .notifications
        .values()
        .map(|n| (n.users.clone(), n.msg["text"]["content"].as_str().unwrap_or_default().to_string()))
        .collect()
}

fn notices_about(sim: &DingTalkSim, id: &str) -> Vec<(Vec<String>, String)> {
    notices(sim).into_iter().filter(|(_, text)| text.contains(id)).collect()
}

async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn stats(qiao: &TestServer) -> Value {
    let (status, body) = qiao.get("/v1/approvals/stats").await;
    assert_eq!(status, 200, "{body}");
    body["templates"].as_array().unwrap().iter().find(|t| t["template"] == "PROC-LEAVE").cloned().unwrap_or(json!({}))
}

async fn overdue(qiao: &TestServer) -> Vec<Value> {
    let (status, body) = qiao.get("/v1/approvals/overdue").await;
    assert_eq!(status, 200, "{body}");
    body["approvals"].as_array().unwrap().clone()
}

async fn create_leave(qiao: &TestServer) -> String {
    let leave = json!({ "template": "PROC-LEAVE", "applicant": "alice",
                        "fields": [{ "name": "reason", "value": "家里有事" }, { "name": "days", "value": "1" }] });
    let (status, created) = qiao.post("/v1/connections/dt/approvals", leave).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    // Read once: the stored view learns it is pending with manager1's task, and the worker starts its timers.
    let (status, instance) = qiao.get(&format!("/v1/connections/dt/approvals/{id}")).await;
    assert_eq!((status, instance["status"].as_str()), (200, Some("pending")), "{instance}");
    id
}

#[tokio::test]
async fn an_approval_left_pending_reminds_then_escalates_across_a_weekend_a_holiday_and_a_restart() {
    let sim = DingTalkSim::start(Options::default()).await.unwrap();
    let config = format!("{DEADLINES}{}", sim.connection("dt", ""));
    let qiao = TestServer::start(&["dingtalk"], &config).await.unwrap();
    sim.set_callback_url(&qiao.url("/v1/hooks/dt"));

    // The OA's directory: manager1 (Wang Fang) approves leave and reports to Zhang Wei, who is bob on DingTalk.
    let directory = json!({ "people": [
        { "id": "p-wang", "name": "Wang Fang", "manager_id": "p-zhang" },
        { "id": "p-zhang", "name": "Zhang Wei" },
    ]});
    let (status, body) = qiao.request(reqwest::Method::PUT, "/v1/directory", Some(directory)).await;
    assert_eq!(status, 200, "{body}");
    for (person, user) in [("p-wang", "manager1"), ("p-zhang", "bob")] {
        qiao.db().set_link("dt".into(), qiao_store::LinkKind::Person, person.into(), user.into(), None).await.unwrap();
    }

    // Friday 17:00: two leave requests wait for manager1. Two business hours later is Tuesday 10:00 (one hour on
    // Friday; the weekend and the holiday Monday do not count); four, Tuesday 12:00.
    set_clock(&qiao, at("2030-11-15", 17, 0));
    let late = create_leave(&qiao).await;
    let prompt = create_leave(&qiao).await;
    set_clock(&qiao, at("2030-11-15", 17, 0));
    wait_for("both approvals tracked", async || (stats(&qiao).await["pending"] == 2).then_some(())).await;

    // Monday 16:00, a holiday: six hours later on the wall, but not yet two business hours.
    set_clock(&qiao, at("2030-11-18", 16, 0));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(notices(&sim).is_empty(), "nothing is due on the holiday: {:?}", notices(&sim));
    assert!(overdue(&qiao).await.is_empty());

    // One is approved before its deadline: its timers stop.
    let (status, body) = qiao
        .post(&format!("/v1/connections/dt/approvals/{prompt}/approve"), json!({ "actor": "manager1" }))
        .await;
    assert_eq!(status, 204, "{body}");
    qiao.app().deadlines.poke();
    wait_for("the approved one to stop", async || (stats(&qiao).await["pending"] == 1).then_some(())).await;

    // Tuesday 10:30: the other's reminder, to manager1, once.
    set_clock(&qiao, at("2030-11-19", 10, 30));
    let reminder = wait_for("the reminder", async || notices_about(&sim, &late).into_iter().next()).await;
    assert_eq!(reminder.0, ["manager1"]);
    assert!(reminder.1.starts_with(&format!("催办 {late}: waiting 2.")), "{}", reminder.1);
    assert!(reminder.1.contains("for Wang Fang"), "the approver's name from the directory: {}", reminder.1);
    let listed = overdue(&qiao).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let row = &listed[0];
    assert_eq!((row["id"].as_str(), row["connection"].as_str(), row["template"].as_str()), (Some(late.as_str()), Some("dt"), Some("PROC-LEAVE")));
    assert_eq!(row["approvers"], json!(["manager1"]));
    assert_eq!((row["reminders_sent"].as_u64(), row["escalated"].as_bool()), (Some(1), Some(false)), "{row}");
    assert!((29..=30).contains(&row["overdue_minutes"].as_i64().unwrap()), "{row}");
    assert_eq!(row["due_ms"].as_i64().unwrap() / 60_000, at("2030-11-19", 10, 0) / 60_000, "{row}");

    // As if Qiao had stopped after committing the reminder to the outbox but before recording it: the step says
    // no reminder was sent. The worker makes it again under the same key, and the outbox finds the first.
    let db = qiao.db();
    let step = db.open_steps(10).await.unwrap().into_iter().find(|s| s.key.approval == late).unwrap();
    let key = format!("deadline:dt:{late}:{}:1", step.key.step);
    db.set_step_timer(step.key.clone(), step.first_due_ms, step.first_due_ms, 0, None, None).await.unwrap();
    let (_, ops) = qiao.get("/v1/operations?limit=100").await;
    let keyed: Vec<&Value> = ops["operations"].as_array().unwrap().iter().filter(|o| o["idempotency_key"] == key.as_str()).collect();
    assert_eq!(keyed.len(), 1, "the reminder's operation, under its key: {ops}");

    // A restart: the timers are in the store. Tuesday 11:00: the reminder is not sent again.
    let qiao = qiao.restart(&config).await.unwrap();
    sim.set_callback_url(&qiao.url("/v1/hooks/dt"));
    set_clock(&qiao, at("2030-11-19", 11, 0));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(notices_about(&sim, &late).len(), 1, "one reminder: {:?}", notices(&sim));
    let step = qiao.db().open_steps(10).await.unwrap().into_iter().find(|s| s.key.approval == late).unwrap();
    assert_eq!(step.reminders, 1, "recorded this time");

    // Tuesday 13:30: four business hours have passed; the escalation goes to manager1's manager, bob.
    set_clock(&qiao, at("2030-11-19", 13, 30));
    let escalation = wait_for("the escalation", async || {
        notices_about(&sim, &late).into_iter().find(|(_, text)| text.starts_with("升级"))
    })
    .await;
    assert_eq!(escalation.0, ["bob"]);
    assert!(escalation.1.contains("Wang Fang has not decided in 4.") && escalation.1.contains("Zhang Wei, please"), "{}", escalation.1);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let about_late = notices_about(&sim, &late);
    assert_eq!(about_late.len(), 2, "one reminder, one escalation: {about_late:?}");
    assert!(notices_about(&sim, &prompt).is_empty(), "the approval decided in time sent nothing: {:?}", notices(&sim));
    let row = overdue(&qiao).await.pop().expect("still overdue");
    assert_eq!((row["reminders_sent"].as_u64(), row["escalated"].as_bool()), (Some(1), Some(true)), "{row}");

    // Approved in the DingTalk app on Tuesday 14:00: the timers stop, and the figures count both decisions (one
    // hour for the prompt one, decided on the holiday; five for the late one).
    set_clock(&qiao, at("2030-11-19", 14, 0));
    sim.advance(&late, true).unwrap();
    wait_for("the late one to stop", async || overdue(&qiao).await.is_empty().then_some(())).await;
    let figures = stats(&qiao).await;
    assert_eq!((figures["pending"].as_u64(), figures["overdue"].as_u64(), figures["decided"].as_u64()), (Some(0), Some(0), Some(2)), "{figures}");
    // Whole minutes, and the clock runs on between the moves: a minute's slack.
    let (median, p90) = (figures["median_minutes"].as_i64().unwrap(), figures["p90_minutes"].as_i64().unwrap());
    assert!((59..=60).contains(&median) && (299..=300).contains(&p90), "{figures}");
    assert_eq!(notices(&sim).len(), 2, "nothing else was sent: {:?}", notices(&sim));
}
