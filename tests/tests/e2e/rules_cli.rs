//! `qiao rules …`, the built binary, against a running server: apply a file of [[rules]] (a dry run, then for
//! real, then again changed), refuse a bad file whole with each problem at its line and column in the file, try a
//! rule on an event file and on a stored event, read its runs, turn it off and on.

use std::path::Path;
use std::time::Duration;

use qiao_tests::TestServer;
use qiao_tests::feishu_sim::{FeishuSim, Options};
use serde_json::{Value, json};

fn config(sim: &FeishuSim) -> String {
    let o = &sim.options;
    format!(
        r#"
        [connections.fs]
        connector = "feishu"
        settings = {{ app_id = "{}", api_base = "{}", user_id_type = "user_id", department_id_type = "department_id" }}
        secrets = {{ app_secret = "{}", verification_token = "{}", encrypt_key = "{}" }}
        limits = {{ timeout_ms = 3000 }}
        "#,
        o.app_id, sim.base, o.app_secret, o.verification_token, o.encrypt_key
    )
}

const RULES: &str = r#"
[[rules]]
id = "done-to-ops"
description = "A Feishu task done: tell the ops chat"
on = { connection = "fs", types = ["task.status_changed"] }
when = "event.payload.to.category == 'done'"
[[rules.actions]]
do = "send"
connection = "fs"
body = { to = { chats = ["oc_ops"] }, text = "done: {{ event.payload.title | default('(untitled)') }}" }

[[rules]]
id = "draft"
enabled = false
on = { types = ["task.*"] }
actions = [{ do = "send_to_people", body = { to = { people = ["p1"] }, text = "{{ event.type }}" } }]
"#;

/// Line 6 has a CEL syntax error at column 36 of its text (which starts at column 9 of the file); line 11 a template
/// that does not close (its text starts at column 42).
const BAD: &str = r#"
[[rules]]
id = "bad"
on = { connection = "fs", types = ["task.created"] }
# the condition ends too early
when = 'event.payload.title == "x" &&'
[[rules.actions]]
do = "send"
connection = "fs"
body.to = { chats = ["oc_ops"] }
body.text = "{{ event.payload.title "
"#;

/// Valid to a local check; the server knows no connection "nope".
const UNKNOWN: &str = r#"
[[rules]]
id = "elsewhere"
on = { connection = "nope", types = ["task.created"] }
actions = [{ do = "send", connection = "fs", body = { to = { chats = ["oc_ops"] }, text = "x" } }]
"#;

struct Cli<'a> {
    qiao: &'a TestServer,
    key: String,
}

impl Cli<'_> {
    /// Exit code, stdout, stderr.
    fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let output = std::process::Command::new(qiao_tests::child::qiao_binary())
            .arg("rules")
            .args(args)
            .env("QIAO_URL", &self.qiao.base)
            .env("QIAO_API_KEY", &self.key)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (
            output.status.code(),
            text(&output.stdout),
            text(&output.stderr),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, Some(0), "qiao rules {args:?}\n{out}\n{err}");
        out
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

async fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_cli_applies_tests_and_switches_rules_on_a_running_server() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let qiao = TestServer::start(&["feishu"], &config(&sim)).await.unwrap();
    sim.set_callback_url(&qiao.url("/v1/hooks/fs"));
    sim.state()
        .chats
        .insert("oc_ops".into(), vec!["alice".into()]);
    let key = qiao.create_key(&["rules:read", "rules:write"], None).await;
    qiao_tests::logs::secret(&key);
    let cli = Cli { qiao: &qiao, key };
    let dir = tempfile::tempdir().unwrap();
    let rules = write(dir.path(), "rules.toml", RULES);

    // A dry run checks and tells; it saves nothing.
    let out = cli.ok(&["apply", &rules, "--dry-run"]);
    assert!(
        out.contains("would create done-to-ops (on)") && out.contains("would create draft (off)"),
        "{out}"
    );
    assert!(cli.ok(&["list"]).contains("no rules"));

    let out = cli.ok(&["apply", &rules]);
    assert!(
        out.contains("created done-to-ops (on)") && out.contains("created draft (off)"),
        "{out}"
    );
    let list = cli.ok(&["list"]);
    let line = |id: &str| {
        list.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} in {list}"))
            .to_string()
    };
    assert!(
        line("done-to-ops").contains(" api ")
            && line("done-to-ops").contains(" yes ")
            && line("done-to-ops").ends_with("fs: task.status_changed"),
        "{list}"
    );
    assert!(
        line("draft").contains(" no ") && line("draft").ends_with("*: task.*"),
        "{list}"
    );
    let out = cli.ok(&["apply", &rules]);
    assert!(
        out.contains("unchanged done-to-ops") && out.contains("unchanged draft"),
        "{out}"
    );

    // A bad file is refused whole, every problem at its place in the file.
    let bad = write(dir.path(), "bad.toml", BAD);
    let (code, out, err) = cli.run(&["apply", &bad]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains(&format!("{bad}:6:")) && err.contains("rule \"bad\": when (line 1, column"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{bad}:11:")) && err.contains("rule \"bad\": actions[0].body.text"),
        "{err}"
    );
    assert!(err.contains("nothing was saved"), "{err}");
    // Problems only the server can see (its connections) too, and still nothing saved.
    let unknown = write(dir.path(), "unknown.toml", UNKNOWN);
    let (code, _, err) = cli.run(&["apply", &unknown]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("{unknown}:4:"))
            && err.contains("on.connection")
            && err.contains("no connection \"nope\""),
        "{err}"
    );
    let list = cli.ok(&["list"]);
    assert!(
        !list.contains("bad") && !list.contains("elsewhere"),
        "{list}"
    );

    // Tried on an event given as a file: what it saw, that it matched, the exact write; nothing sent.
    let event = write(
        dir.path(),
        "event.json",
        &json!({ "connection": "fs", "type": "task.status_changed", "subject": "t-1",
                 "payload": { "title": "Ship 618", "to": { "category": "done" } } })
        .to_string(),
    );
    let out = cli.ok(&[
        "test",
        "--rule",
        &rules,
        "--id",
        "done-to-ops",
        "--event",
        &event,
    ]);
    assert!(
        out.contains("triggered: yes") && out.contains("matched: yes"),
        "{out}"
    );
    assert!(
        out.contains("[0] send: POST /v1/connections/fs/messages")
            && out.contains("\"done: Ship 618\""),
        "{out}"
    );
    assert!(
        out.contains("\"title\": \"Ship 618\""),
        "what the condition saw: {out}"
    );
    let out = cli.ok(&["test", "--id", "draft", "--event", &event]);
    assert!(
        out.contains("matched: yes") && out.contains("[0] send_to_people: POST /v1/messages"),
        "a rule that is off can be tried: {out}"
    );
    let (code, _, err) = cli.run(&["test", "--rule", &bad, "--event", &event]);
    assert_eq!(code, Some(1));
    assert!(err.contains(&format!("{bad}:6:")), "{err}");
    assert!(sim.state().messages.is_empty(), "a test sends nothing");

    // A real event: the rule acts, its run says so, and the stored event can be tried again.
    let (status, task) = qiao
        .post(
            "/v1/connections/fs/tasks",
            json!({ "title": "Ship 618", "assignees": ["alice"] }),
        )
        .await;
    assert_eq!(status, 201, "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    sim.set_task_done(&id, true).unwrap();
    until("the rule's message", || {
        (!sim.state().messages.is_empty()).then_some(())
    })
    .await;
    let runs: Value = until("the run", || {
        let out = cli.ok(&["runs", "done-to-ops", "--json"]);
        let runs: Value = serde_json::from_str(&out).unwrap();
        (runs["runs"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["outcome"] == "matched")))
        .then_some(runs)
    })
    .await;
    let seq = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["outcome"] == "matched")
        .unwrap()["event_seq"]
        .as_i64()
        .unwrap();
    let out = cli.ok(&["runs", "done-to-ops"]);
    assert!(
        out.contains("matched") && out.contains("[0] send → operation"),
        "{out}"
    );
    let out = cli.ok(&["runs", "done-to-ops", "--after", &seq.to_string()]);
    assert!(out.contains("no runs"), "{out}");
    let out = cli.ok(&[
        "test",
        "--id",
        "done-to-ops",
        "--event-seq",
        &seq.to_string(),
    ]);
    assert!(
        out.contains(&format!("on event {seq}: fs task.status_changed"))
            && out.contains("matched: yes"),
        "{out}"
    );

    // Off and on again, with a backfill; show gives it back as a rule file takes it.
    let out = cli.ok(&["disable", "done-to-ops"]);
    assert!(
        out.contains("done-to-ops is off") && out.contains("--from"),
        "{out}"
    );
    let out = cli.ok(&["show", "done-to-ops"]);
    assert!(
        out.contains("(from the API): off")
            && out.contains("1 matched")
            && out.contains("[[rules]]"),
        "{out}"
    );
    let shown = out[out.find("[[rules]]").unwrap()..].to_string();
    let back: toml::Table = toml::from_str(&shown).unwrap_or_else(|e| panic!("{e}: {shown}"));
    assert_eq!(back["rules"][0]["id"].as_str(), Some("done-to-ops"));
    let out = cli.ok(&["enable", "done-to-ops", "--from", &seq.to_string()]);
    assert!(
        out.contains(&format!("acts on events after seq {}", seq - 1)),
        "{out}"
    );
    // The backfill replays that event: its action's idempotency key finds the message already sent.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sim.state().messages.len(), 1, "exactly once");
    let (code, _, err) = cli.run(&["enable", "done-to-ops", "--from", "yesterday"]);
    assert_eq!(code, Some(2), "a usage error: {err}");

    // Applied again, changed: replaced, and `enabled` made as the file says.
    let changed = write(
        dir.path(),
        "rules.toml",
        &RULES
            .replace("done: ", "finished: ")
            .replace("enabled = false", "enabled = true"),
    );
    let out = cli.ok(&["apply", &changed]);
    assert!(
        out.contains("replaced done-to-ops")
            && out.contains("replaced draft")
            && out.contains("turned draft on"),
        "{out}"
    );
    let (code, _, err) = cli.run(&["show", "nope"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no rule \"nope\""), "{err}");
}
