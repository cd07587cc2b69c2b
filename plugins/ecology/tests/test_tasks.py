"""tasks → the OA's unified to-do centre: the OFS payloads, idempotency, completing, and what is unsupported."""

import json
import unittest

from qiao_sdk import testing

testing.install()

import fake_oa  # noqa: E402
from capabilities.tasks import Tasks  # noqa: E402
from componentize_py_types import Err  # noqa: E402
from wit_world.exports import tasks  # noqa: E402
from wit_world.imports import types  # noqa: E402


def new_task(**extra):
    return tasks.NewTask(title="Review the contract", description="see Feishu", assignees=["3", "4"], followers=[],
                         due_ms=None, labels=[], creator="2",
                         extra=json.dumps({"pcurl": "https://feishu.example/task/1", **extra}))


class TasksTest(unittest.TestCase):
    def setUp(self) -> None:
        self.host, self.oa = fake_oa.install()
        self.oa.users = [fake_oa.person(i, 12) for i in (2, 3, 4)]

    def test_create_pushes_one_todo_per_receiver(self) -> None:
        task = Tasks().create(new_task(nodename="Feishu"), "feishu:task:1")
        self.assertEqual(task.id, "q-feishu:task:1")
        self.assertEqual((task.status.category, task.assignees, task.url),
                         (tasks.StatusCategory.OPEN, ["3", "4"], "https://feishu.example/task/1"))
        names = [name for name, _ in self.oa.ofs_calls]
        self.assertEqual(names, ["ReceiveTodoRequestByJson"] * 2)
        first, second = (body for _, body in self.oa.ofs_calls)
        self.assertEqual({k: first[k] for k in ("syscode", "flowid", "requestname", "workflowname", "nodename",
                                                "pcurl", "appurl", "creator", "receiver", "viewtype")},
                         {"syscode": "qiao", "flowid": "q-feishu:task:1", "requestname": "Review the contract",
                          "workflowname": "Qiao", "nodename": "Feishu", "pcurl": "https://feishu.example/task/1",
                          "appurl": "https://feishu.example/task/1", "creator": "user2", "receiver": "user3",
                          "viewtype": "0"})
        self.assertRegex(first["createdatetime"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        self.assertEqual(second["receiver"], "user4")
        self.assertGreater(int(second["receivets"]), int(first["receivets"]))  # only ever forward
        self.assertEqual(self.oa.paths().count("/api/ec/dev/auth/regist"), 1)  # the OA is asked for loginids

        again = Tasks().create(new_task(), "feishu:task:1")  # a retried create is the same to-do
        self.assertEqual(again.id, task.id)
        self.assertEqual(len(self.oa.ofs_calls), 2)

    def test_complete_and_reopen(self) -> None:
        task = Tasks().create(new_task(), "k1")
        looked_up = len(self.oa.hr_calls)
        done = Tasks().complete(task.id)
        self.assertEqual(len(self.oa.hr_calls), looked_up)  # receivers were remembered at create
        self.assertEqual(done.status.category, tasks.StatusCategory.DONE)
        done_calls = [body for name, body in self.oa.ofs_calls if name == "ProcessDoneRequestByJson"]
        self.assertEqual([(b["flowid"], b["receiver"], b["requestname"]) for b in done_calls],
                         [(task.id, "user3", "Review the contract"), (task.id, "user4", "Review the contract")])
        Tasks().complete(task.id)  # a done task is no error, and nothing is sent
        self.assertEqual(len(self.oa.ofs_calls), 4)
        self.assertEqual(Tasks().get(task.id).status.category, tasks.StatusCategory.DONE)
        self.assertEqual(Tasks().move_to(task.id, tasks.Target_Status(tasks.StatusCategory.OPEN)).status.category,
                         tasks.StatusCategory.OPEN)
        self.assertEqual(self.oa.ofs_calls[-1][0], "ReceiveTodoRequestByJson")

    def test_update_moves_receivers(self) -> None:
        task = Tasks().create(new_task(), "k2")
        changes = tasks.TaskChanges(title="Renamed", description=tasks.TextChange_Keep(),
                                    due_ms=tasks.TimeChange_Keep(), assignees=["4"], followers=None, labels=None,
                                    extra=None)
        updated = Tasks().update(task.id, changes)
        self.assertEqual((updated.title, updated.assignees), ("Renamed", ["4"]))
        self.assertEqual([n for n, _ in self.oa.ofs_calls[2:]], ["ReceiveTodoRequestByJson",
                                                                 "deleteUserRequestInfoByJson"])
        self.assertEqual(self.oa.ofs_calls[-1][1], {"syscode": "qiao", "flowid": task.id, "userid": "user3"})

    def test_refusals(self) -> None:
        self.oa.ofs_result = "0"
        with self.assertRaises(Err) as raised:
            Tasks().create(new_task(), "k3")
        self.assertEqual((raised.exception.value.kind, raised.exception.value.platform_message),
                         (types.ErrorKind.INVALID_INPUT, "接收人不存在"))
        with self.assertRaises(Err) as raised:
            Tasks().create(tasks.NewTask("t", None, ["3"], [], None, [], None, None), None)
        self.assertIn("pcurl", raised.exception.value.message)
        del self.host.config["ofs_syscode"]
        with self.assertRaises(Err) as raised:
            Tasks().create(new_task(), "k4")
        self.assertIn("ofs_syscode", raised.exception.value.message)
        with self.assertRaises(Err) as raised:
            Tasks().get("q-nothing")
        self.assertEqual(raised.exception.value.kind, types.ErrorKind.NOT_FOUND)
        for call in (lambda: Tasks().comment("x", "hi", None),
                     lambda: Tasks().list(tasks.TaskQuery(None, None, None, None, None, None, 10))):
            with self.assertRaises(Err) as raised:
                call()
            self.assertEqual(raised.exception.value.kind, types.ErrorKind.UNSUPPORTED)
            self.assertTrue(raised.exception.value.message)

    def test_receiver_rule(self) -> None:
        self.host.config["ofs_user_rule"] = "id"
        Tasks().create(new_task(), "k5")
        self.assertEqual([b["receiver"] for _, b in self.oa.ofs_calls], ["3", "4"])
        self.assertNotIn("/api/hrm/resful/getHrmUserInfoWithPage", self.oa.paths())


if __name__ == "__main__":
    unittest.main()
