//! Runs the Weaver e-cology 9 simulator on its own, for demos and manual testing:
//!
//! ```text
//! cargo run -p qiao-tests --bin ecology-sim -- --listen 127.0.0.1:9106
//! ```
//!
//! Point an `ecology` connection's OA address at it (`http://127.0.0.1:9106`), with the appid it prints.

use std::time::Duration;

use clap::Parser;
use qiao_tests::ecology_sim::{
    APPID, BOT, CHEN_JING, DEPT_ENG, DEPT_EXEC, DEPT_OLD, DEPT_SALES, EcologySim, HRM_KEY, LI_NA,
    Options, SSO_APPID, SUB_HQ, SUB_SH, SYSCODE, WANG_FANG, WORKFLOW_EXPENSE, ZHANG_WEI,
    ZHANG_WEI_SUB,
};

#[derive(Parser)]
#[command(
    about = "A stateful Weaver e-cology 9 simulator (token auth with RSA, HR, workflow, unified to-do, SSO)"
)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9106")]
    listen: std::net::SocketAddr,
    /// Token lifetime in seconds when applytoken sends no `time`.
    #[arg(long, default_value_t = 1800)]
    token_ttl: u64,
    /// How OFS receiver/creator strings map to people: loginid, workcode or id.
    #[arg(long, default_value = "loginid")]
    ofs_user_rule: String,
    /// The server's time zone, minutes east of UTC.
    #[arg(long, default_value_t = 480, allow_hyphen_values = true)]
    utc_offset_minutes: i64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let options = Options {
        token_ttl: Duration::from_secs(args.token_ttl),
        ofs_user_rule: args.ofs_user_rule,
        utc_offset_minutes: args.utc_offset_minutes,
        ..Options::default()
    };
    let sim = EcologySim::start_on(args.listen, options).await?;
    println!("Weaver e-cology 9 simulator on {}", sim.base);
    println!(
        "  REST appid {APPID:?} (regist → secrit + spk, applytoken, token {} s)",
        args.token_ttl
    );
    println!("  HR key/ts token key {HRM_KEY:?}; SSO appid {SSO_APPID:?}; OFS syscode {SYSCODE:?}");
    println!(
        "  subcompanies {SUB_HQ} HQ, {SUB_SH} SH; departments {DEPT_EXEC} D-EXEC, {DEPT_ENG} D-ENG, {DEPT_SALES} D-SALES, {DEPT_OLD} D-OLD (canceled)"
    );
    println!(
        "  people (id loginid): {BOT} qiao.bot (integration account), {WANG_FANG} wangfang, {LI_NA} lina, \
         {ZHANG_WEI} zhangwei, {CHEN_JING} chenjing (resigned), {ZHANG_WEI_SUB} zhangwei2 (sub-account)"
    );
    println!(
        "  workflow {WORKFLOW_EXPENSE} 费用报销流程: 创建 → 部门经理审批 (creator's manager) → 总经理审批 (wangfang) → 归档"
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
