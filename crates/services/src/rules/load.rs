//! Rules from qiao.toml and the store, checked against the connections as they are now.

use anyhow::{Result, bail};

use qiao_rules::{Known, Rule, RuleSpec};
use qiao_store::RuleRow;

use crate::App;

/// What a rule may know of a connection: configured or not, and what its connector exports.
pub fn known(app: &App) -> impl Fn(&str) -> Known + '_ {
    move |name| match app.runtime.connections.get(name) {
        None => Known::Unknown,
        Some(c) => match app.runtime.connectors.get(&c.connector) {
            None => Known::NotLoaded,
            Some(connector) => {
                Known::Exports(connector.exports.capabilities().into_iter().map(|c| c.name().to_string()).collect())
            }
        },
    }
}

/// Stores the rules of qiao.toml (already checked when the file was loaded): new ones start at the end of the
/// event log, removed ones are dropped. A rule made through the API with the same id is an error.
pub async fn load_config(app: &App, specs: &[RuleSpec]) -> Result<()> {
    if let Err(problems) = Rule::compile_all(specs.to_vec(), &known(app)) {
        bail!("qiao.toml: rules are not valid:\n{problems}");
    }
    let rows = specs.iter().map(|s| Ok((s.id.clone(), serde_json::to_value(s)?, s.enabled))).collect::<Result<_>>()?;
    let clashes = app.db.load_config_rules(rows).await?;
    if !clashes.is_empty() {
        bail!(
            "qiao.toml: rules {} were made through the API; delete them there or rename the ones in the file",
            clashes.join(", ")
        );
    }
    app.rules_changed.send_modify(|n| *n += 1);
    Ok(())
}

/// The enabled stored rules, compiled. One that no longer checks (a connection removed from qiao.toml since) is
/// left out and logged: the others keep running.
pub fn compile_stored(app: &App, rows: &[RuleRow]) -> Vec<(Rule, i64)> {
    let known = known(app);
    rows.iter()
        .filter(|r| r.enabled)
        .filter_map(|row| {
            let spec: RuleSpec = match serde_json::from_value(row.spec.clone()) {
                Ok(spec) => spec,
                Err(e) => {
                    tracing::error!(rule = %row.id, "stored rule cannot be read: {e}");
                    return None;
                }
            };
            let mut problems = qiao_rules::Problems::default();
            match Rule::compile(spec, &known, &mut problems) {
                Some(rule) => Some((rule, row.cursor)),
                None => {
                    tracing::warn!(rule = %row.id, "rule is not run: {problems}");
                    None
                }
            }
        })
        .collect()
}
