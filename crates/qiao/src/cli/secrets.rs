//! `qiao secrets`: make a master key, encrypt a secret for qiao.toml, rotate the master key.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;


#[derive(Subcommand)]
pub enum SecretsCommand {
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
pub struct MasterKeyArgs {
    /// The master key file in use [default: DATA_DIR/master.key]. QIAO_MASTER_KEY (the key itself, base64),
    /// when set, comes first.
    #[arg(long, env = "QIAO_MASTER_KEY_FILE", value_name = "FILE")]
    master_key_file: Option<PathBuf>,
    /// The server's data directory: its store, and master.key when no other key is given.
    #[arg(long, env = "QIAO_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
}


pub fn run(command: SecretsCommand) -> Result<()> {
    use qiao_secrets::{self as secrets, KeySource, MasterKey};
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
            if !qiao_config::valid_name(&connection) {
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
                qiao_services::rotate::rotate(&master_key.data_dir, config.as_deref(), &current, &new)?;
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
