"""Writes pbbp2_vectors.json: Feishu long-connection frames serialized by the official Python SDK's protobuf
classes, so the connector's hand-written codec (src/pbbp2.rs) is checked against the real encoder.

    python3 -m venv target/lark-venv
    target/lark-venv/bin/pip install lark-oapi==1.7.5 protobuf
    target/lark-venv/bin/python connectors/feishu/tests/pbbp2_vectors.py > connectors/feishu/tests/pbbp2_vectors.json
"""
import json

import lark_oapi
from lark_oapi.ws.pb.pbbp2_pb2 import Frame


def frame(seq, log, service, method, headers, payload=None, encoding=None, ptype=None, log_new=None):
    f = Frame()
    f.SeqID, f.LogID, f.service, f.method = seq, log, service, method
    for k, v in headers:
        h = f.headers.add()
        h.key, h.value = k, v
    if encoding is not None:
        f.payload_encoding = encoding
    if ptype is not None:
        f.payload_type = ptype
    if payload is not None:
        f.payload = payload
    if log_new is not None:
        f.LogIDNew = log_new
    as_json = {"SeqID": seq, "LogID": log, "service": service, "method": method,
               "headers": [[k, v] for k, v in headers]}
    if encoding is not None:
        as_json["payload_encoding"] = encoding
    if ptype is not None:
        as_json["payload_type"] = ptype
    if payload is not None:
        as_json["payload_hex"] = payload.hex()
    if log_new is not None:
        as_json["LogIDNew"] = log_new
    return f.SerializeToString().hex(), as_json


event = json.dumps({"schema": "2.0", "header": {"event_id": "5e3702a84e847582be8db7fb73283c02",
                    "event_type": "contact.user.created_v3", "create_time": "1700000000000",
                    "token": "", "app_id": "cli_simapp0001", "tenant_key": "t"},
                    "event": {"object": {"open_id": "ou_1", "name": "李娜"}}}, ensure_ascii=False).encode()
config = json.dumps({"ReconnectCount": -1, "ReconnectInterval": 120, "ReconnectNonce": 30,
                     "PingInterval": 90}).encode()
cases = [
    ("ping", frame(0, 0, 7, 0, [("type", "ping")])),
    ("pong with ClientConfig", frame(0, 0, 7, 0, [("type", "pong")], payload=config)),
    ("event data frame", frame(1234567890123, 9876543210, 300, 1,
                                [("type", "event"), ("message_id", "msg-1"), ("trace_id", "trace-1"),
                                 ("sum", "1"), ("seq", "0")], payload=event, log_new="log-new-1")),
    ("ack", frame(1234567890123, 9876543210, 300, 1,
                  [("type", "event"), ("message_id", "msg-1"), ("trace_id", "trace-1"), ("sum", "1"),
                   ("seq", "0"), ("biz_rt", "3")], payload=b'{"code": 200}')),
    ("part of a split event", frame(5, 6, 2147483647, 1,
                                    [("type", "event"), ("message_id", "msg-2"), ("sum", "2"), ("seq", "1"),
                                     ("trace_id", "t")], payload=event[:40], encoding="", ptype="")),
]
print(json.dumps({"generator": "connectors/feishu/tests/pbbp2_vectors.py",
                  "sdk": "lark-oapi " + lark_oapi.__version__ if hasattr(lark_oapi, "__version__") else "lark-oapi 1.7.5",
                  "vectors": [{"name": n, "hex": h, "frame": j} for n, (h, j) in cases]},
                 indent=1, ensure_ascii=False))
