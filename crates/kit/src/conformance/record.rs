//! `qiao connectors record FILE --config qiao.toml --out DIR`: runs calls on a connector connected to a real
//! platform (or a simulator) through recording doubles, and writes what went over the wire as fixtures for
//! `qiao connectors test --fixtures DIR`, so the operations can be tested offline from then on.
//!
//! Each api-base config field is pointed at a double that forwards to the origin it named. Without `--calls`,
//! only reads are made (the sample of every read operation the connector exports): recording never writes to a
//! platform unless asked to. Secrets are written `{secret:KEY}`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use qiao_contract::Call;
use qiao_runtime::Runtime;
use qiao_runtime::engine::{PoolSize, new_engine};
use qiao_runtime::kv::MemoryKv;
use wasmtime::component::Component;

use super::double::{CALLS_FILE, Double, Fixture};
use super::{configured, inputs, origin, secret_pairs};

pub struct Options {
    pub file: PathBuf,
    pub config: PathBuf,
    /// A JSON array of calls in the outbox's stored form (`{"operation": "list_users", ...}`).
    pub calls: Option<PathBuf>,
    pub out: PathBuf,
}

pub struct Recorded {
    /// Each call and how it ended (`ok`, or the error).
    pub calls: Vec<(String, String)>,
    pub exchanges: usize,
    pub file: PathBuf,
}

pub async fn record(options: &Options) -> Result<Recorded> {
    let bytes = std::fs::read(&options.file)
        .with_context(|| format!("cannot read {}", options.file.display()))?;
    let engine = new_engine(&PoolSize {
        instances: 8,
        ..PoolSize::default()
    })?;
    let component = Component::new(&engine, &bytes)
        .map_err(|e| anyhow::anyhow!("not a valid component: {e:#}"))?;
    let kv = Arc::new(MemoryKv::default());
    let loader = Runtime::new(engine.clone(), None, PathBuf::new(), vec![], kv.clone())?;
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let connector = loader
        .connector_from(&options.file, hash, &component)
        .await?;
    let mut connection = configured(&connector, &options.config)?;
    let secrets = secret_pairs(&connection);

    let mut doubles = vec![];
    for field in connector.info.config.iter().filter(|f| f.api_base) {
        let Some(value) = connection.values.get(&field.key).cloned() else {
            continue;
        };
        let upstream =
            origin(&value).with_context(|| format!("{} = {value:?} is not a URL", field.key))?;
        let double = Double::record(&upstream).await?;
        double.set_secrets(secrets.clone());
        connection.values.insert(
            field.key.clone(),
            format!("{}{}", double.url, &value[upstream.len()..]),
        );
        doubles.push(double);
    }
    if doubles.is_empty() {
        bail!(
            "{} has no api-base setting to record through (a config field describe marks api-base)",
            connector.info.id
        );
    }

    let exports = connector.exports.capabilities();
    let calls: Vec<Call> = match &options.calls {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| {
                format!(
                    "{}: a JSON array of calls ({{\"operation\": ...}})",
                    path.display()
                )
            })?
        }
        None => inputs::samples()
            .into_iter()
            .filter_map(|s| serde_json::from_value::<Call>(s).ok())
            .filter(|c| {
                !c.is_write() && exports.contains(&c.capability()) && c.stored_name() != "webhook"
            })
            .collect(),
    };
    let name = connection.name.clone();
    let runtime = Runtime::new(engine, None, PathBuf::new(), vec![connection], kv)?;
    runtime.connectors.serve(connector);
    let mut outcomes = vec![];
    let mut replay = vec![];
    for call in calls {
        let label = format!("{}.{}", call.capability().name(), call.operation());
        let stored = serde_json::to_value(&call)?;
        let outcome = outcome(&runtime.call(&name, call).await);
        replay.push(serde_json::json!({ "call": stored, "outcome": outcome }));
        outcomes.push((label, outcome));
    }

    let fixtures: Vec<Fixture> = doubles.iter().flat_map(Double::recorded).collect();
    std::fs::create_dir_all(&options.out)?;
    let file = options.out.join("recorded.json");
    write(&file, &fixtures)?;
    write(&options.out.join(CALLS_FILE), &replay)?;
    Ok(Recorded {
        calls: outcomes,
        exchanges: fixtures.len(),
        file,
    })
}

/// How a call ended, in terms that do not depend on the run: `ok`, the error kind, or `failed`.
pub fn outcome<T>(result: &Result<T, qiao_runtime::CallError>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(qiao_runtime::CallError::Connector(e)) => {
            format!(
                "error: {}",
                serde_json::to_value(e.kind)
                    .ok()
                    .and_then(|k| k.as_str().map(str::to_string))
                    .unwrap_or_default()
            )
        }
        Err(_) => "failed".into(),
    }
}

fn write<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
