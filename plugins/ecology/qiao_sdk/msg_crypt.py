"""The callback crypto DingTalk and WeCom share (WeCom's "WXBizMsgCrypt"): AES-256-CBC with the key
``base64(EncodingAESKey + "=")``, the IV its first 16 bytes, PKCS#7 padding to 32-byte blocks, a plaintext of
``random(16) + length(4, big-endian) + message + receive id``, and a SHA-1 signature over the sorted
``[token, timestamp, nonce, encrypt]``. The platforms wrap it differently (DingTalk JSON, WeCom XML); the connector
does the wrapping, this module only the cryptography, through the host's ``crypto`` import (no AES in Python's
standard library, and the host's is native)."""

import base64
import binascii
import hmac
import json

from componentize_py_types import Err
from wit_world.imports import crypto, types

from .errors import internal, invalid_input, unauthorized

#: The platforms pad to 32 bytes, not to the AES block size.
PAD_BLOCK = 32
#: A callback message is a few KiB; anything near this is not one.
MAX_MESSAGE = 1 << 20

_NONCE_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class MsgCrypt:
    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        """``encoding_aes_key`` is the 43-character key from the platform's console. ``receive_id`` is what the
        platform appends to each plaintext and the receiver must check: DingTalk's appKey (or corpId, or suiteKey),
        WeCom's corpid."""
        key = b""
        if len(encoding_aes_key) == 43:
            try:
                # The consoles generate keys whose last character carries unused low bits (e.g. ending in `z`);
                # Python's decoder ignores them, as the platforms' own SDKs do.
                key = base64.b64decode(encoding_aes_key + "=", validate=True)
            except ValueError:  # binascii.Error, or non-ASCII text
                pass
        if len(key) != 32:
            raise invalid_input("the callback AES key must be the 43-character EncodingAESKey from the platform's "
                                "console")
        self.token = token
        self._key = key
        self.receive_id = receive_id

    def signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        parts = sorted([self.token, timestamp, nonce, encrypt])
        return bytes(crypto.sha1("".join(parts).encode())).hex()

    def verify(self, signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        """An `unauthorized` error unless ``signature`` signs the other three."""
        expected = self.signature(timestamp, nonce, encrypt)
        # Compared in constant time, so the time taken says nothing about how much of a signature was right.
        if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
            raise unauthorized("callback signature mismatch: check the callback token, or the request was forged")

    def decrypt(self, encrypt: str) -> str:
        """The message inside ``encrypt``, after checking its padding, length and receive id (all `unauthorized`: a
        message that does not decrypt to a well-formed one was not made with our key)."""
        def refuse(why: str) -> "Err[types.Error]":
            return unauthorized(f"callback cannot be decrypted: {why}")

        try:
            data = base64.b64decode(encrypt.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise refuse("not base64") from None
        if not data or len(data) % 16 or len(data) > MAX_MESSAGE + 64:
            raise refuse("not a whole number of AES blocks")
        try:
            plain = bytes(crypto.aes256_cbc_decrypt(self._key, self._key[:16], data, crypto.Padding.NONE))
        except Err:
            raise refuse("wrong key") from None
        pad = plain[-1]
        if not 1 <= pad <= PAD_BLOCK or pad > len(plain) or any(b != pad for b in plain[-pad:]):
            raise refuse("bad padding (wrong AES key?)")
        plain = plain[:-pad]
        if len(plain) < 20:
            raise refuse("too short")
        length = int.from_bytes(plain[16:20], "big")
        if 20 + length > len(plain):
            raise refuse("length field out of range")
        message, receive_id = plain[20:20 + length], plain[20 + length:]
        if receive_id != self.receive_id.encode():
            other = json.dumps(receive_id.decode("utf-8", errors="replace"), ensure_ascii=False)
            raise unauthorized(f"callback is for another receiver ({other}), not this connection's "
                               f"{json.dumps(self.receive_id, ensure_ascii=False)}")
        try:
            return message.decode("utf-8")
        except UnicodeDecodeError:
            raise refuse("message is not UTF-8") from None

    def encrypt(self, message: str) -> str:
        """``message`` encrypted for the platform, base64."""
        text = message.encode()
        plain = bytes(crypto.random_bytes(16)) + len(text).to_bytes(4, "big") + text + self.receive_id.encode()
        pad = PAD_BLOCK - len(plain) % PAD_BLOCK
        plain += bytes([pad]) * pad
        try:
            data = crypto.aes256_cbc_encrypt(self._key, self._key[:16], plain, crypto.Padding.NONE)
        except Err as e:
            raise internal(str(e.value)) from None
        return base64.b64encode(bytes(data)).decode()


def nonce(n: int) -> str:
    """``n`` random letters and digits, for nonces."""
    return "".join(_NONCE_ALPHABET[b % len(_NONCE_ALPHABET)] for b in crypto.random_bytes(n))
