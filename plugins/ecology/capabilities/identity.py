"""identity: e-cology as a directory source (read: subcompanies + departments + people), optional writes through the
HR `syn*` upserts, and one-click sign-in into the OA (`ssologin/getToken`)."""

import json
from typing import Any, Dict, List, Optional
from urllib.parse import urlsplit

from qiao_sdk import errors
from qiao_sdk.helpers import json_object
from wit_world import exports
from wit_world.exports import identity

import api
import directory
import settings
from directory import SUB, text

#: Most users asked for in one page (one HR call).
MAX_USER_PAGE = 200
#: The OA's home page, where a sign-in lands without a target.
HOME = "/wui/index.html#/main"


def _writes_allowed(what: str) -> None:
    if not settings.directory_writes():
        raise errors.forbidden(f"{what}: this connection only reads the OA's directory; writes through the HR syn* "
                               "endpoints need the directory_writes setting set to true")


class Identity(exports.Identity):
    def list_departments(self, parent_id: Optional[str], recursive: bool) -> List[identity.Department]:
        units = directory.all_departments()
        if parent_id is not None and not any(d.id == parent_id for d in units):
            raise errors.not_found(f"no department {parent_id} in e-cology (or it is sealed)")
        children: Dict[Optional[str], List[identity.Department]] = {}
        for unit in units:
            children.setdefault(unit.parent_id, []).append(unit)
        if not recursive:
            return children.get(parent_id, [])
        found: List[identity.Department] = []
        queue = list(children.get(parent_id, []))
        seen = set()
        while queue:  # the OA does not promise an acyclic tree: each unit once
            unit = queue.pop(0)
            if unit.id in seen:
                continue
            seen.add(unit.id)
            found.append(unit)
            queue.extend(children.get(unit.id, []))
        return found

    def get_department(self, id: str) -> identity.Department:
        return directory.find_department(id)

    def list_users(self, department_id: str, cursor: Optional[str], limit: int) -> identity.UserPage:
        if department_id.startswith(SUB):
            return identity.UserPage(users=[], next_cursor=None)  # people belong to departments, not subcompanies
        if not settings.digits(department_id) or len(department_id) > 18:
            raise errors.invalid_input(f"department ids are OA ids or sub-<id>, got {department_id[:40]!r}")
        page = 1
        if cursor:
            if not settings.digits(cursor) or not 1 <= int(cursor) <= 100000:
                raise errors.invalid_input(f"bad cursor {cursor[:40]!r}")
            page = int(cursor)
        size = max(1, min(limit or MAX_USER_PAGE, MAX_USER_PAGE))
        rows = directory.page_rows("getHrmUserInfoWithPage", {"departmentid": department_id}, page, size)
        users = [directory.user(r) for r in rows if not directory.is_sub_account(r)]
        return identity.UserPage(users=users, next_cursor=str(page + 1) if len(rows) >= size else None)

    def get_user(self, id: str) -> identity.User:
        return directory.user(directory.find_user_row(id))

    def find_user(self, key: identity.UserKey) -> str:
        if isinstance(key, identity.UserKey_UnionId):
            # The OA has no union id; its stable cross-system handle is the loginid, which the HR API filters on.
            rows = directory.user_rows({"loginid": key.value})
            if rows:
                return text(rows[0].get("id"))
            raise errors.not_found("no OA user with that loginid")
        wanted = key.value.strip().lower()
        field = "mobile" if isinstance(key, identity.UserKey_Mobile) else "email"
        if not wanted:
            raise errors.invalid_input(f"{field} is empty")
        # getHrmUserInfoWithPage filters neither mobile nor email: the directory is scanned.
        for row in directory.pages("getHrmUserInfoWithPage", {}):
            if not directory.is_sub_account(row) and text(row.get(field)).lower() == wanted:
                return text(row.get("id"))
        raise errors.not_found(f"no OA user with that {field}")

    # Writes (ECOLOGY.md §2.3): upserts keyed by codes; off unless directory_writes = true.

    def create_department(self, fields: identity.DepartmentFields,
                          idempotency_key: Optional[str]) -> identity.Department:
        _writes_allowed("create-department")
        code = (fields.code or "").strip()
        if not code or not (fields.name or "").strip():
            raise errors.invalid_input("e-cology departments need a name and a code (department-fields.code)")
        item = {"@action": "add", "code": code, **_department_item(fields)}
        api.hrm_write("synDepartment", [item])
        rows = [r for r in directory.page_rows("getHrmdepartmentWithPage", {"departmentcode": code}, 1, 10)
                if text(r.get("departmentcode")) == code]
        if not rows:
            raise errors.internal(f"synDepartment accepted {code} but the OA does not list it")
        return directory.department(rows[0])

    def update_department(self, id: str, fields: identity.DepartmentFields) -> None:
        _writes_allowed("update-department")
        current = _own_department(id)
        api.hrm_write("synDepartment", [{"@action": "edit", "code": current.code, **_department_item(fields)}])

    def delete_department(self, id: str) -> None:
        _writes_allowed("delete-department")
        current = _own_department(id)
        api.hrm_write("synDepartment", [{"@action": "delete", "code": current.code}])

    def create_user(self, fields: identity.UserFields, idempotency_key: Optional[str]) -> identity.User:
        _writes_allowed("create-user")
        workcode = (fields.employee_no or "").strip()
        if not workcode or not (fields.name or "").strip():
            raise errors.invalid_input("e-cology people are keyed by workcode: employee-no and name are required")
        if not fields.department_ids:
            raise errors.invalid_input("department-ids: e-cology needs the person's department")
        api.hrm_write("synHrmresource", [{"workcode": workcode, **_person_item(fields)}])
        rows = [r for r in directory.user_rows({"workcode": workcode}) if text(r.get("workcode")) == workcode]
        if not rows:
            raise errors.internal(f"synHrmresource accepted {workcode} but the OA does not list it")
        return directory.user(rows[0])

    def update_user(self, id: str, fields: identity.UserFields) -> None:
        _writes_allowed("update-user")
        row = directory.find_user_row(id)
        workcode = text(row.get("workcode"))
        if not workcode:
            raise errors.unsupported(f"OA user {id} has no workcode, the key of e-cology's synHrmresource")
        item = {"workcode": workcode, **_person_item(fields)}
        for field in fields.clear:
            if field == identity.UserField.EMPLOYEE_NO or field == identity.UserField.TITLE:
                raise errors.unsupported(f"e-cology cannot clear {field.name.lower()} through synHrmresource")
            item[{identity.UserField.MOBILE: "mobile", identity.UserField.EMAIL: "email",
                  identity.UserField.MANAGER_ID: "managerid"}[field]] = ""
        api.hrm_write("synHrmresource", [item])

    def delete_user(self, id: str) -> None:
        _writes_allowed("delete-user")
        # e-cology keeps people; leaving is status 5 (离职).
        workcode = text(directory.find_user_row(id).get("workcode"))
        if not workcode:
            raise errors.unsupported(f"OA user {id} has no workcode, the key of e-cology's synHrmresource")
        api.hrm_write("synHrmresource", [{"workcode": workcode, "status": "5"}])

    def sso_authorize_url(self, redirect_uri: str, state: str, flow: Optional[str]) -> str:
        raise errors.unsupported("e-cology is not used as a sign-in provider here: people sign in through the chat "
                                 "platforms and reach the OA with login-url")

    def sso_resolve(self, request: identity.SsoRequest) -> identity.SsoUser:
        raise errors.unsupported("e-cology is not used as a sign-in provider here (see login-url)")

    def login_url(self, user_id: str, target: Optional[str]) -> str:
        loginid = text(directory.find_user_row(user_id).get("loginid"))
        if not loginid:
            raise errors.invalid_input(f"OA user {user_id} has no loginid, which ssologin/getToken needs")
        path = _landing(target)
        sso = api.sso_token(loginid)
        # ssoToken goes in the query, before any #fragment the OA's single-page app routes on.
        head, hash_mark, fragment = path.partition("#")
        separator = "&" if "?" in head else "?"
        return f"{settings.base_url()}{head}{separator}ssoToken={sso}{hash_mark}{fragment}"


def _landing(target: Optional[str]) -> str:
    """The OA path to land on: `target` as a path, or a URL on the OA's own origin."""
    if not target or not target.strip():
        return HOME
    target = target.strip()
    if len(target) > 2000:
        raise errors.invalid_input("target is longer than 2000 characters")
    if target.startswith(("https://", "http://")):
        base, there = urlsplit(settings.base_url()), urlsplit(target)
        if (there.scheme, there.netloc) != (base.scheme, base.netloc):
            raise errors.invalid_input("target must be a path or a URL of the OA itself (base_url)")
        target = target[len(f"{there.scheme}://{there.netloc}"):] or "/"
    if not target.startswith("/") or target.startswith("//"):
        raise errors.invalid_input("target must be a path of the OA such as /spa/workflow/index_form.jsp")
    return target


def _own_department(id: str) -> identity.Department:
    if id.startswith(SUB):
        raise errors.unsupported("subcompanies are written through synSubcompany, which this connector does not use")
    current = directory.find_department(id)
    if not current.code:
        raise errors.unsupported(f"department {id} has no departmentcode, the key of e-cology's synDepartment")
    return current


def _code_of(department_id: str) -> str:
    unit = directory.find_department(department_id)
    if not unit.code:
        raise errors.invalid_input(f"department {department_id} has no code, which e-cology's syn* writes name "
                                   "departments by")
    return unit.code


def _department_item(fields: identity.DepartmentFields) -> Dict[str, Any]:
    item: Dict[str, Any] = json_object(fields.extra, "department-fields.extra")
    if fields.name is not None:
        item["shortname"] = fields.name
        item["fullname"] = fields.name
    if fields.order is not None:
        item["order"] = str(fields.order)
    if fields.parent_id is not None:
        if fields.parent_id.startswith(SUB):
            item["org_code"] = _subcompany_code(fields.parent_id)
            item["parent_code"] = ""
        else:
            parent = directory.find_department(fields.parent_id)
            if not parent.code:
                raise errors.invalid_input(f"department {fields.parent_id} has no code, which synDepartment "
                                           "names parents by")
            item["parent_code"] = parent.code
            # A department also names its subcompany: the parent's.
            sub = json_object(parent.extra, "extra").get("subcompany_id")
            if sub:
                item["org_code"] = _subcompany_code(SUB + str(sub))
    return item


def _subcompany_code(id: str) -> str:
    unit = directory.find_department(id)
    if not unit.code:
        raise errors.invalid_input(f"subcompany {id} has no code, which synDepartment names it by")
    return unit.code


def _person_item(fields: identity.UserFields) -> Dict[str, Any]:
    item: Dict[str, Any] = json_object(fields.extra, "user-fields.extra")
    item.pop("password", None)  # never set through the directory: the OA owns passwords
    for key, value in (("lastname", fields.name), ("mobile", fields.mobile), ("email", fields.email),
                       ("jobtitle", fields.title)):
        if value is not None:
            item[key] = value
    if fields.department_ids:
        item["department"] = "{JSON}" + json.dumps({"departmentcode": _code_of(fields.department_ids[0])},
                                                   ensure_ascii=False)
    if fields.manager_id is not None:
        manager = text(directory.find_user_row(fields.manager_id).get("workcode"))
        if not manager:
            raise errors.invalid_input(f"manager {fields.manager_id} has no workcode, which synHrmresource needs")
        item["managerid"] = manager
    return item
