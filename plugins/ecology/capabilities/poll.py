"""poll: the fallback when no OA-side hook is deployed (ECOLOGY.md §5). Two feeds, one cursor:

* workflow requests in the integration account's lists (to-do, handled, its own) whose `lastOperateTime` is after
  the cursor, as `approval.status_changed`; the lists' date filters are day-granular, so the lists are read and
  filtered here;
* the directory's `modified >=` feed (people, departments, subcompanies) as `contact.*` events, which is how a
  source connection's changes reach Qiao's directory between full pulls.

The cursor is JSON: `{"wf": <last lastOperateTime>, "hr": <last modified>}`, both OA-local `yyyy-MM-dd HH:mm:ss`
(text of that shape sorts as time). The first poll starts from now: history is the full pull's job. Event ids name
the object and its time, so rows re-read at the cursor's edge (`>=`) are stored once."""

import json
import time
from typing import Any, Dict, List, Optional, Tuple

from qiao_sdk import errors
from wit_world import exports
from wit_world.exports import poll
from wit_world.imports import types

import api
import directory
import settings
from capabilities.approval import status_of
from directory import SUB, text

LISTS = ("getToDoWorkflowRequestList", "getHandledWorkflowRequestList", "getMyWorkflowRequestList")
LIST_PAGE = 100
#: Requests whose status is read per poll (one getRequestStatus each); the rest wait for the next poll.
MAX_CHANGED = 15
#: Directory rows turned into events per feed per poll.
HR_PAGE = 200


def _cursor(cursor: Optional[str]) -> Optional[Dict[str, str]]:
    if not cursor:
        return None
    try:
        value = json.loads(cursor)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(value.get(k), str) for k in ("wf", "hr")):
        raise errors.invalid_input(f"bad cursor {cursor[:80]!r}")
    return {"wf": value["wf"], "hr": value["hr"]}


def _list_rows(name: str, user: str) -> List[Dict[str, Any]]:
    data = api.workflow("POST", name, user=user, form={"pageNo": "1", "pageSize": str(LIST_PAGE)})
    if isinstance(data, dict):
        data = data.get("dataList") or data.get("datas") or data.get("list") or []
    return [row for row in data if isinstance(row, dict)] if isinstance(data, list) else []


def workflow_events(since: str) -> Tuple[List[types.Event], str]:
    user = settings.acting_user()
    changed: Dict[str, Dict[str, Any]] = {}
    for name in LISTS:
        for row in _list_rows(name, user):
            request_id, moved = text(row.get("requestId") or row.get("requestid")), text(row.get("lastOperateTime"))
            if request_id and moved > since and moved >= text(changed.get(request_id, {}).get("lastOperateTime")):
                changed[request_id] = row
    ordered = sorted(changed.values(), key=lambda r: (text(r.get("lastOperateTime")), text(r.get("requestId"))))
    events, last = [], since
    for row in ordered[:MAX_CHANGED]:
        request_id, moved = text(row.get("requestId") or row.get("requestid")), text(row.get("lastOperateTime"))
        node_type = text(row.get("currentNodeType"))
        if not node_type:
            found = api.workflow("GET", "getRequestStatus", user=user, params={"requestId": request_id})
            node_type = text(found.get("currentNodeType")) if isinstance(found, dict) else ""
        logs = [{"logType": text(row.get("lastOperateType"))}] if text(row.get("lastOperateType")) else []
        status = status_of(node_type, logs).name.lower()
        info = row.get("workflowBaseInfo")
        base: Dict[str, Any] = info if isinstance(info, dict) else {}
        payload = {"instance_id": request_id, "template": text(base.get("workflowId")) or None, "status": status,
                   "title": text(row.get("requestName")) or None, "actor": text(row.get("lastOperatorId")) or None,
                   "node": text(row.get("currentNodeName")) or None, "platform": row}
        events.append(types.Event(id=f"wf:{request_id}:{moved}", kind="approval.status_changed",
                                  time_ms=settings.parse_time(moved), subject=request_id,
                                  payload=json.dumps({k: v for k, v in payload.items() if v is not None},
                                                     ensure_ascii=False)))
        last = max(last, moved)
    return events, last


def _contact(kind: str, subject: str, row: Dict[str, Any], modified: str) -> types.Event:
    return types.Event(id=f"{kind}:{subject}:{modified}", kind=kind, time_ms=settings.parse_time(modified),
                       subject=subject, payload=json.dumps({"id": subject, "platform": _public(row)},
                                                           ensure_ascii=False))


def _public(row: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("password",)}


def directory_events(since: str) -> Tuple[List[types.Event], str]:
    events, last = [], since
    feeds = (("getHrmsubcompanyWithPage", "department", SUB), ("getHrmdepartmentWithPage", "department", ""),
             ("getHrmUserInfoWithPage", "user", ""))
    for name, what, prefix in feeds:
        # canceled "2": sealed units too (the default lists live ones only), so their sealing is seen.
        filters = {"modified": since} if what == "user" else {"modified": since, "canceled": "2"}
        rows = directory.page_rows(name, filters, 1, HR_PAGE)
        for row in sorted(rows, key=lambda r: text(r.get("modified"))):
            if what == "user" and directory.is_sub_account(row):
                continue
            modified = text(row.get("modified"))
            subject = prefix + text(row.get("id"))
            if what == "department" and directory.canceled(row):
                change = "deleted"
            elif text(row.get("created")) and text(row.get("created")) >= since:
                change = "created"
            else:
                change = "updated"
            events.append(_contact(f"contact.{what}_{change}", subject, row, modified))
            last = max(last, modified)
    return events, last


class Poll(exports.Poll):
    def poll(self, cursor: Optional[str]) -> poll.Batch:
        state = _cursor(cursor)
        if state is None:
            now = settings.format_time(int(time.time() * 1000))
            return poll.Batch(events=[], next_cursor=json.dumps({"wf": now, "hr": now}))
        wf_events, wf = workflow_events(state["wf"])
        hr_events, hr = directory_events(state["hr"])
        return poll.Batch(events=wf_events + hr_events, next_cursor=json.dumps({"wf": wf, "hr": hr}))
