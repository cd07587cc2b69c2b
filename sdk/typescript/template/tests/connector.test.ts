// A sample test: the connector's code runs in Node against the SDK's fake host (in-memory kv and config, scripted
// HTTP, real crypto). `npm test` type-checks, bundles and runs every tests/*.test.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isConnectorError } from '@qiao/connector-sdk';
import { FakeHost } from '@qiao/connector-sdk/testing';
import { call } from '../src/api.js';
import { describe as connector } from '../src/index.js';

test('describe names the connector and marks its settings', () => {
  const info = connector.describe();
  assert.equal(info.id, '__NAME__');
  assert.ok(info.config.some((field) => field.key === 'api_base' && field.apiBase));
  assert.ok(info.config.some((field) => field.key === 'token' && field.secret));
});

test('calls the API at api_base with the token', () => {
  const host = FakeHost.install({ config: { api_base: 'https://api.example.test/', token: 't0ken' } });
  host.on('get', 'https://api.example.test/me', { json: { id: 'u1' } });
  assert.deepEqual(call('get', '/me'), { id: 'u1' });
  assert.equal(host.requests[0]!.header('authorization'), 'Bearer t0ken');
});

test('a throttled answer is rate-limited with the platform retry-after', () => {
  const host = FakeHost.install({ config: { api_base: 'https://api.example.test' } });
  host.on('*', /^https:\/\/api\.example\.test\//, { status: 429, headers: { 'retry-after': '2' }, body: 'slow down' });
  assert.throws(
    () => call('post', '/messages', { text: 'hi' }),
    (e) => isConnectorError(e) && e.kind === 'rate-limited' && e.retryAfterMs === 2000n && e.platformCode === '429',
  );
});
