//! `[[approvals.deadlines]]`: when a pending approval's approvers are reminded and their manager is told, in
//! business hours of `[calendar]`; checked whole at load, every problem listed.
//!
//! ```toml
//! [calendar]
//! hours = ["09:00-12:00", "13:00-18:00"]
//! holidays = ["2026-10-01"]
//! workdays = ["2026-10-10"]
//!
//! [[approvals.deadlines]]
//! templates = ["PROC-LEAVE"]        # empty or absent: every template
//! remind_after_hours = 4
//! remind_every_hours = 4
//! escalate_after_hours = 16
//! via = "notice"
//! ```

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde::Deserialize;

/// How reminders reach the approver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// A work notice (direct message) from the app.
    Notice,
    /// The same, raised urgently (DingTalk DING, Feishu urgent).
    Urgent,
    /// The platform's own approval reminder (Feishu `instances/remind`); escalations go as a notice.
    Remind,
    /// A message in `chat` that @-mentions the approver (escalations mention the manager there).
    Chat,
}

/// One policy as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlinePolicy {
    /// Approval templates (process codes) it applies to; empty: every template.
    #[serde(default)]
    pub templates: Vec<String>,
    /// Connections whose approvals it applies to; empty: every connection.
    #[serde(default)]
    pub connections: Vec<String>,
    /// Business hours pending before the first reminder (fractions allowed: 0.5 is 30 minutes).
    pub remind_after_hours: Option<f64>,
    /// Business hours between reminders after the first; unset: one reminder.
    pub remind_every_hours: Option<f64>,
    /// Business hours pending before the approver's manager is told; unset: no escalation.
    pub escalate_after_hours: Option<f64>,
    #[serde(default = "default_max_reminders")]
    pub max_reminders: u32,
    pub via: Via,
    /// The chat (platform chat id on the sending connection) for `via = "chat"`.
    pub chat: Option<String>,
    /// The reminder's text; `{title}`, `{approver}`, `{hours}`, `{id}`, `{template}`, `{url}` are filled in.
    pub text: Option<String>,
    /// The escalation's text, with the same placeholders and `{manager}`.
    pub escalation_text: Option<String>,
    /// The connection reminders are sent through; default: the approval's own.
    pub connection: Option<String>,
}

fn default_max_reminders() -> u32 {
    3
}

pub const DEFAULT_TEXT: &str = "Reminder: approval \"{title}\" ({id}) has waited {hours} business hours for {approver}.";
pub const DEFAULT_ESCALATION_TEXT: &str =
    "Escalation: approval \"{title}\" ({id}) has waited {hours} business hours for {approver}, who reports to {manager}.";

/// Placeholders a text may use.
pub const PLACEHOLDERS: &[&str] = &["title", "approver", "hours", "id", "template", "url", "manager"];

/// Bounds on what a policy may say.
pub const MAX_POLICIES: usize = 100;
pub const MAX_HOURS: f64 = 10_000.0;
pub const MAX_REMINDERS: u32 = 100;
pub const MAX_TEXT_CHARS: usize = 2_000;
pub const MAX_LIST: usize = 1_000;

/// Fills `{name}` placeholders from `values`; a placeholder without a value is left as written (the texts were
/// checked at load, so only known names get here).
pub fn render(text: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}').map(|close| (&after[..close], close)) {
            Some((name, close)) if values.contains_key(name) => {
                out.push_str(&values[name]);
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The `{name}`s a text uses that are not placeholders.
fn unknown_placeholders(text: &str, allowed: &[&str]) -> Vec<String> {
    let mut unknown = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if let Some(close) = rest.find('}') {
            let name = &rest[..close];
            if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') && !allowed.contains(&name) {
                unknown.push(name.to_string());
            }
        }
    }
    unknown
}

/// Checks the policies against the configured connections; every problem, each naming its policy (from 1).
pub fn check(policies: &[DeadlinePolicy], connections: &[&str]) -> Result<()> {
    let mut problems = Vec::new();
    if policies.len() > MAX_POLICIES {
        problems.push(format!("{} policies; at most {MAX_POLICIES}", policies.len()));
    }
    for (i, p) in policies.iter().enumerate() {
        let mut problem = |what: String| problems.push(format!("[[approvals.deadlines]] #{}: {what}", i + 1));
        let hours = [
            ("remind_after_hours", p.remind_after_hours),
            ("remind_every_hours", p.remind_every_hours),
            ("escalate_after_hours", p.escalate_after_hours),
        ];
        for (name, value) in hours {
            if let Some(h) = value
                && !(h > 0.0 && h <= MAX_HOURS)
            {
                problem(format!("{name} must be more than 0 and at most {MAX_HOURS} (got {h})"));
            }
        }
        if p.remind_after_hours.is_none() && p.escalate_after_hours.is_none() {
            problem("give remind_after_hours, escalate_after_hours or both".into());
        }
        if p.remind_every_hours.is_some() && p.remind_after_hours.is_none() {
            problem("remind_every_hours needs remind_after_hours".into());
        }
        if let (Some(remind), Some(escalate)) = (p.remind_after_hours, p.escalate_after_hours)
            && escalate <= remind
        {
            problem(format!(
                "escalate_after_hours ({escalate}) must be later than remind_after_hours ({remind}): escalating before the first reminder"
            ));
        }
        if p.max_reminders == 0 || p.max_reminders > MAX_REMINDERS {
            problem(format!("max_reminders must be 1 to {MAX_REMINDERS} (got {})", p.max_reminders));
        }
        match (p.via, &p.chat) {
            (Via::Chat, None) => problem("via = \"chat\" needs chat = \"<chat id>\"".into()),
            (Via::Chat, Some(chat)) if chat.trim().is_empty() => problem("chat is empty".into()),
            (via, Some(_)) if via != Via::Chat => problem("chat is only used with via = \"chat\"".into()),
            _ => {}
        }
        if p.via == Via::Remind && p.connection.is_some() {
            problem("via = \"remind\" reminds on the approval's own connection: remove connection".into());
        }
        for (name, text) in [("text", &p.text), ("escalation_text", &p.escalation_text)] {
            let Some(text) = text else { continue };
            if text.trim().is_empty() || text.chars().count() > MAX_TEXT_CHARS {
                problem(format!("{name} must be 1 to {MAX_TEXT_CHARS} characters"));
            }
            let allowed = if name == "text" { &PLACEHOLDERS[..6] } else { PLACEHOLDERS };
            for unknown in unknown_placeholders(text, allowed) {
                problem(format!("{name}: unknown placeholder {{{unknown}}}; known: {}", allowed.join(", ")));
            }
        }
        if p.escalation_text.is_some() && p.escalate_after_hours.is_none() {
            problem("escalation_text without escalate_after_hours is never sent".into());
        }
        if p.templates.len() > MAX_LIST || p.connections.len() > MAX_LIST {
            problem(format!("templates and connections list at most {MAX_LIST} each"));
        }
        for name in p.connections.iter().chain(&p.connection) {
            if !connections.contains(&name.as_str()) {
                problem(format!("names connection {name:?}, which is not configured"));
            }
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(extra: &str) -> String {
        format!("[[approvals.deadlines]]\n{extra}\n[connections.dt]\nconnector = \"dingtalk\"\n")
    }

    fn load(text: &str) -> Result<()> {
        let file: crate::ConfigFile = toml::from_str(text)?;
        file.deadlines().map(drop)
    }

    #[test]
    fn a_good_policy_loads_with_defaults() {
        let text = policy("templates = [\"PROC-LEAVE\"]\nremind_after_hours = 0.5\nescalate_after_hours = 8\nvia = \"notice\"");
        let file: crate::ConfigFile = toml::from_str(&(text + "[calendar]\nholidays = [\"2026-10-01\"]\n")).unwrap();
        let (calendar, policies) = file.deadlines().unwrap();
        assert_eq!(policies[0].max_reminders, 3);
        assert!(!calendar.is_working(calendar.at("2026-10-01", 10, 0).unwrap()));
    }

    #[test]
    fn every_problem_is_listed() {
        let text = format!(
            "{}[[approvals.deadlines]]\nremind_after_hours = 8\nescalate_after_hours = 4\nvia = \"chat\"\nmax_reminders = 0\n\
             text = \"{{title}} {{nope}}\"\nconnection = \"wc\"\n[calendar]\nholidays = [\"2026-02-30\"]\n",
            policy("remind_after_hours = -1\nvia = \"remind\"\nconnection = \"dt\"")
        );
        let err = load(&text).unwrap_err().to_string();
        for needle in [
            "#1: remind_after_hours must be more than 0",
            "#1: via = \"remind\" reminds on the approval's own connection",
            "#2: escalate_after_hours (4) must be later than remind_after_hours (8)",
            "#2: max_reminders must be 1 to 100",
            "#2: via = \"chat\" needs chat",
            "#2: text: unknown placeholder {nope}",
            "#2: names connection \"wc\", which is not configured",
            "[calendar]: holidays: \"2026-02-30\" is not a date",
        ] {
            assert!(err.contains(needle), "{needle}: {err}");
        }
        let err = format!("{:#}", load(&policy("remind_after_hours = 1\nvia = \"pigeon\"")).unwrap_err());
        assert!(err.contains("unknown variant `pigeon`"), "{err}");
    }

    #[test]
    fn texts_are_rendered() {
        let values = BTreeMap::from([("title", "Leave".to_string()), ("hours", "2.5".to_string())]);
        assert_eq!(render("{title} waited {hours}h {x} {", &values), "Leave waited 2.5h {x} {");
    }
}
