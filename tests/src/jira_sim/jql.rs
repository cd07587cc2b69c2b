//! The subset of JQL the simulator understands, parsed and checked the way Jira does before a search runs:
//! clauses `field op value` joined by `AND`/`OR`/`NOT` and parentheses, then `ORDER BY field [ASC|DESC], …`.
//!
//! Fields: `project`, `issuetype`/`type`, `status`, `statusCategory`, `assignee`, `reporter`, `watcher`,
//! `labels`, `priority`, `resolution`, `key`/`issuekey`/`id`, `created`/`createdDate`, `updated`/`updatedDate`,
//! `resolutiondate`, `duedate`/`due`, and the text fields `text`, `summary`, `description`, `comment` (`~`, `!~`).
//! Values: quoted or bare strings, numbers, `EMPTY`/`NULL`, `currentUser()`, `(a, b)` lists for `IN`.
//! Dates: `"yyyy/MM/dd HH:mm"`, `"yyyy-MM-dd HH:mm"`, `"yyyy/MM/dd"`, `"yyyy-MM-dd"` (in the user's time zone,
//! as Jira reads them), a number of Unix milliseconds, or a relative `-5m`/`-2h`/`-1d`/`-1w`.
//!
//! Errors carry Jira's wording; what Jira accepts but the simulator does not (`WAS`, `CHANGED`, other
//! functions, custom fields) is refused with a message that says it is the simulator's limit.

use std::cmp::Ordering;

use super::state::{Category, Issue, State, adf_text, days_from_civil, now_ms, parse_date};

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Op(&'static str),
    Open,
    Close,
    Comma,
}

fn tokenize(jql: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = jql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            '"' | '\'' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(format!(
                                "Error in the JQL Query: The quoted string '{text}' has not been completed. \
                                 (line 1, character {i})"
                            ));
                        }
                        Some('\\') => {
                            if let Some(next) = chars.get(i + 1) {
                                text.push(*next);
                            }
                            i += 2;
                        }
                        Some(q) if *q == c => {
                            i += 1;
                            break;
                        }
                        Some(other) => {
                            text.push(*other);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Quoted(text));
            }
            '!' | '=' | '<' | '>' | '~' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = match two.as_str() {
                    "!=" => "!=",
                    "!~" => "!~",
                    ">=" => ">=",
                    "<=" => "<=",
                    _ => match c {
                        '=' => "=",
                        '<' => "<",
                        '>' => ">",
                        '~' => "~",
                        _ => {
                            return Err(format!(
                                "Error in the JQL Query: The character '!' is a reserved JQL character. \
                                 (line 1, character {})",
                                i + 1
                            ));
                        }
                    },
                };
                i += op.len();
                tokens.push(Token::Op(op));
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !"()\",'!=<>~".contains(chars[i])
                {
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(tokens)
}

#[derive(Clone, Debug, PartialEq)]
enum Operand {
    Text(String),
    Empty,
    Function(String),
}

#[derive(Clone, Debug)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Clause {
        field: String,
        op: String,
        values: Vec<Operand>,
    },
}

/// A parsed query: the restriction (none for an unbounded query) and the sort keys (field, descending).
pub struct Query {
    filter: Option<Expr>,
    pub order: Vec<(String, bool)>,
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

fn keyword(token: Option<&Token>, word: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
}

fn describe(token: Option<&Token>) -> String {
    match token {
        None => "end of query".into(),
        Some(Token::Word(w)) | Some(Token::Quoted(w)) => w.clone(),
        Some(Token::Op(o)) => o.to_string(),
        Some(Token::Open) => "(".into(),
        Some(Token::Close) => ")".into(),
        Some(Token::Comma) => ",".into(),
    }
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn unexpected(&self, expecting: &str) -> String {
        format!(
            "Error in the JQL Query: Expecting {expecting} but got '{}'.",
            describe(self.peek())
        )
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while keyword(self.peek(), "OR") {
            self.at += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while keyword(self.peek(), "AND") {
            self.at += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if keyword(self.peek(), "NOT") {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Token::Open) {
            self.at += 1;
            let inner = self.or()?;
            if self.next() != Some(Token::Close) {
                self.at -= 1;
                return Err(self.unexpected("')'"));
            }
            return Ok(inner);
        }
        self.clause()
    }

    fn clause(&mut self) -> Result<Expr, String> {
        let field = match self.next() {
            Some(Token::Word(w)) | Some(Token::Quoted(w)) => w,
            _ => {
                self.at -= 1;
                return Err(self.unexpected("a field name"));
            }
        };
        let op = match self.next() {
            Some(Token::Op(op)) => op.to_string(),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("IN") => "in".into(),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("IS") => {
                if keyword(self.peek(), "NOT") {
                    self.at += 1;
                    "is not".into()
                } else {
                    "is".into()
                }
            }
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("NOT") && keyword(self.peek(), "IN") => {
                self.at += 1;
                "not in".into()
            }
            Some(Token::Word(w))
                if ["WAS", "CHANGED"].iter().any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                return Err(format!(
                    "Error in the JQL Query: the operator '{}' is not supported by the Jira simulator.",
                    w.to_uppercase()
                ));
            }
            _ => {
                self.at -= 1;
                return Err(self.unexpected("operator"));
            }
        };
        let values = if op == "in" || op == "not in" {
            if self.next() != Some(Token::Open) {
                self.at -= 1;
                return Err(self.unexpected("'('"));
            }
            let mut values = vec![self.operand()?];
            loop {
                match self.next() {
                    Some(Token::Comma) => values.push(self.operand()?),
                    Some(Token::Close) => break,
                    _ => {
                        self.at -= 1;
                        return Err(self.unexpected("',' or ')'"));
                    }
                }
            }
            values
        } else {
            vec![self.operand()?]
        };
        Ok(Expr::Clause { field, op, values })
    }

    fn operand(&mut self) -> Result<Operand, String> {
        match self.next() {
            Some(Token::Quoted(text)) => Ok(Operand::Text(text)),
            Some(Token::Word(w))
                if w.eq_ignore_ascii_case("EMPTY") || w.eq_ignore_ascii_case("NULL") =>
            {
                Ok(Operand::Empty)
            }
            Some(Token::Word(w)) => {
                if self.peek() == Some(&Token::Open) {
                    self.at += 1;
                    // Arguments are not used by the functions the simulator knows.
                    while !matches!(self.next(), Some(Token::Close) | None) {}
                    Ok(Operand::Function(w))
                } else {
                    Ok(Operand::Text(w))
                }
            }
            _ => {
                self.at -= 1;
                Err(self.unexpected("either a value, list or function"))
            }
        }
    }
}

/// Parses `jql`; the error is Jira's `errorMessages` entry.
pub fn parse(jql: &str) -> Result<Query, String> {
    let tokens = tokenize(jql)?;
    // `ORDER BY` splits the query; a field named "order" is not something the simulator needs.
    let order_at = tokens
        .windows(2)
        .position(|w| keyword(Some(&w[0]), "ORDER") && keyword(Some(&w[1]), "BY"));
    let (filter_tokens, order_tokens) = match order_at {
        Some(at) => (tokens[..at].to_vec(), tokens[at + 2..].to_vec()),
        None => (tokens, Vec::new()),
    };
    let filter = if filter_tokens.is_empty() {
        None
    } else {
        let mut parser = Parser {
            tokens: filter_tokens,
            at: 0,
        };
        let expr = parser.or()?;
        if parser.peek().is_some() {
            return Err(parser.unexpected("either 'OR' or 'AND'"));
        }
        Some(expr)
    };
    let mut order = Vec::new();
    let mut parser = Parser {
        tokens: order_tokens,
        at: 0,
    };
    if order_at.is_some() && parser.peek().is_none() {
        return Err(parser.unexpected("a field name"));
    }
    while parser.peek().is_some() {
        let field = match parser.next() {
            Some(Token::Word(w)) | Some(Token::Quoted(w)) => w,
            _ => {
                parser.at -= 1;
                return Err(parser.unexpected("a field name"));
            }
        };
        let mut descending = false;
        if keyword(parser.peek(), "DESC") {
            descending = true;
            parser.at += 1;
        } else if keyword(parser.peek(), "ASC") {
            parser.at += 1;
        }
        order.push((field, descending));
        match parser.next() {
            None => break,
            Some(Token::Comma) => {}
            _ => {
                parser.at -= 1;
                return Err(parser.unexpected("',' or end of query"));
            }
        }
    }
    Ok(Query { filter, order })
}

impl Query {
    /// Bounded: it restricts the issues somehow (the search API refuses unbounded queries).
    pub fn bounded(&self) -> bool {
        self.filter.is_some()
    }

    /// Checks every clause against the site (fields, operators and values exist) and answers the matching
    /// issues, sorted; `Err` holds every problem found, as Jira lists them.
    pub fn run<'a>(&self, state: &'a State, me: &str) -> Result<Vec<&'a Issue>, Vec<String>> {
        let mut errors = Vec::new();
        if let Some(filter) = &self.filter {
            check(filter, state, me, &mut errors);
        }
        let sort_keys: Vec<(SortKey, bool)> = self
            .order
            .iter()
            .filter_map(|(field, desc)| match sort_key(field) {
                Some(key) => Some((key, *desc)),
                None => {
                    errors.push(format!(
                        "Field '{field}' does not exist or you do not have permission to view it."
                    ));
                    None
                }
            })
            .collect();
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut issues: Vec<&Issue> = state
            .issues
            .values()
            .filter(|issue| {
                self.filter
                    .as_ref()
                    .is_none_or(|f| eval(f, issue, state, me).unwrap_or(false))
            })
            .collect();
        issues.sort_by(|a, b| {
            for (key, desc) in &sort_keys {
                let ordering = compare(*key, a, b, state);
                let ordering = if *desc { ordering.reverse() } else { ordering };
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
            // Jira's default order, and the tie-breaker: newest first.
            b.id.cmp(&a.id)
        });
        Ok(issues)
    }
}

#[derive(Clone, Copy, Debug)]
enum SortKey {
    Updated,
    Created,
    Key,
    Priority,
    Due,
    Summary,
    Status,
    Resolved,
}

fn sort_key(field: &str) -> Option<SortKey> {
    Some(match field.to_ascii_lowercase().as_str() {
        "updated" | "updateddate" => SortKey::Updated,
        "created" | "createddate" => SortKey::Created,
        "key" | "issuekey" | "id" => SortKey::Key,
        "priority" => SortKey::Priority,
        "duedate" | "due" => SortKey::Due,
        "summary" => SortKey::Summary,
        "status" => SortKey::Status,
        "resolutiondate" | "resolved" => SortKey::Resolved,
        _ => return None,
    })
}

fn compare(key: SortKey, a: &Issue, b: &Issue, state: &State) -> Ordering {
    match key {
        SortKey::Updated => a.updated.cmp(&b.updated),
        SortKey::Created => a.created.cmp(&b.created),
        SortKey::Key => a.id.cmp(&b.id),
        // Priority sorts by rank: Highest is the "largest".
        SortKey::Priority => {
            let rank = |i: &Issue| state.priorities.iter().position(|(n, _)| *n == i.priority);
            rank(b).cmp(&rank(a))
        }
        SortKey::Due => a.duedate.cmp(&b.duedate),
        SortKey::Summary => a.summary.cmp(&b.summary),
        SortKey::Status => a.status.cmp(&b.status),
        SortKey::Resolved => a.resolution_date.cmp(&b.resolution_date),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Project,
    IssueType,
    Status,
    Category,
    User(UserField),
    Labels,
    Priority,
    Resolution,
    Key,
    Time(TimeField),
    Due,
    Text(TextField),
}

#[derive(Clone, Copy, PartialEq)]
enum UserField {
    Assignee,
    Reporter,
    Watcher,
}

#[derive(Clone, Copy, PartialEq)]
enum TimeField {
    Created,
    Updated,
    Resolved,
}

#[derive(Clone, Copy, PartialEq)]
enum TextField {
    All,
    Summary,
    Description,
    Comment,
}

fn kind(field: &str) -> Option<Kind> {
    Some(match field.to_ascii_lowercase().as_str() {
        "project" => Kind::Project,
        "issuetype" | "type" => Kind::IssueType,
        "status" => Kind::Status,
        "statuscategory" => Kind::Category,
        "assignee" => Kind::User(UserField::Assignee),
        "reporter" => Kind::User(UserField::Reporter),
        "watcher" => Kind::User(UserField::Watcher),
        "labels" | "label" => Kind::Labels,
        "priority" => Kind::Priority,
        "resolution" => Kind::Resolution,
        "key" | "issuekey" | "id" | "issue" => Kind::Key,
        "created" | "createddate" => Kind::Time(TimeField::Created),
        "updated" | "updateddate" => Kind::Time(TimeField::Updated),
        "resolutiondate" | "resolved" => Kind::Time(TimeField::Resolved),
        "duedate" | "due" => Kind::Due,
        "text" => Kind::Text(TextField::All),
        "summary" => Kind::Text(TextField::Summary),
        "description" => Kind::Text(TextField::Description),
        "comment" => Kind::Text(TextField::Comment),
        _ => return None,
    })
}

/// Operators each kind of field takes.
fn allowed(kind: Kind, op: &str) -> bool {
    let equality = ["=", "!=", "in", "not in"];
    let emptiness = ["is", "is not"];
    let ordering = ["=", "!=", ">", ">=", "<", "<=", "in", "not in"];
    match kind {
        Kind::Project | Kind::IssueType | Kind::Status | Kind::Category | Kind::Priority => {
            equality.contains(&op)
        }
        Kind::User(_) | Kind::Labels | Kind::Resolution => {
            equality.contains(&op) || emptiness.contains(&op)
        }
        Kind::Key => ordering.contains(&op),
        Kind::Time(_) | Kind::Due => ordering.contains(&op) || emptiness.contains(&op),
        Kind::Text(_) => op == "~" || op == "!~" || emptiness.contains(&op),
    }
}

fn check(expr: &Expr, state: &State, me: &str, errors: &mut Vec<String>) {
    match expr {
        Expr::And(a, b) | Expr::Or(a, b) => {
            check(a, state, me, errors);
            check(b, state, me, errors);
        }
        Expr::Not(inner) => check(inner, state, me, errors),
        Expr::Clause { field, op, values } => {
            let Some(kind) = kind(field) else {
                if field.to_ascii_lowercase().starts_with("cf[") || field.contains('[') {
                    errors.push(format!(
                        "Error in the JQL Query: custom field '{field}' is not supported by the Jira simulator."
                    ));
                } else {
                    errors.push(format!(
                        "Field '{field}' does not exist or you do not have permission to view it."
                    ));
                }
                return;
            };
            if !allowed(kind, op) {
                errors.push(format!(
                    "The operator '{}' is not supported by the '{field}' field.",
                    op.to_uppercase()
                ));
                return;
            }
            for value in values {
                if let Err(e) = resolve(kind, field, value, state, me) {
                    errors.push(e);
                }
            }
        }
    }
}

/// What a value means for a field: `None` for EMPTY, else a canonical string (an id, a key, a time in ms...).
fn resolve(
    kind: Kind,
    field: &str,
    value: &Operand,
    state: &State,
    me: &str,
) -> Result<Option<String>, String> {
    let missing = |v: &str| format!("The value '{v}' does not exist for the field '{field}'.");
    let text = match value {
        Operand::Empty => return Ok(None),
        Operand::Function(name) => {
            if name.eq_ignore_ascii_case("currentUser") && matches!(kind, Kind::User(_)) {
                return Ok(Some(me.to_string()));
            }
            if name.eq_ignore_ascii_case("now") && matches!(kind, Kind::Time(_)) {
                return Ok(Some(now_ms().to_string()));
            }
            return Err(format!(
                "Unable to find JQL function '{name}()' (the Jira simulator knows only currentUser() and now())."
            ));
        }
        Operand::Text(text) => text,
    };
    Ok(Some(match kind {
        Kind::Project => state
            .project(text)
            .ok_or_else(|| missing(text))?
            .key
            .clone(),
        Kind::IssueType => state.issue_type(text).ok_or_else(|| missing(text))?.0,
        Kind::Status => state
            .workflow
            .find_status(text)
            .ok_or_else(|| missing(text))?
            .id
            .clone(),
        Kind::Category => Category::parse(text)
            .ok_or_else(|| missing(text))?
            .key()
            .to_string(),
        Kind::User(_) => {
            if state.users.contains_key(text.as_str()) {
                text.clone()
            } else {
                // Jira resolves an exact email or display name to the account too.
                state
                    .users
                    .values()
                    .find(|u| {
                        (u.email_visible && u.email.eq_ignore_ascii_case(text))
                            || u.display_name.eq_ignore_ascii_case(text)
                    })
                    .ok_or_else(|| missing(text))?
                    .account_id
                    .clone()
            }
        }
        Kind::Labels => text.clone(),
        Kind::Priority => state.priority(text).ok_or_else(|| missing(text))?.0,
        Kind::Resolution => {
            if text.eq_ignore_ascii_case("Unresolved") {
                return Ok(None);
            }
            if text.eq_ignore_ascii_case("Done") {
                "Done".into()
            } else {
                return Err(missing(text));
            }
        }
        Kind::Key => match state.issue(text) {
            Some(issue) => issue.id.to_string(),
            // Jira refuses a key it never issued; a deleted issue's key just matches nothing.
            None if looks_like_key(text) => "0".into(),
            None => {
                return Err(format!(
                    "An issue with key '{text}' does not exist for field '{field}'."
                ));
            }
        },
        Kind::Time(_) => time_value(text, state.options.utc_offset_minutes)
            .ok_or_else(|| date_error(text, field))?
            .to_string(),
        Kind::Due => {
            let ms = time_value(text, state.options.utc_offset_minutes)
                .ok_or_else(|| date_error(text, field))?;
            // Due dates have no time: compare calendar dates in the user's time zone.
            super::state::format_time(ms, state.options.utc_offset_minutes)[..10].to_string()
        }
        Kind::Text(_) => text.clone(),
    }))
}

fn looks_like_key(text: &str) -> bool {
    text.split_once('-').is_some_and(|(project, number)| {
        !project.is_empty()
            && project
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            && number.parse::<u64>().is_ok()
    })
}

fn date_error(text: &str, field: &str) -> String {
    format!(
        "Date value '{text}' for field '{field}' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', \
         'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
    )
}

/// A JQL date or time as Unix ms: absolute ones are in the user's time zone, numbers are Unix ms.
pub fn time_value(text: &str, offset_minutes: i32) -> Option<i64> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    if let Some(rest) = text.strip_prefix('-').or_else(|| text.strip_prefix('+')) {
        let sign = if text.starts_with('-') { -1 } else { 1 };
        let unit = rest.chars().last()?;
        let n: i64 = rest[..rest.len() - 1].parse().ok()?;
        let ms = match unit {
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            'w' => 7 * 86_400_000,
            _ => return None,
        };
        return Some(now_ms() as i64 + sign * n * ms);
    }
    let (date, clock) = match text.split_once(' ') {
        Some((d, c)) => (d, Some(c.trim())),
        None => (text, None),
    };
    let (y, m, d) = parse_date(date)?;
    let minutes = match clock {
        None => 0,
        Some(c) => {
            let (h, min) = c.split_once(':')?;
            let (h, min): (i64, i64) = (h.parse().ok()?, min.parse().ok()?);
            if !(0..24).contains(&h) || !(0..60).contains(&min) {
                return None;
            }
            h * 60 + min
        }
    };
    Some((days_from_civil(y, m, d) * 1440 + minutes - i64::from(offset_minutes)) * 60_000)
}

fn eval(expr: &Expr, issue: &Issue, state: &State, me: &str) -> Result<bool, String> {
    Ok(match expr {
        Expr::And(a, b) => eval(a, issue, state, me)? && eval(b, issue, state, me)?,
        Expr::Or(a, b) => eval(a, issue, state, me)? || eval(b, issue, state, me)?,
        Expr::Not(inner) => !eval(inner, issue, state, me)?,
        Expr::Clause { field, op, values } => {
            let kind = kind(field).ok_or("unknown field")?;
            let wanted = values
                .iter()
                .map(|v| resolve(kind, field, v, state, me))
                .collect::<Result<Vec<_>, _>>()?;
            matches(kind, op, &wanted, issue, state)
        }
    })
}

/// The values an issue has for a field (none when the field is empty).
fn actual(kind: Kind, issue: &Issue, state: &State) -> Vec<String> {
    match kind {
        Kind::Project => vec![issue.project.clone()],
        Kind::IssueType => vec![issue.issuetype.clone()],
        Kind::Status => vec![issue.status.clone()],
        Kind::Category => state
            .workflow
            .status(&issue.status)
            .map(|s| vec![s.category.key().to_string()])
            .unwrap_or_default(),
        Kind::User(UserField::Assignee) => issue.assignee.iter().cloned().collect(),
        Kind::User(UserField::Reporter) => vec![issue.reporter.clone()],
        Kind::User(UserField::Watcher) => issue.watchers.iter().cloned().collect(),
        Kind::Labels => issue.labels.clone(),
        Kind::Priority => vec![issue.priority.clone()],
        Kind::Resolution => issue.resolution.iter().cloned().collect(),
        Kind::Key => vec![issue.id.to_string()],
        Kind::Time(TimeField::Created) => vec![issue.created.to_string()],
        Kind::Time(TimeField::Updated) => vec![issue.updated.to_string()],
        Kind::Time(TimeField::Resolved) => {
            issue.resolution_date.iter().map(u64::to_string).collect()
        }
        Kind::Due => issue.duedate.iter().cloned().collect(),
        Kind::Text(field) => {
            let mut text = String::new();
            if matches!(field, TextField::All | TextField::Summary) {
                text.push_str(&issue.summary);
                text.push('\n');
            }
            if matches!(field, TextField::All | TextField::Description) {
                text.push_str(&issue.description.as_ref().map(adf_text).unwrap_or_default());
                text.push('\n');
            }
            if matches!(field, TextField::All | TextField::Comment) {
                for c in &issue.comments {
                    text.push_str(&adf_text(&c.body));
                    text.push('\n');
                }
            }
            if text.trim().is_empty() {
                vec![]
            } else {
                vec![text]
            }
        }
    }
}

fn matches(kind: Kind, op: &str, wanted: &[Option<String>], issue: &Issue, state: &State) -> bool {
    let have = actual(kind, issue, state);
    let equal = |a: &str, b: &str| match kind {
        Kind::Labels => a == b,
        _ => a.eq_ignore_ascii_case(b),
    };
    let is = |w: &Option<String>| match w {
        None => have.is_empty(),
        Some(w) => have.iter().any(|h| equal(h, w)),
    };
    let ordered = |w: &Option<String>, test: fn(Ordering) -> bool| {
        let Some(w) = w else { return false };
        have.iter().any(|h| {
            let ordering = match kind {
                Kind::Time(_) | Kind::Key => h
                    .parse::<i64>()
                    .unwrap_or(0)
                    .cmp(&w.parse::<i64>().unwrap_or(0)),
                _ => h.as_str().cmp(w.as_str()),
            };
            test(ordering)
        })
    };
    match op {
        "=" | "is" | "in" => wanted.iter().any(is),
        // `!=` and `NOT IN` never match an empty field in JQL.
        "!=" | "not in" => !have.is_empty() && !wanted.iter().any(is),
        "is not" => !wanted.iter().any(is),
        ">" => ordered(&wanted[0], Ordering::is_gt),
        ">=" => ordered(&wanted[0], Ordering::is_ge),
        "<" => ordered(&wanted[0], Ordering::is_lt),
        "<=" => ordered(&wanted[0], Ordering::is_le),
        "~" | "!~" => {
            let found = wanted.iter().flatten().all(|w| text_match(&have, w));
            (op == "~") == (found && !have.is_empty())
        }
        _ => false,
    }
}

/// Jira's text search is word based: every word of the query (a trailing `*` allows a prefix) must appear.
fn text_match(have: &[String], query: &str) -> bool {
    let haystack = have.join("\n").to_lowercase();
    let words: Vec<&str> = haystack
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    query
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '*')
        .filter(|t| !t.is_empty() && *t != "*")
        .all(|term| match term.strip_suffix('*') {
            Some(prefix) => words.iter().any(|w| w.starts_with(prefix)),
            // CJK text has no spaces between words: fall back to a substring match.
            None => {
                words.contains(&term) || (!term.is_ascii() && haystack.contains(term))
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_queries() {
        for jql in [
            "project = OPS",
            "project = OPS AND assignee = \"5b10a2844c20165700ede211\" ORDER BY updated DESC",
            "project in (OPS, DEV) AND statusCategory != Done AND updated > \"2026/12/01 10:00\"",
            "(status = \"测试中\" OR status = 'In Progress') AND NOT labels is EMPTY",
            "text ~ \"disk full\" order by created asc, key desc",
            "assignee = currentUser() AND updated >= -1d",
        ] {
            assert!(parse(jql).is_ok(), "{jql}");
        }
        assert!(!parse("ORDER BY updated DESC").unwrap().bounded());
        assert!(parse("").is_ok());
        let err = parse("project = OPS updated > 1").err().unwrap();
        assert!(err.contains("Expecting either 'OR' or 'AND'"), "{err}");
        assert!(parse("project = ").is_err());
        assert!(parse("project = \"OPS").is_err());
        assert!(
            parse("status WAS Done")
                .err()
                .unwrap()
                .contains("simulator")
        );
    }

    #[test]
    fn reads_jql_times_in_the_users_zone() {
        // 2026-12-03 08:00 at UTC+8 is 00:00 UTC.
        let utc_midnight = days_from_civil(2026, 12, 3) * 86_400_000;
        assert_eq!(time_value("2026/12/03 08:00", 480), Some(utc_midnight));
        assert_eq!(time_value("2026-12-03 08:00", 480), Some(utc_midnight));
        assert_eq!(time_value("2026-12-03", 0), Some(utc_midnight));
        assert_eq!(time_value("1700000000000", 480), Some(1_700_000_000_000));
        assert!(time_value("-1d", 0).unwrap() < now_ms() as i64);
        assert_eq!(time_value("2026/13/03", 0), None);
        assert_eq!(time_value("yesterday", 0), None);
    }

    #[test]
    fn text_search_is_word_based() {
        let have = vec!["Disk full on db-1\nplease check".to_string()];
        assert!(text_match(&have, "disk"));
        assert!(text_match(&have, "FULL disk"));
        assert!(text_match(&have, "che*"));
        assert!(!text_match(&have, "dis"));
        assert!(!text_match(&have, "disk empty"));
        assert!(text_match(&["服务器磁盘满了".to_string()], "磁盘"));
    }
}
