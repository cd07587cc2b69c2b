"""e-cology's organisation as the contract's directory (ECOLOGY.md §2): subcompanies and departments form one tree,
people come from `getHrmUserInfoWithPage`.

Ids: a department keeps its OA id (what a person's `departmentid` names); a subcompany, whose ids come from
another table and may clash, is `sub-<id>`. A department at the top of its subcompany hangs under `sub-<id>`."""

import json
from typing import Any, Dict, Iterator, List, Optional

from qiao_sdk import errors
from wit_world.exports import identity

import api
import settings

SUB = "sub-"
#: Rows per page for org units (the whole tree is read per call; the host allows 50 requests a call).
ORG_PAGE = 200
#: Most pages read in one call before giving up rather than running into the host's limits.
MAX_PAGES = 40
#: 4 解聘, 5 离职, 6 退休, 7 无效 (ECOLOGY.md §2.2).
INACTIVE = {"4", "5", "6", "7"}


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _order(value: Any) -> Optional[int]:
    try:
        return int(float(text(value)))
    except ValueError:
        return None


def pages(name: str, filters: Dict[str, Any], page_size: int = ORG_PAGE) -> Iterator[Dict[str, Any]]:
    """Every row of a `*WithPage` endpoint: pages until one comes back short (`totalSize` is documented both as
    rows and as pages, so it is not trusted)."""
    for page in range(1, MAX_PAGES + 1):
        rows = page_rows(name, filters, page, page_size)
        yield from rows
        if len(rows) < page_size:
            return
    raise errors.internal(f"{name}: more than {MAX_PAGES * page_size} rows; stopped rather than run past the "
                          "host's limits")


def page_rows(name: str, filters: Dict[str, Any], page: int, page_size: int) -> List[Dict[str, Any]]:
    body = api.hrm(name, {**filters, "curpage": page, "pagesize": page_size})
    data = body.get("data")
    rows = data.get("dataList") if isinstance(data, dict) else None
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []


def subcompany(row: Dict[str, Any]) -> identity.Department:
    parent = text(row.get("supsubcomid"))
    return identity.Department(
        id=SUB + text(row.get("id")), name=text(row.get("subcompanyname")),
        parent_id=None if parent in ("", "0") else SUB + parent, order=_order(row.get("showorder")),
        code=text(row.get("subcompanycode")) or None,
        extra=json.dumps({"kind": "subcompany", "description": text(row.get("subcompanydesc")) or None,
                          "modified": text(row.get("modified")) or None}, ensure_ascii=False))


def department(row: Dict[str, Any]) -> identity.Department:
    parent = text(row.get("supdepid"))
    sub = text(row.get("subcompanyid1"))
    return identity.Department(
        id=text(row.get("id")), name=text(row.get("departmentname")) or text(row.get("departmentmark")),
        parent_id=parent if parent not in ("", "0") else (SUB + sub if sub not in ("", "0") else None),
        order=_order(row.get("showorder")), code=text(row.get("departmentcode")) or None,
        extra=json.dumps({"kind": "department", "subcompany_id": sub or None,
                          "short_name": text(row.get("departmentmark")) or None,
                          "modified": text(row.get("modified")) or None}, ensure_ascii=False))


def canceled(row: Dict[str, Any]) -> bool:
    return text(row.get("canceled")) == "1"


def all_departments() -> List[identity.Department]:
    """The whole live tree; sealed units (`canceled=1`) are gone."""
    units = [subcompany(r) for r in pages("getHrmsubcompanyWithPage", {}) if not canceled(r)]
    units += [department(r) for r in pages("getHrmdepartmentWithPage", {}) if not canceled(r)]
    return units


def find_department(id: str) -> identity.Department:
    if id.startswith(SUB):
        number, name, make = id[len(SUB):], "getHrmsubcompanyWithPage", subcompany
    else:
        number, name, make = id, "getHrmdepartmentWithPage", department
    if not settings.digits(number) or len(number) > 18:
        raise errors.invalid_input(f"department ids are OA ids or sub-<id> for subcompanies, got {id[:40]!r}")
    rows = [r for r in page_rows(name, {"id": number}, 1, 10) if text(r.get("id")) == number]
    if not rows or canceled(rows[0]):
        raise errors.not_found(f"no department {id} in e-cology (or it is sealed)")
    return make(rows[0])


def user(row: Dict[str, Any]) -> identity.User:
    department_id = text(row.get("departmentid"))
    manager = text(row.get("managerid"))
    status = text(row.get("status"))
    # The row also carries the password hash: only named fields are kept.
    extra = {"loginid": text(row.get("loginid")) or None, "subcompany_id": text(row.get("subcompanyid1")) or None,
             "jobtitle_id": text(row.get("jobtitle")) or None, "status": status or None,
             "telephone": text(row.get("telephone")) or None, "modified": text(row.get("modified")) or None}
    return identity.User(
        id=text(row.get("id")), name=text(row.get("lastname")), mobile=text(row.get("mobile")) or None,
        email=text(row.get("email")) or None, title=text(row.get("jobtitlename")) or None,
        employee_no=text(row.get("workcode")) or None,
        department_ids=[department_id] if department_id not in ("", "0") else [],
        manager_id=manager if manager not in ("", "0") else None, active=status not in INACTIVE,
        extra=json.dumps(extra, ensure_ascii=False))


def is_sub_account(row: Dict[str, Any]) -> bool:
    """A secondary account (`accounttype` 1, `belongto` its main one) is the same person again: skipped."""
    return text(row.get("accounttype")) == "1"


def user_rows(filters: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [r for r in page_rows("getHrmUserInfoWithPage", filters, 1, 10) if not is_sub_account(r)]


def check_user_id(id: str) -> str:
    if not settings.digits(id) or len(id) > 18:
        raise errors.invalid_input(f"OA user ids are numbers (HrmResource.id), got {id[:40]!r}")
    return id


def find_user_row(id: str) -> Dict[str, Any]:
    rows = [r for r in user_rows({"id": check_user_id(id)}) if text(r.get("id")) == id]
    if not rows:
        raise errors.not_found(f"no OA user {id}")
    return rows[0]


def changed_since(name: str, since: str, page_size: int = ORG_PAGE) -> Iterator[Dict[str, Any]]:
    """Rows with `modified` >= `since` (`yyyy-MM-dd HH:mm:ss`): e-cology's only change feed for the directory."""
    return pages(name, {"modified": since}, page_size)


def modified_ms(row: Dict[str, Any]) -> Optional[int]:
    return settings.parse_time(text(row.get("modified")))
