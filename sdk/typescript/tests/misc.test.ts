import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as sdk from '../package/src/index.js';
import { FakeHost } from '../package/src/testing/index.js';

const isKind = (kind: string, pattern?: RegExp) => (e: unknown) =>
  sdk.isConnectorError(e) && e.kind === kind && (pattern === undefined || pattern.test(e.message));

test('config helpers name what is missing', () => {
  FakeHost.install({ config: { app_key: 'k', empty: '' } });
  assert.equal(sdk.requireConfig('app_key'), 'k');
  assert.throws(() => sdk.requireConfig('app_secret'), isKind('invalid-input', /^app_secret is not configured$/));
  assert.throws(() => sdk.requireConfig('empty'), isKind('invalid-input'));
  assert.equal(sdk.configOr('empty', 'https://api.example.test'), 'https://api.example.test');
  assert.equal(sdk.required('x', 'title'), 'x');
  assert.throws(() => sdk.required('  ', 'title'), isKind('invalid-input', /^title is required$/));
  assert.deepEqual(sdk.jsonObject(undefined, 'extra'), {});
  assert.deepEqual(sdk.jsonObject('{"a":1}', 'extra'), { a: 1 });
  assert.throws(() => sdk.jsonObject('[1]', 'extra'), isKind('invalid-input', /^extra must be a JSON object$/));
  assert.throws(() => sdk.jsonObject('{', 'extra'), isKind('invalid-input'));
});

test('logging goes to the host with fields', () => {
  const host = FakeHost.install();
  sdk.logging.info('sent', { user: 'u1', attempt: 2, skipped: undefined });
  sdk.logging.warn('slow', [['ms', '900']]);
  sdk.logging.debug('d');
  sdk.logging.error('e');
  assert.deepEqual(host.logs, [
    { level: 'info', message: 'sent', fields: { user: 'u1', attempt: '2' } },
    { level: 'warn', message: 'slow', fields: { ms: '900' } },
    { level: 'debug', message: 'd', fields: {} },
    { level: 'error', message: 'e', fields: {} },
  ]);
});

test('paginate follows cursors to the end', () => {
  const pages: Record<string, sdk.Page<number>> = {
    '': { items: [1, 2], nextCursor: 'b' },
    b: { items: [3], nextCursor: 'c' },
    c: { items: [], nextCursor: 'd' },
    d: { items: [4], nextCursor: '' },
  };
  const asked: Array<string | undefined> = [];
  const all = sdk.paginate((cursor) => {
    asked.push(cursor);
    return pages[cursor ?? '']!;
  });
  assert.deepEqual(all, [1, 2, 3, 4]);
  assert.deepEqual(asked, [undefined, 'b', 'c', 'd']);
});

test('paginate fails on a repeated cursor and past the page cap', () => {
  assert.throws(
    () => sdk.paginate((cursor) => ({ items: [1], nextCursor: cursor === 'a' ? 'b' : 'a' }), { what: 'users' }),
    isKind('internal', /^users: the platform returned the cursor "a" twice/),
  );
  let n = 0;
  assert.throws(
    () => sdk.paginate(() => ({ items: [n], nextCursor: String(++n) }), { maxPages: 5 }),
    isKind('internal', /more than 5 pages/),
  );
  assert.equal(n, 5);
});
