"""Same cases as the Rust SDK's text.rs."""

import unittest

from qiao_sdk import text


class TextTest(unittest.TestCase):
    def test_encodes(self) -> None:
        self.assertEqual(text.hex(bytes([0, 255, 16])), "00ff10")
        self.assertEqual(text.urlencode("a b&c=d/é~"), "a%20b%26c%3Dd%2F%C3%A9~")

    def test_query_param(self) -> None:
        query = "timestamp=1&msg_signature=ab%2Bc&x&nonce=a+b%zz&t=%E4%BD%A0"
        self.assertEqual(text.query_param(query, "msg_signature"), "ab+c")
        self.assertEqual(text.query_param(query, "nonce"), "a b%zz")
        self.assertEqual(text.query_param(query, "t"), "你")
        self.assertEqual(text.query_param(query, "x"), "")
        self.assertIsNone(text.query_param(query, "missing"))

    def test_query_string(self) -> None:
        self.assertEqual(text.query_string({"q": "a b", "n": 3, "skip": None, "on": True}), "q=a%20b&n=3&on=true")
        self.assertEqual(text.query_string([("id", "1"), ("id", "2")]), "id=1&id=2")
        self.assertEqual(text.with_query("https://x.test/a", {"b": "1"}), "https://x.test/a?b=1")
        self.assertEqual(text.with_query("https://x.test/a?c=2", {"b": "1"}), "https://x.test/a?c=2&b=1")
        self.assertEqual(text.with_query("https://x.test/a?", {"b": "1"}), "https://x.test/a?b=1")
        self.assertEqual(text.with_query("https://x.test/a", {"b": None}), "https://x.test/a")


if __name__ == "__main__":
    unittest.main()
