"""webhook: the OA-side events, HMAC-verified over the raw body, as approval and task events."""

import hashlib
import hmac
import json
import unittest

from qiao_sdk import testing

testing.install()

import fake_oa  # noqa: E402
from capabilities.tasks import Tasks  # noqa: E402
from capabilities.webhook import Webhook  # noqa: E402
from componentize_py_types import Err  # noqa: E402
from wit_world.exports import webhook  # noqa: E402
from wit_world.imports import types  # noqa: E402

SECRET = b"hook-s3cret"


def post(event, *, secret=SECRET, raw=None, header=None):
    body = raw if raw is not None else json.dumps(event, ensure_ascii=False).encode()
    signature = header if header is not None else "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return Webhook().handle(webhook.Request("POST", "/", "", [("content-type", "application/json"),
                                                              ("x-qiao-signature", signature)], body))


class WebhookTest(unittest.TestCase):
    def setUp(self) -> None:
        self.host, self.oa = fake_oa.install()

    def test_a_workflow_event_is_an_approval_status_change(self) -> None:
        event = {"id": "d-1", "type": "workflow", "time": 1796263200000, "requestId": "5074", "workflowId": "44",
                 "requestName": "报销", "status": "approved", "from": "pending", "operatorId": "2",
                 "nodeName": "总经理审批", "remark": "同意"}
        outcome = post(event)
        self.assertEqual(outcome.response.status, 200)
        [found] = outcome.events
        self.assertEqual((found.id, found.kind, found.subject, found.time_ms),
                         ("d-1", "approval.status_changed", "5074", 1796263200000))
        payload = json.loads(found.payload)
        self.assertEqual({k: payload[k] for k in ("instance_id", "template", "status", "from", "actor", "comment")},
                         {"instance_id": "5074", "template": "44", "status": "approved", "from": "pending",
                          "actor": "2", "comment": "同意"})
        self.assertEqual(payload["platform"], event)

    def test_todo_events_are_task_events_and_readable(self) -> None:
        todo = {"id": "d-2", "type": "todo", "time": 1, "requestId": "5074", "userId": "3", "action": "todo",
                "requestName": "报销", "nodeName": "经理审批", "isremark": "0"}
        [created] = post(todo).events
        self.assertEqual((created.kind, created.subject, created.id), ("task.created", "wf-5074-3", "d-2:task.created"))
        self.assertEqual(json.loads(created.payload)["url"],
                         "https://oa.example.test/spa/workflow/index_form.jsp#/main/workflow/req?requestid=5074")
        task = Tasks().get("wf-5074-3")
        self.assertEqual((task.title, task.assignees), ("报销", ["3"]))
        with self.assertRaises(Err) as raised:  # moves with its request, not through OFS
            Tasks().complete("wf-5074-3")
        self.assertEqual(raised.exception.value.kind, types.ErrorKind.UNSUPPORTED)
        [done] = post({**todo, "id": "d-3", "action": "done", "isremark": "2"}).events
        self.assertEqual(done.kind, "task.status_changed")
        self.assertEqual((json.loads(done.payload)["from"], json.loads(done.payload)["to"]),
                         ({"category": "open"}, {"category": "done"}))
        [gone] = post({**todo, "id": "d-4", "action": "delete"}).events
        self.assertEqual(gone.kind, "task.deleted")
        with self.assertRaises(Err):
            Tasks().get("wf-5074-3")

    def test_forged_unsigned_and_malformed_posts_store_nothing(self) -> None:
        event = {"id": "d-5", "type": "workflow", "requestId": "1", "status": "approved"}
        for outcome in (post(event, secret=b"wrong"), post(event, header=""), post(event, header="sha1=00")):
            self.assertEqual((outcome.response.status, outcome.events), (401, []))
        body = json.dumps(event).encode()
        signed = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        self.assertEqual(post(None, raw=body + b" ", header=signed).response.status, 401)  # the exact bytes
        self.assertEqual(post(None, raw=b"not json").response.status, 400)
        self.assertEqual(post({**event, "status": "weird"}).response.status, 400)
        self.assertEqual(post({**event, "requestId": "1 OR 1"}).response.status, 400)
        del self.host.config["hook_secret"]
        self.assertEqual(post(event).response.status, 401)
        get = Webhook().handle(webhook.Request("GET", "/", "", [], b""))
        self.assertEqual(get.response.status, 405)


if __name__ == "__main__":
    unittest.main()
