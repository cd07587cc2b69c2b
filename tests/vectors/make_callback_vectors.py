#!/usr/bin/env python3
"""Generate tests/vectors/callback_crypto.json: reference vectors for the DingTalk / WeCom callback crypto
("WXBizMsgCrypt" scheme), produced by a third-party implementation rather than by Qiao's own code.

Requirements: `pip install wechatpy pycryptodome dingtalk-sdk`.

Sources of truth:
  * wechatpy (PyPI `wechatpy`, tested with 1.8.18):
      - `wechatpy.crypto.PrpCrypto(key).encrypt(text, receive_id)` -> base64 ciphertext, where the 16-byte random
        prefix comes from `BasePrpCrypto.get_random_string`, which this script replaces with a fixed value so the
        output is deterministic;
      - `wechatpy.crypto.PrpCrypto(key).decrypt(encrypt, receive_id)` for the round trip;
      - `wechatpy.crypto._get_signature(token, timestamp, nonce, encrypt)` for the signature;
      - the key is `WeChatCrypto(token, encoding_aes_key, receive_id).key` (base64decode(encoding_aes_key + "=")).
  * Cross-check: dingtalk-sdk (PyPI `dingtalk-sdk`, tested with 1.3.8), `dingtalk.crypto.PrpCrypto` and
    `dingtalk.crypto._get_signature`, on every vector. It is a separate package but written in wechatpy's mould, so
    the script also re-derives every vector from the spec with plain pycryptodome AES (`spec_encrypt`).
    The PyPI packages `dingtalk-crypto` (1.0.2) and `DingCrypto` (1.13) were tried too: both are Python 2 only
    (StringIO, xrange, base64.encodestring) and `dingtalk-crypto` needs the unbuildable `pycrypto`, so they are
    not used.

Fields of each vector: `random_hex` is the 16-byte random prefix, hex-encoded; `plaintext` is the message as text
(UTF-8 when encrypted); `encrypt` is the standard base64 (padded) ciphertext; `signature` is lowercase hex SHA-1 of
the sorted concatenation of token, timestamp, nonce and encrypt.

The script prints nothing; it asserts.
"""

import base64
import hashlib
import json
import os
import struct

from Crypto.Cipher import AES

import wechatpy.crypto as wc
import wechatpy.crypto.base as wcbase

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "callback_crypto.json")

DINGTALK_APP_KEY = "dingappkey123"
DINGTALK_CORP_ID = "dingcorp0a1b2c3d4e5f"
WECOM_CORP_ID = "ww1234567890abcdef"


def bpms_event():
    return json.dumps(
        {
            "EventType": "bpms_instance_change",
            "processInstanceId": "a171de6c-8bab-4e4b-b2a6-0c8e7f9e1b2d",
            "corpId": DINGTALK_CORP_ID,
            "createTime": 1700000000000,
            "title": "张三提交的请假申请",
            "type": "start",
            "staffId": "manager7788",
            "url": "https://aflow.dingtalk.com/dingtalk/mobile/homepage.htm",
            "processCode": "PROC-FF6Y4BE1N2-1J2LSWNJ6S1A6YQX4O4N2-AB12CD3J-1",
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def exact_block_plaintext(receive_id):
    # 16 (random) + 4 (length) + len(msg) + len(receive_id) must be a multiple of 32, so that PKCS#7 adds a
    # full 32-byte block of 0x20.
    base = '{"EventType":"check_url","pad":"'
    tail = '"}'
    fixed = 16 + 4 + len(base) + len(tail) + len(receive_id.encode())
    n = (-fixed) % 32
    if n < 4:
        n += 32
    text = base + "x" * n + tail
    assert (16 + 4 + len(text.encode()) + len(receive_id.encode())) % 32 == 0
    return text


WECOM_XML = (
    "<xml><ToUserName><![CDATA[ww1234567890abcdef]]></ToUserName>"
    "<FromUserName><![CDATA[zhangsan]]></FromUserName>"
    "<CreateTime>1700000000</CreateTime>"
    "<MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[你好，企业微信]]></Content>"
    "<MsgId>7312345678901234567</MsgId>"
    "<AgentID>1000002</AgentID></xml>"
)

# Keys: 43 characters of [A-Za-z0-9]. The last character of the first key ('z' = 51 = 0b110011) has non-zero
# low bits, which base64 decoders must ignore (real platform keys are random and often look like this).
KEY_A = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFz"
KEY_B = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
KEY_C = "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij"

VECTORS = [
    dict(
        name="dingtalk_check_url",
        token="qiaoToken123",
        encoding_aes_key=KEY_A,
        receive_id=DINGTALK_APP_KEY,
        timestamp="1700000000123",
        nonce="nonce01",
        random=b"aBcDeFgHiJkLmNoP",
        plaintext='{"EventType":"check_url"}',
    ),
    dict(
        name="dingtalk_success_reply",
        token="qiaoToken123",
        encoding_aes_key=KEY_A,
        receive_id=DINGTALK_APP_KEY,
        timestamp="1700000000456",
        nonce="Xy7Qk2",
        random=b"0123456789abcdef",
        plaintext="success",
    ),
    dict(
        name="dingtalk_bpms_instance_change_chinese",
        token="dt-callback-token",
        encoding_aes_key=KEY_B,
        receive_id=DINGTALK_APP_KEY,
        timestamp="1700000001789",
        nonce="k3j4h5g6",
        random=bytes(range(0xF0, 0x100)),  # non-ASCII random bytes are legal: the prefix is opaque
        plaintext=bpms_event(),
    ),
    dict(
        name="dingtalk_full_padding_block",
        token="qiaoToken123",
        encoding_aes_key=KEY_A,
        receive_id=DINGTALK_APP_KEY,
        timestamp="1700000002000",
        nonce="pad32",
        random=b"PPPPPPPPPPPPPPPP",
        plaintext=exact_block_plaintext(DINGTALK_APP_KEY),
    ),
    dict(
        name="dingtalk_corp_id_receive_id",
        token="corpToken",
        encoding_aes_key=KEY_B,
        receive_id=DINGTALK_CORP_ID,
        timestamp="1700000003000",
        nonce="corpnonce",
        random=bytes.fromhex("00112233445566778899aabbccddeeff"),
        plaintext='{"EventType":"user_add_org","UserId":["user001"],"CorpId":"dingcorp0a1b2c3d4e5f","TimeStamp":"1700000003000"}',
    ),
    dict(
        name="wecom_text_message_xml",
        token="QDG6eK",
        encoding_aes_key=KEY_C,
        receive_id=WECOM_CORP_ID,
        timestamp="1700000000",
        nonce="1372623149",
        random=b"RandomPrefix0001",
        plaintext=WECOM_XML,
    ),
]


def wechatpy_encrypt(key, text, receive_id, random_prefix):
    """wechatpy's own PrpCrypto.encrypt, with its random-string source fixed."""
    original = wcbase.BasePrpCrypto.get_random_string
    wcbase.BasePrpCrypto.get_random_string = lambda self: random_prefix
    try:
        return wc.PrpCrypto(key).encrypt(text, receive_id).decode("ascii")
    finally:
        wcbase.BasePrpCrypto.get_random_string = original


def spec_encrypt(encoding_aes_key, text, receive_id, random_prefix):
    """The scheme written out from its description, with plain AES-256-CBC."""
    key = base64.b64decode(encoding_aes_key + "=")
    assert len(key) == 32
    msg = text.encode("utf-8")
    body = random_prefix + struct.pack(">I", len(msg)) + msg + receive_id.encode("utf-8")
    n = 32 - len(body) % 32
    body += bytes([n]) * n
    return base64.b64encode(AES.new(key, AES.MODE_CBC, key[:16]).encrypt(body)).decode("ascii")


def spec_signature(token, timestamp, nonce, encrypt):
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypt])).encode("utf-8")).hexdigest()


def main():
    try:
        import dingtalk.crypto as dc
        import dingtalk.crypto.base as dcbase
    except ImportError:  # cross-check skipped when dingtalk-sdk is not installed
        dc = dcbase = None

    out = []
    for v in VECTORS:
        assert len(v["encoding_aes_key"]) == 43
        assert len(v["random"]) == 16
        key = wc.WeChatCrypto(v["token"], v["encoding_aes_key"], v["receive_id"]).key
        assert key == base64.b64decode(v["encoding_aes_key"] + "=")
        encrypt = wechatpy_encrypt(key, v["plaintext"], v["receive_id"], v["random"])
        signature = wc._get_signature(v["token"], v["timestamp"], v["nonce"], encrypt)

        # wechatpy's own decrypt gets the message back and checks the receive id.
        assert wc.PrpCrypto(key).decrypt(encrypt, v["receive_id"]) == v["plaintext"]
        # The spec, written out.
        assert spec_encrypt(v["encoding_aes_key"], v["plaintext"], v["receive_id"], v["random"]) == encrypt
        assert spec_signature(v["token"], v["timestamp"], v["nonce"], encrypt) == signature

        if dc is not None:
            original = dcbase.BasePrpCrypto.get_random_string
            dcbase.BasePrpCrypto.get_random_string = lambda self, r=v["random"]: r
            try:
                assert dc.PrpCrypto(key).encrypt(v["plaintext"], v["receive_id"]).decode("ascii") == encrypt
            finally:
                dcbase.BasePrpCrypto.get_random_string = original
            assert dc.PrpCrypto(key).decrypt(encrypt, v["receive_id"]) == v["plaintext"]
            assert dc._get_signature(v["token"], v["timestamp"], v["nonce"], encrypt) == signature

        out.append(
            {
                "name": v["name"],
                "token": v["token"],
                "encoding_aes_key": v["encoding_aes_key"],
                "receive_id": v["receive_id"],
                "timestamp": v["timestamp"],
                "nonce": v["nonce"],
                "random_hex": v["random"].hex(),
                "plaintext": v["plaintext"],
                "encrypt": encrypt,
                "signature": signature,
            }
        )

    # The full-padding vector really pads with a whole block.
    full = next(o for o in out if o["name"] == "dingtalk_full_padding_block")
    key = base64.b64decode(full["encoding_aes_key"] + "=")
    raw = AES.new(key, AES.MODE_CBC, key[:16]).decrypt(base64.b64decode(full["encrypt"]))
    assert raw[-32:] == bytes([32]) * 32

    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
