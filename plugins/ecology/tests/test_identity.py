"""identity: the department tree from subcompanies + departments, paged people, writes gated by a setting, and
login-url through ssologin/getToken."""

import json
import unittest

from qiao_sdk import testing

testing.install()

import fake_oa  # noqa: E402
from capabilities.identity import Identity  # noqa: E402
from componentize_py_types import Err  # noqa: E402
from wit_world.exports import identity  # noqa: E402
from wit_world.imports import types  # noqa: E402


def seed(oa: fake_oa.FakeOA) -> None:
    oa.subcompanies = [
        {"id": 1, "subcompanyname": "HQ", "subcompanycode": "HQ", "supsubcomid": "0", "canceled": "0",
         "showorder": "1.0", "modified": "2024-01-02 09:00:00"},
        {"id": 2, "subcompanyname": "Shanghai", "subcompanycode": "SH", "supsubcomid": "1", "canceled": "",
         "showorder": "2", "modified": "2024-01-02 09:00:00"},
    ]
    oa.departments = [
        {"id": 11, "departmentname": "Executive", "departmentmark": "Exec", "departmentcode": "EXEC",
         "supdepid": "0", "subcompanyid1": "1", "canceled": "0", "showorder": "1", "modified": "2024-01-02 09:00:00"},
        {"id": 12, "departmentname": "Engineering", "departmentcode": "ENG", "supdepid": "11", "subcompanyid1": "1",
         "canceled": "0", "showorder": "2", "modified": "2024-01-02 09:00:00"},
        {"id": 13, "departmentname": "Sales", "departmentcode": "SALES", "supdepid": "0", "subcompanyid1": "2",
         "canceled": "0", "modified": "2024-01-02 09:00:00"},
        {"id": 14, "departmentname": "Old", "departmentcode": "OLD", "supdepid": "0", "subcompanyid1": "2",
         "canceled": "1", "modified": "2024-01-02 09:00:00"},
    ]
    oa.users = [fake_oa.person(2, 11), fake_oa.person(3, 12, managerid="2", jobtitlename="Engineer"),
                fake_oa.person(4, 12, status="5"), fake_oa.person(6, 12, accounttype="1", belongto="3")]


class ReadTest(unittest.TestCase):
    def setUp(self) -> None:
        self.host, self.oa = fake_oa.install()
        seed(self.oa)

    def test_the_tree_joins_subcompanies_and_departments(self) -> None:
        found = {d.id: (d.name, d.parent_id, d.code, d.order) for d in Identity().list_departments(None, True)}
        self.assertEqual(found, {
            "sub-1": ("HQ", None, "HQ", 1), "sub-2": ("Shanghai", "sub-1", "SH", 2),
            "11": ("Executive", "sub-1", "EXEC", 1), "12": ("Engineering", "11", "ENG", 2),
            "13": ("Sales", "sub-2", "SALES", None)})  # 14 is sealed: gone
        self.assertEqual([d.id for d in Identity().list_departments(None, False)], ["sub-1"])
        self.assertEqual([d.id for d in Identity().list_departments("sub-1", False)], ["sub-2", "11"])
        self.assertEqual(sorted(d.id for d in Identity().list_departments("sub-2", True)), ["13"])
        with self.assertRaises(Err) as raised:
            Identity().list_departments("14", True)
        self.assertEqual(raised.exception.value.kind, types.ErrorKind.NOT_FOUND)
        self.assertEqual(json.loads(Identity().get_department("12").extra)["kind"], "department")
        with self.assertRaises(Err):
            Identity().get_department("14")

    def test_org_units_are_paged_until_a_short_page(self) -> None:
        self.oa.departments = [{"id": 100 + i, "departmentname": f"D{i}", "supdepid": "0", "subcompanyid1": "1",
                                "canceled": "0"} for i in range(250)]
        self.assertEqual(len(Identity().list_departments(None, True)), 2 + 250)
        pages = [p["curpage"] for name, p in self.oa.hr_calls if name == "getHrmdepartmentWithPage"]
        self.assertEqual(pages, [1, 2])

    def test_people(self) -> None:
        page = Identity().list_users("12", None, 2)
        self.assertEqual([u.id for u in page.users], ["3", "4"])
        self.assertEqual(page.next_cursor, "2")
        li = page.users[0]
        self.assertEqual((li.name, li.employee_no, li.mobile, li.email, li.manager_id, li.department_ids, li.active,
                          li.title), ("Person 3", "E0003", "13800000003", "user3@example.test", "2", ["12"], True,
                                      "Engineer"))
        self.assertEqual(json.loads(li.extra)["loginid"], "user3")
        self.assertNotIn("HASHED", li.extra)  # the password hash never leaves
        self.assertFalse(page.users[1].active)  # status 5 (离职)
        last = Identity().list_users("12", page.next_cursor, 2)
        self.assertEqual((last.users, last.next_cursor), ([], None))  # the sub-account (6) is skipped
        calls = [p for name, p in self.oa.hr_calls if name == "getHrmUserInfoWithPage"]
        self.assertEqual([(p["departmentid"], p["curpage"], p["pagesize"]) for p in calls],
                         [("12", 1, 2), ("12", 2, 2)])
        self.assertEqual(Identity().list_users("sub-1", None, 100).users, [])
        with self.assertRaises(Err) as raised:
            Identity().list_users("12", "two", 10)
        self.assertEqual(raised.exception.value.kind, types.ErrorKind.INVALID_INPUT)

    def test_get_and_find(self) -> None:
        self.assertEqual(Identity().get_user("2").name, "Person 2")
        with self.assertRaises(Err) as raised:
            Identity().get_user("99")
        self.assertEqual(raised.exception.value.kind, types.ErrorKind.NOT_FOUND)
        for odd in ("1; drop", "١٢", "²"):
            with self.assertRaises(Err) as raised:
                Identity().get_user(odd)
            self.assertEqual(raised.exception.value.kind, types.ErrorKind.INVALID_INPUT)
        with self.assertRaises(Err) as raised:
            Identity().get_user("1; drop")
        self.assertEqual(raised.exception.value.kind, types.ErrorKind.INVALID_INPUT)
        self.assertEqual(Identity().find_user(identity.UserKey_Mobile("13800000003")), "3")
        self.assertEqual(Identity().find_user(identity.UserKey_Email("USER2@example.test")), "2")
        self.assertEqual(Identity().find_user(identity.UserKey_UnionId("user4")), "4")

    def test_writes_are_off_by_default_and_name_the_setting(self) -> None:
        with self.assertRaises(Err) as raised:
            Identity().create_user(identity.UserFields(None, "New", None, None, None, "E9", ["12"], None, None, []),
                                   None)
        self.assertEqual(raised.exception.value.kind, types.ErrorKind.FORBIDDEN)
        self.assertIn("directory_writes", raised.exception.value.message)
        self.assertEqual(self.oa.hr_calls, [])

    def test_writes_go_through_syn_upserts_when_allowed(self) -> None:
        self.host.config["directory_writes"] = "true"
        self.oa.users.append(fake_oa.person(9, 12, workcode="E9"))  # what the OA lists after the upsert
        user = Identity().create_user(identity.UserFields(None, "New", "139", None, None, "E9", ["12"], "2", None, []),
                                      None)
        self.assertEqual(user.id, "9")
        name, sent = [c for c in self.oa.hr_calls if c[0] == "synHrmresource"][0]
        self.assertEqual(sent["data"], [{"workcode": "E9", "lastname": "New", "mobile": "139",
                                         "department": '{JSON}{"departmentcode": "ENG"}', "managerid": "E0002"}])
        Identity().delete_user("3")
        self.assertEqual(self.oa.hr_calls[-1], ("synHrmresource", {"data": [{"workcode": "E0003", "status": "5"}]}))
        self.oa.departments.append({"id": 15, "departmentname": "QA", "departmentcode": "QA", "supdepid": "12",
                                    "subcompanyid1": "1", "canceled": "0"})
        made = Identity().create_department(identity.DepartmentFields("QA", "12", 5, "QA", None), None)
        self.assertEqual(made.id, "15")
        item = [c for c in self.oa.hr_calls if c[0] == "synDepartment"][-1][1]["data"][0]
        self.assertEqual(item, {"@action": "add", "code": "QA", "shortname": "QA", "fullname": "QA", "order": "5",
                                "parent_code": "ENG", "org_code": "HQ"})


class LoginUrlTest(unittest.TestCase):
    def setUp(self) -> None:
        self.host, self.oa = fake_oa.install()
        seed(self.oa)

    def test_signs_the_person_in_by_loginid(self) -> None:
        url = Identity().login_url("3", None)
        self.assertEqual(url, "https://oa.example.test/wui/index.html?ssoToken=sso-user3-token#/main")
        self.assertEqual(self.oa.sso_calls, [{"appid": "qiao-sso", "loginid": "user3"}])
        target = "/spa/workflow/index_form.jsp#/main/workflow/req?requestid=5074"
        self.assertEqual(Identity().login_url("3", target),
                         "https://oa.example.test/spa/workflow/index_form.jsp?ssoToken=sso-user3-token"
                         "#/main/workflow/req?requestid=5074")
        self.assertEqual(Identity().login_url("3", "https://oa.example.test/x.jsp?a=1"),
                         "https://oa.example.test/x.jsp?a=1&ssoToken=sso-user3-token")
        self.assertFalse(any("sso-user3-token" in str(line) for line in self.host.logs))

    def test_refusals(self) -> None:
        for target in ("https://evil.example/", "//evil.example/x", "relative"):
            with self.assertRaises(Err) as raised:
                Identity().login_url("3", target)
            self.assertEqual(raised.exception.value.kind, types.ErrorKind.INVALID_INPUT, target)
        self.host.config["sso_appid"] = "unknown"
        with self.assertRaises(Err) as raised:
            Identity().login_url("3", None)
        self.assertEqual(raised.exception.value.kind, types.ErrorKind.FORBIDDEN)
        with self.assertRaises(Err) as raised:
            Identity().login_url("99", None)
        self.assertEqual(raised.exception.value.kind, types.ErrorKind.NOT_FOUND)


if __name__ == "__main__":
    unittest.main()
