import assert from 'node:assert/strict';
import { test } from 'node:test';
import { identity } from '../src/capabilities/identity.js';
import { API, jiraHost, thrown } from './helpers.js';

test('get-user by account id', () => {
  const host = jiraHost();
  host.on('get', `${API}/user`, { json: { accountId: 'acc-1', displayName: 'Alice Li', emailAddress: 'alice@acme.test', active: true, accountType: 'atlassian', timeZone: 'Asia/Shanghai' } });
  const user = identity.getUser('acc-1');
  assert.equal(host.requests[0]!.url, `${API}/user?accountId=acc-1`);
  assert.deepEqual(user, {
    id: 'acc-1',
    name: 'Alice Li',
    email: 'alice@acme.test',
    departmentIds: [],
    active: true,
    extra: JSON.stringify({ account_type: 'atlassian', time_zone: 'Asia/Shanghai' }),
  });
  assert.equal(thrown(() => identity.getUser('a/b')).kind, 'invalid-input');
});

test('find-user by email takes only an exact match among the prefix matches Jira answers', () => {
  const host = jiraHost();
  host.on('get', `${API}/user/search`, {
    json: [
      { accountId: 'acc-2', displayName: 'Alice Long', emailAddress: 'alice.long@acme.test' },
      { accountId: 'acc-1', displayName: 'Alice Li', emailAddress: 'Alice@Acme.test' },
      { accountId: 'acc-3', displayName: 'alice (email hidden)' },
    ],
  });
  assert.equal(identity.findUser({ tag: 'email', val: 'alice@acme.test' }), 'acc-1');
  assert.match(host.requests[0]!.url, /query=alice%40acme\.test/);
  const e = thrown(() => identity.findUser({ tag: 'email', val: 'alice@acme.tes' }));
  assert.equal(e.kind, 'not-found');
  assert.match(e.message, /Browse users and groups/);
  assert.equal(thrown(() => identity.findUser({ tag: 'mobile', val: '13800000000' })).kind, 'unsupported');
  assert.equal(thrown(() => identity.listDepartments(undefined, false)).kind, 'unsupported');
});
