import unittest

from qiao_sdk import testing

testing.install()  # the stand-in bindings, before the SDK modules import them

from componentize_py_types import Err  # noqa: E402
from qiao_sdk import errors, json_http  # noqa: E402
from wit_world.imports import http, types  # noqa: E402


class JsonHttpTest(unittest.TestCase):
    def setUp(self) -> None:
        self.host = testing.install()

    def test_post_sends_compact_json_and_reads_json(self) -> None:
        self.host.respond(200, {"errcode": 0, "name": "李娜"}, headers={"X-Request-Id": "r1"},
                          method="POST", url="https://api.example.test/users")
        response = json_http.post("https://api.example.test/users?x=1", {"name": "李娜", "n": [1, 2]},
                                  headers={"authorization": "Bearer t"})
        request = self.host.requests[0]
        self.assertEqual(request.method, http.Method.POST)
        self.assertEqual(request.body, '{"name":"李娜","n":[1,2]}'.encode())
        self.assertEqual(request.headers, [("authorization", "Bearer t"),
                                           ("content-type", "application/json; charset=utf-8")])
        self.assertTrue(response.is_success())
        self.assertEqual(response.json(), {"errcode": 0, "name": "李娜"})
        self.assertEqual(response.header("x-request-id"), "r1")
        self.assertEqual(response.header("X-Request-ID"), "r1")
        self.assertIsNone(response.header("etag"))

    def test_get_has_no_body_and_send_takes_method_names(self) -> None:
        self.host.respond(404, body="no such user")
        response = json_http.get("https://api.example.test/users/1", headers=[("accept", "application/json")])
        self.assertEqual(self.host.requests[0].body, b"")
        self.assertEqual(self.host.requests[0].headers, [("accept", "application/json")])
        self.assertFalse(response.is_success())
        self.assertEqual(response.text(), "no such user")
        with self.assertRaises(Err) as raised:
            response.json()
        self.assertEqual(raised.exception.value.kind, types.ErrorKind.INTERNAL)
        self.assertIn("got: no such user", raised.exception.value.message)

        self.host.respond(204)
        json_http.send("delete", "https://api.example.test/users/1", timeout_ms=500)
        self.assertEqual(self.host.requests[1].method, http.Method.DELETE)
        self.assertEqual(self.host.requests[1].timeout_ms, 500)
        with self.assertRaises(Err) as raised:
            json_http.send("BREW", "https://api.example.test/")
        self.assertEqual(errors.kind_of(raised.exception), types.ErrorKind.INVALID_INPUT)

    def test_form_body(self) -> None:
        self.host.respond(200, {"ok": True})
        json_http.post("https://api.example.test/token", form={"appid": "a b", "secret": "s&t"})
        self.assertEqual(self.host.requests[0].body, b"appid=a%20b&secret=s%26t")
        self.assertEqual(self.host.requests[0].headers, [("content-type", "application/x-www-form-urlencoded")])

    def test_callers_content_type_wins(self) -> None:
        self.host.respond(200)
        json_http.post("https://api.example.test/", {"a": 1}, headers={"Content-Type": "application/vnd.x+json"})
        self.assertEqual(self.host.requests[0].headers, [("Content-Type", "application/vnd.x+json")])

    def test_unserializable_json_is_internal(self) -> None:
        with self.assertRaises(Err) as raised:
            json_http.post("https://api.example.test/", {"when": object()})
        self.assertEqual(errors.kind_of(raised.exception), types.ErrorKind.INTERNAL)
        self.assertEqual(self.host.requests, [])

    def test_transport_failures_map_to_kinds(self) -> None:
        # The same mapping as the Rust SDK's `From<HttpError> for Error`.
        expected = {
            "not-allowed": types.ErrorKind.FORBIDDEN,
            "invalid-request": types.ErrorKind.INVALID_INPUT,
            "timeout": types.ErrorKind.UNAVAILABLE,
            "too-large": types.ErrorKind.INTERNAL,
            "request-limit": types.ErrorKind.UNAVAILABLE,
            "transport": types.ErrorKind.UNAVAILABLE,
        }
        for kind, error_kind in expected.items():
            self.host.fail(kind)
            with self.assertRaises(Err) as raised:
                json_http.get("https://api.example.test/")
            self.assertEqual(errors.kind_of(raised.exception), error_kind, kind)
        # The host's test for the cap looks for the limit in the message.
        self.assertIn("1048576", json_http.from_http_error(http.HttpError_TooLarge(1048576)).value.message)
        self.host.fail("not-allowed", "evil.test is not granted; granted: api.example.test")
        with self.assertRaises(Err) as raised:
            json_http.get("https://evil.test/")
        self.assertEqual(raised.exception.value.message, "evil.test is not granted; granted: api.example.test")


if __name__ == "__main__":
    unittest.main()
