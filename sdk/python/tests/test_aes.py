"""The fake host's pure-Python AES against published vectors, so the callback-crypto tests stand on a checked cipher."""

import unittest

from qiao_sdk.testing import aes


class AesTest(unittest.TestCase):
    def test_fips_197_appendix_c3(self) -> None:
        keys = aes._round_keys(bytes(range(32)))
        plain = bytes.fromhex("00112233445566778899aabbccddeeff")
        cipher = bytes.fromhex("8ea2b7ca516745bfeafc49904b496089")
        self.assertEqual(aes.encrypt_block(keys, plain), cipher)
        self.assertEqual(aes.decrypt_block(keys, cipher), plain)

    def test_sp800_38a_f25_cbc_aes256(self) -> None:
        key = bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
        iv = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
        plain = bytes.fromhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
                              "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
        cipher = bytes.fromhex("f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
                               "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b")
        self.assertEqual(aes.cbc_encrypt(key, iv, plain), cipher)
        self.assertEqual(aes.cbc_decrypt(key, iv, cipher), plain)


if __name__ == "__main__":
    unittest.main()
