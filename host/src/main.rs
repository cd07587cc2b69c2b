use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use qiao::server::{ServeOptions, start};

mod cli {
    pub mod directory;
}

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
        /// The master key file (base64 of 32 bytes) that encrypts secrets at rest [default: DATA_DIR/master.key,
        /// created on first start]. QIAO_MASTER_KEY (the key itself, base64), when set, comes first.
        #[arg(long, env = "QIAO_MASTER_KEY_FILE", value_name = "FILE")]
        master_key_file: Option<PathBuf>,
    },
    /// Secrets at rest: make a master key, encrypt a secret for qiao.toml, rotate the master key.
    ///
    /// Secrets written encrypted in qiao.toml ("qenc:v1:…") and the secrets in the store (subscriber secrets,
    /// connectors' cached platform tokens) are encrypted with the master key: QIAO_MASTER_KEY (base64 of 32
    /// bytes), else --master-key-file (QIAO_MASTER_KEY_FILE), else DATA_DIR/master.key, which `qiao serve`
    /// creates on first start. Back the key up: without it those secrets cannot be read.
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
    /// Work with connector files: inspect them; make signing keys, sign and verify (signed connectors).
    Connectors {
        #[command(subcommand)]
        command: ConnectorsCommand,
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
    /// Manage API keys: every API route but /healthz and the webhooks needs one (`Authorization: Bearer …`).
    Keys {
        /// The data directory of the server the keys are for.
        #[arg(long, env = "QIAO_DATA_DIR", default_value = "data", global = true)]
        data_dir: PathBuf,
        /// The master key file, if the server is given one (see `qiao serve --help`).
        #[arg(long, env = "QIAO_MASTER_KEY_FILE", global = true)]
        master_key_file: Option<PathBuf>,
        #[command(subcommand)]
        command: KeysCommand,
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
    /// Make a new ed25519 signing key for publishing connectors.
    ///
    /// Writes the private key to KEYFILE (base64 of the 32-byte seed, mode 0600; keep it secret, never next to
    /// the connectors) and prints the public key (base64), which servers that trust you list in qiao.toml:
    /// `[trust] publishers = { NAME = "<public key>" }`.
    Keygen {
        /// Where to write the private key (an existing file is not overwritten).
        #[arg(long, value_name = "KEYFILE")]
        out: PathBuf,
    },
    /// Sign a connector file: writes FILE.sig next to it (a detached signature over the file's sha256).
    ///
    /// Ship FILE.sig with FILE: a server whose [trust] lists NAME with this key's public key loads FILE under
    /// `policy = "require"`. Any change to FILE after signing makes the signature fail: sign again.
    Sign {
        /// The connector component (*.wasm).
        file: PathBuf,
        /// The private key written by `qiao connectors keygen`.
        #[arg(long, value_name = "KEYFILE")]
        key: PathBuf,
        /// The publisher name servers list this key under in [trust.publishers].
        #[arg(long, value_name = "NAME")]
        publisher: String,
    },
    /// Check FILE.sig for FILE; exits non-zero when it is not valid.
    ///
    /// With --config, the signature must also be made with the key qiao.toml's [trust.publishers] lists for its
    /// publisher (what a server with `policy = "require"` checks). Without it, only that the signature is valid
    /// for the file and the public key the .sig itself carries (which anyone can make: not proof of who signed).
    Verify {
        /// The connector component (*.wasm); its signature is FILE.sig.
        file: PathBuf,
        /// The config file whose [trust.publishers] to check against.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Make a new master key file (base64 of 32 random bytes, mode 0600); prints its key id.
    ///
    /// Use it for a new server (`qiao serve --master-key-file FILE`, or QIAO_MASTER_KEY_FILE=FILE), or as the
    /// new key of `qiao secrets rotate --new-key-file FILE`. Keep it outside the data directory and back it up.
    Keygen {
        /// Where to write the key (an existing file is not overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Encrypt a secret for qiao.toml: reads the value from standard input and prints "qenc:v1:…".
    ///
    /// Paste the printed value into qiao.toml under [connections.NAME] as `secrets = { KEY = "qenc:v1:…" }`:
    /// it decrypts only there (it is bound to that connection and key) and only with this master key, the one
    /// `qiao serve` uses with the same --data-dir / --master-key-file / QIAO_MASTER_KEY (DATA_DIR/master.key is
    /// created if there is no key yet). One trailing newline of the input is dropped. Example:
    /// `printf %s "$APP_SECRET" | qiao secrets encrypt --connection dingtalk-hq --key app_secret`
    Encrypt {
        /// The connection the secret belongs to ([connections.NAME] in qiao.toml).
        #[arg(long, value_name = "NAME")]
        connection: String,
        /// The secret's key in that connection's `secrets` (e.g. app_secret).
        #[arg(long, value_name = "KEY")]
        key: String,
        #[command(flatten)]
        master_key: MasterKeyArgs,
    },
    /// Re-encrypt every secret at rest with a new master key: the store's and qiao.toml's.
    ///
    /// 1. Stop the server (one still running would go on using the old key).
    /// 2. Make the new key: `qiao secrets keygen --out NEW`.
    /// 3. Run this with the options the server runs with (the current key comes from the same sources):
    ///    `qiao secrets rotate --data-dir DATA_DIR --config qiao.toml --new-key-file NEW`.
    /// 4. Start the server with the new key (--master-key-file NEW, QIAO_MASTER_KEY, or NEW moved to
    ///    DATA_DIR/master.key). Keep the old key until it has started cleanly, then destroy it.
    ///
    /// The store is re-sealed in one transaction; the config's qenc values are rewritten in place, the rest of
    /// the file byte for byte. If it is cut short, run it again: values already under the new key are skipped.
    #[command(verbatim_doc_comment)]
    Rotate {
        /// The new master key file (from `qiao secrets keygen`).
        #[arg(long, value_name = "FILE")]
        new_key_file: PathBuf,
        /// The config file whose encrypted secrets to rewrite [default: qiao.toml, if it exists].
        #[arg(long, short, env = "QIAO_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        master_key: MasterKeyArgs,
    },
}

/// Where the master key in use comes from (as for `qiao serve`).
#[derive(clap::Args)]
struct MasterKeyArgs {
    /// The master key file in use [default: DATA_DIR/master.key]. QIAO_MASTER_KEY (the key itself, base64),
    /// when set, comes first.
    #[arg(long, env = "QIAO_MASTER_KEY_FILE", value_name = "FILE")]
    master_key_file: Option<PathBuf>,
    /// The server's data directory: its store, and master.key when no other key is given.
    #[arg(long, env = "QIAO_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Make a key and print it (once: only its hash is kept).
    ///
    /// Scopes: identity:read, identity:write, messages:send, messages:read, approvals:read, approvals:write,
    /// events:read, subscriptions:write, operations:read, operations:write, status:read, audit:read, admin (all
    /// of them). A key can always read back the operations it created. Give the key to the calling system as
    /// `Authorization: Bearer <key>`; a running server accepts it at once.
    Create {
        /// Who or what uses the key (shown in `keys list` and the audit log), e.g. `oa-server`.
        #[arg(long)]
        name: String,
        /// A scope the key has; repeat for several.
        #[arg(long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<qiao::access::Scope>,
        /// Limit the key to this connection; repeat for several [default: every connection].
        #[arg(long = "connection", value_name = "NAME")]
        connections: Vec<String>,
        /// The key stops working after this many days [default: never].
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
        expires_in_days: Option<u32>,
    },
    /// List keys: id, name, scopes, connections, and whether each is revoked or expired.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id (the part after `qiao_` and before the next `_`); it answers 401 from then on.
    Revoke { id: String },
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
            master_key_file,
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
                master_key_file,
            })
            .await?
            .run_until_signal()
            .await
        }
        Command::Secrets { command } => secrets_command(command),
        Command::Directory { url, api_key, command } => cli::directory::run(&url, api_key, command).await,
        Command::Keys {
            data_dir,
            master_key_file,
            command,
        } => {
            let (master_key, _) =
                qiao::secrets::load_master_key(master_key_file.as_deref(), &data_dir, true)?;
            let db = qiao::db::Db::open(&data_dir.join(qiao::runtime::DB_FILE), master_key)?;
            keys(&db, command).await
        }
        Command::Connectors {
            command: ConnectorsCommand::Keygen { out },
        } => keygen(&out),
        Command::Connectors {
            command:
                ConnectorsCommand::Sign {
                    file,
                    key,
                    publisher,
                },
        } => sign(&file, &key, &publisher),
        Command::Connectors {
            command: ConnectorsCommand::Verify { file, config },
        } => verify(&file, config.as_deref()),
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

async fn keys(db: &std::sync::Arc<qiao::db::Db>, command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Create {
            name,
            scopes,
            connections,
            expires_in_days,
        } => {
            let connections = (!connections.is_empty()).then_some(connections);
            let expires = expires_in_days.map(|d| qiao::db::now_ms() + i64::from(d) * 86_400_000);
            let (key, full) = qiao::access::create_key(db, &name, scopes, connections, expires).await?;
            eprintln!(
                "made API key {} ({}) with scopes {}; it is shown only now, store it where the caller keeps \
                 secrets:",
                key.id,
                key.name,
                key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            );
            println!("{full}");
        }
        KeysCommand::List { json } => {
            let keys = db.list_keys().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
                return Ok(());
            }
            let now = qiao::db::now_ms();
            println!("{:<14} {:<20} {:<10} {:<24} scopes", "id", "name", "state", "connections");
            for key in keys {
                let state = match key.unusable(now) {
                    Some(_) if key.revoked_ms.is_some() => "revoked",
                    Some(_) => "expired",
                    None => "active",
                };
                let connections = key.connections.as_ref().map_or("(all)".to_string(), |c| c.join(","));
                let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
                println!("{:<14} {:<20} {state:<10} {connections:<24} {}", key.id, key.name, scopes.join(","));
            }
        }
        KeysCommand::Revoke { id } => {
            let key = qiao::access::revoke_key(db, &id).await?;
            println!("revoked API key {} ({})", key.id, key.name);
        }
    }
    Ok(())
}

/// `NAME.wasm` → `NAME.wasm.sig`.
fn sig_path(file: &Path) -> PathBuf {
    let mut sig = file.as_os_str().to_owned();
    sig.push(".sig");
    PathBuf::from(sig)
}

fn keygen(out: &Path) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let key = qiao::trust::generate_key();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                "{} already exists: not overwriting a key (choose another --out)",
                out.display()
            ),
            _ => anyhow::anyhow!("cannot create {}: {e}", out.display()),
        })?;
    file.write_all(qiao::trust::encode_private_key(&key).as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!(
        "wrote the private key to {} (keep it secret); the public key, for [trust.publishers] in qiao.toml:",
        out.display()
    );
    println!("{}", qiao::trust::encode_public_key(&key.verifying_key()));
    Ok(())
}

fn sign(file: &Path, key_file: &Path, publisher: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if publisher.is_empty()
        || publisher.len() > 64
        || !publisher
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        anyhow::bail!(
            "publisher name {publisher:?} must be 1-64 characters of A-Z, a-z, 0-9, '-', '_' or '.'"
        );
    }
    let key_text = std::fs::read_to_string(key_file)
        .with_context(|| format!("cannot read key file {}", key_file.display()))?;
    let key = qiao::trust::decode_private_key(&key_text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", key_file.display()))?;
    if let Ok(meta) = std::fs::metadata(key_file)
        && meta.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "warning: key file {} can be read by other users (chmod 600 it)",
            key_file.display()
        );
    }
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let signature = qiao::trust::sign(&bytes, &key, publisher);
    // Written aside then renamed: a watching server never sees half a signature.
    let sig = sig_path(file);
    let mut tmp = sig.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, signature.to_json())
        .and_then(|()| std::fs::rename(&tmp, &sig))
        .with_context(|| format!("cannot write {}", sig.display()))?;
    println!(
        "signed {} as {publisher} (sha256 {}): wrote {}",
        file.display(),
        signature.sha256,
        sig.display()
    );
    Ok(())
}

fn verify(file: &Path, config: Option<&Path>) -> Result<()> {
    let trust = match config {
        Some(path) => Some(qiao::config::ConfigFile::load(path)?.trust),
        None => None,
    };
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let sig_file = sig_path(file);
    let verdict = match std::fs::read(&sig_file) {
        Ok(sig) => match &trust {
            Some(trust) => qiao::trust::verify(&bytes, &sig, trust),
            None => qiao::trust::verify_embedded(&bytes, &sig),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => qiao::trust::Verdict::unsigned(
            &sig_file.file_name().unwrap_or_default().to_string_lossy(),
        ),
        Err(e) => anyhow::bail!("cannot read {}: {e}", sig_file.display()),
    };
    let publisher = verdict.publisher.as_deref().unwrap_or("?");
    match (&verdict.problem, &trust) {
        (None, Some(_)) => println!(
            "verified: {} is signed by trusted publisher {publisher}",
            file.display()
        ),
        (None, None) => println!(
            "valid: {} is signed by the key its .sig carries, for publisher {publisher} \
             (pass --config to check that publisher is trusted)",
            file.display()
        ),
        (Some(problem), _) => {
            println!("NOT VERIFIED: {}: {problem}", file.display());
            std::process::exit(1);
        }
    }
    Ok(())
}

fn secrets_command(command: SecretsCommand) -> Result<()> {
    use qiao::secrets::{self, KeySource, MasterKey};
    match command {
        SecretsCommand::Keygen { out } => {
            let key = MasterKey::generate();
            secrets::write_new_key_file(&out, &key).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                    "{} already exists: not overwriting a key (choose another --out)",
                    out.display()
                ),
                _ => anyhow::anyhow!("cannot create {}: {e}", out.display()),
            })?;
            println!(
                "wrote master key {} to {} (mode 0600): keep it outside the data directory and back it up; use it \
                 with `qiao serve --master-key-file {}` or as `qiao secrets rotate --new-key-file`",
                key.id(),
                out.display(),
                out.display()
            );
            Ok(())
        }
        SecretsCommand::Encrypt {
            connection,
            key,
            master_key,
        } => {
            use std::io::{IsTerminal, Read};
            if !qiao::config::valid_name(&connection) {
                anyhow::bail!(
                    "connection name {connection:?} must be 1-64 characters of a-z, 0-9, '-' or '_'"
                );
            }
            if key.is_empty() {
                anyhow::bail!("--key must not be empty");
            }
            let (master, _) = secrets::load_master_key(
                master_key.master_key_file.as_deref(),
                &master_key.data_dir,
                true,
            )?;
            if std::io::stdin().is_terminal() {
                eprintln!("type the secret, then a newline and Ctrl-D (or pipe it in: printf %s \"$SECRET\" | …)");
            }
            let mut value = String::new();
            std::io::stdin()
                .read_to_string(&mut value)
                .context("cannot read the secret from standard input (it must be UTF-8 text)")?;
            let value = value
                .strip_suffix('\n')
                .map(|v| v.strip_suffix('\r').unwrap_or(v))
                .unwrap_or(&value);
            if value.is_empty() {
                anyhow::bail!("no secret on standard input");
            }
            println!("{}", master.seal(value.as_bytes(), &secrets::config_place(&connection, &key)));
            eprintln!(
                "encrypted with master key {}: in qiao.toml, under [connections.{connection}], write \
                 secrets = {{ {key} = \"<the line above>\" }}",
                master.id()
            );
            Ok(())
        }
        SecretsCommand::Rotate {
            new_key_file,
            config,
            master_key,
        } => {
            let config = match config {
                Some(path) if !path.exists() => {
                    anyhow::bail!("config file {} does not exist", path.display())
                }
                Some(path) => Some(path),
                None if Path::new("qiao.toml").exists() => Some(PathBuf::from("qiao.toml")),
                None => None,
            };
            let (current, source) = secrets::load_master_key(
                master_key.master_key_file.as_deref(),
                &master_key.data_dir,
                false,
            )?;
            let (new, _) = secrets::load_master_key_from(None, Some(&new_key_file), Path::new(""), false)
                .context("the new key")?;
            let rotation =
                qiao::rotate::rotate(&master_key.data_dir, config.as_deref(), &current, &new)?;
            match &rotation.store {
                Some((path, done)) => println!(
                    "store {}: re-sealed {} subscriber secrets and {} connector kv values ({} already under the new key)",
                    path.display(),
                    done.subscriptions,
                    done.kv,
                    done.already
                ),
                None => println!(
                    "store: none in {} yet, nothing to re-seal",
                    master_key.data_dir.display()
                ),
            }
            match &rotation.config {
                Some((path, done)) => {
                    println!(
                        "config {}: re-encrypted {} secrets ({} already under the new key)",
                        path.display(),
                        done.resealed,
                        done.already
                    );
                    if done.left > 0 {
                        eprintln!(
                            "warning: {} qenc values under the old key are not a connection's secret (in a comment?) \
                             and were left as they are",
                            done.left
                        );
                    }
                }
                None => println!("config: none given (--config), no qiao.toml here: nothing rewritten"),
            }
            let how = match &source {
                KeySource::Env => format!(
                    "set {} to the new key (the contents of {})",
                    secrets::KEY_ENV,
                    new_key_file.display()
                ),
                KeySource::File(old) => format!(
                    "start it with --master-key-file {} (QIAO_MASTER_KEY_FILE), or put the new key in {}",
                    new_key_file.display(),
                    old.display()
                ),
                KeySource::DataDir(old) | KeySource::Generated(old) => format!(
                    "move {} to {} (or start it with --master-key-file {})",
                    new_key_file.display(),
                    old.display(),
                    new_key_file.display()
                ),
            };
            println!(
                "rotated from master key {} to {}. Next: start qiao with the new key: {how}. Keep the old key until \
                 the server has started cleanly.",
                current.id(),
                new.id()
            );
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
