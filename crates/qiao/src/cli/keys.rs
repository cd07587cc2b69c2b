//! `qiao keys`: make, list and revoke API keys, in a server's store.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use clap::Subcommand;

use qiao_store::{DB_FILE, Db};


#[derive(Subcommand)]
pub enum KeysCommand {
    /// Make a key and print it (once: only its hash is kept).
    ///
    /// Scopes: identity:read, identity:write, messages:send, messages:read, approvals:read, approvals:write,
    /// tasks:read, tasks:write, chats:read, chats:write, events:read, subscriptions:write, operations:read,
    /// operations:write, rules:read, rules:write, status:read, audit:read, admin (all of them). A key can always read back the operations it created. Give the key to the calling system as
    /// `Authorization: Bearer <key>`; a running server accepts it at once.
    Create {
        /// Who or what uses the key (shown in `keys list` and the audit log), e.g. `oa-server`.
        #[arg(long)]
        name: String,
        /// A scope the key has; repeat for several.
        #[arg(long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<qiao_services::access::Scope>,
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

/// Opens the store of the server in `data_dir` (with its master key) and runs `command` on it.
pub async fn run(data_dir: PathBuf, master_key_file: Option<PathBuf>, command: KeysCommand) -> Result<()> {
    let (master_key, _) = qiao_secrets::load_master_key(master_key_file.as_deref(), &data_dir, true)?;
    let db = Db::open(&data_dir.join(DB_FILE), master_key)?;
    keys(&db, command).await
}


async fn keys(db: &Arc<Db>, command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Create {
            name,
            scopes,
            connections,
            expires_in_days,
        } => {
            let connections = (!connections.is_empty()).then_some(connections);
            let expires = expires_in_days.map(|d| qiao_store::now_ms() + i64::from(d) * 86_400_000);
            let (key, full) = qiao_services::access::create_key(db, &name, scopes, connections, expires).await?;
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
            let now = qiao_store::now_ms();
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
            let key = qiao_services::access::revoke_key(db, &id).await?;
            println!("revoked API key {} ({})", key.id, key.name);
        }
    }
    Ok(())
}
