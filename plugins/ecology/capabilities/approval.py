"""approval: e-cology workflow requests through `/api/workflow/paService/*` (ECOLOGY.md §3), each call acting as an
OA user (the `userid` header): the applicant or actor the caller names, else the integration account (`user_id`)."""

import json
from typing import Any, Dict, List, Optional

from componentize_py_types import Err
from qiao_sdk import errors, json_kv
from qiao_sdk.helpers import json_object
from wit_world import exports
from wit_world.exports import approval
from wit_world.imports import types

import api
import settings
from directory import text

#: Longest remark sent (the OA stores remarks in a text column; longer ones are refused or cut).
MAX_REMARK = 2000
#: workflow_requestlog.logtype: 3 退回 (rejected back), 1 保存 (saved), x 撤回 (withdrawn).
LOG_REJECT, LOG_SAVE = "3", "1"
#: How long who may read a request is remembered (a request rarely runs longer).
VIEWER_TTL_S = 365 * 24 * 3600


def _viewers_key(request_id: str) -> str:
    return f"wf-viewers:{request_id}"


def remember_viewer(request_id: str, user: str) -> None:
    """e-cology shows a request only to those on it (creator, operators, monitors): the people this connection
    acted as on it are kept, so `get` can read it as one of them."""
    known = json_kv.get(_viewers_key(request_id))
    viewers = [v for v in known if isinstance(v, str)] if isinstance(known, list) else []
    if user not in viewers:
        json_kv.set(_viewers_key(request_id), ([user] + viewers)[:5], VIEWER_TTL_S)


def viewers(request_id: str) -> List[str]:
    known = json_kv.get(_viewers_key(request_id))
    found = [v for v in known if isinstance(v, str) and settings.digits(v)] if isinstance(known, list) else []
    account = settings.acting_user()
    return found + ([account] if account not in found else [])


def _request_id(id: str) -> str:
    id = id.strip()
    if not settings.digits(id) or len(id) > 18:
        raise errors.invalid_input(f"e-cology request ids are numbers, got {id[:40]!r}")
    return id


def _remark(comment: Optional[str]) -> Optional[str]:
    if comment is not None and len(comment) > MAX_REMARK:
        raise errors.invalid_input(f"comment is longer than {MAX_REMARK} characters")
    return comment


def _fields(data: Any) -> List[approval.FormField]:
    """`workflowMainTableInfo.requestRecords[0].workflowRequestTableFields` (or a flat list of fields)."""
    records = data.get("requestRecords") if isinstance(data, dict) else data
    if isinstance(records, list) and records and isinstance(records[0], dict) \
            and "workflowRequestTableFields" in records[0]:
        records = records[0]["workflowRequestTableFields"]
    found = []
    for field in records if isinstance(records, list) else []:
        if isinstance(field, dict) and text(field.get("fieldName")):
            value = field.get("fieldValue")
            found.append(approval.FormField(name=text(field.get("fieldName")),
                                            value=value if isinstance(value, str) else text(value) if value is not None
                                            else "", kind=text(field.get("fieldType")) or None))
    return found


def status_of(node_type: str, logs: List[Dict[str, Any]], deleted: bool = False) -> approval.Status:
    """e-cology has no single status: the current node's type says it (0 creation, 1 approval, 2 processing,
    3 archive), and a request back at its creation node was rejected there unless it never left it."""
    if deleted:
        return approval.Status.CANCELED
    if node_type == "3":
        return approval.Status.APPROVED
    if node_type == "0":
        types = [text(log.get("logType") or log.get("logtype") or log.get("operateType")) for log in logs]
        moved = [t for t in types if t != LOG_SAVE]
        if not moved:
            return approval.Status.DRAFT
        return approval.Status.REJECTED if LOG_REJECT in moved else approval.Status.DRAFT
    return approval.Status.PENDING


def instance_of(id: str, data: Dict[str, Any], status_data: Optional[Dict[str, Any]]) -> approval.Instance:
    found = data.get("workflowBaseInfo")
    base: Dict[str, Any] = found if isinstance(found, dict) else {}
    logs = [log for log in data.get("workflowRequestLogs") or [] if isinstance(log, dict)]
    node_type = text(data.get("currentNodeType") or (status_data or {}).get("currentNodeType"))
    deleted = text(data.get("deleted") or (status_data or {}).get("deleted")) == "1"
    comments = []
    for log in logs:
        remark = text(log.get("remark"))
        if remark:
            moment = settings.parse_time(f"{text(log.get('operateDate'))} {text(log.get('operateTime'))}".strip())
            comments.append(approval.Comment(author=text(log.get("operatorId")), text=remark, time_ms=moment))
    operators = [o for o in data.get("currentOperatorIds") or (status_data or {}).get("currentOperatorIds") or []
                 if isinstance(o, (dict, str, int))]
    tasks = [approval.Task(id=f"{id}:{text(o.get('userid') if isinstance(o, dict) else o)}",
                           assignee=text(o.get("userid") if isinstance(o, dict) else o), status="pending")
             for o in operators]
    extra = {"current_node_id": text(data.get("currentNodeId")) or None,
             "current_node_name": text(data.get("currentNodeName")) or None, "current_node_type": node_type or None,
             "status": text(data.get("status") or (status_data or {}).get("status")) or None,
             "create_time": text(data.get("createTime")) or None,
             "last_operate_time": text(data.get("lastOperateTime")) or None,
             "workflow_name": text(base.get("workflowName")) or None,
             "detail_tables": data.get("workflowDetailTableInfos") or None}
    return approval.Instance(
        id=id, template=text(base.get("workflowId") or data.get("workflowId")),
        title=text(data.get("requestName")) or None, applicant=text(data.get("creatorId")),
        status=status_of(node_type, logs, deleted), tasks=tasks, approvers=[t.assignee for t in tasks],
        comments=comments, fields=_fields(data.get("workflowMainTableInfo")),
        extra=json.dumps(extra, ensure_ascii=False))


class Approval(exports.Approval):
    def create(self, request: approval.CreateRequest) -> approval.Created:
        template = request.template.strip()
        if not settings.digits(template):
            raise errors.invalid_input("template must be the e-cology workflowId (a number)")
        options = json_object(request.options, "options")
        name = options.pop("requestName", None) or options.pop("title", None)
        if not isinstance(name, str) or not name.strip():
            raise errors.invalid_input("options.requestName (the request's title) is required by doCreateRequest")
        if request.approvers:
            raise errors.unsupported("e-cology routes requests by the workflow's own nodes: approvers cannot be "
                                     "chosen through doCreateRequest")
        main = [{"fieldName": f.name, "fieldValue": f.value} for f in request.fields]
        form: Dict[str, Any] = {"workflowId": template, "requestName": name.strip()[:200],
                                "mainData": json.dumps(main, ensure_ascii=False)}
        detail = options.pop("detailData", None)
        if detail is not None:
            if not isinstance(detail, list):
                raise errors.invalid_input("options.detailData must be e-cology's list of detail tables")
            form["detailData"] = json.dumps(detail, ensure_ascii=False)
        for key in ("remark", "requestLevel"):
            if key in options:
                form[key] = text(options.pop(key))
        other = options.pop("otherParams", {})
        if not isinstance(other, dict):
            raise errors.invalid_input("options.otherParams must be a JSON object")
        if options:
            raise errors.invalid_input(f"unknown options: {', '.join(sorted(options))} (requestName, detailData, "
                                       "remark, requestLevel, otherParams)")
        if other:
            form["otherParams"] = json.dumps(other, ensure_ascii=False)
        data = api.workflow("POST", "doCreateRequest", user=settings.acting_user(request.applicant), form=form)
        request_id = text(data.get("requestid") or data.get("requestId")) if isinstance(data, dict) else text(data)
        if not request_id or request_id.startswith("-"):
            raise errors.internal("doCreateRequest answered SUCCESS without a request id")
        remember_viewer(request_id, settings.acting_user(request.applicant))
        return approval.Created(id=request_id, number=None)

    def get(self, id: str, template: Optional[str]) -> approval.Instance:
        request_id = _request_id(id)
        candidates = viewers(request_id)
        for user in candidates:
            try:
                data = api.workflow("GET", "getWorkflowRequest", user=user, params={"requestId": request_id})
                break
            except Err as e:
                # Someone else on the request may see it: the integration account needs 流程监控 rights for
                # requests this connection never touched.
                if errors.kind_of(e) != types.ErrorKind.FORBIDDEN or user == candidates[-1]:
                    raise
        if not isinstance(data, dict) or not data:
            raise errors.not_found(f"no request {request_id} visible to OA user {user}")
        status_data = None
        if not text(data.get("currentNodeType")):
            found = api.workflow("GET", "getRequestStatus", user=user, params={"requestId": request_id})
            status_data = found if isinstance(found, dict) else None
        return instance_of(request_id, data, status_data)

    def act(self, request: approval.ActRequest) -> None:
        request_id = _request_id(request.instance_id)
        form: Dict[str, Any] = {"requestId": request_id}
        remark = _remark(request.comment)
        if remark:
            form["remark"] = remark
        name = "submitRequest" if request.action == approval.Action.APPROVE else "rejectRequest"
        actor = settings.acting_user(request.actor)
        api.workflow("POST", name, user=actor, form=form)
        remember_viewer(request_id, actor)

    def cancel(self, request: approval.CancelRequest) -> None:
        raise errors.unsupported("e-cology has no cancel for a request: withdrawRequest sends it back to its "
                                 "creator and deleteRequest erases it; do either in the OA")

    def remind(self, request: approval.RemindRequest) -> None:
        raise errors.unsupported("e-cology's paService has no reminder (督办) call")
