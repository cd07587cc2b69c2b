import hashlib
import unittest
from typing import Callable, List

from qiao_sdk import testing

testing.install()  # the stand-in bindings, before the SDK modules import them

from componentize_py_types import Err  # noqa: E402
from qiao_sdk import errors, token  # noqa: E402
from qiao_sdk.token import Token  # noqa: E402
from wit_world.imports import types  # noqa: E402


class TokenTest(unittest.TestCase):
    def setUp(self) -> None:
        self.host = testing.install()
        self.fetched: List[str] = []

    def fetch(self, expires_in: int = 7200) -> Callable[[], Token]:
        def fetch() -> Token:
            self.fetched.append(f"t{len(self.fetched) + 1}")
            return Token(self.fetched[-1], expires_in)
        return fetch

    def test_cache_key_hashes_the_credentials(self) -> None:
        key = token.cache_key("app", ["appkey", "s3cret"])
        # The Rust SDK's format: the first 12 bytes of sha256("appkey\ns3cret"), hex.
        self.assertEqual(key, "token:app:" + hashlib.sha256(b"appkey\ns3cret").digest()[:12].hex())
        self.assertNotIn("s3cret", key)
        self.assertNotEqual(key, token.cache_key("app", ["appkey", "rotated"]))

    def test_cached_until_five_minutes_early(self) -> None:
        key = token.cache_key("app", ["k", "s"])
        self.assertEqual(token.get(key, self.fetch(7200)), "t1")
        self.assertEqual(token.get(key, self.fetch(7200)), "t1")
        self.assertEqual(self.fetched, ["t1"])
        self.assertEqual(self.host.kv_ttl[key], 7200 - 300)
        self.host.advance(6899)
        self.assertEqual(token.get(key, self.fetch()), "t1")
        self.host.advance(1)
        self.assertEqual(token.get(key, self.fetch()), "t2")

    def test_a_token_that_cannot_be_cached_still_serves(self) -> None:
        self.host.kv_set_error = errors.invalid_input("kv quota exceeded", platform_code="kv_quota")
        self.assertEqual(token.get("token:q", self.fetch()), "t1")
        self.assertEqual(token.get("token:q", self.fetch()), "t2")
        self.assertEqual(self.host.logs[-1].level, "warn")

    def test_short_lived_tokens_refresh_at_half_life(self) -> None:
        for expires_in, ttl in ((600, 300), (100, 50), (1, 1)):
            self.assertEqual(token.get(f"k{expires_in}", self.fetch(expires_in)), self.fetched[-1])
            self.assertEqual(self.host.kv_ttl[f"k{expires_in}"], ttl)
        token.get("k0", self.fetch(0))
        self.assertNotIn("k0", self.host.kv)  # a token already expired is used once, not cached

    def test_refetches_once_on_unauthorized(self) -> None:
        calls: List[str] = []

        def call(value: str) -> str:
            calls.append(value)
            if value == "t1":
                raise errors.unauthorized("token expired", platform_code=40014)
            return f"done with {value}"

        self.assertEqual(token.with_token("key", self.fetch(), call), "done with t2")
        self.assertEqual(calls, ["t1", "t2"])
        self.assertEqual(self.host.kv_json("key"), "t2")
        self.assertEqual(self.host.logs[0].fields, {"platform_code": "40014"})

    def test_gives_up_after_one_retry(self) -> None:
        def call(value: str) -> str:
            raise errors.unauthorized(f"{value} rejected")

        with self.assertRaises(Err) as raised:
            token.with_token("key", self.fetch(), call)
        self.assertEqual(raised.exception.value.message, "t2 rejected")
        self.assertEqual(self.fetched, ["t1", "t2"])

    def test_other_errors_pass_through(self) -> None:
        def call(value: str) -> str:
            raise errors.forbidden("no scope")

        with self.assertRaises(Err) as raised:
            token.with_token("key", self.fetch(), call)
        self.assertEqual(raised.exception.value.kind, types.ErrorKind.FORBIDDEN)
        self.assertEqual(self.fetched, ["t1"])
        self.assertEqual(self.host.kv_json("key"), "t1")


if __name__ == "__main__":
    unittest.main()
