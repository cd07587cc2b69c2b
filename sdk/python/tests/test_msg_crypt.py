"""The DingTalk/WeCom callback crypto against the repository's third-party reference vectors
(tests/vectors/callback_crypto.json, made with wechatpy and cross-checked with dingtalk-sdk), through the fake host's
crypto import."""

import base64
import json
import unittest
from pathlib import Path
from typing import Any, Callable, Dict, List

from qiao_sdk import testing

testing.install()  # the stand-in bindings, before the SDK modules import them

from componentize_py_types import Err  # noqa: E402
from qiao_sdk import msg_crypt  # noqa: E402
from qiao_sdk.msg_crypt import MsgCrypt  # noqa: E402
from wit_world.imports import types  # noqa: E402

# The repository's vectors, which the Rust simulators' crypto is checked against too.
VECTORS_FILE = Path(__file__).resolve().parents[3] / "tests" / "vectors" / "callback_crypto.json"
VECTORS: List[Dict[str, Any]] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))


class MsgCryptTest(unittest.TestCase):
    def setUp(self) -> None:
        self.host = testing.install()

    def crypt(self, v: Dict[str, Any], receive_id: str = "") -> MsgCrypt:
        return MsgCrypt(v["token"], v["encoding_aes_key"], receive_id or v["receive_id"])

    @staticmethod
    def fixed(data: bytes) -> Callable[[int], bytes]:
        """A random source answering the vector's "random" bytes, so encryption is repeatable."""
        return lambda n: data[:n]

    def assertRefused(self, call: Any, *args: Any, containing: str = "") -> None:
        with self.assertRaises(Err) as raised:
            call(*args)
        self.assertEqual(raised.exception.value.kind, types.ErrorKind.UNAUTHORIZED)
        self.assertIn(containing, raised.exception.value.message)

    def test_matches_reference_vectors(self) -> None:
        self.assertGreaterEqual(len(VECTORS), 6)
        for v in VECTORS:
            with self.subTest(v["name"]):
                c = self.crypt(v)
                self.host.random = self.fixed(bytes.fromhex(v["random_hex"]))
                self.assertEqual(c.encrypt(v["plaintext"]), v["encrypt"])
                self.assertEqual(c.signature(v["timestamp"], v["nonce"], v["encrypt"]), v["signature"])
                c.verify(v["signature"], v["timestamp"], v["nonce"], v["encrypt"])
                c.verify(v["signature"].upper(), v["timestamp"], v["nonce"], v["encrypt"])
                self.assertEqual(c.decrypt(v["encrypt"]), v["plaintext"])

    def test_random_prefix_round_trips(self) -> None:
        for v in VECTORS[:2]:
            c = self.crypt(v)
            a, b = c.encrypt(v["plaintext"]), c.encrypt(v["plaintext"])
            self.assertNotEqual(a, b)
            self.assertEqual(c.decrypt(a), v["plaintext"])
            self.assertEqual(c.decrypt(b), v["plaintext"])

    def test_forged_signature_is_refused(self) -> None:
        v = VECTORS[0]
        c = self.crypt(v)
        forged = v["signature"][:-1] + ("0" if v["signature"][-1] != "0" else "1")
        self.assertRefused(c.verify, forged, v["timestamp"], v["nonce"], v["encrypt"], containing="signature mismatch")
        self.assertRefused(c.verify, v["signature"], v["timestamp"] + "1", v["nonce"], v["encrypt"])
        self.assertRefused(c.verify, "", v["timestamp"], v["nonce"], v["encrypt"])
        self.assertRefused(c.verify, "é" * 40, v["timestamp"], v["nonce"], v["encrypt"])

    def test_wrong_receive_id_is_refused(self) -> None:
        for v in VECTORS[:2]:
            self.assertRefused(self.crypt(v, "someone-else").decrypt, v["encrypt"],
                               containing=f'another receiver ("{v["receive_id"]}")')

    def test_tampered_ciphertext_is_refused(self) -> None:
        for v in VECTORS[:2]:
            c = self.crypt(v)
            raw = base64.b64decode(v["encrypt"])
            # CBC: flipping a bit of ciphertext block 0 flips it in plaintext block 1, whose first four bytes are the
            # length; its top bit makes the length absurd.
            flipped = bytes([raw[0] ^ 0x80]) + raw[1:]
            self.assertRefused(c.decrypt, base64.b64encode(flipped).decode(), containing="length field")
            garbled = raw[:-1] + bytes([raw[-1] ^ 0x55])
            self.assertRefused(c.decrypt, base64.b64encode(garbled).decode())
            self.assertRefused(c.decrypt, base64.b64encode(raw[:-1]).decode(), containing="AES blocks")
            self.assertRefused(c.decrypt, "not base64!", containing="not base64")
            self.assertRefused(c.decrypt, "", containing="AES blocks")

    def test_another_key_is_refused(self) -> None:
        v = VECTORS[0]
        other = MsgCrypt(v["token"], "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", v["receive_id"])
        self.assertRefused(other.decrypt, v["encrypt"])

    def test_bad_keys_are_invalid_input(self) -> None:
        good = VECTORS[0]["encoding_aes_key"]
        for key in (good[:-1], good + "A", "!" * 43, "é" * 43, ""):
            with self.assertRaises(Err) as raised:
                MsgCrypt("t", key, "r")
            self.assertEqual(raised.exception.value.kind, types.ErrorKind.INVALID_INPUT)

    def test_nonce(self) -> None:
        n = msg_crypt.nonce(16)
        self.assertEqual(len(n), 16)
        self.assertTrue(n.isalnum() and n.isascii())


if __name__ == "__main__":
    unittest.main()
