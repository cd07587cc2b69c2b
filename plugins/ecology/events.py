"""The OA-side event format (oa-side/README.md) and what it means in Qiao's shared event vocabulary.

e-cology has no outbound webhook: a Java class deployed in the OA (a node Action, or the unified to-do centre's
SendRequestStatusDataInterfaces) posts one JSON object per event, signed with HMAC-SHA256 over the raw body:

    {"id": "<delivery id>", "type": "workflow" | "todo", "time": <ms>, "requestId": "5074", ...}

`workflow` (a request moved): `workflowId`, `requestName`, `status` (draft|pending|approved|rejected|canceled),
`from` (the status before, when known), `nodeName`, `operatorId`, `remark`.
`todo` (one person's OA to-do changed): `userId`, `action` (todo|done|delete), `requestName`, `nodeName`,
`isremark` (0 待办, 2 已办, 4 办结, 8 待阅)."""

import json
from typing import Any, Dict, List, Optional

from qiao_sdk import errors, json_kv
from wit_world.imports import types

import settings
from directory import text

STATUSES = {"draft", "pending", "approved", "rejected", "canceled"}
TODO_ACTIONS = {"todo", "done", "delete"}
#: Where a person opens a request in the OA (its single-page form view).
FORM = "/spa/workflow/index_form.jsp#/main/workflow/req?requestid="


def _number(value: Any, field: str) -> str:
    number = text(value)
    if not settings.digits(number) or len(number) > 18:
        raise errors.invalid_input(f"{field} must be an OA id (digits)")
    return number


def todo_task_id(request_id: str, user_id: str) -> str:
    return f"wf-{request_id}-{user_id}"


def to_events(event: Dict[str, Any]) -> List[types.Event]:
    """The Qiao events one OA event means (an `invalid-input` error when it is malformed)."""
    delivery = text(event.get("id"))
    if not delivery or len(delivery) > 128:
        raise errors.invalid_input("id (the delivery id, at most 128 characters) is required")
    time_ms = event.get("time") if isinstance(event.get("time"), int) and event.get("time", 0) > 0 else None
    request_id = _number(event.get("requestId"), "requestId")
    kind = text(event.get("type"))
    if kind == "workflow":
        return [_workflow(delivery, time_ms, request_id, event)]
    if kind == "todo":
        return _todo(delivery, time_ms, request_id, event)
    raise errors.invalid_input("type must be workflow or todo")


def _workflow(delivery: str, time_ms: Optional[int], request_id: str, event: Dict[str, Any]) -> types.Event:
    status = text(event.get("status"))
    if status not in STATUSES:
        raise errors.invalid_input(f"status must be one of {', '.join(sorted(STATUSES))}")
    before = text(event.get("from"))
    payload = {"instance_id": request_id, "template": text(event.get("workflowId")) or None, "status": status,
               "from": before if before in STATUSES else None, "title": text(event.get("requestName")) or None,
               "actor": text(event.get("operatorId")) or None, "node": text(event.get("nodeName")) or None,
               "comment": text(event.get("remark")) or None, "platform": event}
    return types.Event(id=delivery, kind="approval.status_changed", time_ms=time_ms, subject=request_id,
                       payload=json.dumps({k: v for k, v in payload.items() if v is not None}, ensure_ascii=False))


def _todo(delivery: str, time_ms: Optional[int], request_id: str, event: Dict[str, Any]) -> List[types.Event]:
    user = _number(event.get("userId"), "userId")
    action = text(event.get("action"))
    if action not in TODO_ACTIONS:
        raise errors.invalid_input("action must be todo, done or delete")
    task_id = todo_task_id(request_id, user)
    title = text(event.get("requestName")) or None
    key = f"ofs:{task_id}"
    # Kept so tasks.get can answer for an OA workflow to-do, which no API reads back per person.
    known = json_kv.get(key)
    record: Dict[str, Any] = known if isinstance(known, dict) else {
        "id": task_id, "status": "open", "assignees": [user], "source": "oa", "request_id": request_id,
        "created_ms": time_ms, "pcurl": settings.base_url() + FORM + request_id}
    before = record.get("status")
    record["title"] = title or record.get("title") or ""
    if event.get("nodeName"):
        record["nodename"] = text(event.get("nodeName"))
    record["updated_ms"] = time_ms
    base = {"task_id": task_id, "title": title, "actor": user}
    out: List[types.Event] = []

    def emit(kind: str, payload: Dict[str, Any]) -> None:
        body = {k: v for k, v in {**base, **payload, "platform": event}.items() if v is not None}
        out.append(types.Event(id=f"{delivery}:{kind}", kind=kind, time_ms=time_ms, subject=task_id,
                               payload=json.dumps(body, ensure_ascii=False)))

    if action == "delete":
        json_kv.set(key, {**record, "status": "deleted"}, 7 * 24 * 3600)
        emit("task.deleted", {})
        return out
    record["status"] = "done" if action == "done" else "open"
    json_kv.set(key, record, 180 * 24 * 3600)
    if known is None and action == "todo":
        emit("task.created", {"url": record["pcurl"]})
    elif before != record["status"]:
        emit("task.status_changed", {"from": {"category": "done" if before == "done" else "open"},
                                     "to": {"category": record["status"]}})
    else:
        emit("task.updated", {"changed": ["nodename"]})
    return out
