package com.acmelabs.qiao;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Posts one event to Qiao, signed as the ecology connector verifies it:
 * {@code X-Qiao-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>} over the exact bytes sent.
 *
 * Configure with two JVM system properties (or edit {@link #url()} / {@link #secret()} to read a prop file):
 * {@code qiao.hook.url} = https://qiao.example.com/v1/hooks/{connection}, {@code qiao.hook.secret} = the
 * connection's {@code hook_secret}. Only the JDK is used here; the Weaver-facing classes are next to it.
 */
public final class QiaoHook {
    private QiaoHook() {}

    static String url() { return System.getProperty("qiao.hook.url", ""); }

    static String secret() { return System.getProperty("qiao.hook.secret", ""); }

    /** A new delivery id: the same event sent again must reuse its id, so Qiao stores it once. */
    public static String newId() { return UUID.randomUUID().toString(); }

    /** JSON string literal (the events carry only strings and one number). */
    static String str(String value) {
        if (value == null) return "null";
        StringBuilder out = new StringBuilder("\"");
        for (char c : value.toCharArray()) {
            switch (c) {
                case '"': out.append("\\\""); break;
                case '\\': out.append("\\\\"); break;
                case '\n': out.append("\\n"); break;
                case '\r': out.append("\\r"); break;
                case '\t': out.append("\\t"); break;
                default:
                    if (c < 0x20) out.append(String.format("\\u%04x", (int) c)); else out.append(c);
            }
        }
        return out.append('"').toString();
    }

    /** A workflow event: status is draft, pending, approved, rejected or canceled. */
    public static String workflowEvent(String id, String requestId, String workflowId, String requestName,
                                       String status, String from, String nodeName, String operatorId,
                                       String remark) {
        return "{\"id\":" + str(id) + ",\"type\":\"workflow\",\"time\":" + System.currentTimeMillis()
            + ",\"requestId\":" + str(requestId) + ",\"workflowId\":" + str(workflowId)
            + ",\"requestName\":" + str(requestName) + ",\"status\":" + str(status) + ",\"from\":" + str(from)
            + ",\"nodeName\":" + str(nodeName) + ",\"operatorId\":" + str(operatorId)
            + ",\"remark\":" + str(remark) + "}";
    }

    /** A to-do event for one person: action is todo, done or delete. */
    public static String todoEvent(String id, String requestId, String userId, String action, String requestName,
                                   String nodeName, String isremark) {
        return "{\"id\":" + str(id) + ",\"type\":\"todo\",\"time\":" + System.currentTimeMillis()
            + ",\"requestId\":" + str(requestId) + ",\"userId\":" + str(userId) + ",\"action\":" + str(action)
            + ",\"requestName\":" + str(requestName) + ",\"nodeName\":" + str(nodeName)
            + ",\"isremark\":" + str(isremark) + "}";
    }

    /** Sends it; true when Qiao answered 200. Never throws: a hook must not break the OA's own flow. */
    public static boolean post(String json) {
        if (url().isEmpty() || secret().isEmpty()) return false;
        try {
            byte[] body = json.getBytes(StandardCharsets.UTF_8);
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret().getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
            StringBuilder hex = new StringBuilder();
            for (byte b : mac.doFinal(body)) hex.append(String.format("%02x", b & 0xff));
            HttpURLConnection http = (HttpURLConnection) new URL(url()).openConnection();
            http.setRequestMethod("POST");
            http.setConnectTimeout(3000);
            http.setReadTimeout(5000);
            http.setDoOutput(true);
            http.setRequestProperty("Content-Type", "application/json; charset=utf-8");
            http.setRequestProperty("X-Qiao-Signature", "sha256=" + hex);
            try (OutputStream out = http.getOutputStream()) { out.write(body); }
            int status = http.getResponseCode();
            try (InputStream in = status < 400 ? http.getInputStream() : http.getErrorStream()) {
                if (in != null) while (in.read() != -1) { /* drain so the connection is reused */ }
            }
            return status == 200;
        } catch (Exception e) {
            return false;
        }
    }
}
