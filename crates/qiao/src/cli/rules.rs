//! `qiao rules …`: rules through a running server's REST API (`/v1/rules`): list and show them, try one on an
//! event without acting (`POST /v1/rules/test`), turn them on (with a backfill) and off, read their runs, and apply
//! a file of `[[rules]]`. Rule files are read here (TOML or JSON), so a problem the server finds in a rule is shown
//! at its line and column in the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use qiao_rules::{Known, Rule, RuleSpec};

/// Examples shown by `qiao rules --help`.
pub const EXAMPLES: &str = "\
Examples:
  export QIAO_URL=http://127.0.0.1:8080 QIAO_API_KEY=qiao_…   # a key with rules:read and rules:write
  qiao rules list
  qiao rules apply rules.toml --dry-run          # check every rule with the server, show what would change
  qiao rules apply rules.toml                    # create or replace the API rules of the file
  qiao rules test --rule rules.toml --id jira-testing --event-seq 1042
  qiao rules test --id jira-testing --event event.json
  qiao rules disable jira-testing
  qiao rules enable jira-testing --from 1042     # act on events from seq 1042 on (a backfill)
  qiao rules runs jira-testing --after 1000 --limit 20

A rule file holds [[rules]] tables, as in qiao.toml (see docs/rules.md):

  [[rules]]
  id = \"jira-testing\"
  on = { connection = \"jira\", types = [\"task.status_changed\"] }
  when = 'event.payload.to.name == \"测试中\"'
  [[rules.actions]]
  do = \"send\"
  connection = \"feishu\"
  body = { to = { chats = [\"oc_qa\"] }, text = \"{{ event.payload.title }} is ready for testing\" }

Exit status: 0 done; 1 an error, or a rule the server refuses (every problem is printed with its rule, field,
line and column); 2 a usage error.";

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Every rule, with its state and counters.
    ///
    /// Where it comes from (qiao.toml or the API), on or off, its cursor in the event log (the last event seq it
    /// has seen), how its runs ended (matched, not matched, skipped, failed) and its trigger.
    List {
        /// Print the server's answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// One rule: its state and counters, and its definition as a [[rules]] table.
    ///
    /// The definition is printed as a rule file (or qiao.toml) takes it, with `enabled` as the rule is now.
    Show {
        id: String,
        /// Print the server's answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Try a rule on an event, without acting.
    ///
    /// Prints what the condition and templates saw (event, actor, rule), whether the rule is triggered by the event
    /// and matched it, and each write it would make (method, path, body), or why an action could not be built.
    ///
    /// The rule: --rule FILE (TOML or JSON: a rule, or [[rules]] / {"rules": [...]}; with several, pick one with
    /// --id), or --id alone for a stored rule. The event: --event-seq N (a stored event, with the links Qiao keeps
    /// for its object), or --event FILE, JSON {"connection", "type", "subject"?, "payload"?, "id"?}. Nothing is
    /// written: the rule need not be saved, and a saved one may be off.
    #[command(after_long_help = "\
Examples:
  qiao rules test --rule draft.toml --event-seq 1042
  qiao rules test --rule rules.toml --id jira-testing --event event.json
  qiao rules test --id jira-testing --event-seq 1042 --json

event.json:
  {\"connection\": \"jira\", \"type\": \"task.status_changed\", \"subject\": \"PROJ-7\",
   \"payload\": {\"title\": \"Checkout\", \"to\": {\"name\": \"测试中\"}}}")]
    Test {
        /// A file with the rule to try.
        #[arg(long, value_name = "FILE")]
        rule: Option<PathBuf>,
        /// A stored rule's id; with --rule, the rule of the file to try.
        #[arg(long, value_name = "ID")]
        id: Option<String>,
        /// A stored event, by its sequence number in the event log.
        #[arg(
            long,
            value_name = "N",
            conflicts_with = "event",
            required_unless_present = "event"
        )]
        event_seq: Option<i64>,
        /// An event as it would be stored, JSON.
        #[arg(long, value_name = "FILE")]
        event: Option<PathBuf>,
        /// Print the server's answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Turn a rule on, from now or from an earlier event (a backfill).
    ///
    /// By default it acts on events from now on; --from start or --from SEQ acts on earlier ones too. Actions already
    /// made for an event are not made again: their idempotency keys find the operations made then.
    Enable {
        id: String,
        /// now, start, or the sequence number of the first event to act on.
        #[arg(long, value_name = "now|start|SEQ", value_parser = parse_from)]
        from: Option<Value>,
    },
    /// Turn a rule off.
    ///
    /// It keeps its place in the event log. Enabling it later starts from then: events that came meanwhile are
    /// acted on only when `enable` is given --from (the command prints the seq to give).
    Disable { id: String },
    /// What a rule did with each event it was triggered by.
    ///
    /// Oldest first: the event, the outcome (matched, not_matched, skipped, failed) and each action's operation id
    /// or error.
    Runs {
        id: String,
        /// Only runs of events after this sequence number (the `next` a previous page printed).
        #[arg(long, value_name = "SEQ")]
        after: Option<i64>,
        /// At most this many runs (1-500, default 100).
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
        /// Print the server's answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create or replace the API rules of a file of [[rules]] (TOML; or JSON {"rules": [...]}).
    ///
    /// Every rule is checked first, here and by the server (connections, capabilities, conditions, templates):
    /// if any has a problem, each problem is printed at its line and column and nothing is saved. Then each rule
    /// is created (acting on events from --from, default now), replaced (keeping its place in the event log), or
    /// left as it is; its `enabled` is made so. Rules of qiao.toml cannot be applied over (change them there).
    #[command(after_long_help = "\
Examples:
  qiao rules apply rules.toml --dry-run
  qiao rules apply rules.toml
  qiao rules apply rules.toml --prune          # also delete API rules the file does not have")]
    Apply {
        /// A TOML file of [[rules]] tables (or JSON {"rules": [...]}).
        file: PathBuf,
        /// Check and show what would change; save nothing.
        #[arg(long)]
        dry_run: bool,
        /// Delete the API rules (not those of qiao.toml) that the file does not have.
        #[arg(long)]
        prune: bool,
        /// For rules created: now, start, or the sequence number of the first event to act on.
        #[arg(long, value_name = "now|start|SEQ", value_parser = parse_from)]
        from: Option<Value>,
    },
}

fn parse_from(s: &str) -> std::result::Result<Value, String> {
    match s {
        "now" | "start" => Ok(json!(s)),
        _ => s
            .parse::<u64>()
            .map(|n| json!(n))
            .map_err(|_| format!("{s:?}: give now, start, or an event sequence number")),
    }
}

struct Api {
    url: String,
    client: reqwest::Client,
}

impl Api {
    fn new(url: &str, api_key: Option<String>) -> Result<Api> {
        let key = api_key.context(
            "an API key is needed: pass --api-key or set QIAO_API_KEY (make one with `qiao keys create --scope rules:write --scope rules:read …`)",
        )?;
        let mut headers = reqwest::header::HeaderMap::new();
        let mut auth = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
            .context("the API key has characters a header cannot carry")?;
        auth.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, auth);
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Api {
            url: url.trim_end_matches('/').to_string(),
            client,
        })
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach Qiao at {}", self.url))?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// The body of a 2xx answer; otherwise the server's error, as an error.
    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let (status, body) = self.send(method, path, body).await?;
        if !(200..300).contains(&status) {
            bail!(refusal(status, &body));
        }
        Ok(body)
    }
}

/// The server's error answer, one line (and its problems, one a line, when it lists some).
fn refusal(status: u16, body: &Value) -> String {
    let error = &body["error"];
    let mut message = format!(
        "{} ({status} {})",
        error["message"].as_str().unwrap_or("request failed"),
        error["code"].as_str().unwrap_or("")
    );
    for problem in problems_of(body) {
        message.push_str(&format!("\n  {}", problem.describe(None)));
    }
    message
}

/// A rule id as a path segment (ids are letters, digits, - and _; anything else is refused by the server anyway).
fn segment(id: &str) -> String {
    id.bytes()
        .map(
            |b| match b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                true => (b as char).to_string(),
                false => format!("%{b:02X}"),
            },
        )
        .collect()
}

pub async fn run(url: &str, api_key: Option<String>, command: RulesCommand) -> Result<()> {
    // A rule file is read (and checked locally) before anything is asked of the server.
    if let RulesCommand::Apply {
        file,
        dry_run,
        prune,
        from,
    } = command
    {
        let rules = RuleFile::read(&file)?;
        return apply(&Api::new(url, api_key)?, &rules, dry_run, prune, from).await;
    }
    let api = Api::new(url, api_key)?;
    match command {
        RulesCommand::List { json } => {
            let answer = api.ok(Method::GET, "/v1/rules", None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                print_list(&answer);
            }
        }
        RulesCommand::Show { id, json } => {
            let answer = api
                .ok(Method::GET, &format!("/v1/rules/{}", segment(&id)), None)
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                print_rule(&answer)?;
            }
        }
        RulesCommand::Test {
            rule,
            id,
            event_seq,
            event,
            json,
        } => test(&api, rule, id, event_seq, event, json).await?,
        RulesCommand::Enable { id, from } => {
            let body = match from {
                Some(from) => json!({ "from": from }),
                None => json!({}),
            };
            let rule = api
                .ok(
                    Method::POST,
                    &format!("/v1/rules/{}/enable", segment(&id)),
                    Some(body),
                )
                .await?;
            println!(
                "rule {id} is on: it acts on events after seq {}",
                rule["cursor"]
            );
        }
        RulesCommand::Disable { id } => {
            let rule = api
                .ok(
                    Method::POST,
                    &format!("/v1/rules/{}/disable", segment(&id)),
                    None,
                )
                .await?;
            let cursor = rule["cursor"].as_i64().unwrap_or(0);
            println!("rule {id} is off, at seq {cursor}");
            println!(
                "  turned on again it acts on events from then on; `qiao rules enable {id} --from {}` also takes those it missed",
                cursor + 1
            );
        }
        RulesCommand::Runs {
            id,
            after,
            limit,
            json,
        } => {
            let mut query = Vec::new();
            if let Some(after) = after {
                query.push(format!("after={after}"));
            }
            if let Some(limit) = limit {
                query.push(format!("limit={limit}"));
            }
            let query = if query.is_empty() {
                String::new()
            } else {
                format!("?{}", query.join("&"))
            };
            let answer = api
                .ok(
                    Method::GET,
                    &format!("/v1/rules/{}/runs{query}", segment(&id)),
                    None,
                )
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                print_runs(&id, &answer);
            }
        }
        RulesCommand::Apply { .. } => unreachable!("handled above"),
    }
    Ok(())
}

// ---- list, show, runs ----

fn trigger(spec: &Value) -> String {
    let on = &spec["on"];
    let types: Vec<&str> = on["types"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    format!(
        "{}: {}",
        on["connection"].as_str().unwrap_or("*"),
        types.join(", ")
    )
}

fn count(rule: &Value, outcome: &str) -> i64 {
    rule["counts"][outcome].as_i64().unwrap_or(0)
}

fn print_list(answer: &Value) {
    let rules = answer["rules"].as_array().cloned().unwrap_or_default();
    if rules.is_empty() {
        println!("no rules (add [[rules]] to qiao.toml, or `qiao rules apply FILE`)");
        return;
    }
    let width = rules
        .iter()
        .filter_map(|r| r["id"].as_str())
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(2)
        .max(2);
    println!(
        "{:<width$}  {:<6}  {:<3}  {:>8}  {:>7}  {:>7}  {:>7}  {:>6}  ON",
        "ID", "ORIGIN", "ON?", "CURSOR", "MATCHED", "NOT", "SKIPPED", "FAILED"
    );
    for r in &rules {
        println!(
            "{:<width$}  {:<6}  {:<3}  {:>8}  {:>7}  {:>7}  {:>7}  {:>6}  {}",
            r["id"].as_str().unwrap_or(""),
            r["origin"].as_str().unwrap_or(""),
            if r["enabled"] == true { "yes" } else { "no" },
            r["cursor"].to_string(),
            count(r, "matched"),
            count(r, "not_matched"),
            count(r, "skipped"),
            count(r, "failed"),
            trigger(&r["spec"]),
        );
    }
}

fn print_rule(rule: &Value) -> Result<()> {
    let id = rule["id"].as_str().unwrap_or("");
    let origin = match rule["origin"].as_str() {
        Some("config") => "qiao.toml",
        Some("api") => "the API",
        _ => "?",
    };
    println!(
        "rule {id} (from {origin}): {}",
        if rule["enabled"] == true { "on" } else { "off" }
    );
    if let Some(description) = rule["spec"]["description"].as_str() {
        println!("  {description}");
    }
    println!(
        "  on {}; cursor at seq {}",
        trigger(&rule["spec"]),
        rule["cursor"]
    );
    println!(
        "  runs: {} matched, {} not matched, {} skipped, {} failed",
        count(rule, "matched"),
        count(rule, "not_matched"),
        count(rule, "skipped"),
        count(rule, "failed")
    );
    println!();
    // As a rule file (or qiao.toml) takes it, in its state now; JSON if it cannot be written as TOML.
    let mut spec: RuleSpec = serde_json::from_value(rule["spec"].clone())
        .context("the server answered a rule this CLI cannot read")?;
    spec.enabled = rule["enabled"] == true;
    match as_toml(&spec) {
        Some(text) => print!("{text}"),
        None => println!("{}", serde_json::to_string_pretty(&rule["spec"])?),
    }
    Ok(())
}

/// A rule as a `[[rules]]` table, its fields in the order docs/rules.md gives them, defaults left out.
fn as_toml(spec: &RuleSpec) -> Option<String> {
    fn value(v: impl serde::Serialize) -> Option<String> {
        toml::Value::try_from(v).ok().map(|v| v.to_string())
    }
    let mut out = String::from("[[rules]]\n");
    let mut line = |key: &str, v: Option<String>| -> Option<()> {
        out.push_str(&format!("{key} = {}\n", v?));
        Some(())
    };
    line("id", value(&spec.id))?;
    if let Some(d) = &spec.description {
        line("description", value(d))?;
    }
    line("enabled", value(spec.enabled))?;
    line("on", value(&spec.on))?;
    if let Some(w) = &spec.when {
        line("when", value(w))?;
    }
    if spec.echoes {
        line("echoes", value(true))?;
    }
    if spec.max_hops != qiao_rules::spec::DEFAULT_MAX_HOPS {
        line("max_hops", value(spec.max_hops))?;
    }
    for action in &spec.actions {
        out.push_str("[[rules.actions]]\n");
        out.push_str(&format!("do = {}\n", value(&action.operation)?));
        for (key, v) in [
            ("connection", &action.connection),
            ("target", &action.target),
        ] {
            if let Some(v) = v {
                out.push_str(&format!("{key} = {}\n", value(v)?));
            }
        }
        out.push_str(&format!("body = {}\n", value(&action.body)?));
        if !action.link {
            out.push_str("link = false\n");
        }
    }
    Some(out)
}

fn print_runs(id: &str, answer: &Value) {
    let runs = answer["runs"].as_array().cloned().unwrap_or_default();
    if runs.is_empty() {
        println!("no runs of {id} (yet)");
    } else {
        println!("{:>8}  {:<11}  {:<40}  ACTIONS", "SEQ", "OUTCOME", "EVENT");
    }
    for run in &runs {
        let d = &run["detail"];
        let event = format!(
            "{} {} {}",
            d["connection"].as_str().unwrap_or(""),
            d["event_type"].as_str().unwrap_or(""),
            d["event_id"].as_str().unwrap_or("")
        );
        let mut what: Vec<String> = d["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let label = format!("[{}] {}", a["action"], a["do"].as_str().unwrap_or(""));
                match (&a["operation_id"], &a["error"]) {
                    (Value::Number(op), _) => format!("{label} → operation {op} ({})", a["status"]),
                    (_, Value::String(e)) => format!("{label} error: {e}"),
                    (_, e) if !e.is_null() => format!(
                        "{label} refused ({}): {}",
                        a["status"],
                        e["message"]
                            .as_str()
                            .map_or_else(|| e.to_string(), str::to_string)
                    ),
                    _ => label,
                }
            })
            .collect();
        for key in ["skipped", "error"] {
            if let Some(text) = d[key].as_str() {
                what.push(text.to_string());
            }
        }
        println!(
            "{:>8}  {:<11}  {:<40}  {}",
            run["event_seq"].to_string(),
            run["outcome"].as_str().unwrap_or(""),
            event,
            what.join("; ")
        );
    }
    if let Some(next) = answer["next_after"].as_i64() {
        println!("more: qiao rules runs {id} --after {next}");
    }
}

// ---- test ----

async fn test(
    api: &Api,
    rule: Option<PathBuf>,
    id: Option<String>,
    seq: Option<i64>,
    event: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    let mut body = serde_json::Map::new();
    let file = match (rule, id.clone()) {
        (Some(path), id) => {
            let file = RuleFile::read(&path)?;
            let index = match (&id, file.specs.len()) {
                (Some(id), _) => file
                    .specs
                    .iter()
                    .position(|s| &s.id == id)
                    .with_context(|| format!("{} has no rule {id:?}", path.display()))?,
                (None, 1) => 0,
                (None, 0) => bail!("{} has no rule", path.display()),
                (None, n) => bail!("{} has {n} rules: pick one with --id", path.display()),
            };
            body.insert("rule".into(), serde_json::to_value(&file.specs[index])?);
            Some(file)
        }
        (None, Some(id)) => {
            body.insert("rule_id".into(), json!(id));
            None
        }
        (None, None) => bail!("give the rule: --rule FILE, or --id ID of a stored rule"),
    };
    match (seq, event) {
        (Some(seq), _) => body.insert("event_seq".into(), json!(seq)),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let event: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            body.insert("event".into(), event)
        }
        (None, None) => bail!("give the event: --event-seq N or --event FILE"),
    };
    let (status, answer) = api
        .send(Method::POST, "/v1/rules/test", Some(Value::Object(body)))
        .await?;
    if status == 422 && !problems_of(&answer).is_empty() {
        report_problems(&problems_of(&answer), file.as_ref());
        bail!("the rule is not valid");
    }
    if !(200..300).contains(&status) {
        bail!(refusal(status, &answer));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print_test(&answer)?;
    }
    Ok(())
}

fn yes(b: &Value) -> &'static str {
    if b == true { "yes" } else { "no" }
}

fn print_test(answer: &Value) -> Result<()> {
    let seen = &answer["seen"];
    let event = &seen["event"];
    let seq = match event["seq"].as_i64() {
        Some(0) | None => "the event given".to_string(),
        Some(n) => format!("event {n}"),
    };
    println!(
        "rule {} on {seq}: {} {} (subject {:?})",
        seen["rule"]["id"].as_str().unwrap_or("?"),
        event["connection"].as_str().unwrap_or(""),
        event["type"].as_str().unwrap_or(""),
        event["subject"].as_str().unwrap_or("")
    );
    println!("triggered: {}", yes(&answer["triggered"]));
    if answer["triggered"] != true {
        println!(
            "  (the rule's `on` does not take this event: it would never be evaluated on it; the rest is what it would do if it were)"
        );
    }
    if let Some(skipped) = answer["skipped"].as_str() {
        println!("skipped: {skipped}");
    }
    println!("matched: {}", yes(&answer["matched"]));
    if let Some(error) = answer["error"].as_str() {
        println!("  the condition failed: {error}");
    }
    println!("\nwhat the condition and templates saw (event, actor, rule):");
    for line in serde_json::to_string_pretty(seen)?.lines() {
        println!("  {line}");
    }
    let writes = answer["writes"].as_array().cloned().unwrap_or_default();
    match (answer["matched"] == true, writes.len()) {
        (false, _) => println!("\nno writes: the rule did not match"),
        (true, 0) => println!("\nno writes"),
        (true, n) => println!("\nthe writes it would make ({n}; none was made):"),
    }
    for (i, w) in writes.iter().enumerate() {
        match w["error"].as_str() {
            Some(error) => println!("  [{i}] cannot be made: {error}"),
            None => {
                println!(
                    "  [{i}] {}: {} {}",
                    w["do"].as_str().unwrap_or(""),
                    w["method"].as_str().unwrap_or(""),
                    w["path"].as_str().unwrap_or("")
                );
                for line in serde_json::to_string_pretty(&w["body"])?.lines() {
                    println!("      {line}");
                }
            }
        }
    }
    Ok(())
}

// ---- apply ----

async fn apply(
    api: &Api,
    file: &RuleFile,
    dry_run: bool,
    prune: bool,
    from: Option<Value>,
) -> Result<()> {
    if file.specs.is_empty() && !prune {
        bail!("{} has no [[rules]]", file.path.display());
    }
    // Checked here first: syntax, operations, templates, duplicate ids (connections are the server's to check).
    if let Err(problems) = Rule::compile_all(file.specs.clone(), &|_: &str| Known::NotLoaded) {
        let problems: Vec<ProblemView> = problems.0.iter().map(ProblemView::from).collect();
        report_problems(&problems, Some(file));
        bail!(
            "{} problem(s) in {}; nothing was saved",
            problems.len(),
            file.path.display()
        );
    }
    let stored = api.ok(Method::GET, "/v1/rules", None).await?;
    let stored: BTreeMap<String, Value> = stored["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| Some((r["id"].as_str()?.to_string(), r.clone())))
        .collect();
    // Then by the server, each as it would be saved, before any is: all of them, or none.
    let mut problems = Vec::new();
    for spec in &file.specs {
        if let Some(row) = stored.get(&spec.id)
            && row["origin"] == "config"
        {
            problems.push(ProblemView {
                rule: spec.id.clone(),
                field: "id".into(),
                line: None,
                column: None,
                message:
                    "a rule of qiao.toml has this id: change it there, or give this one another id"
                        .into(),
            });
            continue;
        }
        let probe = json!({
            "rule": spec,
            "event": { "connection": spec.on.connection.clone().unwrap_or_else(|| "-".into()), "type": spec.on.types[0].trim_end_matches('*') },
        });
        let (status, answer) = api
            .send(Method::POST, "/v1/rules/test", Some(probe))
            .await?;
        match status {
            200..300 => {}
            422 if !problems_of(&answer).is_empty() => problems.extend(problems_of(&answer)),
            _ => bail!("checking rule {}: {}", spec.id, refusal(status, &answer)),
        }
    }
    if !problems.is_empty() {
        report_problems(&problems, Some(file));
        bail!(
            "{} problem(s) in {}; nothing was saved",
            problems.len(),
            file.path.display()
        );
    }
    let verb = |done: &'static str, would: &'static str| if dry_run { would } else { done };
    for spec in &file.specs {
        let path = format!("/v1/rules/{}", segment(&spec.id));
        let wanted = serde_json::to_value(spec)?;
        let state = if spec.enabled { "on" } else { "off" };
        match stored.get(&spec.id) {
            None => {
                if !dry_run {
                    let mut body = wanted.clone();
                    if let Some(from) = &from {
                        body["from"] = from.clone();
                    }
                    api.ok(Method::POST, "/v1/rules", Some(body)).await?;
                }
                println!("{} {} ({state})", verb("created", "would create"), spec.id);
            }
            Some(row) => {
                let same = serde_json::from_value::<RuleSpec>(row["spec"].clone())
                    .ok()
                    .as_ref()
                    == Some(spec);
                if !same {
                    if !dry_run {
                        api.ok(Method::PUT, &path, Some(wanted.clone())).await?;
                    }
                    println!("{} {}", verb("replaced", "would replace"), spec.id);
                }
                if (row["enabled"] == true) != spec.enabled {
                    if !dry_run {
                        let action = if spec.enabled { "enable" } else { "disable" };
                        let body = match (&from, spec.enabled) {
                            (Some(from), true) => json!({ "from": from }),
                            _ => json!({}),
                        };
                        api.ok(Method::POST, &format!("{path}/{action}"), Some(body))
                            .await?;
                    }
                    println!("{} {} {state}", verb("turned", "would turn"), spec.id);
                } else if same {
                    println!("unchanged {}", spec.id);
                }
            }
        }
    }
    if prune {
        for (id, row) in &stored {
            if row["origin"] == "api" && !file.specs.iter().any(|s| &s.id == id) {
                if !dry_run {
                    api.ok(Method::DELETE, &format!("/v1/rules/{}", segment(id)), None)
                        .await?;
                }
                println!("{} {id}", verb("deleted", "would delete"));
            }
        }
    }
    Ok(())
}

// ---- rule files and problems ----

/// A problem the server (or the local check) found in a rule.
#[derive(Debug, Clone, Deserialize)]
struct ProblemView {
    rule: String,
    field: String,
    line: Option<u32>,
    column: Option<u32>,
    message: String,
}

impl From<&qiao_rules::Problem> for ProblemView {
    fn from(p: &qiao_rules::Problem) -> Self {
        ProblemView {
            rule: p.rule.clone(),
            field: p.field.clone(),
            line: p.line,
            column: p.column,
            message: p.message.clone(),
        }
    }
}

impl ProblemView {
    /// `FILE:LINE:COLUMN: rule "id": field (line L, column C in it): message`, the file's position when known.
    fn describe(&self, file: Option<&RuleFile>) -> String {
        let inner = match (self.line, self.column) {
            (Some(l), Some(c)) => format!(" (line {l}, column {c} in it)"),
            _ => String::new(),
        };
        let at = file
            .and_then(|f| {
                f.locate(self)
                    .map(|(l, c)| format!("{}:{l}:{c}: ", f.path.display()))
            })
            .unwrap_or_default();
        format!(
            "{at}rule {:?}: {}{inner}: {}",
            self.rule, self.field, self.message
        )
    }
}

fn problems_of(body: &Value) -> Vec<ProblemView> {
    serde_json::from_value(body["error"]["details"]["problems"].clone()).unwrap_or_default()
}

fn report_problems(problems: &[ProblemView], file: Option<&RuleFile>) {
    for p in problems {
        eprintln!("{}", p.describe(file));
    }
}

/// Rules read from a file.
struct RuleFile {
    path: PathBuf,
    text: String,
    specs: Vec<RuleSpec>,
    format: Format,
}

#[derive(PartialEq)]
enum Format {
    /// `[[rules]]` tables.
    TomlRules,
    /// One rule's fields at the top.
    TomlOne,
    Json,
}

#[derive(Deserialize)]
struct RulesTable {
    #[serde(default)]
    rules: Vec<RuleSpec>,
}

impl RuleFile {
    fn read(path: &Path) -> Result<RuleFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let json =
            path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{');
        let (specs, format) = if json {
            let value: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            let list = match value {
                Value::Object(mut o) if o.contains_key("rules") => {
                    o.remove("rules").unwrap_or_default()
                }
                Value::Array(items) => Value::Array(items),
                one => Value::Array(vec![one]),
            };
            let specs = serde_json::from_value(list)
                .map_err(|e| anyhow::anyhow!("{}: not rules: {e}", path.display()))?;
            (specs, Format::Json)
        } else {
            let table: toml::Table =
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            if table.contains_key("rules") {
                let file: RulesTable = toml::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                (file.rules, Format::TomlRules)
            } else {
                let one: RuleSpec = toml::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("{}: not a rule: {e}", path.display()))?;
                (vec![one], Format::TomlOne)
            }
        };
        Ok(RuleFile {
            path: path.to_path_buf(),
            text,
            specs,
            format,
        })
    }

    /// Where in the file (1-based line and column) a problem is: its field's value, moved to the problem's own
    /// line and column within a condition or template when it has them. TOML files only.
    fn locate(&self, problem: &ProblemView) -> Option<(usize, usize)> {
        use toml::de::{DeTable, DeValue};
        if self.format == Format::Json {
            return None;
        }
        let index = self.specs.iter().position(|s| s.id == problem.rule)?;
        let root = DeTable::parse(&self.text).ok()?;
        fn find<'i>(
            table: &DeTable<'i>,
            key: &str,
        ) -> Option<(std::ops::Range<usize>, DeValue<'i>)> {
            let (_, v) = table.iter().find(|(k, _)| k.get_ref() == key)?;
            Some((v.span(), v.get_ref().clone()))
        }
        // The rule's table, then down the field's path as far as the file has it.
        let (mut span, mut value) = match self.format {
            Format::TomlRules => {
                let (_, rules) = find(root.get_ref(), "rules")?;
                let DeValue::Array(rules) = rules else {
                    return None;
                };
                let rule = rules.get(index)?;
                (rule.span(), rule.get_ref().clone())
            }
            _ => (root.span(), DeValue::Table(root.get_ref().clone())),
        };
        let mut exact = true;
        for step in path_steps(&problem.field) {
            let next = match (&value, &step) {
                (DeValue::Table(t), Step::Key(k)) => find(t, k),
                (DeValue::Array(a), Step::Index(i)) => {
                    a.get(*i).map(|v| (v.span(), v.get_ref().clone()))
                }
                _ => None,
            };
            match next {
                Some((s, v)) => (span, value) = (s, v),
                None => {
                    exact = false;
                    break;
                }
            }
        }
        let mut at = span.start;
        if exact
            && let (DeValue::String(_), Some(line), Some(column)) =
                (&value, problem.line, problem.column)
        {
            at = self
                .inside_string(span.start, line as usize, column as usize)
                .unwrap_or(at);
        }
        Some(position(&self.text, at))
    }

    /// The byte offset of `line`:`column` (1-based) of a string's text, the string starting at `start` with its
    /// quotes; `None` where escapes make it unsure (a `\n` written as an escape).
    fn inside_string(&self, start: usize, line: usize, column: usize) -> Option<usize> {
        let raw = &self.text[start..];
        let (quote, multi) = match raw {
            r if r.starts_with("'''") || r.starts_with("\"\"\"") => (3, true),
            r if r.starts_with('\'') || r.starts_with('"') => (1, false),
            _ => return None,
        };
        let mut offset = start + quote;
        if multi {
            if self.text[offset..].starts_with("\r\n") {
                offset += 2;
            } else if self.text[offset..].starts_with('\n') {
                offset += 1;
            }
        } else if line > 1 {
            return None;
        }
        for _ in 1..line {
            offset += self.text[offset..].find('\n')? + 1;
        }
        let rest = &self.text[offset..];
        let skip: usize = rest
            .chars()
            .take(column.saturating_sub(1))
            .take_while(|c| *c != '\n')
            .map(char::len_utf8)
            .sum();
        Some(offset + skip)
    }
}

enum Step {
    Key(String),
    Index(usize),
}

/// `actions[1].body.to.chats[0]` → actions, 1, body, to, chats, 0.
fn path_steps(field: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for part in field.split('.') {
        let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            steps.push(Step::Key(name.to_string()));
        }
        while let Some((index, after)) = rest.split_once(']') {
            if let Ok(i) = index.parse() {
                steps.push(Step::Index(i));
            }
            rest = after.trim_start_matches('[');
        }
    }
    steps
}

/// 1-based line and column (in characters) of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> RuleFile {
        let dir = std::env::temp_dir().join(format!("qiao-rules-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("r{}.toml", text.len()));
        std::fs::write(&path, text).unwrap();
        RuleFile::read(&path).unwrap()
    }

    fn problem(rule: &str, field: &str, pos: Option<(u32, u32)>) -> ProblemView {
        ProblemView {
            rule: rule.into(),
            field: field.into(),
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
            message: "m".into(),
        }
    }

    const TEXT: &str = r#"
[[rules]]
id = "a"
on = { types = ["x"] }
actions = [{ do = "send_to_people", body = { text = "hi" } }]

[[rules]]
id = "b"
on = { connection = "jira", types = ["task.*"] }
when = 'event.payload.x =='
[[rules.actions]]
do = "send"
connection = "feishu"
body = { to = { chats = ["oc_1"] }, text = '''
line one
{% if %}''' }
"#;

    #[test]
    fn problems_are_placed_at_their_line_and_column_in_the_file() {
        let f = file(TEXT);
        assert_eq!(f.specs.len(), 2);
        // `when`: column 19 of its text, which starts after `when = '` (column 9) on line 10.
        assert_eq!(
            f.locate(&problem("b", "when", Some((1, 19)))),
            Some((10, 27))
        );
        // A multi-line template: its line 2 is the file's line 16.
        assert_eq!(
            f.locate(&problem("b", "actions[0].body.text", Some((2, 4)))),
            Some((16, 4))
        );
        // A field without a position: where its value starts.
        assert_eq!(
            f.locate(&problem("b", "on.connection", None)),
            Some((9, 21))
        );
        assert_eq!(f.locate(&problem("b", "on.types[0]", None)), Some((9, 38)));
        // A missing field: the nearest thing the file has.
        let (line, _) = f.locate(&problem("a", "actions[0].target", None)).unwrap();
        assert_eq!(line, 5);
    }

    #[test]
    fn show_writes_a_rule_file_that_reads_back_the_same() {
        let f = file(
            TEXT.replace("'event.payload.x =='", "'event.payload.x == \"测试中\"'")
                .as_str(),
        );
        for spec in &f.specs {
            let text = as_toml(spec).unwrap();
            let back: RulesTable = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            assert_eq!(&back.rules[0], spec, "{text}");
        }
    }

    /// examples/qiao.toml's commented [[rules]], uncommented, is a valid rule over the connections the file has.
    #[test]
    fn the_example_config_rule_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/qiao.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines
            .iter()
            .position(|l| *l == "# [[rules]]")
            .expect("a commented [[rules]] example");
        let rules: String = lines[start..]
            .iter()
            .take_while(|l| l.starts_with('#'))
            .map(|l| {
                format!(
                    "{}\n",
                    l.strip_prefix("# ").or(l.strip_prefix('#')).unwrap_or(l)
                )
            })
            .collect();
        let file: RulesTable = toml::from_str(&rules).unwrap_or_else(|e| panic!("{e}\n{rules}"));
        assert!(!file.rules.is_empty());
        let config: toml::Table = toml::from_str(&text).unwrap();
        let connections = config["connections"].as_table().unwrap().clone();
        let known = |c: &str| {
            if connections.contains_key(c) {
                Known::NotLoaded
            } else {
                Known::Unknown
            }
        };
        if let Err(problems) = Rule::compile_all(file.rules, &known) {
            panic!("{problems}\n{rules}");
        }
    }

    /// Every rule docs/rules.md and the README show (TOML and JSON) is valid over connections jira, feishu and
    /// dingtalk.
    #[test]
    fn the_rules_in_the_docs_are_valid() {
        let read = |p: &str| {
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(p)).unwrap()
        };
        let readme = read("../../README.md");
        let readme = readme
            .split("```")
            .skip(1)
            .step_by(2)
            .filter(|b| b.starts_with("toml\n[[rules]]"));
        let text = format!(
            "{}```{}```",
            read("../../docs/rules.md"),
            readme.collect::<Vec<_>>().join("``````")
        );
        let known = |c: &str| match ["jira", "feishu", "dingtalk"].contains(&c) {
            true => Known::Exports(
                ["messaging", "tasks", "chats", "approval"]
                    .map(String::from)
                    .to_vec(),
            ),
            false => Known::Unknown,
        };
        let mut checked = 0;
        for block in text.split("```").skip(1).step_by(2) {
            let specs: Vec<RuleSpec> = if let Some(toml) = block.strip_prefix("toml\n") {
                toml::from_str::<RulesTable>(toml)
                    .unwrap_or_else(|e| panic!("{e}\n{toml}"))
                    .rules
            } else if let Some(json) = block
                .strip_prefix("json\n")
                .filter(|j| j.contains("\"actions\""))
            {
                vec![serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}\n{json}"))]
            } else {
                continue;
            };
            checked += specs.len();
            if let Err(problems) = Rule::compile_all(specs, &known) {
                panic!("{problems}\n{block}");
            }
        }
        assert!(checked >= 8, "{checked} rules checked");
    }

    #[test]
    fn from_takes_now_start_or_a_seq() {
        assert_eq!(parse_from("start").unwrap(), json!("start"));
        assert_eq!(parse_from("42").unwrap(), json!(42));
        assert!(parse_from("-1").is_err() && parse_from("yesterday").is_err());
    }

    #[test]
    fn field_paths_are_split_into_steps() {
        let steps = path_steps("actions[1].body.to.chats[0]");
        let names: Vec<String> = steps
            .iter()
            .map(|s| match s {
                Step::Key(k) => k.clone(),
                Step::Index(i) => i.to_string(),
            })
            .collect();
        assert_eq!(names, ["actions", "1", "body", "to", "chats", "0"]);
    }
}
