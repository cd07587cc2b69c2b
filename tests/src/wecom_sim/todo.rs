//! To-dos (待办): `todo/get` (developer.work.weixin.qq.com/document/path/101524) and `todo/update`
//! (path/101534), for to-dos the app made; WeCom's server API has no create (the client's JS-SDK `ww.createTodo`
//! makes them: [`State::create_todo`](super::State::create_todo)), list or comment.
//!
//! Rules kept: status 0 (done) or 1 (in progress), at most 20 attendees, each an active member. WeCom's pages
//! give no error codes for these calls, so the codes here are guessed from its global list: 40058 (invalid
//! parameter) for a missing or unknown `todo_id`, a bad status or too many attendees; 40003 (invalid userid) for
//! an unknown attendee; 48002 (API not allowed) for a to-do another app made. `attendees` replaces the list.

use axum::response::Response;
use serde_json::{Value, json};

use super::api::{err, number, ok, text};
use super::state::{State, Todo};

const MAX_ATTENDEES: usize = 20;

/// The to-do the app may use, or WeCom's refusal: (errcode, errmsg).
fn own_todo<'a>(state: &'a mut State, body: &Value) -> Result<&'a mut Todo, (i64, &'static str)> {
    let id = text(body, "todo_id");
    if id.is_empty() {
        return Err((40058, "invalid Request Parameter: todo_id is required"));
    }
    match state.todos.get_mut(&id) {
        None => Err((40058, "invalid Request Parameter: todo_id not found")),
        Some(todo) if !todo.by_app => {
            Err((48002, "api forbidden: the todo was not created by the app"))
        }
        Some(todo) => Ok(todo),
    }
}

pub fn get(state: &mut State, body: &Value) -> Response {
    match own_todo(state, body) {
        Ok(todo) => ok(json!({
            "content": todo.content,
            "creator": todo.creator,
            "status": todo.status,
            "create_time": todo.create_time,
            "attendees": todo.attendees.iter()
                .map(|(userid, status)| json!({ "userid": userid, "status": status }))
                .collect::<Vec<_>>(),
            "end_time": todo.end_time,
            "reminders": todo.reminders.iter().map(|t| json!({ "remind_time": t })).collect::<Vec<_>>(),
        })),
        Err((code, message)) => err(code, message),
    }
}

pub fn update(state: &mut State, body: &Value) -> Response {
    let status = match &body["status"] {
        Value::Null => None,
        _ => match number(body, "status") {
            Some(s @ (0 | 1)) => Some(s),
            _ => return err(40058, "invalid Request Parameter: status must be 0 or 1"),
        },
    };
    let attendees = match &body["attendees"] {
        Value::Null => None,
        Value::Array(list) if list.len() <= MAX_ATTENDEES => {
            let mut out: Vec<(String, i64)> = Vec::new();
            for a in list {
                let userid = text(a, "userid");
                if state.users.get(&userid).is_none_or(|u| u.status != 1) {
                    return err(40003, &format!("invalid userid: {userid}"));
                }
                let status = match &a["status"] {
                    Value::Null => 1,
                    _ => match number(a, "status") {
                        Some(s @ (0 | 1)) => s,
                        _ => {
                            return err(
                                40058,
                                "invalid Request Parameter: attendees.status must be 0 or 1",
                            );
                        }
                    },
                };
                if !out.iter().any(|(u, _)| *u == userid) {
                    out.push((userid, status));
                }
            }
            Some(out)
        }
        Value::Array(_) => return err(40058, "invalid Request Parameter: at most 20 attendees"),
        _ => return err(40058, "invalid Request Parameter: attendees must be a list"),
    };
    if status.is_none() && attendees.is_none() {
        return err(40058, "invalid Request Parameter: nothing to update");
    }
    let todo = match own_todo(state, body) {
        Ok(todo) => todo,
        Err((code, message)) => return err(code, message),
    };
    if let Some(status) = status {
        todo.status = status;
    }
    if let Some(attendees) = attendees {
        todo.attendees = attendees;
    }
    ok(json!({}))
}
