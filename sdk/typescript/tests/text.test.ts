import assert from 'node:assert/strict';
import { test } from 'node:test';
import { base64Decode, base64Encode, fromUtf8, hex, query, queryParam, urlencode, utf8 } from '../package/src/index.js';

test('encodes as the Rust SDK does', () => {
  // The Rust SDK's own test (sdk/rust/src/text.rs).
  assert.equal(hex(new Uint8Array([0, 255, 16])), '00ff10');
  assert.equal(urlencode('a b&c=d/é'), 'a%20b%26c%3Dd%2F%C3%A9');
  const q = 'timestamp=1&msg_signature=ab%2Bc&x&nonce=a+b%zz&t=%E4%BD%A0';
  assert.equal(queryParam(q, 'msg_signature'), 'ab+c');
  assert.equal(queryParam(q, 'nonce'), 'a b%zz');
  assert.equal(queryParam(q, 't'), '你');
  assert.equal(queryParam(q, 'x'), '');
  assert.equal(queryParam(q, 'missing'), undefined);
});

test('builds query strings, leaving out absent values', () => {
  assert.equal(query({ cursor: undefined, size: 100, q: 'a b', on: true, none: null }), 'size=100&q=a%20b&on=true');
  assert.equal(query([['k', 'v/1'], ['k', '2']]), 'k=v%2F1&k=2');
  assert.equal(query({}), '');
});

test('base64 round-trips and is strict unless told', () => {
  for (const n of [0, 1, 2, 3, 4, 31, 32, 33]) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff);
    const text = base64Encode(bytes);
    assert.equal(text, Buffer.from(bytes).toString('base64'));
    assert.deepEqual(base64Decode(text), bytes);
  }
  assert.equal(base64Decode('not base64!'), undefined);
  assert.equal(base64Decode('QUJD='), undefined); // length not a multiple of 4
  assert.deepEqual(base64Decode('QUI='), utf8('AB'));
  assert.equal(base64Decode('QUJ='), undefined); // 'J' leaves non-zero trailing bits
  assert.deepEqual(base64Decode('QUJ=', { allowTrailingBits: true }), utf8('AB'));
  assert.equal(fromUtf8(new Uint8Array([0x61, 0xff])), 'a\ufffd');
});
