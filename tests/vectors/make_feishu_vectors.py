#!/usr/bin/env python3
"""Generate tests/vectors/feishu_callback.json: reference vectors for Feishu/Lark (飞书) callback crypto, checked
by Feishu's own SDK rather than by Qiao's code.

Requirements: `pip install lark-oapi pycryptodome cryptography` (tested with lark-oapi 1.7.5, pycryptodome 4.4.0,
cryptography 48.0.0).

The scheme (Feishu "Encrypt Key" callbacks):
  * key = SHA-256(encrypt_key) (32 bytes), AES-256-CBC, PKCS#7 padding to 16 bytes;
  * the body is `{"encrypt": base64(IV (16 random bytes) || ciphertext)}`;
  * headers `X-Lark-Request-Timestamp`, `X-Lark-Request-Nonce` and
    `X-Lark-Signature` = hex(SHA-256(timestamp + nonce + encrypt_key + raw body bytes)).

Sources of truth:
  * encryption: plain pycryptodome AES with a fixed IV (lark-oapi has no encryptor), cross-checked with
    `cryptography`'s AES-CBC and PKCS7 padder;
  * decryption: lark-oapi's `lark_oapi.core.utils.decryptor.AESCipher.decrypt_str`;
  * signature: lark-oapi's `EventDispatcherHandler._verify_sign` (lark_oapi/event/dispatcher_handler.py), which
    raises on a mismatch; the script also computes it itself;
  * the whole path: every JSON vector is fed to lark-oapi's `EventDispatcherHandler.do` as a raw request (decrypt,
    verification-token check, signature check, dispatch to a registered handler), and the handler must see the
    event (or, for url_verification, answer the challenge).
  * Feishu's documented vector (open.feishu.cn, "Encrypt Key 加密配置示例"): encrypt_key "test key",
    encrypt "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=" decrypts to "hello world"; its IV is the first
    16 bytes of that ciphertext, and re-encrypting with it must give the same string.

Fields of each vector: `iv_hex` the 16-byte IV; `plaintext` the decrypted text (UTF-8); `encrypt` the standard
padded base64 of IV || ciphertext; `body` the exact raw JSON body (`{"encrypt":"…"}`, no spaces) the signature
covers; `signature` lowercase hex SHA-256.

The script prints nothing; it asserts.
"""

import base64
import hashlib
import json
import logging
import os

from Crypto.Cipher import AES
from cryptography.hazmat.primitives import padding as cpadding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

import lark_oapi as lark
from lark_oapi.core.exception import AccessDeniedException
from lark_oapi.core.log import logger as lark_logger
from lark_oapi.core.model import RawRequest
from lark_oapi.core.utils.decryptor import AESCipher

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "feishu_callback.json")

VERIFICATION_TOKEN = "sim-verify-token"
DOC_ENCRYPT = "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="


def compact(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


CONTACT_USER_CREATED = compact(
    {
        "schema": "2.0",
        "header": {
            "event_id": "5e3702a84e847582be8db7fb73283c02",
            "event_type": "contact.user.created_v3",
            "create_time": "1700000000000",
            "token": VERIFICATION_TOKEN,
            "app_id": "cli_simapp0001",
            "tenant_key": "sim-tenant-key",
        },
        "event": {
            "object": {
                "open_id": "ou_7dab8a3d3cdcc9da365777c7ad535d62",
                "union_id": "on_576833b917gda3d939b9a3c2d53e72c8",
                "user_id": "e33ggbyz",
                "name": "张三",
                "mobile": "+8613800000004",
                "email": "zhangsan@example.com",
                "department_ids": ["od-4e6ac4d14bcd5071a37a39de902c7141"],
                "job_title": "工程师",
                "status": {"is_activated": True, "is_frozen": False, "is_resigned": False},
            }
        },
    }
)

APPROVAL_INSTANCE = compact(
    {
        "uuid": "41a4d7ea2e5cf2b6e8a0e0c8a2f4f0aa",
        "token": VERIFICATION_TOKEN,
        "ts": "1700000001.123",
        "type": "event_callback",
        "event": {
            "app_id": "cli_simapp0001",
            "tenant_key": "sim-tenant-key",
            "type": "approval_instance",
            "approval_code": "APPROVAL-LEAVE",
            "instance_code": "81D31358-93AF-92D6-7425-01A5D67C4E71",
            "status": "APPROVED",
            "operate_time": "1700000001000",
            "instance_operate_time": "1700000001000",
            "uuid": "1b2c3d4e",
        },
    }
)

URL_VERIFICATION = compact(
    {"challenge": "ajls384kdjx98XX", "token": VERIFICATION_TOKEN, "type": "url_verification"}
)


def full_block_plaintext():
    # A plaintext of a whole number of blocks: PKCS#7 must add a full block of 0x10.
    text = '{"pad":"' + "y" * 8 + '"}'
    text += " " * ((-len(text.encode())) % 16)
    assert len(text.encode()) % 16 == 0
    return text


VECTORS = [
    dict(
        name="feishu_doc_known_vector",
        encrypt_key="test key",
        plaintext="hello world",
        iv=base64.b64decode(DOC_ENCRYPT)[:16],
        timestamp="1700000000",
        nonce="doc-nonce",
        expect_encrypt=DOC_ENCRYPT,
        kind=None,
    ),
    dict(
        name="v2_contact_user_created_v3",
        encrypt_key="sim-encrypt-key",
        plaintext=CONTACT_USER_CREATED,
        iv=bytes.fromhex("00112233445566778899aabbccddeeff"),
        timestamp="1700000000",
        nonce="8f7e6d5c",
        kind=("p2", "contact.user.created_v3"),
    ),
    dict(
        name="v1_approval_instance",
        encrypt_key="kx9PqZ2mWv7LbT4nYc8RdF3hJs6GtA1e",
        plaintext=APPROVAL_INSTANCE,
        iv=bytes(range(0xF0, 0x100)),
        timestamp="1700000001",
        nonce="1372623149",
        kind=("p1", "approval_instance"),
    ),
    dict(
        name="url_verification",
        encrypt_key="sim-encrypt-key",
        plaintext=URL_VERIFICATION,
        iv=b"RandomIV00000001",
        timestamp="1700000002",
        nonce="urlcheck",
        kind=("url", None),
    ),
    dict(
        name="full_padding_block",
        encrypt_key="sim-encrypt-key",
        plaintext=full_block_plaintext(),
        iv=b"PPPPPPPPPPPPPPPP",
        timestamp="1700000003",
        nonce="pad16",
        kind=None,
    ),
]


def encrypt(encrypt_key, plaintext, iv):
    """pycryptodome, from the scheme's description."""
    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    data = plaintext.encode("utf-8")
    n = 16 - len(data) % 16
    data += bytes([n]) * n
    return base64.b64encode(iv + AES.new(key, AES.MODE_CBC, iv).encrypt(data)).decode("ascii")


def encrypt_cryptography(encrypt_key, plaintext, iv):
    """The same with the `cryptography` package, as a cross-check."""
    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    padder = cpadding.PKCS7(128).padder()
    data = padder.update(plaintext.encode("utf-8")) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + enc.update(data) + enc.finalize()).decode("ascii")


def raw_request(body, timestamp, nonce, signature):
    req = RawRequest()
    req.uri = "/webhook/event"
    req.headers = {
        lark.LARK_REQUEST_TIMESTAMP: timestamp,
        lark.LARK_REQUEST_NONCE: nonce,
        lark.LARK_REQUEST_SIGNATURE: signature,
    }
    req.body = body.encode("utf-8")
    return req


def run_dispatcher(v, body, signature):
    """lark-oapi's webhook handler, end to end: it must accept the request and dispatch the event."""
    seen = []
    builder = lark.EventDispatcherHandler.builder(v["encrypt_key"], VERIFICATION_TOKEN)
    schema, event_type = v["kind"]
    if schema == "p2":
        builder = builder.register_p2_customized_event(event_type, lambda e: seen.append(e))
    elif schema == "p1":
        builder = builder.register_p1_customized_event(event_type, lambda e: seen.append(e))
    handler = builder.build()
    resp = handler.do(raw_request(body, v["timestamp"], v["nonce"], signature))
    assert resp.status_code == 200, (v["name"], resp.content)
    if schema == "url":
        assert json.loads(resp.content) == {"challenge": json.loads(v["plaintext"])["challenge"]}
    else:
        assert len(seen) == 1, v["name"]
        assert json.loads(resp.content) == {"msg": "success"}
    # A wrong signature is refused (url_verification is not signature-checked, as Feishu documents).
    bad = handler.do(raw_request(body, v["timestamp"], v["nonce"], "0" * 64))
    assert bad.status_code == (200 if schema == "url" else 500), v["name"]


def main():
    # lark-oapi logs every refused request with a traceback; the refusals here are expected.
    lark_logger.setLevel(logging.CRITICAL)
    out = []
    for v in VECTORS:
        assert len(v["iv"]) == 16
        enc = encrypt(v["encrypt_key"], v["plaintext"], v["iv"])
        assert encrypt_cryptography(v["encrypt_key"], v["plaintext"], v["iv"]) == enc
        if "expect_encrypt" in v:
            assert enc == v["expect_encrypt"], (v["name"], enc)
        # lark-oapi's decryptor.
        assert AESCipher(v["encrypt_key"]).decrypt_str(enc) == v["plaintext"]

        body = compact({"encrypt": enc})
        signature = hashlib.sha256(
            (v["timestamp"] + v["nonce"] + v["encrypt_key"]).encode("utf-8") + body.encode("utf-8")
        ).hexdigest()
        handler = lark.EventDispatcherHandler.builder(v["encrypt_key"], VERIFICATION_TOKEN).build()
        # lark-oapi's own signature check raises on a mismatch; it must pass, and fail on a changed byte.
        handler._verify_sign(raw_request(body, v["timestamp"], v["nonce"], signature), v["encrypt_key"])
        try:
            handler._verify_sign(raw_request(body + " ", v["timestamp"], v["nonce"], signature), v["encrypt_key"])
            raise AssertionError("signature over different bytes accepted")
        except AccessDeniedException:
            pass
        if v["kind"] is not None:
            run_dispatcher(v, body, signature)

        out.append(
            {
                "name": v["name"],
                "encrypt_key": v["encrypt_key"],
                "plaintext": v["plaintext"],
                "iv_hex": v["iv"].hex(),
                "encrypt": enc,
                "timestamp": v["timestamp"],
                "nonce": v["nonce"],
                "body": body,
                "signature": signature,
            }
        )

    full = next(o for o in out if o["name"] == "full_padding_block")
    key = hashlib.sha256(full["encrypt_key"].encode()).digest()
    raw = base64.b64decode(full["encrypt"])
    assert AES.new(key, AES.MODE_CBC, raw[:16]).decrypt(raw[16:])[-16:] == bytes([16]) * 16

    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
