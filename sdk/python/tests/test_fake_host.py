"""The fake host itself: what a vendor's tests rely on."""

import unittest

from qiao_sdk import testing

testing.install()  # the stand-in bindings, before the SDK modules import them

from componentize_py_types import Err  # noqa: E402
from qiao_sdk import json_http  # noqa: E402
from wit_world.imports import config, crypto, http, kv  # noqa: E402


class FakeHostTest(unittest.TestCase):
    def setUp(self) -> None:
        self.host = testing.install({"token": "t"}, connection="acme-hq")

    def test_config(self) -> None:
        self.assertEqual(config.get("token"), "t")
        self.assertIsNone(config.get("other"))
        self.assertEqual(config.connection(), "acme-hq")

    def test_unscripted_or_unexpected_requests_fail_the_test(self) -> None:
        with self.assertRaisesRegex(AssertionError, "unexpected request GET https://a.test/x"):
            json_http.get("https://a.test/x")
        self.host.respond(200, url="https://a.test/expected", method="GET")
        with self.assertRaisesRegex(AssertionError, "expected a request to https://a.test/expected"):
            json_http.get("https://a.test/other")
        self.host.respond(200, method="POST")
        with self.assertRaisesRegex(AssertionError, "expected a POST request"):
            json_http.get("https://a.test/")

    def test_handler_answers_when_nothing_is_scripted(self) -> None:
        self.host.handler = lambda request: http.Response(status=201, headers=[], body=request.url.encode())
        self.assertEqual(json_http.get("https://a.test/echo").text(), "https://a.test/echo")

    def test_raw_send_raises_the_http_error(self) -> None:
        self.host.fail("timeout")
        with self.assertRaises(Err) as raised:
            http.send(http.Request(method=http.Method.GET, url="https://a.test/", headers=[], body=b"",
                                   timeout_ms=None))
        self.assertIsInstance(raised.exception.value, http.HttpError_Timeout)

    def test_kv_takes_bytes_only(self) -> None:
        with self.assertRaises(TypeError):
            kv.set("k", "text", None)  # type: ignore[arg-type]
        kv.set("k", b"v", 10)
        kv.delete("k")
        self.assertIsNone(kv.get("k"))

    def test_crypto(self) -> None:
        self.assertEqual(crypto.sha256(b"abc").hex()[:16], "ba7816bf8f01cfea")
        self.assertEqual(crypto.sha1(b"abc").hex()[:16], "a9993e364706816a")
        # RFC 4231 test case 2.
        self.assertEqual(crypto.hmac_sha256(b"Jefe", b"what do ya want for nothing?").hex(),
                         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        key, iv = bytes(range(32)), bytes(16)
        for data in (b"", b"x", b"y" * 16, b"z" * 33):
            sealed = crypto.aes256_cbc_encrypt(key, iv, data, crypto.Padding.PKCS7)
            self.assertEqual(len(sealed) % 16, 0)
            self.assertEqual(crypto.aes256_cbc_decrypt(key, iv, sealed, crypto.Padding.PKCS7), data)
        with self.assertRaisesRegex(Err, "not a multiple of 16"):
            crypto.aes256_cbc_encrypt(key, iv, b"x", crypto.Padding.NONE)
        with self.assertRaises(Err):
            crypto.aes256_cbc_encrypt(key[:16], iv, b"x" * 16, crypto.Padding.NONE)
        with self.assertRaises(Err):
            crypto.aes256_cbc_decrypt(bytes(32), iv, sealed, crypto.Padding.PKCS7)  # wrong key: bad padding
        self.assertEqual(len(crypto.random_bytes(10_000)), 4096)
        self.host.random = lambda n: b"\x01" * n
        self.assertEqual(crypto.random_bytes(3), b"\x01\x01\x01")


if __name__ == "__main__":
    unittest.main()
