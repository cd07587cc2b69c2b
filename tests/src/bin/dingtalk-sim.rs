//! Runs the DingTalk simulator on its own, for demos and manual testing:
//!
//! ```text
//! cargo run -p qiao-tests --bin dingtalk-sim -- --listen 127.0.0.1:9101 \
//!     --callback-url http://127.0.0.1:8080/v1/hooks/dingtalk --control-listen 127.0.0.1:9111
//! ```
//!
//! Point a `dingtalk` connection's `oapi_base` and `api_base` at it, with the credentials it prints.

#[path = "common/control.rs"]
mod control;

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use qiao_tests::dingtalk_sim::{DingTalkSim, Options};

#[derive(Parser)]
#[command(about = "A stateful DingTalk simulator (old oapi and new api hosts on one port)")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9101")]
    listen: std::net::SocketAddr,
    /// Where approval changes are pushed as signed, encrypted callbacks (Qiao's /v1/hooks/{connection}).
    #[arg(long)]
    callback_url: Option<String>,
    /// Also serve the control routes here (`POST /approvals/{id}/approve|reject`: the approver acts in the app,
    /// and the callbacks follow), for demos.
    #[arg(long)]
    control_listen: Option<std::net::SocketAddr>,
    /// Lifetime of issued access tokens, in seconds.
    #[arg(long, default_value_t = 7200)]
    token_ttl: u64,
    /// Requests per second per API before DingTalk's QPS errors.
    #[arg(long, default_value_t = 40)]
    qps: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let options = Options {
        token_ttl: Duration::from_secs(args.token_ttl),
        qps: args.qps,
        callback_url: args.callback_url,
        ..Options::default()
    };
    let sim = Arc::new(DingTalkSim::start_on(args.listen, options).await?);
    let advance = sim.clone();
    let control =
        control::serve_if(args.control_listen, Arc::new(move |id: &str, approve| advance.advance(id, approve))).await?;
    let o = &sim.options;
    println!("DingTalk simulator on {}", sim.base);
    if let Some(addr) = control {
        println!(
            "  control: POST http://{addr}/approvals/{{id}}/approve or /reject (the approver acts in the app)"
        );
    }
    println!(
        "  app_key = {:?}\n  app_secret = {:?}\n  agent_id = \"{}\"",
        o.app_key, o.app_secret, o.agent_id
    );
    println!(
        "  callback_token = {:?}\n  callback_aes_key = {:?}",
        o.callback_token, o.callback_aes_key
    );
    println!(
        "  users: manager1, alice, bob; departments 1 (root), 2, 3; process code PROC-LEAVE (reason, days)"
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
