import assert from 'node:assert/strict';
import { test } from 'node:test';
import { send } from 'qiao:connector/http@0.2.0';
import * as sdk from '../package/src/index.js';
import { FakeHost } from '../package/src/testing/index.js';

test('a constructor per error kind, with platform details and retry-after', () => {
  const kinds = {
    unauthorized: sdk.unauthorized,
    forbidden: sdk.forbidden,
    'not-found': sdk.notFound,
    'invalid-input': sdk.invalidInput,
    conflict: sdk.conflict,
    unavailable: sdk.unavailable,
    unsupported: sdk.unsupported,
    internal: sdk.internal,
  };
  for (const [kind, make] of Object.entries(kinds)) {
    assert.deepEqual(make('m'), {
      kind,
      message: 'm',
      platformCode: undefined,
      platformMessage: undefined,
      retryAfterMs: undefined,
    });
  }
  assert.deepEqual(sdk.rateLimited('slow down', 1500), sdk.error('rate-limited', 'slow down', { retryAfterMs: 1500n }));
  assert.equal(sdk.rateLimited('slow down').retryAfterMs, undefined);
  // u64 crosses as a BigInt; fractions round up, negatives become 0.
  assert.equal(sdk.rateLimited('x', 0.2).retryAfterMs, 1n);
  assert.equal(sdk.withRetryAfterMs(sdk.unavailable('busy'), -5).retryAfterMs, 0n);

  const e = sdk.withPlatform(sdk.forbidden('no scope'), 60011, 'no permission');
  assert.equal(e.platformCode, '60011');
  assert.equal(e.platformMessage, 'no permission');
  assert.deepEqual(sdk.conflict('dup', { platformCode: 'E1', platformMessage: 'exists' }), {
    kind: 'conflict',
    message: 'dup',
    platformCode: 'E1',
    platformMessage: 'exists',
    retryAfterMs: undefined,
  });
});

test('caught values become contract errors', () => {
  assert.ok(sdk.isConnectorError(sdk.notFound('x')));
  assert.ok(!sdk.isConnectorError({ kind: 'nope', message: 'x' }));
  assert.ok(!sdk.isConnectorError(new Error('x')));

  // An import's failure: an Error whose payload is the record.
  const fromImport = Object.assign(new Error('kv'), { payload: sdk.unavailable('store full') });
  assert.deepEqual(sdk.toConnectorError(fromImport), sdk.unavailable('store full'));
  // A bug.
  const bug = sdk.toConnectorError(new TypeError("cannot read properties of undefined (reading 'id')"));
  assert.equal(bug.kind, 'internal');
  assert.match(bug.message, /TypeError: cannot read properties/);
  // A record built by hand with a number retry-after is normalised, or the boundary would trap.
  const byHand = { kind: 'rate-limited', message: 'x', retryAfterMs: 250 } as unknown;
  assert.equal(sdk.toConnectorError(byHand).retryAfterMs, 250n);
});

test('implement turns whatever an export throws into a contract error, and logs bugs', () => {
  const host = FakeHost.install();
  const api = sdk.implement({
    ok: (n: number) => n + 1,
    typed: (): number => {
      throw sdk.notFound('no such user');
    },
    buggy: (): number => {
      throw new RangeError('boom');
    },
    rawHttp: () => send({ method: 'get', url: 'https://nowhere.test/', headers: [], body: new Uint8Array() }),
  });
  assert.equal(api.ok(1), 2);
  assert.throws(() => api.typed(), (e) => sdk.isConnectorError(e) && e.kind === 'not-found');
  assert.throws(
    () => api.buggy(),
    (e) => sdk.isConnectorError(e) && e.kind === 'internal' && e.message.includes('RangeError: boom'),
  );
  // The host's own http error, from a direct `send`: as jsonHttp maps it.
  assert.throws(() => api.rawHttp(), (e) => sdk.isConnectorError(e) && e.kind === 'forbidden');
  assert.equal(host.logs.length, 1, 'only the bug is logged');
  assert.equal(host.logs[0]!.level, 'error');
  assert.match(host.logs[0]!.fields.stack!, /boom/);
});
