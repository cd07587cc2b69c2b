use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Parser, Subcommand};
use qiao::server::{ServeOptions, start};

/// Qiao (桥): a sandboxed WebAssembly connector runtime joining your systems to DingTalk, WeCom, Feishu/Lark and
/// Kingdee through one REST API.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the REST API, loading connectors from the plugins directory (hot reload).
    Serve {
        /// Connections and limits (TOML); see README.md for the format [default: qiao.toml, if it exists].
        #[arg(long, short, env = "QIAO_CONFIG")]
        config: Option<PathBuf>,
        /// Address to listen on.
        #[arg(long, short, env = "QIAO_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Directory of connector components (*.wasm), watched for changes.
        #[arg(long, env = "QIAO_PLUGINS_DIR", default_value = "connectors")]
        plugins_dir: PathBuf,
        /// Where the SQLite database and compiled-code cache live.
        #[arg(long, env = "QIAO_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        /// Where compiled connectors are cached [default: DATA_DIR/compiled].
        #[arg(long, env = "QIAO_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
    },
    /// Work with connector files.
    Connectors {
        #[command(subcommand)]
        command: ConnectorsCommand,
    },
}

#[derive(Subcommand)]
enum ConnectorsCommand {
    /// Show what a component imports and exports and what its describe says, or why it is invalid.
    Inspect {
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main]
async fn main() {
    // A clean one-line error for operators, not a backtrace (even with RUST_BACKTRACE set).
    if let Err(e) = run().await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("QIAO_LOG")
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve {
            config,
            listen,
            plugins_dir,
            data_dir,
            cache_dir,
        } => {
            // A config file that was named must exist; the default one may be absent.
            let config = match config {
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
                listen,
                plugins_dir,
                data_dir,
                cache_dir,
            })
            .await?
            .run_until_signal()
            .await
        }
        Command::Connectors {
            command: ConnectorsCommand::Inspect { file, json },
        } => {
            let report = qiao::inspect::inspect(&file).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report);
            }
            if report["valid"] != true {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

fn print_report(r: &serde_json::Value) {
    println!(
        "file:    {} ({} bytes)",
        r["file"].as_str().unwrap_or(""),
        r["size"]
    );
    if r["valid"] == true {
        let d = &r["describe"];
        println!(
            "id:      {} {} ({}, by {})",
            d["id"].as_str().unwrap_or(""),
            d["version"].as_str().unwrap_or(""),
            d["name"].as_str().unwrap_or(""),
            d["vendor"].as_str().unwrap_or("")
        );
        println!("capabilities: {}", join(&r["capabilities"]));
        println!("hosts:   {}", join(&d["hosts"]));
        for field in d["config"].as_array().into_iter().flatten() {
            let mut flags = vec![];
            for flag in ["required", "secret", "api_base"] {
                if field[flag] == true {
                    flags.push(flag);
                }
            }
            println!(
                "config:  {} [{}] {}",
                field["key"].as_str().unwrap_or(""),
                flags.join(","),
                field["description"].as_str().unwrap_or("")
            );
        }
    } else {
        println!("INVALID: {}", r["error"].as_str().unwrap_or(""));
    }
    println!("imports: {}", join(&r["imports"]));
    println!("exports: {}", join(&r["exports"]));
}

fn join(v: &serde_json::Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().map_or(x.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}
