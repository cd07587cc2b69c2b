"""tasks: the OA's unified to-do centre (统一待办中心, OFS, ECOLOGY.md §4.1). A task pushed here becomes one to-do
per assignee in the OA, under the registered system `ofs_syscode`; the task id is the OFS `flowid`.

OFS can be written but not read, so what this connection pushed (and what the OA-side hook reported, see
webhook.py) is kept in kv and `get` answers from it. Assignees are OA user ids (HrmResource.id, what the directory
links hold); they are turned into what the OA's person-mapping rule (人员转换规则) expects: `ofs_user_rule`."""

import json
import time
from typing import Any, Dict, List, Optional

from qiao_sdk import errors, json_kv
from qiao_sdk.helpers import json_object
from wit_world import exports
from wit_world.exports import tasks
from wit_world.imports import crypto

import api
import directory
import settings

#: One OFS call per assignee, and the host allows 50 requests a call.
MAX_ASSIGNEES = 20
MAX_TITLE = 200
#: Kept to match the to-do's life in the OA; refreshed on every change.
TTL_S = 180 * 24 * 3600
#: OFS flowids we choose ourselves: safe characters, bounded.
FLOWID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


def _kv_key(flowid: str) -> str:
    return f"ofs:{flowid}"


def flowid_for(idempotency_key: Optional[str]) -> str:
    """The same key gives the same flowid, so a retried create updates the one to-do instead of adding another."""
    if idempotency_key:
        if len(idempotency_key) <= 64 and set(idempotency_key) <= FLOWID_CHARS:
            return "q-" + idempotency_key
        return "q-" + bytes(crypto.sha256(idempotency_key.encode())[:16]).hex()
    return "q-" + bytes(crypto.random_bytes(16)).hex()


def load(flowid: str) -> Dict[str, Any]:
    if not flowid or len(flowid) > 130:
        raise errors.invalid_input("task ids are OFS flowids of at most 130 characters")
    record = json_kv.get(_kv_key(flowid))
    if not isinstance(record, dict) or record.get("status") == "deleted":
        raise errors.not_found(f"no to-do {flowid} known to this connection (OFS cannot be read back)")
    return record


def load_own(flowid: str) -> Dict[str, Any]:
    """A to-do this connection pushed: an OA workflow to-do (reported by the OA-side hook) moves only when its
    request does."""
    record = load(flowid)
    if record.get("source") == "oa":
        raise errors.unsupported(f"{flowid} is an OA workflow to-do: it is done when its request is approved or "
                                 "rejected (approval act), not through the to-do centre")
    return record


def save(record: Dict[str, Any]) -> None:
    json_kv.set(_kv_key(record["id"]), record, TTL_S)


def _next_ts(record: Dict[str, Any]) -> str:
    """`receivets`: the OA drops an update older than the last it took, so ours only move forward."""
    ts = max(int(time.time() * 1000), int(record.get("ts") or 0) + 1)
    record["ts"] = ts
    return str(ts)


def receiver_in(record: Dict[str, Any], user_id: str) -> str:
    """`receiver`, remembered in the task's record so completing it later asks the directory nothing."""
    known = record.setdefault("receivers", {})
    if user_id not in known:
        known[user_id] = receiver(user_id)
    return str(known[user_id])


def receiver(user_id: str) -> str:
    rule = (settings.optional("ofs_user_rule") or "loginid").lower()
    if rule == "id":
        return directory.check_user_id(user_id)
    if rule not in ("loginid", "workcode"):
        raise errors.invalid_input("ofs_user_rule must be id, loginid or workcode, as the OA's 人员转换规则 is set")
    value = directory.text(directory.find_user_row(user_id).get(rule))
    if not value:
        raise errors.invalid_input(f"OA user {user_id} has no {rule}, which the to-do centre maps people by")
    return value


def task_of(record: Dict[str, Any]) -> tasks.Task:
    done = record.get("status") == "done"
    return tasks.Task(
        id=record["id"], title=record.get("title") or "", description=record.get("description"),
        status=tasks.Status(category=tasks.StatusCategory.DONE if done else tasks.StatusCategory.OPEN,
                            name="已办" if done else "待办"),
        assignees=list(record.get("assignees") or []), followers=[], due_ms=record.get("due_ms"),
        labels=list(record.get("labels") or []), url=record.get("pcurl"), created_ms=record.get("created_ms"),
        updated_ms=record.get("updated_ms"),
        extra=json.dumps({k: record.get(k) for k in ("workflowname", "nodename", "appurl", "creator", "source")
                          if record.get(k) is not None}, ensure_ascii=False))


def _common(record: Dict[str, Any]) -> Dict[str, Any]:
    return {"syscode": settings.syscode(), "flowid": record["id"], "requestname": record["title"],
            "workflowname": record["workflowname"], "nodename": record["nodename"]}


def push_todo(record: Dict[str, Any], user_id: str) -> None:
    now = settings.format_time(int(time.time() * 1000))
    creator = record.get("creator") or user_id
    api.ofs("ReceiveTodoRequestByJson", {
        **_common(record), "pcurl": record["pcurl"], "appurl": record.get("appurl") or record["pcurl"],
        "creator": receiver_in(record, creator), "createdatetime": record.get("createdatetime") or now,
        "receiver": receiver_in(record, user_id), "receivedatetime": now, "receivets": _next_ts(record), "viewtype": "0"})


def push_done(record: Dict[str, Any], user_id: str) -> None:
    api.ofs("ProcessDoneRequestByJson", {**_common(record), "receiver": receiver_in(record, user_id),
                                         "receivets": _next_ts(record)})


def _assignees(users: List[str]) -> List[str]:
    unique = list(dict.fromkeys(u.strip() for u in users if u.strip()))
    if not unique:
        raise errors.invalid_input("assignees: an OA to-do needs at least one receiver")
    if len(unique) > MAX_ASSIGNEES:
        raise errors.invalid_input(f"assignees: at most {MAX_ASSIGNEES} receivers per to-do")
    for user in unique:
        directory.check_user_id(user)
    return unique


def _title(title: str) -> str:
    title = title.strip()
    if not title:
        raise errors.invalid_input("title is required")
    return title[:MAX_TITLE]


def _url(value: Any, field: str) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(("https://", "http://", "/")) or len(value) > 1000:
        raise errors.invalid_input(f"extra.{field} must be a URL or an OA path of at most 1000 characters")
    return value


class Tasks(exports.Tasks):
    def create(self, task: tasks.NewTask, idempotency_key: Optional[str]) -> tasks.Task:
        flowid = flowid_for(idempotency_key)
        existing = json_kv.get(_kv_key(flowid))
        if isinstance(existing, dict):
            return task_of(existing)  # the same create again
        extra = json_object(task.extra, "extra")
        pcurl = _url(extra.get("pcurl") or extra.get("url") or settings.optional("ofs_default_link"), "pcurl")
        if not pcurl:
            raise errors.invalid_input("extra.pcurl (or extra.url, or the ofs_default_link setting) is required: "
                                       "the OA hides to-dos that have no link to open")
        now = int(time.time() * 1000)
        record: Dict[str, Any] = {
            "id": flowid, "title": _title(task.title), "description": task.description, "status": "open",
            "assignees": _assignees(task.assignees), "labels": list(task.labels), "due_ms": task.due_ms,
            "pcurl": pcurl, "appurl": _url(extra.get("appurl"), "appurl"),
            "workflowname": str(extra.get("workflowname") or settings.optional("ofs_workflow_name") or "Qiao")[:100],
            "nodename": str(extra.get("nodename") or "待办")[:100],
            "creator": directory.check_user_id(task.creator) if task.creator else None,
            "createdatetime": settings.format_time(now), "created_ms": now, "updated_ms": now, "source": "qiao"}
        for user in record["assignees"]:
            push_todo(record, user)
        save(record)
        return task_of(record)

    def get(self, id: str) -> tasks.Task:
        return task_of(load(id))

    def update(self, id: str, changes: tasks.TaskChanges) -> tasks.Task:
        record = load_own(id)
        if changes.followers is not None or changes.labels is not None:
            raise errors.unsupported("OA to-dos have no followers or labels")
        if not isinstance(changes.due_ms, tasks.TimeChange_Keep):
            raise errors.unsupported("OA to-dos have no due time")
        if isinstance(changes.description, tasks.TextChange_Set):
            record["description"] = changes.description.value  # kept here only: OFS shows no description
        elif isinstance(changes.description, tasks.TextChange_Clear):
            record["description"] = None
        if changes.title is not None:
            record["title"] = _title(changes.title)
        extra = json_object(changes.extra, "extra")
        for field in ("pcurl", "appurl"):
            if field in extra:
                record[field] = _url(extra[field], field) or record.get(field)
        for field in ("workflowname", "nodename"):
            if isinstance(extra.get(field), str) and extra[field].strip():
                record[field] = extra[field][:100]
        before = list(record["assignees"])
        if changes.assignees is not None:
            record["assignees"] = _assignees(changes.assignees)
        if record.get("status") != "done":
            # Re-sending a to-do with the same flowid updates it in place (title, links, node).
            for user in record["assignees"]:
                push_todo(record, user)
        for user in before:
            if user not in record["assignees"]:
                api.ofs("deleteUserRequestInfoByJson", {"syscode": settings.syscode(), "flowid": id,
                                                       "userid": receiver_in(record, user)})
        record["updated_ms"] = int(time.time() * 1000)
        save(record)
        return task_of(record)

    def move_to(self, id: str, target: tasks.Target) -> tasks.Task:
        if isinstance(target, tasks.Target_Transition):
            raise errors.unsupported("OA to-dos have no workflow transitions: move to a status (open or done)")
        if target.value == tasks.StatusCategory.DONE:
            return self.complete(id)
        return self.reopen(id)

    def complete(self, id: str) -> tasks.Task:
        record = load_own(id)
        if record.get("status") == "done":
            return task_of(record)
        for user in record["assignees"]:
            push_done(record, user)
        record["status"] = "done"
        record["updated_ms"] = int(time.time() * 1000)
        save(record)
        return task_of(record)

    def reopen(self, id: str) -> tasks.Task:
        record = load_own(id)
        if record.get("status") != "done":
            return task_of(record)
        record["status"] = "open"
        for user in record["assignees"]:
            push_todo(record, user)
        record["updated_ms"] = int(time.time() * 1000)
        save(record)
        return task_of(record)

    def comment(self, id: str, text: str, author: Optional[str]) -> tasks.TaskComment:
        raise errors.unsupported("the OA's unified to-do centre has no comments")

    def list(self, query: tasks.TaskQuery) -> tasks.TaskPage:
        raise errors.unsupported("the OA's unified to-do centre cannot be listed through its API; get a to-do by id")
