//! What is wrong with a rule, each problem with where it is, so an operator can fix them all at once.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub rule: String,
    /// Where in the rule: `when`, `on.connection`, `actions[1].body.text`...
    pub field: String,
    /// 1-based, within the condition or template, for syntax errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule {:?}: {}: ", self.rule, self.field)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, "line {line}, column {column}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a set of rules.
#[derive(Debug, Clone, Default)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn add(&mut self, rule: &str, field: impl Into<String>, message: impl Into<String>) {
        self.at(rule, field, None, message);
    }

    pub fn at(&mut self, rule: &str, field: impl Into<String>, position: Option<(u32, u32)>, message: impl Into<String>) {
        self.0.push(Problem {
            rule: rule.to_string(),
            field: field.into(),
            line: position.map(|p| p.0),
            column: position.map(|p| p.1),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}
