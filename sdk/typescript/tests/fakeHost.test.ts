// The fake host itself: the imports behave as the real host's do (errors carry their WIT payload).

import assert from 'node:assert/strict';
import { generateKeyPairSync, privateDecrypt } from 'node:crypto';
import { test } from 'node:test';
import { aes256CbcDecrypt, aes256CbcEncrypt, hmacSha256, rsaEncrypt } from 'qiao:connector/crypto@0.2.0';
import { connection, get } from 'qiao:connector/config@0.2.0';
import { ComponentError, FakeHost } from '../package/src/testing/index.js';
import { hex, utf8 } from '../package/src/index.js';

test('config and connection', () => {
  FakeHost.install({ config: { a: '1' }, connection: 'acme-hq' });
  assert.equal(get('a'), '1');
  assert.equal(get('b'), undefined);
  assert.equal(connection(), 'acme-hq');
});

test('crypto is real', () => {
  FakeHost.install();
  // RFC 4231 test case 2.
  assert.equal(
    hex(hmacSha256(utf8('Jefe'), utf8('what do ya want for nothing?'))),
    '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
  );
  const key = new Uint8Array(32).fill(7);
  const iv = new Uint8Array(16).fill(9);
  const sealed = aes256CbcEncrypt(key, iv, utf8('hello'), 'pkcs7');
  assert.equal(sealed.length, 16);
  assert.deepEqual(aes256CbcDecrypt(key, iv, sealed, 'pkcs7'), utf8('hello'));
  assert.throws(
    () => aes256CbcEncrypt(key, iv, utf8('hello'), 'none'),
    (e) => e instanceof ComponentError && typeof e.payload === 'string',
  );

  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const pem = utf8(publicKey.export({ type: 'spki', format: 'pem' }) as string);
  const der = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
  const oaep = rsaEncrypt(der, utf8('secret'), 'oaep-sha256');
  assert.equal(privateDecrypt({ key: privateKey, oaepHash: 'sha256' }, oaep).toString(), 'secret');
  const v15 = rsaEncrypt(pem, utf8('secret'), 'pkcs1v15');
  assert.equal(v15.length, 128);
  assert.throws(() => rsaEncrypt(utf8('nope'), utf8('x'), 'pkcs1v15'), ComponentError);
});

test('an import without an installed host says so', async () => {
  delete (globalThis as Record<symbol, unknown>)[Symbol.for('qiao.connector.fakeHost')];
  assert.throws(() => get('a'), /no fake host installed/);
  await assert.rejects(import('qiao:connector/kv@0.1.0' as string), /serves qiao:connector\/.*@0\.2\.0 only/);
});
