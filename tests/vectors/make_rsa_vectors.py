#!/usr/bin/env python3
"""Generate tests/vectors/rsa.json: an RSA key pair in every public-key form the host's `crypto.rsa-encrypt` accepts,
made by the `cryptography` package (pyca, tested with 48.0.0) rather than by Qiao. The host encrypts with the public
forms; its test decrypts with the private key through OpenSSL (`openssl pkeyutl`), and by hand with
`python3 make_rsa_vectors.py --decrypt PADDING CIPHERTEXT_B64`, so each end is an independent implementation.

The private key is a test key, used nowhere else.
"""

import base64
import json
import os
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "rsa.json")


def load_private():
    with open(OUT, encoding="utf-8") as f:
        pem = json.load(f)["private_pkcs8_pem"].encode()
    return serialization.load_pem_private_key(pem, password=None)


def decrypt(scheme, ciphertext_b64):
    key = load_private()
    pad = {
        "pkcs1v15": padding.PKCS1v15(),
        "oaep-sha256": padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
    }[scheme]
    sys.stdout.write(key.decrypt(base64.b64decode(ciphertext_b64), pad).decode("utf-8"))


def generate():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key()
    spki = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    vectors = {
        "private_pkcs8_pem": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        "spki_pem": public.public_bytes(*spki).decode(),
        "spki_der_b64": base64.b64encode(
            public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        ).decode(),
        "pkcs1_pem": public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode(),
    }
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(vectors, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--decrypt":
        decrypt(sys.argv[2], sys.argv[3])
    else:
        generate()
