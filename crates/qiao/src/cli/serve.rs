//! `qiao serve`: the options, and where the config file and connector directory are settled.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Result;

use qiao::server::{ServeOptions, default_workers, start};

/// The connector directory when none is given.
const DEFAULT_CONNECTORS_DIR: &str = "connectors";

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Connections and limits (TOML); see README.md for the format [default: qiao.toml, if it exists].
    #[arg(long, short, env = "QIAO_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, short, env = "QIAO_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory of connector components (*.wasm, each with its .sig), watched for changes [default:
    /// connectors]. `--plugins-dir` and QIAO_PLUGINS_DIR, its former names, still work (deprecated).
    #[arg(long, alias = "plugins-dir", env = "QIAO_CONNECTORS_DIR", value_name = "DIR")]
    connectors_dir: Option<PathBuf>,
    /// Where the SQLite database and compiled-code cache live.
    #[arg(long, env = "QIAO_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Where compiled connectors are cached [default: DATA_DIR/compiled].
    #[arg(long, env = "QIAO_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// The master key file (base64 of 32 bytes) that encrypts secrets at rest [default: DATA_DIR/master.key,
    /// created on first start]. QIAO_MASTER_KEY (the key itself, base64), when set, comes first.
    #[arg(long, env = "QIAO_MASTER_KEY_FILE", value_name = "FILE")]
    master_key_file: Option<PathBuf>,
    /// Threads that serve requests and run connector calls [default: a quarter of the cores, at least one]. One
    /// thread is the cheapest per request: nothing is handed between threads (on 2 cores, 22% less CPU per durable
    /// send than two work-stealing threads); more serve more at once on a bigger machine. Either way, a connector
    /// that holds the CPU for long runs on the call pool (half the cores, threads qiao-calls), never on these.
    #[arg(long, env = "QIAO_WORKERS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: Option<u16>,
}

impl ServeArgs {
    pub fn workers(&self) -> usize {
        self.workers.map_or_else(default_workers, usize::from)
    }
}

pub async fn run(args: ServeArgs) -> Result<()> {
    // A config file that was named must exist; the default one may be absent.
    let config = match args.config {
        Some(path) if !path.exists() => {
            anyhow::bail!("config file {} does not exist", path.display())
        }
        Some(path) => Some(path),
        None if Path::new("qiao.toml").exists() => Some("qiao.toml".into()),
        None => {
            tracing::warn!("no config file (qiao.toml): serving with no connections");
            None
        }
    };
    start(ServeOptions {
        config,
        listen: args.listen,
        connectors_dir: connectors_dir(args.connectors_dir),
        data_dir: args.data_dir,
        cache_dir: args.cache_dir,
        master_key_file: args.master_key_file,
    })
    .await?
    .run_until_signal()
    .await
}

/// The flag (or QIAO_CONNECTORS_DIR), else the deprecated QIAO_PLUGINS_DIR, else the default; the old names get
/// a warning so scripts can be moved over.
fn connectors_dir(given: Option<PathBuf>) -> PathBuf {
    if std::env::args().any(|a| a == "--plugins-dir" || a.starts_with("--plugins-dir=")) {
        tracing::warn!("--plugins-dir is deprecated: use --connectors-dir");
    }
    if let Some(dir) = given {
        return dir;
    }
    match std::env::var_os("QIAO_PLUGINS_DIR") {
        Some(dir) => {
            tracing::warn!("QIAO_PLUGINS_DIR is deprecated: use QIAO_CONNECTORS_DIR");
            dir.into()
        }
        None => DEFAULT_CONNECTORS_DIR.into(),
    }
}
