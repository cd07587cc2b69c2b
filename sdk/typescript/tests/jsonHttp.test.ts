import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HttpError } from 'qiao:connector/http@0.2.0';
import { isConnectorError, jsonHttp } from '../package/src/index.js';
import { FakeHost } from '../package/src/testing/index.js';

test('posts JSON and reads JSON back', () => {
  const host = FakeHost.install();
  host.on('post', 'https://api.example.test/v1/messages', (request) => ({
    status: 201,
    headers: { 'X-Request-Id': 'r1' },
    json: { echoed: request.json().text },
  }));
  const response = jsonHttp.post('https://api.example.test/v1/messages', { authorization: 'Bearer t' }, { text: '你好' });
  assert.ok(response.isSuccess());
  assert.equal(response.status, 201);
  assert.equal(response.header('x-request-id'), 'r1');
  assert.deepEqual(response.json(), { echoed: '你好' });

  const [sent] = host.requests;
  assert.equal(sent!.method, 'post');
  assert.equal(sent!.header('content-type'), 'application/json; charset=utf-8');
  assert.equal(sent!.header('authorization'), 'Bearer t');
});

test('a GET has no body, and a string route matches any query', () => {
  const host = FakeHost.install();
  host.on('get', 'https://api.example.test/users', { body: 'not json' });
  const response = jsonHttp.get('https://api.example.test/users?page=2', [['accept', 'application/json']]);
  assert.equal(host.requests[0]!.body.length, 0);
  assert.equal(host.requests[0]!.header('content-type'), undefined);
  assert.equal(response.text(), 'not json');
  assert.throws(
    () => response.json(),
    (e) => isConnectorError(e) && e.kind === 'internal' && /expected JSON from the platform .*got: not json/.test(e.message),
  );
});

test('transport failures map to the same kinds as the Rust SDK', () => {
  const cases: Array<[HttpError, string]> = [
    [{ tag: 'not-allowed', val: 'x' }, 'forbidden'],
    [{ tag: 'invalid-request', val: 'x' }, 'invalid-input'],
    [{ tag: 'timeout' }, 'unavailable'],
    [{ tag: 'too-large', val: 1048576n }, 'internal'],
    [{ tag: 'request-limit', val: 1 }, 'unavailable'],
    [{ tag: 'transport', val: 'x' }, 'unavailable'],
  ];
  for (const [httpError, kind] of cases) assert.equal(jsonHttp.fromHttpError(httpError).kind, kind, httpError.tag);
  // The host's test for the cap looks for the limit in the message.
  assert.match(jsonHttp.fromHttpError({ tag: 'too-large', val: 1048576n }).message, /1048576/);

  const host = FakeHost.install();
  host.on('*', /example/, { httpError: { tag: 'timeout' } }, { times: 1 });
  assert.throws(() => jsonHttp.get('https://api.example.test/'), (e) => isConnectorError(e) && e.kind === 'unavailable');
  // Past `times`, and for hosts nobody scripted: not-allowed, which is forbidden.
  assert.throws(
    () => jsonHttp.get('https://api.example.test/'),
    (e) => isConnectorError(e) && e.kind === 'forbidden' && e.message.includes('GET https://api.example.test/'),
  );
});
