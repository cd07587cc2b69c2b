//! Runs the Feishu simulator on its own, for demos and manual testing:
//!
//! ```text
//! cargo run -p qiao-tests --bin feishu-sim -- --listen 127.0.0.1:9103 \
//!     --callback-url http://127.0.0.1:8080/v1/hooks/feishu --control-listen 127.0.0.1:9113
//! ```
//!
//! Point a `feishu` connection's API base at it (`http://127.0.0.1:9103/open-apis/`), with the credentials it
//! prints. lark-oapi clients work too: `lark.Client.builder().domain("http://127.0.0.1:9103")`.

#[path = "common/control.rs"]
mod control;

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use qiao_tests::feishu_sim::{FeishuSim, Options};

#[derive(Parser)]
#[command(
    about = "A stateful Feishu/Lark (飞书) simulator (/open-apis/ APIs and encrypted, signed callbacks)"
)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9103")]
    listen: std::net::SocketAddr,
    /// Where events are pushed (Qiao's /v1/hooks/{connection}): approval events for subscribed approval codes,
    /// and task events once the app has subscribed to them.
    #[arg(long)]
    callback_url: Option<String>,
    /// Also serve the control routes here (`POST /approvals/{id}/approve|reject`: the approver acts in the app,
    /// and the callbacks follow), for demos.
    #[arg(long)]
    control_listen: Option<std::net::SocketAddr>,
    /// Lifetime of issued tenant tokens, in seconds.
    #[arg(long, default_value_t = 7200)]
    token_ttl: u64,
    /// Requests per second per API path before HTTP 429 / 99991400.
    #[arg(long, default_value_t = 40)]
    qps: u32,
    /// Send events in plaintext, unsigned (as when no Encrypt Key is configured).
    #[arg(long)]
    no_encrypt: bool,
    /// Allow SMS and phone urgent reminders (otherwise they fail for lack of quota).
    #[arg(long)]
    urgent_quota: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let defaults = Options::default();
    let options = Options {
        token_ttl: Duration::from_secs(args.token_ttl),
        qps: args.qps,
        callback_url: args.callback_url,
        encrypt_key: if args.no_encrypt {
            String::new()
        } else {
            defaults.encrypt_key.clone()
        },
        urgent_quota: args.urgent_quota,
        ..defaults
    };
    let sim = Arc::new(FeishuSim::start_on(args.listen, options).await?);
    let advance = sim.clone();
    let control =
        control::serve_if(args.control_listen, Arc::new(move |id: &str, approve| advance.advance(id, approve))).await?;
    let o = &sim.options;
    println!("Feishu simulator on {}/open-apis/", sim.base);
    if let Some(addr) = control {
        println!(
            "  control: POST http://{addr}/approvals/{{id}}/approve or /reject (the approver acts in the app)"
        );
    }
    println!(
        "  app_id = {:?}\n  app_secret = {:?}",
        o.app_id, o.app_secret
    );
    println!(
        "  verification_token = {:?}\n  encrypt_key = {:?}",
        o.verification_token, o.encrypt_key
    );
    println!(
        "  users (user_id): manager1, alice, bob; departments (department_id): 0 (root), eng, sales; \
         approval APPROVAL-LEAVE (widget_reason input, widget_days number; approver manager1)"
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
