//! tasks: create, read, change, move, complete, reopen, comment on and list tasks (issues, to-dos).

use qiao_sdk::Error;

use crate::exports::qiao::connector::tasks::{
    Guest, NewTask, Target, Task, TaskChanges, TaskComment, TaskPage, TaskQuery,
};
use crate::{Connector, not_yet};

impl Guest for Connector {
    fn create(_task: NewTask, _idempotency_key: Option<String>) -> Result<Task, Error> {
        Err(not_yet("tasks.create"))
    }

    fn get(_id: String) -> Result<Task, Error> {
        Err(not_yet("tasks.get"))
    }

    fn update(_id: String, _changes: TaskChanges) -> Result<Task, Error> {
        Err(not_yet("tasks.update"))
    }

    fn move_to(_id: String, _target: Target) -> Result<Task, Error> {
        Err(not_yet("tasks.move-to"))
    }

    fn complete(_id: String) -> Result<Task, Error> {
        Err(not_yet("tasks.complete"))
    }

    fn reopen(_id: String) -> Result<Task, Error> {
        Err(not_yet("tasks.reopen"))
    }

    fn comment(_id: String, _text: String, _author: Option<String>) -> Result<TaskComment, Error> {
        Err(not_yet("tasks.comment"))
    }

    fn list(_query: TaskQuery) -> Result<TaskPage, Error> {
        Err(not_yet("tasks.list"))
    }
}
