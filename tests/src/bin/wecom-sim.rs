//! Runs the WeCom simulator on its own, for demos and manual testing:
//!
//! ```text
//! cargo run -p qiao-tests --bin wecom-sim -- --listen 127.0.0.1:9102 \
//!     --callback-url http://127.0.0.1:8080/v1/hooks/wecom --control-listen 127.0.0.1:9112
//! ```
//!
//! Point a `wecom` connection's API base at it (`http://127.0.0.1:9102/cgi-bin/`), with the credentials it prints.

#[path = "common/control.rs"]
mod control;

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use qiao_tests::wecom_sim::{Options, WeComSim};

#[derive(Parser)]
#[command(
    about = "A stateful WeCom (企业微信) simulator (/cgi-bin/ APIs and encrypted XML callbacks)"
)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9102")]
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
    /// Requests per second per API path before WeCom's 45009.
    #[arg(long, default_value_t = 40)]
    qps: u32,
    /// auth/getuserinfo answers the old `UserId` key instead of `userid`.
    #[arg(long)]
    legacy_userinfo_keys: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let options = Options {
        token_ttl: Duration::from_secs(args.token_ttl),
        qps: args.qps,
        callback_url: args.callback_url,
        legacy_userinfo_keys: args.legacy_userinfo_keys,
        ..Options::default()
    };
    let sim = Arc::new(WeComSim::start_on(args.listen, options).await?);
    let advance = sim.clone();
    let control =
        control::serve_if(args.control_listen, Arc::new(move |id: &str, approve| advance.advance(id, approve))).await?;
    let o = &sim.options;
    println!("WeCom simulator on {}/cgi-bin/", sim.base);
    if let Some(addr) = control {
        println!(
            "  control: POST http://{addr}/approvals/{{id}}/approve or /reject (the approver acts in the app)"
        );
    }
    println!(
        "  corp_id = {:?}\n  corp_secret = {:?}\n  agent_id = \"{}\"",
        o.corp_id, o.corp_secret, o.agent_id
    );
    println!(
        "  callback_token = {:?}\n  callback_aes_key = {:?}",
        o.callback_token, o.callback_aes_key
    );
    println!(
        "  users: manager1, alice, bob; departments 1 (root), 2, 3; template tpl-leave (Text-1 reason, Number-1 days)"
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
