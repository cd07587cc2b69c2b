#!/usr/bin/env python3
"""Generate tests/vectors/kingdee_headers.json: reference vectors for Kingdee K3Cloud (金蝶云星空) WebAPI signed
headers ("第三方系统登录授权"), computed by the official Python SDK's own code rather than by Qiao's.

Requirements: `pip install kingdee-cdp-webapi-sdk` (tested with 8.2.0), or PYTHONPATH pointing at a directory
holding the unpacked `k3cloud_webapi_sdk` package (e.g. /tmp/kd).

Sources of truth (all from the SDK):
  * `WebApiClient.BuildHeader(url)` (core/webapi_client.py) with `time.time` patched to the vector's timestamp;
  * `encode_util.DecodeAppSecret` (util/encode_util.py) for the client secret hidden in the app id;
  * `hmac_util.HmacSHA256` (util/hmac_util.py), used here once more to re-derive both signatures independently
    of BuildHeader and check them.

Fields of each vector: `name`; the identity `app_id`, `app_secret`, `acct_id`, `user_name`, `lcid`, `org_num`;
`url` the full service URL; `timestamp` unix seconds (the SDK's nonce is the same value); `client_sec` what
DecodeAppSecret gives; `headers` every header BuildHeader returns, names as the SDK spells them.

The script prints nothing; it asserts.
"""

import base64
import json
import os
import time
from unittest import mock
from urllib.parse import quote

from k3cloud_webapi_sdk.core.webapi_client import WebApiClient
from k3cloud_webapi_sdk.model.identity import Identify
from k3cloud_webapi_sdk.util import encode_util, hmac_util

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "kingdee_headers.json")

SERVICE = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService"

# The simulator's default app: "300123_" + base64(b"QiaoKingdeeSimulatorApp!") (24 bytes → 32 characters).
SIM_APP_ID = "300123_" + base64.b64encode(b"QiaoKingdeeSimulatorApp!").decode()
assert SIM_APP_ID == "300123_UWlhb0tpbmdkZWVTaW11bGF0b3JBcHAh"

VECTORS = [
    dict(
        name="simulator_defaults_save",
        app_id=SIM_APP_ID,
        app_secret="sim-kingdee-app-secret",
        acct_id="sim-acct-001",
        user_name="administrator",
        lcid=2052,
        org_num="100",
        url="http://127.0.0.1:9104/k3cloud/" + SERVICE + ".Save.common.kdsvc",
        timestamp=1700000000,
    ),
    dict(
        name="simulator_query_org_0",
        app_id=SIM_APP_ID,
        app_secret="sim-kingdee-app-secret",
        acct_id="sim-acct-001",
        user_name="wangfang",
        lcid=2052,
        org_num=0,
        url="http://127.0.0.1:54321/k3cloud/" + SERVICE + ".ExecuteBillQuery.common.kdsvc",
        timestamp=1712345678,
    ),
    dict(
        name="other_app_chinese_user_https",
        app_id="224466_" + base64.b64encode(bytes(range(40, 64))).decode(),
        app_secret="b8f6c1d2e3a4f5061728394a5b6c7d8e",
        acct_id="64f1a2b3c4d5e6",
        user_name="王芳",
        lcid=1033,
        org_num="101",
        url="https://erp.example.com/k3cloud/" + SERVICE + ".View.common.kdsvc",
        timestamp=1735689600,
    ),
]


def build(v):
    client = WebApiClient()
    client.identify = Identify(
        v["url"].split("/k3cloud/")[0] + "/k3cloud/",
        v["acct_id"],
        v["user_name"],
        v["app_id"],
        v["app_secret"],
        v["org_num"],
        v["lcid"],
        "",
    )
    with mock.patch.object(time, "time", return_value=float(v["timestamp"])):
        return client.BuildHeader(v["url"])


def main():
    out = []
    for v in VECTORS:
        headers = build(v)
        client_id, encoded = v["app_id"].split("_")
        client_sec = encode_util.DecodeAppSecret(encoded)
        assert client_sec != "", v["name"]
        ts = str(v["timestamp"])
        assert headers["X-Api-ClientID"] == client_id
        assert headers["x-api-timestamp"] == ts and headers["x-api-nonce"] == ts
        # Re-derive both signatures with hmac_util directly.
        path = "/k3cloud/" + v["url"].split("/k3cloud/")[1]
        sign_text = "POST\n" + quote(path, encoding="utf-8").replace("/", "%2F") + "\n\nx-api-nonce:" + ts
        sign_text += "\nx-api-timestamp:" + ts + "\n"
        assert headers["X-Api-Signature"] == hmac_util.HmacSHA256(sign_text, client_sec)
        app_data = "%s,%s,%s,%s" % (v["acct_id"], v["user_name"], v["lcid"], v["org_num"])
        assert base64.b64decode(headers["X-Kd-Appdata"]).decode("utf-8") == app_data
        assert headers["X-Kd-Signature"] == hmac_util.HmacSHA256(v["app_id"] + app_data, v["app_secret"])
        # A different secret gives a different signature.
        assert headers["X-Kd-Signature"] != hmac_util.HmacSHA256(v["app_id"] + app_data, "wrong")
        out.append(dict(v, client_sec=client_sec, headers=headers))

    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
