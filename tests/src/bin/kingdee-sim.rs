//! Runs the Kingdee K3Cloud simulator on its own, for demos and manual testing:
//!
//! ```text
//! cargo run -p qiao-tests --bin kingdee-sim -- --listen 127.0.0.1:9104
//! ```
//!
//! Point a `kingdee` connection's server URL at it (`http://127.0.0.1:9104/k3cloud/`), with the credentials it
//! prints.

use std::time::Duration;

use clap::Parser;
use qiao_tests::kingdee_sim::{KingdeeSim, Options};

#[derive(Parser)]
#[command(
    about = "A stateful Kingdee K3Cloud (金蝶云星空) WebAPI simulator (/k3cloud/*.common.kdsvc)"
)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9104")]
    listen: std::net::SocketAddr,
    /// Lifetime of login sessions, in seconds.
    #[arg(long, default_value_t = 1200)]
    session_ttl: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let options = Options {
        session_ttl: Duration::from_secs(args.session_ttl),
        ..Options::default()
    };
    let sim = KingdeeSim::start_on(args.listen, options).await?;
    let o = &sim.options;
    println!("Kingdee K3Cloud simulator on {}", sim.api_base);
    println!(
        "  acct_id = {:?}\n  user_name = {:?}\n  app_id = {:?}\n  app_secret = {:?}\n  password = {:?}\n  lcid = {}",
        o.acct_id, o.user_name, o.app_id, o.app_secret, o.password, o.lcid
    );
    println!(
        "  forms: ER_ExpReimbursement, PUR_Requisition (workflow), BD_Department (D00, D01, D02), \
         BD_Empinfo (E001, E002, E003), SEC_User (administrator, wangfang)"
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
