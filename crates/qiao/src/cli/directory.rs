//! `qiao directory …`: the enterprise directory and its sync, through a running server's REST API (so the
//! server's outbox, locks and audit log apply as they do to any caller).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

#[derive(Subcommand)]
pub enum DirectoryCommand {
    /// Replace the directory with a JSON file: {"departments": [{id, name, parent_id?, order?}], "people": [{id,
    /// name, employee_no?, mobile?, email?, title?, manager_id?, department_ids, active?, roles?}]}.
    ///
    /// A person left out is gone from the directory: the next sync deactivates their accounts (past the
    /// connection's max_deactivate_share it stops and asks for --confirm). With --changes the file holds
    /// changes instead: {"upsert": {"departments": [...], "people": [...]}, "delete": {"departments": [ids],
    /// "people": [ids]}}. Either way, a directory with problems (a missing parent, a cycle, a duplicate id) is
    /// refused whole, with every problem listed.
    Push {
        file: PathBuf,
        #[arg(long)]
        changes: bool,
    },
    /// Pull the directory from the source connection ([directory] source, or --connection).
    Pull {
        #[arg(long)]
        connection: Option<String>,
    },
    /// Plan the directory onto a connection's platform and apply it, showing progress.
    ///
    /// Exit status: 0 when the run succeeded (or a dry run planned), 3 when it stopped for confirmation (it
    /// would deactivate more than the connection's max_deactivate_share), 1 when steps failed.
    Sync {
        connection: String,
        /// Plan only: show what would change, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply even though the plan deactivates more than the allowed share of users.
        #[arg(long)]
        confirm: bool,
        /// Overwrite values changed on the platform outside Qiao (default: the connection's source_wins).
        #[arg(long)]
        source_wins: bool,
        /// Print the finished run as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Recent sync runs on a connection.
    Runs {
        connection: String,
        #[arg(long)]
        json: bool,
    },
}

struct Api {
    url: String,
    client: reqwest::Client,
}

impl Api {
    fn new(url: &str, api_key: Option<String>) -> Result<Api> {
        let key = api_key.context("an API key is needed: pass --api-key or set QIAO_API_KEY (make one with `qiao keys create --scope identity:write …`)")?;
        let mut headers = reqwest::header::HeaderMap::new();
        let mut auth = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
            .context("the API key has characters a header cannot carry")?;
        auth.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, auth);
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(Duration::from_secs(330))
            .build()?;
        Ok(Api {
            url: url.trim_end_matches('/').to_string(),
            client,
        })
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
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
    async fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let (status, body) = self.send(method, path, body).await?;
        if !(200..300).contains(&status) {
            let error = &body["error"];
            let mut message = format!(
                "{} ({status} {})",
                error["message"].as_str().unwrap_or("request failed"),
                error["code"].as_str().unwrap_or("")
            );
            if let Some(problems) = error["details"]["problems"].as_array() {
                for problem in problems {
                    message.push_str(&format!("\n  - {problem}"));
                }
            }
            bail!(message);
        }
        Ok(body)
    }
}

pub async fn run(url: &str, api_key: Option<String>, command: DirectoryCommand) -> Result<()> {
    let api = Api::new(url, api_key)?;
    match command {
        DirectoryCommand::Push { file, changes } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let body: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            let (method, path) = if changes {
                (reqwest::Method::POST, "/v1/directory/changes")
            } else {
                (reqwest::Method::PUT, "/v1/directory")
            };
            let answer = api.ok(method, path, Some(body)).await?;
            print_changed(&answer["changed"]);
            Ok(())
        }
        DirectoryCommand::Pull { connection } => {
            let answer = api
                .ok(
                    reqwest::Method::POST,
                    "/v1/directory/pull",
                    Some(json!({ "connection": connection })),
                )
                .await?;
            println!("pulled from {}", answer["source"].as_str().unwrap_or("?"));
            print_changed(&answer["changed"]);
            Ok(())
        }
        DirectoryCommand::Sync {
            connection,
            dry_run,
            confirm,
            source_wins,
            json,
        } => {
            let request = json!({ "dry_run": dry_run, "confirm": confirm, "source_wins": source_wins.then_some(true) });
            let path = format!("/v1/connections/{connection}/directory/runs?wait=0");
            let started = api.ok(reqwest::Method::POST, &path, Some(request)).await?;
            let id = started["id"]
                .as_i64()
                .context("the server answered without a run id")?;
            let run = follow(&api, &connection, id, !json).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&run)?);
            } else {
                print_run(&run);
            }
            match run["status"].as_str() {
                Some("succeeded" | "planned") => Ok(()),
                Some("needs_confirmation") => std::process::exit(3),
                _ => std::process::exit(1),
            }
        }
        DirectoryCommand::Runs { connection, json } => {
            let answer = api
                .ok(
                    reqwest::Method::GET,
                    &format!("/v1/connections/{connection}/directory/runs"),
                    None,
                )
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
                return Ok(());
            }
            println!(
                "{:<6} {:<22} {:<8} {:>6} {:>6} {:>6}  DURATION",
                "RUN", "STATUS", "DRY RUN", "DONE", "FAILED", "SKIP"
            );
            for run in answer["runs"].as_array().into_iter().flatten() {
                let report = &run["report"];
                println!(
                    "{:<6} {:<22} {:<8} {:>6} {:>6} {:>6}  {}",
                    run["id"],
                    run["status"].as_str().unwrap_or(""),
                    if run["dry_run"] == true { "yes" } else { "" },
                    report["done"].as_u64().unwrap_or(0),
                    report["failed"].as_u64().unwrap_or(0),
                    report["skipped"].as_u64().unwrap_or(0),
                    report["duration_ms"]
                        .as_u64()
                        .map(|ms| format!("{:.1} s", ms as f64 / 1000.0))
                        .unwrap_or_default(),
                );
            }
            Ok(())
        }
    }
}

/// Polls the run until it is final, drawing a progress bar of its steps (on a terminal).
async fn follow(api: &Api, connection: &str, id: i64, show: bool) -> Result<Value> {
    let bar = if show {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg:<12} [{bar:40}] {pos}/{len} steps ({eta} left)",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let path = format!("/v1/connections/{connection}/directory/runs/{id}?plan=false");
    loop {
        let run = api.ok(reqwest::Method::GET, &path, None).await?;
        let status = run["status"].as_str().unwrap_or("").to_string();
        let progress = &run["progress"];
        if let Some(total) = progress["total"].as_u64() {
            bar.set_length(total);
        }
        let finished = ["done", "failed", "skipped"]
            .iter()
            .filter_map(|k| progress[k].as_u64())
            .sum();
        bar.set_position(finished);
        bar.set_message(status.clone());
        if [
            "planned",
            "needs_confirmation",
            "succeeded",
            "completed_with_errors",
            "failed",
        ]
        .contains(&status.as_str())
        {
            bar.finish_and_clear();
            // The whole run, plan included, for the summary.
            return api
                .ok(
                    reqwest::Method::GET,
                    &format!("/v1/connections/{connection}/directory/runs/{id}"),
                    None,
                )
                .await;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn print_changed(changed: &Value) {
    for kind in ["departments", "people"] {
        let c = &changed[kind];
        println!(
            "{kind:<12} {} added, {} updated, {} removed, {} unchanged",
            c["added"], c["updated"], c["removed"], c["unchanged"]
        );
    }
}

fn print_run(run: &Value) {
    let report = &run["report"];
    println!(
        "run {} on {}: {}",
        run["id"],
        run["connection"].as_str().unwrap_or(""),
        run["status"].as_str().unwrap_or("")
    );
    if let Some(error) = report["error"].as_str() {
        println!("  error: {error}");
        return;
    }
    if let Some(counts) = report["planned"].as_object() {
        let planned: Vec<String> = counts
            .iter()
            .filter(|(_, n)| n.as_u64() != Some(0))
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        println!(
            "  planned: {}",
            if planned.is_empty() {
                "nothing to change".into()
            } else {
                planned.join(", ")
            }
        );
    }
    println!(
        "  done {}, failed {}, skipped {}, drift {}, ambiguous {}, in {:.1} s",
        report["done"],
        report["failed"],
        report["skipped"],
        report["drift"],
        report["ambiguous"],
        report["duration_ms"].as_u64().unwrap_or(0) as f64 / 1000.0
    );
    if run["status"] == "needs_confirmation" {
        let d = &report["deactivation"];
        println!(
            "  stopped: it would deactivate {} of {} linked active users (more than {}); run again with --confirm",
            d["deactivate"], d["linked_active"], d["max_share"]
        );
    }
    if run["status"] == "planned" {
        for step in run["plan"]["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .take(50)
        {
            println!(
                "  {:<18} {:<20} {}",
                step["kind"].as_str().unwrap_or(""),
                step["id"].as_str().unwrap_or(""),
                step["name"].as_str().unwrap_or("")
            );
        }
    }
    for drift in run["plan"]["drift"]
        .as_array()
        .into_iter()
        .flatten()
        .take(20)
    {
        println!(
            "  drift: {} {} {} is {} on the platform, {} in the directory",
            drift["kind"].as_str().unwrap_or(""),
            drift["id"].as_str().unwrap_or(""),
            drift["field"].as_str().unwrap_or(""),
            drift["platform"],
            drift["source"]
        );
    }
    for error in report["errors"].as_array().into_iter().flatten().take(20) {
        println!(
            "  failed: {} {}: {}",
            error["kind"].as_str().unwrap_or(""),
            error["id"].as_str().unwrap_or(""),
            error["error"]["message"].as_str().unwrap_or("")
        );
    }
}
