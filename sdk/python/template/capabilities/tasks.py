"""The tasks capability: tasks and to-dos: Feishu Task v2, DingTalk to-do, WeCom to-do, Jira issues.

Every function answers `unsupported` until it is written. What each must do is in the contract,
wit/deps/connector/connector.wit (interface tasks); the types are in the bindings `make test` generates
(build/bindings/wit_world/exports/tasks.py)."""

from typing import Optional

from qiao_sdk.errors import unsupported
from wit_world import exports
from wit_world.exports import tasks


class Tasks(exports.Tasks):
    def create(self, task: tasks.NewTask, idempotency_key: Optional[str]) -> tasks.Task:
        raise unsupported("__NAME__: tasks.create is not written yet (capabilities/tasks.py)")

    def get(self, id: str) -> tasks.Task:
        raise unsupported("__NAME__: tasks.get is not written yet (capabilities/tasks.py)")

    def update(self, id: str, changes: tasks.TaskChanges) -> tasks.Task:
        raise unsupported("__NAME__: tasks.update is not written yet (capabilities/tasks.py)")

    def move_to(self, id: str, target: tasks.Target) -> tasks.Task:
        """Moves a task to a status or through a transition, answering the task as it is afterwards."""
        raise unsupported("__NAME__: tasks.move-to is not written yet (capabilities/tasks.py)")

    def complete(self, id: str) -> tasks.Task:
        """Marks it done, with the platform's own completion call where it has one. A done task is no error."""
        raise unsupported("__NAME__: tasks.complete is not written yet (capabilities/tasks.py)")

    def reopen(self, id: str) -> tasks.Task:
        """Opens a done task again. A task that is not done is returned as it is."""
        raise unsupported("__NAME__: tasks.reopen is not written yet (capabilities/tasks.py)")

    def comment(self, id: str, text: str, author: Optional[str]) -> tasks.TaskComment:
        raise unsupported("__NAME__: tasks.comment is not written yet (capabilities/tasks.py)")

    def list(self, query: tasks.TaskQuery) -> tasks.TaskPage:
        raise unsupported("__NAME__: tasks.list is not written yet (capabilities/tasks.py)")
