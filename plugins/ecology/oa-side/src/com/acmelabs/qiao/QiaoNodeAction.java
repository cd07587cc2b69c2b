package com.acmelabs.qiao;

import weaver.interfaces.workflow.action.Action;
import weaver.soa.workflow.request.RequestInfo;

/**
 * A node action (节点后附加操作) that tells Qiao a request moved. Bind it in 集成中心 → 流程流转集成 (动作集成) to
 * the nodes whose passing matters, with the status that passing means as the action's parameter {@code status}
 * (e.g. "pending" after the creation node, "approved" on the last approval node's exit, "rejected" with
 * "退回时触发" ticked). It never blocks the flow: a failed post is only lost, and polling repairs it.
 */
public class QiaoNodeAction implements Action {
    /** Set by the action's configuration (动作参数): draft, pending, approved, rejected or canceled. */
    private String status = "pending";

    public void setStatus(String status) { this.status = status; }

    @Override
    public String execute(RequestInfo info) {
        String requestId = info.getRequestid();
        String json = QiaoHook.workflowEvent(
            requestId + ":" + info.getRequestManager().getNodeid() + ":" + status + ":" + System.currentTimeMillis(),
            requestId, info.getWorkflowid(), info.getRequestManager().getRequestname(), status, null,
            String.valueOf(info.getRequestManager().getNodeid()), String.valueOf(info.getRequestManager().getUserId()),
            info.getRequestManager().getRemark());
        QiaoHook.post(json);
        return Action.SUCCESS;
    }
}
