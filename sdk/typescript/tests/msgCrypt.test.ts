// The DingTalk/WeCom callback crypto against the third-party reference vectors the Rust side is tested with
// (tests/vectors/callback_crypto.json: made by wechatpy, cross-checked with dingtalk-sdk).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { isConnectorError, MsgCrypt, nonce } from '../package/src/index.js';
import { FakeHost } from '../package/src/testing/index.js';

interface Vector {
  name: string;
  token: string;
  encoding_aes_key: string;
  receive_id: string;
  timestamp: string;
  nonce: string;
  random_hex: string;
  plaintext: string;
  encrypt: string;
  signature: string;
}

// From .build/tests/ (where this runs) to the repository root.
const vectors: Vector[] = JSON.parse(
  readFileSync(new URL('../../../../tests/vectors/callback_crypto.json', import.meta.url), 'utf8'),
);

const isUnauthorized = (pattern: RegExp) => (e: unknown) =>
  isConnectorError(e) && e.kind === 'unauthorized' && pattern.test(e.message);

test('matches the reference vectors: encrypt, signature, verify, decrypt', () => {
  assert.ok(vectors.length >= 6);
  const host = FakeHost.install();
  for (const v of vectors) {
    const crypt = new MsgCrypt(v.token, v.encoding_aes_key, v.receive_id);
    host.random = () => new Uint8Array(Buffer.from(v.random_hex, 'hex'));
    assert.equal(crypt.encrypt(v.plaintext), v.encrypt, `${v.name}: encrypt`);
    assert.equal(crypt.signature(v.timestamp, v.nonce, v.encrypt), v.signature, `${v.name}: signature`);
    crypt.verify(v.signature, v.timestamp, v.nonce, v.encrypt);
    crypt.verify(v.signature.toUpperCase(), v.timestamp, v.nonce, v.encrypt);
    assert.equal(crypt.decrypt(v.encrypt), v.plaintext, `${v.name}: decrypt`);
  }
});

test('round-trips with a random prefix', () => {
  FakeHost.install();
  for (const v of vectors) {
    const crypt = new MsgCrypt(v.token, v.encoding_aes_key, v.receive_id);
    const a = crypt.encrypt(v.plaintext);
    const b = crypt.encrypt(v.plaintext);
    assert.notEqual(a, b);
    assert.equal(crypt.decrypt(a), v.plaintext);
    assert.equal(crypt.decrypt(b), v.plaintext);
  }
});

test('refuses forged signatures, other receivers, tampering and bad keys', () => {
  FakeHost.install();
  const v = vectors[0]!;
  const crypt = new MsgCrypt(v.token, v.encoding_aes_key, v.receive_id);
  assert.throws(() => crypt.verify('0'.repeat(40), v.timestamp, v.nonce, v.encrypt), isUnauthorized(/signature mismatch/));
  assert.throws(() => crypt.verify(v.signature, `${v.timestamp}1`, v.nonce, v.encrypt), isUnauthorized(/signature mismatch/));

  const other = new MsgCrypt(v.token, v.encoding_aes_key, 'someone-else');
  assert.throws(() => other.decrypt(v.encrypt), isUnauthorized(/another receiver \("dingappkey123"\)/));

  const raw = Buffer.from(v.encrypt, 'base64');
  const flipped = Buffer.from(raw);
  flipped[0]! ^= 0x80; // the top bit of the length field (CBC: block 0 garbles block 1's same bit)
  assert.throws(() => crypt.decrypt(flipped.toString('base64')), isUnauthorized(/length field out of range/));
  const lastBlock = Buffer.from(raw);
  lastBlock[lastBlock.length - 1]! ^= 0x55;
  assert.throws(() => crypt.decrypt(lastBlock.toString('base64')), isUnauthorized(/cannot be decrypted/));
  assert.throws(() => crypt.decrypt(raw.subarray(0, raw.length - 1).toString('base64')), isUnauthorized(/cannot be decrypted/));
  assert.throws(() => crypt.decrypt('not base64!'), isUnauthorized(/not base64/));
  assert.throws(() => crypt.decrypt(''), isUnauthorized(/AES blocks/));

  for (const key of ['short', `${v.encoding_aes_key}x`, `${v.encoding_aes_key.slice(0, 42)}!`]) {
    assert.throws(() => new MsgCrypt(v.token, key, v.receive_id), (e) => isConnectorError(e) && e.kind === 'invalid-input');
  }
});

test('nonces are letters and digits', () => {
  FakeHost.install();
  assert.match(nonce(16), /^[A-Za-z0-9]{16}$/);
});
