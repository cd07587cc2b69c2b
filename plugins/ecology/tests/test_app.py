"""describe, and the sign-in flow: regist → applytoken → signed calls, tokens kept and re-applied once."""

import base64
import unittest

from qiao_sdk import testing

testing.install()  # before importing the connector, so anything it runs at import time meets the fake host

import api  # noqa: E402
import app  # noqa: E402
import fake_oa  # noqa: E402
from componentize_py_types import Err  # noqa: E402
from wit_world.imports import types  # noqa: E402


class DescribeTest(unittest.TestCase):
    def test_describe(self) -> None:
        info = app.Describe().describe()
        self.assertEqual((info.id, info.platform), ("ecology", "ecology"))
        self.assertEqual({f.key for f in info.config if f.secret}, {"cpk", "hook_secret"})
        self.assertEqual([f.key for f in info.config if f.api_base], ["base_url"])
        self.assertEqual({f.key for f in info.config if f.required}, {"base_url", "appid", "user_id"})


class AuthTest(unittest.TestCase):
    def setUp(self) -> None:
        self.host, self.oa = fake_oa.install({"cpk": "CLIENT-PUBLIC-KEY"})

    def call(self, user="7"):
        return api.signed("POST", "/api/hrm/resful/getHrmUserInfoWithPage", user=user,
                          form={"params": '{"curpage":1,"pagesize":1}'})

    def test_registers_applies_and_signs_business_calls(self) -> None:
        self.assertEqual(self.call()["code"], "1")
        self.assertEqual(self.oa.paths(), ["/api/ec/dev/auth/regist", "/api/ec/dev/auth/applytoken",
                                           "/api/hrm/resful/getHrmUserInfoWithPage"])
        regist, apply, business = (dict(r.headers) for r in self.host.requests)
        self.assertEqual((regist["appid"], regist["cpk"]), ("qiao-app", "CLIENT-PUBLIC-KEY"))
        self.assertEqual(self.host.requests[0].body, b"")
        self.assertEqual(fake_oa.unseal(self.oa.spk, apply["secret"]), self.oa.secrit)  # RSA(spk, secrit)
        self.assertEqual(apply["time"], "1800")
        self.assertIn(business["token"], self.oa.tokens)
        self.assertEqual(fake_oa.unseal(self.oa.spk, business["userid"]), "7")
        self.assertEqual(business["skipsession"], "0")
        base64.b64decode(business["userid"], validate=True)  # standard Base64 on the wire

        # Kept: the next call registers and applies nothing, and the token lives its lifetime less the margin.
        self.call()
        self.assertEqual(self.oa.paths()[3:], ["/api/hrm/resful/getHrmUserInfoWithPage"])
        ttls = [ttl for key, ttl in self.host.kv_ttl.items() if key.startswith("token:ecology:")]
        self.assertEqual(ttls, [1800 - 300])
        keys = [key for key in self.host.kv if key.startswith("token:ecology-keys:")]
        self.assertEqual(len(keys), 1)
        self.assertIsNone(self.host.kv_ttl[keys[0]])
        # Secrets are never logged.
        self.assertFalse(any(self.oa.secrit in str(line) for line in self.host.logs))

    def test_a_refused_token_is_applied_for_once_more(self) -> None:
        self.call()
        self.oa.tokens.clear()  # expired on the OA's side before our margin
        self.call()
        self.assertEqual(self.oa.paths()[3:], ["/api/hrm/resful/getHrmUserInfoWithPage",
                                               "/api/ec/dev/auth/applytoken",
                                               "/api/hrm/resful/getHrmUserInfoWithPage"])

    def test_a_token_refused_twice_is_unauthorized(self) -> None:
        self.call()
        self.oa.refuse_tokens = True
        with self.assertRaises(Err) as raised:
            self.call()
        self.assertEqual(raised.exception.value.kind, types.ErrorKind.UNAUTHORIZED)
        self.assertEqual(self.oa.paths()[3:].count("/api/ec/dev/auth/applytoken"), 1)
        self.assertNotIn("regist", " ".join(self.oa.paths()[3:]))

    def test_registers_again_only_when_no_token_can_be_had(self) -> None:
        self.call()
        self.oa.rotate()  # keys rotated: the kept secrit no longer opens applytoken
        self.call()
        self.assertEqual(self.oa.paths()[3:], ["/api/hrm/resful/getHrmUserInfoWithPage",
                                               "/api/ec/dev/auth/applytoken", "/api/ec/dev/auth/regist",
                                               "/api/ec/dev/auth/applytoken",
                                               "/api/hrm/resful/getHrmUserInfoWithPage"])
        self.assertEqual(fake_oa.unseal(self.oa.spk, dict(self.host.requests[-1].headers)["userid"]), "7")

    def test_an_unlicensed_appid_is_unauthorized(self) -> None:
        self.host.config["appid"] = "someone-else"
        with self.assertRaises(Err) as raised:
            self.call()
        error = raised.exception.value
        self.assertEqual((error.kind, error.platform_code, error.platform_message),
                         (types.ErrorKind.UNAUTHORIZED, "-1", "appid not licensed"))

    def test_system_calls_skip_the_session(self) -> None:
        api.hrm("getHrmUserInfoWithPage", {"curpage": 1, "pagesize": 1})
        headers = dict(self.host.requests[-1].headers)
        self.assertNotIn("userid", headers)
        self.assertEqual(headers["skipsession"], "1")
        self.assertEqual(self.host.requests[-1].body.decode()[:7], "params=")

    def test_token_lifetime_setting(self) -> None:
        self.host.config["session_lifetime_s"] = "3600"
        self.call()
        self.assertEqual(self.oa.applied_times, ["3600"])
        self.host.config["session_lifetime_s"] = "soon"
        self.host.kv.clear()
        with self.assertRaises(Err) as raised:
            self.call()
        self.assertEqual(raised.exception.value.kind, types.ErrorKind.INVALID_INPUT)

    def test_transport_failures_are_unavailable(self) -> None:
        self.host.handler = None
        self.host.fail("timeout")
        with self.assertRaises(Err) as raised:
            self.call()
        self.assertEqual(raised.exception.value.kind, types.ErrorKind.UNAVAILABLE)


class TimeTest(unittest.TestCase):
    def test_oa_local_times(self) -> None:
        import settings
        testing.install({"utc_offset": "+08:00"})
        self.assertEqual(settings.parse_time("2026-12-03 10:00:00"), 1796263200000)
        self.assertEqual(settings.parse_time("2026-12-03"), 1796227200000)
        self.assertIsNone(settings.parse_time("2026-13-03 10:00:00"))
        self.assertIsNone(settings.parse_time("soon"))
        self.assertEqual(settings.format_time(1796263200000), "2026-12-03 10:00:00")


if __name__ == "__main__":
    unittest.main()
