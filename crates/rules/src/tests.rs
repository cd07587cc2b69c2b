use std::sync::Arc;

use serde_json::{Value, json};

use qiao_directory::model::{Directory, Person};

use crate::{EventInput, Known, Lookups, Rule, RuleSpec};

fn known(c: &str) -> Known {
    match c {
        "jira" | "feishu" => Known::Exports(vec!["tasks".into(), "messaging".into(), "webhook".into()]),
        "wecom" => Known::Exports(vec!["messaging".into()]),
        "later" => Known::NotLoaded,
        _ => Known::Unknown,
    }
}

fn spec(v: Value) -> RuleSpec {
    serde_json::from_value(v).expect("a rule spec")
}

fn person(id: &str, name: &str, email: &str, manager: Option<&str>) -> Person {
    serde_json::from_value(json!({"id": id, "name": name, "email": email, "manager_id": manager})).unwrap()
}

fn lookups() -> Arc<Lookups> {
    let directory = Directory {
        departments: vec![],
        people: vec![person("p1", "Li Lei", "li.lei@example.com", Some("p2")), person("p2", "Han Meimei", "han@example.com", None)],
    };
    Arc::new(Lookups::new(
        directory,
        vec![
            ("p1".into(), "jira".into(), "acc-1".into()),
            ("p1".into(), "feishu".into(), "ou_1".into()),
            ("p2".into(), "feishu".into(), "ou_2".into()),
        ],
    ))
}

fn event(kind: &str, payload: Value) -> EventInput {
    EventInput {
        seq: 7,
        connection: "jira".into(),
        id: "ev-1".into(),
        kind: kind.into(),
        subject: "PROJ-1".into(),
        time_ms: None,
        received_ms: 1,
        payload,
        links: [("feishu".to_string(), json!("t-9"))].into_iter().collect(),
        echo: false,
        hops: 0,
        task: Value::Null,
    }
}

fn testing_rule() -> RuleSpec {
    spec(json!({
        "id": "jira-testing",
        "on": {"connection": "jira", "types": ["task.status_changed"]},
        "when": "event.payload.to.name == '测试中'",
        "actions": [
            {"do": "send", "connection": "feishu", "body": {
                "to": {"chats": ["oc_1"]},
                "text": "{{ event.payload.title }} 进入测试, {{ person_by_email(event.payload.tester_email).name }}",
                "mentions": {"users": ["{{ account(person_by_email(event.payload.tester_email), 'feishu') }}"]}
            }},
            {"do": "move_task", "connection": "feishu", "target": "{{ event.links.feishu }}", "body": {"status": "in_progress"}}
        ]
    }))
}

#[test]
fn a_matching_event_plans_each_write_with_lookups_and_links() {
    let rules = Rule::compile_all(vec![testing_rule()], &known).expect("valid");
    let e = event("task.status_changed", json!({"title": "Checkout", "to": {"name": "测试中"}, "tester_email": "LI.LEI@example.com"}));
    assert!(rules[0].triggered_by(&e));
    let out = rules[0].evaluate(&e, &lookups());
    assert!(out.matched, "{out:?}");
    let writes: Vec<_> = out.writes.into_iter().map(Result::unwrap).collect();
    assert_eq!(writes[0].path, "/v1/connections/feishu/messages");
    assert_eq!(writes[0].body["text"], "Checkout 进入测试, Li Lei");
    assert_eq!(writes[0].body["mentions"]["users"], json!(["ou_1"]));
    assert_eq!(writes[1].method, "POST");
    assert_eq!(writes[1].path, "/v1/connections/feishu/tasks/t-9/move");
}

#[test]
fn another_status_does_not_match_and_another_type_does_not_trigger() {
    let rules = Rule::compile_all(vec![testing_rule()], &known).unwrap();
    let e = event("task.status_changed", json!({"title": "x", "to": {"name": "Done"}}));
    assert!(!rules[0].evaluate(&e, &lookups()).matched);
    assert!(!rules[0].triggered_by(&event("task.created", json!({}))));
}

#[test]
fn prefixes_and_any_connection_trigger() {
    let r = spec(json!({"id": "any", "on": {"types": ["task.*"]}, "actions": [{"do": "send_to_people", "body": {"to": {"people": ["p1"]}, "text": "hi"}}]}));
    let rules = Rule::compile_all(vec![r], &known).unwrap();
    assert!(rules[0].triggered_by(&event("task.deleted", json!({}))));
    assert!(!rules[0].triggered_by(&event("approval.created", json!({}))));
}

#[test]
fn every_problem_is_listed_with_its_position() {
    let bad = spec(json!({
        "id": "bad rule",
        "on": {"connection": "nope", "types": []},
        "when": "event.payload.x ==",
        "actions": [
            {"do": "fly", "connection": "feishu"},
            {"do": "send", "connection": "wecom", "body": {"text": "{{ event.payload.title "}},
            {"do": "create_task", "connection": "unknown", "body": {"title": "x"}},
            {"do": "update_task", "connection": "jira", "body": {"title": "x"}},
            {"do": "send", "connection": "feishu", "body": {"text": "line one\n{% if %}"}}
        ]
    }));
    let problems = Rule::compile_all(vec![bad], &known).err().expect("refused").0;
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    for expected in ["id", "on.types", "on.connection", "when", "actions[0].do", "actions[2].connection", "actions[3].target", "actions[1].body.text", "actions[4].body.text"] {
        assert!(fields.contains(&expected), "{expected} missing from {problems:#?}");
    }
    let when = problems.iter().find(|p| p.field == "when").unwrap();
    assert_eq!(when.line, Some(1), "{when:?}");
    assert!(when.column.is_some());
    let second_line = problems.iter().find(|p| p.field == "actions[4].body.text").unwrap();
    assert_eq!(second_line.line, Some(2), "{second_line:?}");
    assert!(problems.iter().any(|p| p.message.contains("does not export tasks") || p.message.contains("no connection \"unknown\"")));
}

#[test]
fn a_capability_the_connector_lacks_is_refused() {
    let r = spec(json!({"id": "r", "on": {"types": ["x"]}, "actions": [{"do": "create_task", "connection": "wecom", "body": {"title": "t"}}]}));
    let problems = Rule::compile_all(vec![r], &known).err().unwrap();
    assert!(problems.to_string().contains("does not export tasks"), "{problems}");
}

#[test]
fn unknown_variables_and_duplicate_ids_are_refused() {
    let a = spec(json!({"id": "r", "on": {"types": ["x"]}, "when": "evnt.type == 'x'", "actions": [{"do": "send_to_people", "body": {"text": "x"}}]}));
    let b = a.clone();
    let problems = Rule::compile_all(vec![a, b], &known).err().unwrap().to_string();
    assert!(problems.contains("unknown variable \"evnt\""), "{problems}");
    assert!(problems.contains("two rules have this id"), "{problems}");
}

#[test]
fn a_missing_field_fails_the_action_not_the_rule() {
    let r = spec(json!({"id": "r", "on": {"types": ["task.created"]}, "actions": [
        {"do": "send", "connection": "feishu", "body": {"to": {"chats": ["c"]}, "text": "{{ event.payload.nope }}"}},
        {"do": "send", "connection": "feishu", "body": {"to": {"chats": ["c"]}, "text": "{{ account(person_by_email('nobody@x.com'), 'feishu') }}"}},
        {"do": "send", "connection": "feishu", "body": {"to": {"chats": ["c"]}, "text": "fine"}}
    ]}));
    let rules = Rule::compile_all(vec![r], &known).unwrap();
    let out = rules[0].evaluate(&event("task.created", json!({})), &lookups());
    assert!(out.matched);
    let e0 = out.writes[0].as_ref().unwrap_err();
    assert!(e0.contains("body.text") && e0.contains("undefined"), "{e0}");
    assert!(out.writes[1].as_ref().unwrap_err().contains("null"), "{:?}", out.writes[1]);
    assert_eq!(out.writes[2].as_ref().unwrap().body["text"], "fine");
}

#[test]
fn a_template_that_runs_out_of_fuel_fails_with_a_clear_error() {
    let r = spec(json!({"id": "r", "on": {"types": ["task.created"]}, "actions": [
        {"do": "send", "connection": "feishu", "body": {"to": {"chats": ["c"]}, "text": "{% for i in range(100000) %}{{ i }}{% endfor %}"}}
    ]}));
    let rules = Rule::compile_all(vec![r], &known).unwrap();
    let out = rules[0].evaluate(&event("task.created", json!({})), &lookups());
    let e = out.writes[0].as_ref().unwrap_err();
    assert!(e.contains("ran out of fuel"), "{e}");
}

#[test]
fn a_condition_that_errors_does_not_match_and_says_why() {
    let r = spec(json!({"id": "r", "on": {"types": ["task.created"]}, "when": "event.payload.count > 3", "actions": [{"do": "send_to_people", "body": {"text": "x"}}]}));
    let rules = Rule::compile_all(vec![r], &known).unwrap();
    let out = rules[0].evaluate(&event("task.created", json!({})), &lookups());
    assert!(!out.matched);
    assert!(out.error.unwrap().starts_with("when:"));
}

#[test]
fn the_actor_and_manager_lookups_work_in_conditions() {
    let r = spec(json!({"id": "r", "on": {"types": ["task.created"]},
        "when": "actor != null && actor.name == 'Li Lei' && manager(actor).accounts.feishu == 'ou_2' && person_of('feishu', 'ou_2').id == 'p2'",
        "actions": [{"do": "send_to_people", "body": {"to": {"people": ["{{ manager(actor).id }}"]}, "text": "x"}}]}));
    let rules = Rule::compile_all(vec![r], &known).unwrap();
    let out = rules[0].evaluate(&event("task.created", json!({"actor": "acc-1"})), &lookups());
    assert!(out.matched, "{out:?}");
    assert_eq!(out.writes[0].as_ref().unwrap().body["to"]["people"], json!(["p2"]));
}

#[test]
fn echoes_and_deep_chains_are_skipped_with_a_reason() {
    let r = spec(json!({"id": "r", "on": {"types": ["task.created"]}, "actions": [{"do": "send_to_people", "body": {"text": "x"}}]}));
    let mut loud = r.clone();
    loud.id = "loud".into();
    loud.echoes = true;
    let rules = Rule::compile_all(vec![r, loud], &known).unwrap();
    let mut e = event("task.created", json!({}));
    e.echo = true;
    e.hops = 1;
    assert!(rules[0].evaluate(&e, &lookups()).skipped.unwrap().contains("echoes"));
    assert!(rules[1].evaluate(&e, &lookups()).matched);
    e.hops = 3;
    assert!(rules[1].evaluate(&e, &lookups()).skipped.unwrap().contains("max_hops"));
}

#[test]
fn a_rendered_target_must_be_an_id() {
    let r = spec(json!({"id": "r", "on": {"types": ["task.created"]}, "actions": [{"do": "complete_task", "connection": "feishu", "target": "{{ event.payload.t }}"}]}));
    let rules = Rule::compile_all(vec![r], &known).unwrap();
    let out = rules[0].evaluate(&event("task.created", json!({"t": "../../admin"})), &lookups());
    assert!(out.writes[0].as_ref().unwrap_err().contains("not an id"));
}

#[test]
fn toml_and_json_are_the_same_shape() {
    let toml_rule: RuleSpec = toml::from_str(
        r#"
id = "from-toml"
on = { connection = "jira", types = ["task.status_changed"] }
when = 'event.payload.to.name == "测试中"'
[[actions]]
do = "send"
connection = "feishu"
body = { to = { chats = ["oc_1"] }, text = "{{ event.payload.title }}" }
"#,
    )
    .unwrap();
    let round: RuleSpec = serde_json::from_value(serde_json::to_value(&toml_rule).unwrap()).unwrap();
    assert_eq!(round, toml_rule);
    assert!(toml_rule.enabled && !toml_rule.echoes && toml_rule.max_hops == 3);
}

#[test]
fn a_rule_that_names_event_task_reads_it() {
    let plain = spec(json!({"id": "plain", "on": {"types": ["task.created"]}, "when": "event.payload.tasks == 1",
        "actions": [{"do": "send_to_people", "body": {"text": "{{ event.type }}"}}]}));
    let reads = spec(json!({"id": "reads", "on": {"types": ["task.created"]}, "when": "size(event.task.assignees) > 0",
        "actions": [{"do": "send_to_people", "body": {"to": {"people": ["{{ person_of('feishu', event.task.assignees[0]).id }}"]}, "text": "x"}}]}));
    let rules = Rule::compile_all(vec![plain, reads], &known).unwrap();
    assert!(!rules[0].reads_task() && rules[1].reads_task());
    let mut e = event("task.created", json!({}));
    e.task = json!({"assignees": ["ou_2"], "labels": []});
    let out = rules[1].evaluate(&e, &lookups());
    assert!(out.matched, "{out:?}");
    assert_eq!(out.writes[0].as_ref().unwrap().body["to"]["people"], json!(["p2"]));
}

#[test]
fn macro_variables_are_not_unknown_variables() {
    let r = spec(json!({"id": "r", "on": {"types": ["task.created"]},
        "when": "event.payload.lists.exists(l, l.name == 'x') && event.payload.lists.all(m, [m].exists(n, n.name != ''))",
        "actions": [{"do": "send_to_people", "body": {"text": "x"}}]}));
    let rules = Rule::compile_all(vec![r], &known).expect("valid");
    assert!(rules[0].evaluate(&event("task.created", json!({"lists": [{"name": "x"}]})), &lookups()).matched);
    let outside = spec(json!({"id": "r", "on": {"types": ["task.created"]}, "when": "event.payload.lists.exists(l, true) && l == 1",
        "actions": [{"do": "send_to_people", "body": {"text": "x"}}]}));
    assert!(Rule::compile_all(vec![outside], &known).err().unwrap().to_string().contains("unknown variable \"l\""));
}
