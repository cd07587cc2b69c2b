// The callback crypto DingTalk and WeCom share (WeCom's "WXBizMsgCrypt"): AES-256-CBC with the key
// `base64(EncodingAESKey + "=")`, the IV its first 16 bytes, PKCS#7 padding to 32-byte blocks, a plaintext of
// `random(16) ‖ length(4, big-endian) ‖ message ‖ receive id`, and a SHA-1 signature over the sorted
// `[token, timestamp, nonce, encrypt]`. The platforms wrap it differently (DingTalk JSON, WeCom XML); the
// connectors do the wrapping, this module only the cryptography, through the host's `crypto` import (native, and
// the same code path as the Rust SDK's `msg_crypt`, whose messages these are).

import { aes256CbcDecrypt, aes256CbcEncrypt, randomBytes, sha1 } from 'qiao:connector/crypto@0.2.0';
import { internal, invalidInput, payloadOf, unauthorized } from './errors.js';
import { base64Decode, base64Encode, fromUtf8, fromUtf8Strict, hex, utf8 } from './text.js';

/** The platforms pad to 32 bytes, not to the AES block size. */
const PAD_BLOCK = 32;
/** A callback message is a few KiB; anything near this is not one. */
const MAX_MESSAGE = 1 << 20;

export class MsgCrypt {
  readonly #token: string;
  readonly #key: Uint8Array;
  readonly #receiveId: Uint8Array;
  readonly #receiveIdText: string;

  /**
   * `encodingAesKey` is the 43-character key from the platform's console. `receiveId` is what the platform appends
   * to each plaintext and the receiver must check: DingTalk's appKey (or corpId, or suiteKey), WeCom's corpid.
   * Throws `invalid-input` for a malformed key.
   */
  constructor(token: string, encodingAesKey: string, receiveId: string) {
    // The consoles generate keys whose last character carries unused low bits (e.g. ending in `z`), which a
    // strict decoder refuses; the platforms' own SDKs accept them.
    const key = encodingAesKey.length === 43 ? base64Decode(`${encodingAesKey}=`, { allowTrailingBits: true }) : undefined;
    if (key === undefined || key.length !== 32) {
      throw invalidInput("the callback AES key must be the 43-character EncodingAESKey from the platform's console");
    }
    this.#token = token;
    this.#key = key;
    this.#receiveId = utf8(receiveId);
    this.#receiveIdText = receiveId;
  }

  signature(timestamp: string, nonce: string, encrypt: string): string {
    const parts = [this.#token, timestamp, nonce, encrypt].sort(compareBytes);
    return hex(sha1(utf8(parts.join(''))));
  }

  /** Throws `unauthorized` unless `signature` signs the other three. */
  verify(signature: string, timestamp: string, nonce: string, encrypt: string): void {
    const expected = utf8(this.signature(timestamp, nonce, encrypt));
    if (!constantTimeEqual(expected, utf8(asciiLower(signature)))) {
      throw unauthorized('callback signature mismatch: check the callback token, or the request was forged');
    }
  }

  /**
   * The message inside `encrypt`, after checking its padding, length and receive id (all `unauthorized`: a message
   * that does not decrypt to a well-formed one was not made with our key).
   */
  decrypt(encrypt: string): string {
    const refuse = (why: string) => unauthorized(`callback cannot be decrypted: ${why}`);
    const data = base64Decode(encrypt.trim());
    if (data === undefined) throw refuse('not base64');
    if (data.length === 0 || data.length % 16 !== 0 || data.length > MAX_MESSAGE + 64) {
      throw refuse('not a whole number of AES blocks');
    }
    let plain: Uint8Array;
    try {
      plain = aes256CbcDecrypt(this.#key, this.#key.subarray(0, 16), data, 'none');
    } catch {
      throw refuse('wrong key');
    }
    const pad = plain[plain.length - 1]!;
    if (pad < 1 || pad > PAD_BLOCK || pad > plain.length || plain.subarray(plain.length - pad).some((b) => b !== pad)) {
      throw refuse('bad padding (wrong AES key?)');
    }
    plain = plain.subarray(0, plain.length - pad);
    if (plain.length < 20) throw refuse('too short');
    const length = new DataView(plain.buffer, plain.byteOffset + 16, 4).getUint32(0);
    if (length + 20 > plain.length) throw refuse('length field out of range');
    const message = plain.subarray(20, 20 + length);
    const receiveId = plain.subarray(20 + length);
    if (!bytesEqual(receiveId, this.#receiveId)) {
      throw unauthorized(
        `callback is for another receiver (${JSON.stringify(fromUtf8(receiveId))}), not this connection's ${JSON.stringify(this.#receiveIdText)}`,
      );
    }
    const text = fromUtf8Strict(message);
    if (text === undefined) throw refuse('message is not UTF-8');
    return text;
  }

  /** `message` encrypted for the platform, base64. */
  encrypt(message: string): string {
    const body = utf8(message);
    const receiveId = this.#receiveId;
    const unpadded = 16 + 4 + body.length + receiveId.length;
    const pad = PAD_BLOCK - (unpadded % PAD_BLOCK);
    const plain = new Uint8Array(unpadded + pad);
    plain.set(randomBytes(16), 0);
    new DataView(plain.buffer).setUint32(16, body.length);
    plain.set(body, 20);
    plain.set(receiveId, 20 + body.length);
    plain.fill(pad, unpadded);
    let data: Uint8Array;
    try {
      data = aes256CbcEncrypt(this.#key, this.#key.subarray(0, 16), plain, 'none');
    } catch (e) {
      const payload = payloadOf(e);
      throw internal(typeof payload === 'string' ? payload : String(e));
    }
    return base64Encode(data);
  }
}

/** `n` random letters and digits, for nonces. */
export function nonce(n: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  let out = '';
  for (const b of randomBytes(n)) out += alphabet[b % alphabet.length];
  return out;
}

/** Compares without an early exit, so the time taken says nothing about how much of a signature was right. */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Rust's `to_ascii_lowercase`: only A-Z change. */
function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** Rust's `sort_unstable` on `&str`: by UTF-8 bytes (JS's default sort is by UTF-16 code unit). */
function compareBytes(a: string, b: string): number {
  const x = utf8(a);
  const y = utf8(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! - y[i]!;
  }
  return x.length - y.length;
}
