import unittest

from qiao_sdk import testing

testing.install()  # the stand-in bindings, before the SDK modules import them

from componentize_py_types import Err  # noqa: E402
from qiao_sdk import errors, helpers, json_kv, logging  # noqa: E402
from wit_world.imports import kv, types  # noqa: E402


class JsonKvTest(unittest.TestCase):
    def setUp(self) -> None:
        self.host = testing.install()

    def test_round_trip_and_ttl(self) -> None:
        json_kv.set("cursor", {"page": 2, "name": "李"}, 60)
        self.assertEqual(self.host.kv["cursor"], '{"page":2,"name":"李"}'.encode())
        self.assertEqual(self.host.kv_ttl["cursor"], 60)
        self.assertEqual(json_kv.get("cursor"), {"page": 2, "name": "李"})
        self.host.advance(60)
        self.assertIsNone(json_kv.get("cursor"))

    def test_unreadable_is_missing(self) -> None:
        kv.set("bad", b"\xff{", None)
        self.assertIsNone(json_kv.get("bad"))
        self.assertIsNone(json_kv.get("never-set"))

    def test_next_counts_from_one(self) -> None:
        self.assertEqual([json_kv.next("n") for _ in range(3)], [1, 2, 3])
        json_kv.set("n", "garbage")
        self.assertEqual(json_kv.next("n"), 1)

    def test_keep_logs_a_refusal_instead_of_raising(self) -> None:
        self.host.kv_set_error = errors.invalid_input("kv quota exceeded", platform_code="kv_quota")
        json_kv.keep("receiver:om_1", "ou_1", 60)
        self.assertNotIn("receiver:om_1", self.host.kv)
        line = self.host.logs[-1]
        self.assertEqual((line.level, line.fields), ("warn", {"key": "receiver:om_1", "error": "kv quota exceeded"}))
        self.host.kv_set_error = None
        json_kv.keep("receiver:om_2", "ou_2")
        self.assertEqual(json_kv.get("receiver:om_2"), "ou_2")

    def test_unserializable_is_internal(self) -> None:
        with self.assertRaises(Err) as raised:
            json_kv.set("x", {1, 2})
        self.assertEqual(errors.kind_of(raised.exception), types.ErrorKind.INTERNAL)


class HelpersTest(unittest.TestCase):
    def setUp(self) -> None:
        self.host = testing.install({"app_key": "k", "blank": ""})

    def test_require_config(self) -> None:
        self.assertEqual(helpers.require_config("app_key"), "k")
        for key in ("blank", "missing"):
            with self.assertRaises(Err) as raised:
                helpers.require_config(key)
            self.assertEqual(raised.exception.value.kind, types.ErrorKind.INVALID_INPUT)
            self.assertEqual(raised.exception.value.message, f"{key} is not configured")

    def test_required(self) -> None:
        self.assertEqual(helpers.required("u1", "user_id"), "u1")
        for value in ("", "  ", None):
            with self.assertRaises(Err) as raised:
                helpers.required(value, "user_id")
            self.assertEqual(raised.exception.value.message, "user_id is required")

    def test_json_object(self) -> None:
        self.assertEqual(helpers.json_object(None, "extra"), {})
        self.assertEqual(helpers.json_object('{"a": 1}', "extra"), {"a": 1})
        for text in ("[1]", "nope", "null"):
            with self.assertRaises(Err) as raised:
                helpers.json_object(text, "extra")
            self.assertEqual(raised.exception.value.message, "extra must be a JSON object")


class LoggingTest(unittest.TestCase):
    def test_levels_and_fields(self) -> None:
        host = testing.install()
        logging.debug("d")
        logging.info("sent", user="u1", count=3)
        logging.warn("slow", message="a field may be called message")
        logging.error("failed", code=None)
        self.assertEqual([(line.level, line.message, line.fields) for line in host.logs], [
            ("debug", "d", {}),
            ("info", "sent", {"user": "u1", "count": "3"}),
            ("warn", "slow", {"message": "a field may be called message"}),
            ("error", "failed", {"code": "None"}),
        ])


if __name__ == "__main__":
    unittest.main()
