"""poll: requests in the integration account's lists changed since the cursor, and the directory's `modified`
feed as contact events."""

import json
import unittest

from qiao_sdk import testing

testing.install()

import fake_oa  # noqa: E402
from capabilities.poll import Poll  # noqa: E402
from componentize_py_types import Err  # noqa: E402


def item(id, moved, **fields):
    return {"requestId": str(id), "requestName": f"R{id}", "lastOperateTime": moved, "lastOperatorId": "2",
            "currentNodeName": "n", "workflowBaseInfo": {"workflowId": "44"}, **fields}


class PollTest(unittest.TestCase):
    def setUp(self) -> None:
        self.host, self.oa = fake_oa.install()

    def test_the_first_poll_starts_from_now(self) -> None:
        batch = Poll().poll(None)
        self.assertEqual(batch.events, [])
        cursor = json.loads(batch.next_cursor)
        self.assertRegex(cursor["wf"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        self.assertEqual(self.host.requests, [])

    def test_changed_requests_and_directory_rows(self) -> None:
        lists = {"getToDoWorkflowRequestList": [item(1, "2026-12-03 10:00:00"), item(2, "2026-12-01 08:00:00")],
                 "getHandledWorkflowRequestList": [item(3, "2026-12-03 11:00:00")],
                 "getMyWorkflowRequestList": [item(1, "2026-12-03 10:00:00")]}
        for name, rows in lists.items():
            self.oa.workflow_answers[name] = rows  # bare arrays, as e-cology's list endpoints answer
        node_types = {"1": "1", "3": "3"}
        self.oa.workflow_answers["getRequestStatus"] = lambda form: {
            "code": "SUCCESS", "errMsg": {}, "data": {"currentNodeType": node_types[form["requestId"]]}}
        self.oa.users = [fake_oa.person(3, 12, modified="2026-12-03 09:30:00", created="2024-01-01 00:00:00"),
                         fake_oa.person(8, 12, modified="2026-12-03 09:40:00", created="2026-12-03 09:40:00"),
                         fake_oa.person(9, 12, modified="2026-12-03 09:41:00", accounttype="1"),
                         fake_oa.person(4, 12)]
        self.oa.departments = [{"id": 14, "departmentname": "Old", "canceled": "1", "modified": "2026-12-03 09:50:00"}]
        cursor = json.dumps({"wf": "2026-12-02 00:00:00", "hr": "2026-12-03 00:00:00"})
        batch = Poll().poll(cursor)
        got = [(e.kind, e.subject, e.id) for e in batch.events]
        self.assertEqual(got, [
            ("approval.status_changed", "1", "wf:1:2026-12-03 10:00:00"),
            ("approval.status_changed", "3", "wf:3:2026-12-03 11:00:00"),
            ("contact.department_deleted", "14", "contact.department_deleted:14:2026-12-03 09:50:00"),
            ("contact.user_updated", "3", "contact.user_updated:3:2026-12-03 09:30:00"),
            ("contact.user_created", "8", "contact.user_created:8:2026-12-03 09:40:00")])
        self.assertEqual([json.loads(e.payload)["status"] for e in batch.events[:2]], ["pending", "approved"])
        self.assertNotIn("HASHED", batch.events[3].payload)
        self.assertEqual(json.loads(batch.next_cursor), {"wf": "2026-12-03 11:00:00", "hr": "2026-12-03 09:50:00"})
        listed = [(n, u, f) for n, u, f in self.oa.workflow_calls if n.endswith("List")]
        self.assertEqual({u for _, u, _ in listed}, {"1"})  # the integration account's lists
        dept = [p for n, p in self.oa.hr_calls if n == "getHrmdepartmentWithPage"][0]
        self.assertEqual((dept["modified"], dept["canceled"]), ("2026-12-03 00:00:00", "2"))

    def test_a_bad_cursor_is_invalid(self) -> None:
        with self.assertRaises(Err):
            Poll().poll("yesterday")


if __name__ == "__main__":
    unittest.main()
