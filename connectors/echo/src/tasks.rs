//! Tasks kept in kv, with the three status categories and no names of its own (like DingTalk or WeCom to-dos),
//! plus Jira-style transitions by name so callers can try that path too.
//!
//! kv keys: `task:{id}` records, `tasks` the index of every task id (oldest first, what `list` pages through),
//! `task-comments:{id}` each task's comments, `task-seq` the id counter, `idem:task:{key}` idempotency keys.

use qiao_sdk::{Error, json_kv, json_object, required};
use serde_json::{Map, Value};

use crate::Echo;
use crate::exports::qiao::connector::tasks::{
    Guest, NewTask, Status, StatusCategory, Target, Task, TaskChanges, TaskComment, TaskPage,
    TaskQuery, TextChange, TimeChange,
};
use crate::store::{self, base_url, now_ms};

const INDEX: &str = "tasks";
/// The most tasks one `list` page holds, whatever the caller asks: the contract lets a connector return fewer,
/// and a real platform caps its pages too.
const MAX_PAGE: u32 = 100;

/// A status category as stored: the generated `StatusCategory` has no serde support.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "kebab-case")]
enum Category {
    Open,
    InProgress,
    Done,
}

/// Transition names echo understands, as a Jira workflow would offer them.
const TRANSITIONS: [(&str, Category); 4] = [
    ("start", Category::InProgress),
    ("finish", Category::Done),
    ("done", Category::Done),
    ("reopen", Category::Open),
];

#[derive(serde::Serialize, serde::Deserialize, Clone, PartialEq)]
struct StoredTask {
    id: String,
    title: String,
    description: Option<String>,
    status: Category,
    assignees: Vec<String>,
    followers: Vec<String>,
    due_ms: Option<u64>,
    labels: Vec<String>,
    creator: Option<String>,
    extra: Map<String, Value>,
    created_ms: u64,
    updated_ms: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredComment {
    id: String,
    author: Option<String>,
    text: String,
    time_ms: u64,
}

fn key(id: &str) -> String {
    format!("task:{id}")
}

fn comments_key(id: &str) -> String {
    format!("task-comments:{id}")
}

fn load(id: &str) -> Result<StoredTask, Error> {
    store::load(&key(id), &format!("task {id}"))
}

impl From<StatusCategory> for Category {
    fn from(c: StatusCategory) -> Category {
        match c {
            StatusCategory::Open => Category::Open,
            StatusCategory::InProgress => Category::InProgress,
            StatusCategory::Done => Category::Done,
        }
    }
}

impl From<Category> for StatusCategory {
    fn from(c: Category) -> StatusCategory {
        match c {
            Category::Open => StatusCategory::Open,
            Category::InProgress => StatusCategory::InProgress,
            Category::Done => StatusCategory::Done,
        }
    }
}

impl From<StoredTask> for Task {
    fn from(t: StoredTask) -> Task {
        Task {
            url: Some(format!("{}/tasks/{}", base_url(), t.id)),
            extra: store::extra_json(t.extra, &[("creator", t.creator.as_deref())]),
            id: t.id,
            title: t.title,
            description: t.description,
            status: Status {
                category: t.status.into(),
                name: None,
            },
            assignees: t.assignees,
            followers: t.followers,
            due_ms: t.due_ms,
            labels: t.labels,
            created_ms: Some(t.created_ms),
            updated_ms: Some(t.updated_ms),
        }
    }
}

/// Stores `after` if it differs from `before`: only a real change moves `updated-ms`, so a caller syncing by
/// `updated-after-ms` is not sent tasks that a retried or empty update left as they were.
fn save_changed(before: &StoredTask, mut after: StoredTask) -> Result<Task, Error> {
    if after != *before {
        after.updated_ms = now_ms()?;
        store::save(&key(&after.id), &after)?;
    }
    Ok(after.into())
}

fn set_category(id: &str, category: Category) -> Result<Task, Error> {
    let before = load(id)?;
    let after = StoredTask {
        status: category,
        ..before.clone()
    };
    save_changed(&before, after)
}

fn transition(name: &str) -> Result<Category, Error> {
    let wanted = name.trim().to_lowercase();
    TRANSITIONS
        .iter()
        .find(|(n, _)| *n == wanted)
        .map(|(_, category)| *category)
        .ok_or_else(|| {
            let known: Vec<&str> = TRANSITIONS.iter().map(|(n, _)| *n).collect();
            Error::invalid_input(format!(
                "unknown transition {name:?}: echo has {}",
                known.join(", ")
            ))
        })
}

/// Applies changes to a copy, so a refused change leaves the stored task untouched.
fn apply(task: &mut StoredTask, changes: TaskChanges) -> Result<(), Error> {
    if let Some(title) = changes.title {
        required(&title, "title")?;
        task.title = title;
    }
    match changes.description {
        TextChange::Keep => {}
        TextChange::Clear => task.description = None,
        TextChange::Set(text) => task.description = Some(text),
    }
    match changes.due_ms {
        TimeChange::Keep => {}
        TimeChange::Clear => task.due_ms = None,
        TimeChange::Set(ms) => task.due_ms = Some(ms),
    }
    task.assignees = changes
        .assignees
        .unwrap_or(std::mem::take(&mut task.assignees));
    task.followers = changes
        .followers
        .unwrap_or(std::mem::take(&mut task.followers));
    task.labels = changes.labels.unwrap_or(std::mem::take(&mut task.labels));
    merge_extra(&mut task.extra, changes.extra.as_deref())
}

/// `extra` in an update names only the fields to change, as Jira's field updates do: each key given replaces
/// that key, `null` removes it, and keys not named stay.
fn merge_extra(extra: &mut Map<String, Value>, changes: Option<&str>) -> Result<(), Error> {
    let Some(changes) = changes else {
        return Ok(());
    };
    for (k, v) in json_object(Some(changes), "extra")? {
        match v {
            Value::Null => extra.remove(&k),
            v => extra.insert(k, v),
        };
    }
    Ok(())
}

/// Every filter given must hold; text matches the title or description, ignoring case.
fn matches(task: &StoredTask, query: &TaskQuery) -> bool {
    let text = |t: &str| {
        let t = t.to_lowercase();
        task.title.to_lowercase().contains(&t)
            || task
                .description
                .as_deref()
                .is_some_and(|d| d.to_lowercase().contains(&t))
    };
    query
        .assignee
        .as_ref()
        .is_none_or(|a| task.assignees.contains(a))
        && query
            .status
            .is_none_or(|s| Category::from(s) == task.status)
        && query.updated_after_ms.is_none_or(|ms| task.updated_ms > ms)
        && query.text.as_deref().is_none_or(text)
}

/// The cursor is the position in the index where the next page starts: tasks are never removed from it, so
/// positions stay valid between pages.
fn start_of(cursor: Option<&str>) -> Result<usize, Error> {
    cursor
        .unwrap_or("0")
        .parse()
        .map_err(|_| Error::invalid_input("bad cursor"))
}

impl Guest for Echo {
    fn create(task: NewTask, idempotency_key: Option<String>) -> Result<Task, Error> {
        required(&task.title, "title")?;
        let idem = idempotency_key.as_deref();
        if let Some(id) = store::recall_idempotent("task", idem, |id| load(id).is_ok()) {
            return load(&id).map(Into::into);
        }
        let extra = json_object(task.extra.as_deref(), "extra")?;
        let now = now_ms()?;
        let id = format!("task-{}", json_kv::next("task-seq")?);
        let stored = StoredTask {
            id: id.clone(),
            title: task.title,
            description: task.description,
            status: Category::Open,
            assignees: task.assignees,
            followers: task.followers,
            due_ms: task.due_ms,
            labels: task.labels,
            creator: task.creator,
            extra,
            created_ms: now,
            updated_ms: now,
        };
        store::save(&key(&id), &stored)?;
        store::add_id(INDEX, &id)?;
        store::remember_idempotent("task", idem, &id)?;
        Ok(stored.into())
    }

    fn get(id: String) -> Result<Task, Error> {
        load(&id).map(Into::into)
    }

    fn update(id: String, changes: TaskChanges) -> Result<Task, Error> {
        let before = load(&id)?;
        let mut after = before.clone();
        apply(&mut after, changes)?;
        save_changed(&before, after)
    }

    /// Moving to the status a task already has is no error and no change: the outbox may retry a move.
    fn move_to(id: String, target: Target) -> Result<Task, Error> {
        let category = match target {
            Target::Status(category) => category.into(),
            Target::Transition(name) => transition(&name)?,
        };
        set_category(&id, category)
    }

    fn complete(id: String) -> Result<Task, Error> {
        set_category(&id, Category::Done)
    }

    /// Only a done task changes; an open or in-progress one is answered as it is, since it is already open.
    fn reopen(id: String) -> Result<Task, Error> {
        match load(&id)? {
            task if task.status == Category::Done => set_category(&id, Category::Open),
            task => Ok(task.into()),
        }
    }

    /// A comment counts as a change to the task (as Jira and Feishu count it), so it moves `updated-ms`.
    fn comment(id: String, text: String, author: Option<String>) -> Result<TaskComment, Error> {
        required(&text, "text")?;
        let mut task = load(&id)?;
        let mut comments: Vec<StoredComment> = json_kv::get(&comments_key(&id)).unwrap_or_default();
        let comment = StoredComment {
            id: format!("{id}-c{}", comments.len() + 1),
            author,
            text,
            time_ms: now_ms()?,
        };
        task.updated_ms = comment.time_ms;
        let answer = TaskComment {
            id: comment.id.clone(),
            author: comment.author.clone(),
            text: comment.text.clone(),
            time_ms: Some(comment.time_ms),
        };
        comments.push(comment);
        json_kv::set(&comments_key(&id), &comments, None)?;
        store::save(&key(&id), &task)?;
        Ok(answer)
    }

    /// Pages through the index in creation order, keeping the tasks that match. A full page sets `next-cursor`
    /// without looking ahead for another match, so the last page may come back empty: callers page until the
    /// cursor is none, never until a page is short.
    fn list(query: TaskQuery) -> Result<TaskPage, Error> {
        if query
            .platform_query
            .as_deref()
            .is_some_and(|q| !q.trim().is_empty())
        {
            return Err(Error::invalid_input(
                "echo has no query language: use the query's fields (assignee, status, text...)",
            ));
        }
        let ids = store::ids(INDEX);
        let limit = query.limit.clamp(1, MAX_PAGE) as usize;
        let mut next = start_of(query.cursor.as_deref())?;
        let mut tasks = Vec::new();
        while next < ids.len() && tasks.len() < limit {
            let task = load(&ids[next])?;
            next += 1;
            if matches(&task, &query) {
                tasks.push(task.into());
            }
        }
        Ok(TaskPage {
            tasks,
            next_cursor: (next < ids.len()).then(|| next.to_string()),
        })
    }
}
