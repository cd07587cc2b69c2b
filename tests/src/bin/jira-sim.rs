//! Runs the Jira Cloud simulator on its own, for demos and manual testing:
//!
//! ```text
//! cargo run -p qiao-tests --bin jira-sim -- --listen 127.0.0.1:9105 \
//!     --callback-url http://127.0.0.1:8080/v1/hooks/jira
//! ```
//!
//! Point a `jira` connection's site URL at it (`http://127.0.0.1:9105`), with the credentials it prints.

use std::time::Duration;

use clap::Parser;
use qiao_tests::jira_sim::{
    ALICE, ALICE_API_TOKEN, API_TOKEN, BOB, BOT, CAROL, DAVE, JiraSim, OAUTH_TOKEN, Options, Quota,
};

#[derive(Parser)]
#[command(
    about = "A stateful Jira Cloud simulator (REST API v3, JQL search, rate limits, signed webhooks)"
)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9105")]
    listen: std::net::SocketAddr,
    /// Where webhook deliveries go (Qiao's /v1/hooks/{connection}).
    #[arg(long)]
    callback_url: Option<String>,
    /// The webhook secret (`X-Hub-Signature`); empty sends unsigned deliveries.
    #[arg(long, default_value = "sim-jira-webhook-secret")]
    webhook_secret: String,
    /// Retries of a failed delivery.
    #[arg(long, default_value_t = 5)]
    webhook_retries: u32,
    /// Milliseconds before retry n, times n (Jira waits 5–15 minutes).
    #[arg(long, default_value_t = 1000)]
    webhook_backoff_ms: u64,
    /// Writes per issue per 2 seconds before HTTP 429 (jira-per-issue-on-write).
    #[arg(long, default_value_t = 20)]
    issue_writes: u32,
    /// GET requests per second per endpoint before HTTP 429 (jira-burst-based).
    #[arg(long, default_value_t = 100)]
    burst_get: u32,
    /// OAuth points per hour before HTTP 429 (jira-quota-global-based); unlimited when not given.
    #[arg(long)]
    hourly_points: Option<u64>,
    /// The users' UTC offset in minutes (times are rendered and JQL dates read in it).
    #[arg(long, default_value_t = 480, allow_hyphen_values = true)]
    utc_offset_minutes: i32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let defaults = Options::default();
    let mut burst = defaults.burst.clone();
    burst.get = args.burst_get;
    let options = Options {
        callback_url: args.callback_url,
        webhook_secret: args.webhook_secret,
        webhook_retries: args.webhook_retries,
        webhook_backoff: Duration::from_millis(args.webhook_backoff_ms),
        per_issue_writes: vec![
            (args.issue_writes, Duration::from_secs(2)),
            (args.issue_writes * 5, Duration::from_secs(30)),
        ],
        burst,
        quota: args.hourly_points.map(|points| Quota {
            points,
            window: Duration::from_secs(3600),
            reason: "jira-quota-global-based".into(),
        }),
        utc_offset_minutes: args.utc_offset_minutes,
        ..defaults
    };
    let sim = JiraSim::start_on(args.listen, options).await?;
    println!("Jira Cloud simulator on {}/rest/api/3/", sim.base);
    println!(
        "  Basic auth: qiao-bot@example.com / {API_TOKEN:?} (admin), alice@example.com / {ALICE_API_TOKEN:?}"
    );
    println!("  OAuth 2.0 Bearer: {OAUTH_TOKEN:?} (acts as the admin)");
    println!("  webhook secret = {:?}", sim.options.webhook_secret);
    println!(
        "  projects OPS, DEV; issue types Task, Bug; workflow To Do -> In Progress -> 测试中 -> Done -> (Reopen) To Do"
    );
    println!(
        "  users (accountId): Qiao Bot {BOT}, Alice Li {ALICE}, Bob Zhang {BOB}, Carol Wu {CAROL} (inactive), \
         Dave Chen {DAVE} (email hidden)"
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
