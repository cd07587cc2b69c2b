package com.acmelabs.qiao;

import java.util.ArrayList;

import weaver.ofs.interfaces.SendRequestStatusDataInterfaces;
import weaver.workflow.request.todo.DataObj;
import weaver.workflow.request.todo.RequestStatusObj;

/**
 * The unified to-do centre's outbound push (ECOLOGY.md §4.2): registered in 统一待办中心 with a syscode and this
 * class, the OA calls it with every to-do, done and deleted item; each becomes one signed event for Qiao.
 * Package names follow Weaver's sample (niuzhimeng/weaver9 TestSendImpl.java); check them against your OA's jars.
 */
public class QiaoTodoPush implements SendRequestStatusDataInterfaces {
    @Override
    public void SendRequestStatusData(ArrayList<DataObj> batch) {
        for (DataObj data : batch) {
            String requestId = data.getRequestid();
            String ts = String.valueOf(data.getSendtimestamp());
            send(requestId, ts, "todo", data.getTododatas());
            send(requestId, ts, "done", data.getDonedatas());
            send(requestId, ts, "delete", data.getDeldatas());
        }
    }

    private static void send(String requestId, String ts, String action, ArrayList<RequestStatusObj> items) {
        if (items == null) return;
        for (RequestStatusObj item : items) {
            String user = String.valueOf(item.getUser().getUID());
            // The OA's own timestamp makes the id stable when the OA retries the same push.
            String id = requestId + ":" + user + ":" + action + ":" + ts;
            QiaoHook.post(QiaoHook.todoEvent(id, requestId, user, action, item.getRequstname(), item.getNodename(),
                                             item.getIsremark()));
        }
    }
}
