"""AES-256-CBC in pure Python, for the fake host only: Python's standard library has no AES, and a vendor's unit tests
should need nothing installed. Slow (about a millisecond per block) and not constant-time: never use it for real
secrets. Checked against FIPS-197 and NIST SP 800-38A vectors in the SDK's tests."""

from typing import List


def _xtime(a: int) -> int:
    return ((a << 1) ^ 0x1B) & 0xFF if a & 0x80 else a << 1


def _mul(a: int, b: int) -> int:
    result = 0
    while b:
        if b & 1:
            result ^= a
        a, b = _xtime(a), b >> 1
    return result


def _make_sbox() -> List[int]:
    # The multiplicative inverse in GF(2^8) followed by the affine map, as FIPS-197 defines the S-box.
    # 3 generates the field's multiplicative group: x = 3^i has the inverse 3^(255 - i).
    powers = [1] * 255
    for i in range(1, 255):
        powers[i] = _mul(powers[i - 1], 3)
    sbox = [0x63] * 256
    for i, x in enumerate(powers):
        inverse = powers[-i % 255]
        s = inverse
        for shift in range(1, 5):
            s ^= ((inverse << shift) | (inverse >> (8 - shift))) & 0xFF
        sbox[x] = s ^ 0x63
    return sbox


_SBOX = _make_sbox()
_INV_SBOX = [0] * 256
for _i, _s in enumerate(_SBOX):
    _INV_SBOX[_s] = _i
_ROUNDS = 14


def _round_keys(key: bytes) -> List[List[int]]:
    words = [list(key[i:i + 4]) for i in range(0, 32, 4)]
    rcon = 1
    for i in range(8, 4 * (_ROUNDS + 1)):
        temp = list(words[i - 1])
        if i % 8 == 0:
            temp = [_SBOX[b] for b in temp[1:] + temp[:1]]
            temp[0] ^= rcon
            rcon = _xtime(rcon)
        elif i % 8 == 4:
            temp = [_SBOX[b] for b in temp]
        words.append([a ^ b for a, b in zip(words[i - 8], temp)])
    return [sum(words[4 * r:4 * r + 4], []) for r in range(_ROUNDS + 1)]


# The state is 16 bytes in FIPS-197's order: byte r + 4c is row r of column c.
def _shift_rows(s: List[int], direction: int) -> List[int]:
    return [s[r + 4 * ((c + direction * r) % 4)] for c in range(4) for r in range(4)]


def _mix_columns(s: List[int], m: List[int]) -> List[int]:
    out = []
    for c in range(4):
        col = s[4 * c:4 * c + 4]
        for r in range(4):
            out.append(_mul(col[0], m[(0 - r) % 4]) ^ _mul(col[1], m[(1 - r) % 4])
                       ^ _mul(col[2], m[(2 - r) % 4]) ^ _mul(col[3], m[(3 - r) % 4]))
    return out


def _add(s: List[int], k: List[int]) -> List[int]:
    return [a ^ b for a, b in zip(s, k)]


def encrypt_block(keys: List[List[int]], block: bytes) -> bytes:
    s = _add(list(block), keys[0])
    for r in range(1, _ROUNDS + 1):
        s = _shift_rows([_SBOX[b] for b in s], 1)
        if r < _ROUNDS:
            s = _mix_columns(s, [2, 3, 1, 1])
        s = _add(s, keys[r])
    return bytes(s)


def decrypt_block(keys: List[List[int]], block: bytes) -> bytes:
    s = _add(list(block), keys[_ROUNDS])
    for r in range(_ROUNDS - 1, -1, -1):
        s = [_INV_SBOX[b] for b in _shift_rows(s, -1)]
        s = _add(s, keys[r])
        if r > 0:
            s = _mix_columns(s, [14, 11, 13, 9])
    return bytes(s)


def cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """``data`` must be whole blocks (the caller pads)."""
    keys, previous, out = _round_keys(key), iv, b""
    for i in range(0, len(data), 16):
        previous = encrypt_block(keys, bytes(a ^ b for a, b in zip(data[i:i + 16], previous)))
        out += previous
    return out


def cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    keys, previous, out = _round_keys(key), iv, b""
    for i in range(0, len(data), 16):
        block = data[i:i + 16]
        out += bytes(a ^ b for a, b in zip(decrypt_block(keys, block), previous))
        previous = block
    return out
