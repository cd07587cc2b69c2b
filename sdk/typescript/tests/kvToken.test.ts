import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { invalidInput, isConnectorError, jsonKv, token, unauthorized, unavailable } from '../package/src/index.js';
import { FakeHost } from '../package/src/testing/index.js';

test('kv JSON: values, TTLs, unreadable values, counters, the host refusing', () => {
  const host = FakeHost.install();
  jsonKv.set('cursor', { after: 'x', n: 2 }, 60);
  assert.deepEqual(jsonKv.get('cursor'), { after: 'x', n: 2 });
  assert.equal(host.kv.get('cursor')!.ttlSeconds, 60);
  host.advance(60);
  assert.equal(jsonKv.get('cursor'), undefined, 'expired');

  host.imports.kv.set('junk', new Uint8Array([0xff]), undefined);
  assert.equal(jsonKv.get('junk'), undefined, 'unreadable is missing');

  assert.equal(jsonKv.next('seq'), 1);
  assert.equal(jsonKv.next('seq'), 2);
  jsonKv.remove('seq');
  assert.equal(jsonKv.next('seq'), 1);

  host.kvSetError = unavailable('store full');
  assert.throws(() => jsonKv.set('k', 1), (e) => isConnectorError(e) && e.kind === 'unavailable' && e.message === 'store full');
});

test('kv keep: a refused write is a warning, not an error; a token that cannot be cached still serves', () => {
  const host = FakeHost.install();
  host.kvSetError = invalidInput('kv quota exceeded', { platformCode: 'kv_quota' });
  jsonKv.keep('receiver:om_1', 'ou_1', 60);
  assert.equal(host.kv.get('receiver:om_1'), undefined);
  assert.equal(host.logs.at(-1)!.level, 'warn');
  assert.deepEqual(host.logs.at(-1)!.fields, { key: 'receiver:om_1', error: 'kv quota exceeded' });

  let fetches = 0;
  const fetch = () => ({ value: `t${++fetches}`, expiresIn: 7200 });
  assert.equal(token.get('token:q', fetch), 't1');
  assert.equal(token.get('token:q', fetch), 't2', 'not cached: fetched again');
  host.kvSetError = undefined;
  jsonKv.keep('receiver:om_2', 'ou_2');
  assert.equal(host.kvJson('receiver:om_2'), 'ou_2');
});

test('token cache key: the Rust SDK format, a hash of the credentials', () => {
  FakeHost.install();
  const digest = createHash('sha256').update('app-key\nsecret').digest('hex');
  assert.equal(token.cacheKey('app', ['app-key', 'secret']), `token:app:${digest.slice(0, 24)}`);
  assert.notEqual(token.cacheKey('app', ['app-key', 'other']), token.cacheKey('app', ['app-key', 'secret']));
});

test('tokens are cached until 5 minutes early, or half-life when short-lived', () => {
  const host = FakeHost.install();
  let fetches = 0;
  const fetch = (expiresIn: number) => () => ({ value: `t${++fetches}`, expiresIn });

  assert.equal(token.get('token:a', fetch(7200)), 't1');
  assert.equal(token.get('token:a', fetch(7200)), 't1');
  assert.equal(host.kv.get('token:a')!.ttlSeconds, 6900);
  assert.deepEqual(host.kvJson('token:a'), 't1', 'stored as a JSON string, as the Rust SDK stores it');
  host.advance(6900);
  assert.equal(token.get('token:a', fetch(7200)), 't2');

  token.get('token:b', fetch(100));
  assert.equal(host.kv.get('token:b')!.ttlSeconds, 50);
  token.get('token:c', fetch(1));
  assert.equal(host.kv.get('token:c')!.ttlSeconds, 1);
  token.get('token:d', fetch(0));
  assert.equal(host.kv.get('token:d'), undefined, 'a token without lifetime is not cached');
});

test('withToken refetches once when the platform rejects the token', () => {
  const host = FakeHost.install();
  const key = 'token:app:x';
  jsonKv.set(key, 'stale');
  let fetches = 0;
  const fetch = () => ({ value: `fresh${++fetches}`, expiresIn: 7200 });
  const seen: string[] = [];
  const result = token.withToken(key, fetch, (t) => {
    seen.push(t);
    if (t === 'stale') throw unauthorized('token expired', { platformCode: '40014' });
    return `ok with ${t}`;
  });
  assert.equal(result, 'ok with fresh1');
  assert.deepEqual(seen, ['stale', 'fresh1']);
  assert.equal(host.logs[0]!.fields.platform_code, '40014');

  // Once only: a second rejection is the caller's answer.
  assert.throws(
    () => token.withToken(key, fetch, () => {
      throw unauthorized('still no');
    }),
    (e) => isConnectorError(e) && e.kind === 'unauthorized',
  );
  assert.equal(fetches, 2);

  // Other errors are not retried.
  let calls = 0;
  assert.throws(() => token.withToken(key, fetch, () => {
    calls++;
    throw unavailable('down');
  }));
  assert.equal(calls, 1);
});
