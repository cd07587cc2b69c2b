"""approval through paService: what is sent, who acts, and the {code, data, errMsg} envelope as error kinds."""

import json
import unittest

from qiao_sdk import testing

testing.install()

import fake_oa  # noqa: E402
from capabilities.approval import Approval  # noqa: E402
from componentize_py_types import Err  # noqa: E402
from wit_world.exports import approval  # noqa: E402
from wit_world.imports import types  # noqa: E402

DETAIL = [{"tableDBName": "formtable_main_44_dt1", "workflowRequestTableRecords": [
    {"recordOrder": 0, "workflowRequestTableFields": [{"fieldName": "amount", "fieldValue": "12.5"}]}]}]


def create_request(**options):
    return approval.CreateRequest(template="44", applicant="3", department_id=None,
                                  fields=[approval.FormField("reason", "taxi", None)], approvers=[],
                                  idempotency_key=None, options=json.dumps(options) if options else None)


class ApprovalTest(unittest.TestCase):
    def setUp(self) -> None:
        self.host, self.oa = fake_oa.install()

    def test_create_sends_main_and_detail_data_as_the_applicant(self) -> None:
        self.oa.workflow_answers["doCreateRequest"] = {"code": "SUCCESS", "data": {"requestid": 5074}, "errMsg": {}}
        created = Approval().create(create_request(requestName="Taxi", detailData=DETAIL,
                                                   otherParams={"isnextflow": "0"}))
        self.assertEqual(created.id, "5074")
        name, user, form = self.oa.workflow_calls[0]
        self.assertEqual((name, user), ("doCreateRequest", "3"))
        self.assertEqual(form["workflowId"], "44")
        self.assertEqual(form["requestName"], "Taxi")
        self.assertEqual(json.loads(form["mainData"]), [{"fieldName": "reason", "fieldValue": "taxi"}])
        self.assertEqual(json.loads(form["detailData"]), DETAIL)
        self.assertEqual(json.loads(form["otherParams"]), {"isnextflow": "0"})
        content_type = dict(self.host.requests[-1].headers)["content-type"]
        self.assertEqual(content_type, "application/x-www-form-urlencoded")

    def test_create_checks_its_input(self) -> None:
        for request in (create_request(), create_request(requestName="x", bogus=1)):
            with self.assertRaises(Err) as raised:
                Approval().create(request)
            self.assertEqual(raised.exception.value.kind, types.ErrorKind.INVALID_INPUT)
        self.assertEqual(self.oa.workflow_calls, [])

    def test_the_envelope_codes_are_error_kinds(self) -> None:
        cases = {"PARAM_ERROR": types.ErrorKind.INVALID_INPUT, "NO_PERMISSION": types.ErrorKind.FORBIDDEN,
                 "SYSTEM_INNER_ERROR": types.ErrorKind.UNAVAILABLE, "SOMETHING_NEW": types.ErrorKind.INTERNAL}
        for code, kind in cases.items():
            self.oa.workflow_answers["submitRequest"] = {"code": code, "data": {}, "errMsg": {"msg": "没有权限"}}
            with self.assertRaises(Err) as raised:
                Approval().act(approval.ActRequest("5074", None, None, approval.Action.APPROVE, "ok", None))
            error = raised.exception.value
            self.assertEqual((error.kind, error.platform_code), (kind, code))
            self.assertIn("没有权限", error.platform_message)

    def test_a_bad_token_is_unauthorized_after_one_reapply(self) -> None:
        self.oa.refuse_tokens = True
        with self.assertRaises(Err) as raised:
            Approval().act(approval.ActRequest("5074", None, None, approval.Action.REJECT, None, None))
        self.assertEqual(raised.exception.value.kind, types.ErrorKind.UNAUTHORIZED)
        self.assertEqual(self.oa.paths().count("/api/workflow/paService/rejectRequest"), 2)

    def test_an_unknown_acting_user_is_invalid_input(self) -> None:
        self.oa.workflow_answers["submitRequest"] = {"msg": "登录信息超时", "errorCode": "002", "status": False}
        with self.assertRaises(Err) as raised:
            Approval().act(approval.ActRequest("5074", None, "77", approval.Action.APPROVE, None, None))
        self.assertEqual((raised.exception.value.kind, raised.exception.value.platform_code),
                         (types.ErrorKind.INVALID_INPUT, "002"))

    def test_approve_and_reject_act_as_the_actor_or_the_integration_account(self) -> None:
        Approval().act(approval.ActRequest("5074", None, "4", approval.Action.APPROVE, "fine", None))
        Approval().act(approval.ActRequest("5074", None, None, approval.Action.REJECT, "no", None))
        self.assertEqual([(n, u, f) for n, u, f in self.oa.workflow_calls],
                         [("submitRequest", "4", {"requestId": "5074", "remark": "fine"}),
                          ("rejectRequest", "1", {"requestId": "5074", "remark": "no"})])
        with self.assertRaises(Err) as raised:
            Approval().cancel(approval.CancelRequest("5074", None, None, None))
        self.assertEqual(raised.exception.value.kind, types.ErrorKind.UNSUPPORTED)

    def test_get_reads_as_someone_on_the_request(self) -> None:
        self.oa.workflow_answers["doCreateRequest"] = {"code": "SUCCESS", "data": {"requestid": 77}, "errMsg": {}}
        Approval().create(create_request(requestName="Taxi"))
        Approval().act(approval.ActRequest("77", None, "2", approval.Action.APPROVE, None, None))
        seen = []

        def answer(form):
            seen.append(self.oa.workflow_calls[-1][1])
            if self.oa.workflow_calls[-1][1] != "3":
                return {"code": "NO_PERMISSION", "data": {}, "errMsg": {"msg": "没有查看该流程的权限"}}
            return {"code": "SUCCESS", "errMsg": {}, "data": {"requestId": "77", "creatorId": "3",
                                                              "currentNodeType": "1"}}
        self.oa.workflow_answers["getWorkflowRequest"] = answer
        self.assertEqual(Approval().get("77", None).status, approval.Status.PENDING)
        self.assertEqual(seen, ["2", "3"])  # the last to act first, then the applicant
        with self.assertRaises(Err) as raised:
            Approval().get("78", None)  # nobody known: the integration account, refused
        self.assertEqual(raised.exception.value.kind, types.ErrorKind.FORBIDDEN)

    def test_get_maps_the_node_type_and_logs_to_a_status(self) -> None:
        def answer(node_type, log_types):
            return {"code": "SUCCESS", "errMsg": {}, "data": {
                "requestId": "5074", "requestName": "Taxi", "creatorId": "3", "currentNodeType": node_type,
                "currentNodeName": "Manager", "currentOperatorIds": ["2"],
                "workflowBaseInfo": {"workflowId": "44", "workflowName": "Expense"},
                "workflowMainTableInfo": {"requestRecords": [{"workflowRequestTableFields": [
                    {"fieldName": "reason", "fieldValue": "taxi"}]}]},
                "workflowRequestLogs": [{"operatorId": "2", "operateType": t, "remark": "r" if t == "3" else "",
                                         "operateDate": "2026-12-03", "operateTime": "10:00:00"} for t in log_types]}}
        cases = [("1", ["2"], approval.Status.PENDING), ("3", ["2", "0", "0"], approval.Status.APPROVED),
                 ("0", ["2", "3"], approval.Status.REJECTED), ("0", [], approval.Status.DRAFT)]
        for node_type, logs, status in cases:
            self.oa.workflow_answers["getWorkflowRequest"] = answer(node_type, logs)
            got = Approval().get("5074", None)
            self.assertEqual(got.status, status, (node_type, logs))
        self.assertEqual((got.template, got.title, got.applicant), ("44", "Taxi", "3"))
        self.assertEqual([(f.name, f.value) for f in got.fields], [("reason", "taxi")])
        self.assertEqual([t.assignee for t in got.tasks], ["2"])
        self.oa.workflow_answers["getWorkflowRequest"] = answer("0", ["2", "3"])
        comments = Approval().get("5074", None).comments
        self.assertEqual([(c.author, c.text, c.time_ms) for c in comments], [("2", "r", 1796263200000)])


if __name__ == "__main__":
    unittest.main()
