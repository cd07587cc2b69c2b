"""The echo connector in Python (componentize-py): the same behaviour as the Rust `echo` and JavaScript `echo-js`
connectors, against the echo test server. Built by build.sh; `wit_world` is generated from wit/ at build time."""

import json
from typing import List, Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import describe, messaging, webhook
from wit_world.imports import config, crypto, http, kv, types


def error(kind: types.ErrorKind, message: str, platform_code: Optional[str] = None) -> Err:
    return Err(types.Error(kind=kind, message=message, platform_code=platform_code, platform_message=None,
                           retry_after_ms=None))


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def header(headers: List[tuple], name: str) -> Optional[str]:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


class Describe(exports.Describe):
    def describe(self) -> describe.Info:
        return describe.Info(
            id="echo-py",
            name="Echo (Python)",
            version="1.0.0",
            vendor="Qiao",
            platform="echo",
            hosts=["echo.invalid"],
            config=[
                describe.ConfigField(key="api_base", description="Base URL of the echo test server", required=False,
                                     secret=False, api_base=True),
                describe.ConfigField(key="greeting", description="A greeting (unused; shows a plain setting)",
                                     required=False, secret=False, api_base=False),
                describe.ConfigField(key="token", description="Sent as x-echo-token; the webhook signing key",
                                     required=False, secret=True, api_base=False),
            ],
        )


def content_text(content: messaging.Content) -> str:
    if isinstance(content, messaging.Content_Text):
        return content.value
    if isinstance(content, messaging.Content_Markdown):
        return content.value.text
    return content.value.title


def http_error(e: http.HttpError) -> Err:
    if isinstance(e, http.HttpError_NotAllowed):
        return error(types.ErrorKind.FORBIDDEN, f"echo server not allowed: {e.value}")
    if isinstance(e, http.HttpError_InvalidRequest):
        return error(types.ErrorKind.UNAVAILABLE, f"invalid request to the echo server: {e.value}")
    if isinstance(e, http.HttpError_Timeout):
        return error(types.ErrorKind.UNAVAILABLE, "echo server timed out")
    if isinstance(e, http.HttpError_TooLarge):
        return error(types.ErrorKind.UNAVAILABLE, f"echo server response larger than {e.value} bytes")
    if isinstance(e, http.HttpError_RequestLimit):
        return error(types.ErrorKind.UNAVAILABLE, f"outbound request limit ({e.value}) reached")
    return error(types.ErrorKind.UNAVAILABLE, f"echo server unreachable: {e.value}")


class Messaging(exports.Messaging):
    def send(self, message: messaging.Message) -> messaging.SendResult:
        base = config.get("api_base")
        if not base:
            raise error(types.ErrorKind.INVALID_INPUT, "api_base is not configured")

        stored = kv.get("sent")
        n = (int(stored.decode()) if stored else 0) + 1
        kv.set("sent", str(n).encode(), None)
        message_id = f"msg-{n}"

        users = [u for u in message.to.users if not u.startswith("bad-")]
        problems = [messaging.DeliveryProblem(recipient=u, code="invalid-user", reason="unknown user")
                    for u in message.to.users if u.startswith("bad-")]

        body = dumps({
            "id": message_id,
            "to": users,
            "content": content_text(message.content),
            "urgent": message.urgent,
            "idempotency_key": message.idempotency_key,
        })
        headers = [("content-type", "application/json")]
        token = config.get("token")
        if token is not None:
            headers.append(("x-echo-token", token))
        request = http.Request(method=http.Method.POST, url=f"{base.rstrip('/')}/echo", headers=headers,
                               body=body.encode(), timeout_ms=None)
        try:
            response = http.send(request)
        except Err as e:
            raise http_error(e.value)
        text = response.body.decode("utf-8", errors="replace")
        if not 200 <= response.status < 300:
            raise error(types.ErrorKind.UNAVAILABLE, f"echo server answered {response.status}: {text[:200]}",
                        platform_code=str(response.status))

        kv.set(f"msg:{message_id}", dumps({"users": users}).encode(), None)
        return messaging.SendResult(message_id=message_id, problems=problems, extra=text)

    def recall(self, message_id: str) -> None:
        key = f"msg:{message_id}"
        if kv.get(key) is None:
            raise error(types.ErrorKind.NOT_FOUND, f"no message {message_id}")
        kv.delete(key)

    def read_status(self, message_id: str) -> messaging.ReadReceipts:
        stored = kv.get(f"msg:{message_id}")
        if stored is None:
            raise error(types.ErrorKind.NOT_FOUND, f"no message {message_id}")
        users = json.loads(stored.decode()).get("users", [])
        return messaging.ReadReceipts(read=[], unread=users, problems=[])


class Webhook(exports.Webhook):
    def handle(self, request: webhook.Request) -> webhook.Outcome:
        body = bytes(request.body)
        signature = header(request.headers, "x-echo-signature")
        if signature is not None:
            key = (config.get("token") or "").encode()
            if signature != crypto.hmac_sha256(key, body).hex():
                raise error(types.ErrorKind.UNAUTHORIZED, "bad signature")

        content_type = header(request.headers, "content-type") or "text/plain"
        event_id = header(request.headers, "x-event-id")
        if event_id is None:
            event_id = crypto.sha256(body).hex()
        payload = dumps({
            "body": body.decode("utf-8", errors="replace"),
            "method": request.method,
            "query": request.query,
        })
        event = types.Event(id=event_id, kind="echo.received", time_ms=None, subject=request.path, payload=payload)
        response = webhook.Response(status=200, headers=[("content-type", content_type)], body=body)
        return webhook.Outcome(response=response, events=[event])
