"""Unit tests against the fake host of qiao_sdk.testing: `make test`. The host functions (config, kv, http...) are
fakes; the types are the real bindings, which `make test` generates into build/bindings."""

import unittest

from qiao_sdk import testing

testing.install()  # before importing the connector, so anything it runs at import time meets the fake host

import api  # noqa: E402
import app  # noqa: E402
from componentize_py_types import Err  # noqa: E402
from wit_world.imports import http, types  # noqa: E402


class DescribeTest(unittest.TestCase):
    def test_describe(self) -> None:
        info = app.Describe().describe()
        self.assertEqual(info.id, "__NAME__")
        secrets = {field.key for field in info.config if field.secret}
        self.assertEqual(secrets, {"token"})
        self.assertEqual([field.key for field in info.config if field.api_base], ["api_base"])


class ApiTest(unittest.TestCase):
    def setUp(self) -> None:
        self.host = testing.install({"api_base": "https://api.example.test/v1/", "token": "t0k3n"})

    def test_sends_the_token_and_reads_json(self) -> None:
        self.host.respond(200, {"id": "u1", "name": "Li Na"}, method="GET", url="https://api.example.test/v1/users")
        user = api.call("GET", "/users/u1", params={"fields": "id,name"})
        self.assertEqual(user, {"id": "u1", "name": "Li Na"})
        request = self.host.requests[0]
        self.assertEqual(request.method, http.Method.GET)
        self.assertEqual(request.url, "https://api.example.test/v1/users/u1?fields=id%2Cname")
        self.assertIn(("authorization", "Bearer t0k3n"), request.headers)

    def test_errors_become_contract_errors(self) -> None:
        self.host.respond(429, body="slow down", headers={"Retry-After": "3"})
        with self.assertRaises(Err) as raised:
            api.call("POST", "/messages", json={"text": "hi"})
        error = raised.exception.value
        self.assertEqual(error.kind, types.ErrorKind.RATE_LIMITED)
        self.assertEqual((error.retry_after_ms, error.platform_code), (3000, "429"))
        self.assertEqual(self.host.request_json(), {"text": "hi"})

        self.host.fail("timeout")
        with self.assertRaises(Err) as raised:
            api.call("GET", "/users")
        self.assertEqual(raised.exception.value.kind, types.ErrorKind.UNAVAILABLE)

    def test_missing_configuration_is_invalid_input(self) -> None:
        del self.host.config["token"]
        with self.assertRaises(Err) as raised:
            api.call("GET", "/users")
        self.assertEqual(raised.exception.value.kind, types.ErrorKind.INVALID_INPUT)
        self.assertEqual(self.host.requests, [])  # nothing sent without a token


if __name__ == "__main__":
    unittest.main()
