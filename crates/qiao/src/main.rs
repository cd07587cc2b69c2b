//! `qiao`: the command line. Each command group lives in `cli/` (`serve`, `connectors`, `keys`, `secrets`,
//! `directory`, `rules`); this file only parses and hands over.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

// glibc's malloc was a tenth of the server's CPU on the request path (and its arena lock a share of the context
// switches) in the throughput bench's profile; mimalloc's per-thread heaps take most of that away.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli {
    pub mod connectors;
    pub mod directory;
    pub mod keys;
    pub mod rules;
    pub mod secrets;
    pub mod serve;
}

/// Qiao (桥): a sandboxed WebAssembly connector runtime joining your systems to DingTalk, WeCom, Feishu/Lark and
/// Kingdee through one REST API.
#[derive(Parser)]
#[command(version = version(), about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the REST API, loading connectors from the connector directory (hot reload).
    ///
    /// The port opens at once and connectors compile in the background: `GET /healthz` answers as soon as the
    /// server listens, `GET /readyz` once every connector file present at start has loaded (or failed).
    #[command(after_help = "Logs (stderr): QIAO_LOG filters them (default info), QIAO_LOG_FORMAT=json writes one JSON \
                            object per line; text logs are coloured only on a terminal (never with NO_COLOR).")]
    Serve(cli::serve::ServeArgs),
    /// Secrets at rest: make a master key, encrypt a secret for qiao.toml, rotate the master key.
    ///
    /// Secrets written encrypted in qiao.toml ("qenc:v1:…") and the secrets in the store (subscriber secrets,
    /// connectors' cached platform tokens) are encrypted with the master key: QIAO_MASTER_KEY (base64 of 32
    /// bytes), else --master-key-file (QIAO_MASTER_KEY_FILE), else DATA_DIR/master.key, which `qiao serve`
    /// creates on first start. Back the key up: without it those secrets cannot be read.
    Secrets {
        #[command(subcommand)]
        command: cli::secrets::SecretsCommand,
    },
    /// Write, test and ship connectors: new projects, the conformance suite, recorded fixtures; inspect a
    /// component; make signing keys, sign and verify (signed connectors).
    Connectors {
        #[command(subcommand)]
        command: cli::connectors::ConnectorsCommand,
    },
    /// The enterprise directory and its sync to the platforms, through a running server: push, pull, sync
    /// (with a dry run and a progress bar), runs.
    Directory {
        /// The running server's URL.
        #[arg(long, env = "QIAO_URL", default_value = "http://127.0.0.1:8080", global = true)]
        url: String,
        /// An API key with identity:read and identity:write (see `qiao keys create`).
        #[arg(long, env = "QIAO_API_KEY", hide_env_values = true, global = true)]
        api_key: Option<String>,
        #[command(subcommand)]
        command: cli::directory::DirectoryCommand,
    },
    /// Rules (when something happens on one platform, act on another), through a running server: list, show,
    /// test one on an event without acting, enable (with a backfill), disable, runs, apply a file of [[rules]].
    ///
    /// Rules are defined in qiao.toml ([[rules]]) or through the API (/v1/rules); see docs/rules.md.
    #[command(after_long_help = cli::rules::EXAMPLES)]
    Rules {
        /// The running server's URL.
        #[arg(long, env = "QIAO_URL", default_value = "http://127.0.0.1:8080", global = true)]
        url: String,
        /// An API key with rules:read (list, show, test, runs) and rules:write (enable, disable, apply).
        #[arg(long, env = "QIAO_API_KEY", hide_env_values = true, global = true)]
        api_key: Option<String>,
        #[command(subcommand)]
        command: cli::rules::RulesCommand,
    },
    /// Manage API keys: every API route but /healthz and the webhooks needs one (`Authorization: Bearer …`).
    Keys {
        /// The data directory of the server the keys are for.
        #[arg(long, env = "QIAO_DATA_DIR", default_value = "data", global = true)]
        data_dir: PathBuf,
        /// The master key file, if the server is given one (see `qiao serve --help`).
        #[arg(long, env = "QIAO_MASTER_KEY_FILE", global = true)]
        master_key_file: Option<PathBuf>,
        #[command(subcommand)]
        command: cli::keys::KeysCommand,
    },
}

/// `qiao --version`: Qiao's version and the connector contract versions it loads.
fn version() -> &'static str {
    static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "{} (connector contract qiao:connector {})",
            env!("CARGO_PKG_VERSION"),
            qiao_contract::SUPPORTED_VERSIONS.join(", ")
        )
    });
    &VERSION
}

/// Logs go to stderr: text (colours only on a terminal, and never with `NO_COLOR`), or one JSON object per line
/// with `QIAO_LOG_FORMAT=json` for a log shipper. `QIAO_LOG` filters (`info`, `qiao_runtime=debug`, …).
fn init_logs(default: &str) -> Result<()> {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("QIAO_LOG").unwrap_or_else(|_| default.into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match std::env::var("QIAO_LOG_FORMAT").as_deref() {
        Ok("json") => logs.json().init(),
        Ok("text") | Err(_) => {
            let colours = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            logs.with_ansi(colours).init()
        }
        Ok(other) => anyhow::bail!("QIAO_LOG_FORMAT={other:?}: use text (the default) or json"),
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let workers = match &cli.command {
        Command::Serve(args) => args.workers(),
        _ => 1,
    };
    // A clean one-line error for operators, not a backtrace (even with RUST_BACKTRACE set).
    if let Err(e) = qiao::server::runtime(workers).and_then(|runtime| runtime.block_on(run(cli))) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    // The conformance suite makes hundreds of calls: its report is the output, the per-call log lines are noise.
    let quiet = matches!(&cli.command, Command::Connectors { command: cli::connectors::ConnectorsCommand::Test { .. } });
    let default = if quiet { "warn,qiao_runtime=error" } else { "info,tower_http=warn" };
    init_logs(default)?;
    match cli.command {
        Command::Serve(args) => cli::serve::run(args).await,
        Command::Secrets { command } => cli::secrets::run(command),
        Command::Directory { url, api_key, command } => cli::directory::run(&url, api_key, command).await,
        Command::Rules { url, api_key, command } => cli::rules::run(&url, api_key, command).await,
        Command::Keys { data_dir, master_key_file, command } => cli::keys::run(data_dir, master_key_file, command).await,
        Command::Connectors { command } => cli::connectors::run(command).await,
    }
}
