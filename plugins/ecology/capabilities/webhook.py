"""webhook: events the OA-side Java class posts (events.py, oa-side/README.md), signed
`X-Qiao-Signature: sha256=<hex HMAC-SHA256(hook_secret, raw body)>`. Unsigned, forged or malformed posts are
answered 4xx with no events, so nothing a stranger sends is stored."""

import json
from typing import Sequence

from componentize_py_types import Err
from qiao_sdk import logging
from wit_world import exports
from wit_world.exports import webhook
from wit_world.imports import crypto, types

import events
import settings

SIGNATURE = "x-qiao-signature"
MAX_BODY = 1 << 20


def _response(status: int, message: str, found: Sequence[types.Event] = ()) -> webhook.Outcome:
    body = json.dumps({"ok": status == 200, "message": message}).encode()
    return webhook.Outcome(response=webhook.Response(status=status, headers=[("content-type", "application/json")],
                                                     body=body), events=list(found))


def signature_ok(secret: str, body: bytes, header: str) -> bool:
    if not header.lower().startswith("sha256="):
        return False
    expected = bytes(crypto.hmac_sha256(secret.encode(), body)).hex()
    given = header[len("sha256="):].strip().lower()
    if len(given) != len(expected):
        return False
    difference = 0
    for a, b in zip(given, expected):  # constant time: a timing leak would let a forger find the MAC byte by byte
        difference |= ord(a) ^ ord(b)
    return difference == 0


class Webhook(exports.Webhook):
    def handle(self, request: webhook.Request) -> webhook.Outcome:
        if request.method.upper() != "POST":
            return _response(405, "POST only")
        secret = settings.hook_secret()
        if not secret:
            logging.warn("an OA event arrived but hook_secret is not configured: refused")
            return _response(401, "hook_secret is not configured")
        body = bytes(request.body)
        if len(body) > MAX_BODY:
            return _response(413, "body too large")
        header = next((v for k, v in request.headers if k.lower() == SIGNATURE), "")
        if not signature_ok(secret, body, header):
            logging.warn("OA event with a missing or wrong signature refused")
            return _response(401, "bad signature")
        try:
            event = json.loads(body)
        except ValueError:
            return _response(400, "body is not JSON")
        if not isinstance(event, dict):
            return _response(400, "body must be a JSON object")
        try:
            found = events.to_events(event)
        except Err as e:
            return _response(400, getattr(e.value, "message", "invalid event"))
        return _response(200, "accepted", found)
