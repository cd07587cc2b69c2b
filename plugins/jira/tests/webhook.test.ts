import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { webhook } from '../src/capabilities/webhook.js';
import { signatureProblem } from '../src/signature.js';
import { BASE, jiraHost, thrown } from './helpers.js';

const SECRET = "It's a Secret to Everybody";
const enc = (s: string) => new TextEncoder().encode(s);
const sign = (body: string, secret = SECRET) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

function deliver(payload: unknown, headers: Array<[string, string]> = [], signature?: string) {
  const body = JSON.stringify(payload);
  return webhook.handle({
    method: 'POST',
    path: '/',
    query: '',
    headers: [['x-hub-signature', signature ?? sign(body)], ['x-atlassian-webhook-identifier', 'wh-1'], ...headers],
    body: enc(body),
  });
}

test("Atlassian's published test vector verifies through the host's HMAC", () => {
  jiraHost();
  const vector = 'sha256=a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9';
  assert.equal(signatureProblem(vector, enc('Hello World!'), SECRET), undefined);
  assert.equal(signatureProblem(vector.toUpperCase().replace('SHA256', 'sha256'), enc('Hello World!'), SECRET), undefined);
  assert.match(signatureProblem(vector, enc('Hello World?'), SECRET)!, /does not match/);
  assert.match(signatureProblem('sha1=abc', enc('Hello World!'), SECRET)!, /only sha256/);
  assert.match(signatureProblem(undefined, enc('x'), SECRET)!, /no X-Hub-Signature/);
});

test('unsigned, forged, or no secret configured: refused as unauthorized, no events, no kv', () => {
  const host = jiraHost();
  const payload = { webhookEvent: 'jira:issue_created', issue: { id: '1', key: 'OPS-1' } };
  assert.equal(thrown(() => deliver(payload, [], '')).kind, 'unauthorized');
  assert.equal(thrown(() => deliver(payload, [], sign('other body'))).kind, 'unauthorized');
  assert.equal(thrown(() => deliver(payload, [], sign(JSON.stringify(payload), 'wrong'))).kind, 'unauthorized');
  assert.equal(host.kv.size, 0);
  jiraHost({ webhook_secret: '' });
  assert.match(thrown(() => deliver(payload)).message, /webhook_secret is not configured/);
});

test('issue created, deleted, commented', () => {
  jiraHost();
  const user = { accountId: 'acc-1' };
  const created = deliver({ timestamp: 1767225600000, webhookEvent: 'jira:issue_created', user, issue: { id: '1', key: 'OPS-1', fields: { summary: 'S' } } });
  assert.equal(created.response.status, 200);
  assert.equal(created.events.length, 1);
  const [e] = created.events;
  assert.deepEqual({ ...e!, payload: JSON.parse(e!.payload) }, {
    id: 'wh-1',
    kind: 'task.created',
    timeMs: 1767225600000n,
    subject: 'OPS-1',
    payload: { task_id: 'OPS-1', title: 'S', actor: 'acc-1', url: `${BASE}/browse/OPS-1` },
  });
  const deleted = deliver({ webhookEvent: 'jira:issue_deleted', user, issue: { id: '1', key: 'OPS-1', fields: { summary: 'S' } } });
  assert.deepEqual(JSON.parse(deleted.events[0]!.payload), { task_id: 'OPS-1', actor: 'acc-1' });
  assert.equal(deleted.events[0]!.kind, 'task.deleted');
  const commented = deliver({
    webhookEvent: 'comment_created',
    issue: { id: '1', key: 'OPS-1' },
    comment: { id: '100', author: { accountId: 'acc-2' }, body: { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: 'hi' }] }] } },
  });
  assert.equal(commented.events[0]!.kind, 'task.commented');
  assert.deepEqual(JSON.parse(commented.events[0]!.payload), { task_id: 'OPS-1', actor: 'acc-2', comment: { id: '100', text: 'hi' } });
});

test('an update with a status item is status_changed (names, and the category known from the issue); other items are task.updated', () => {
  jiraHost();
  const out = deliver({
    webhookEvent: 'jira:issue_updated',
    user: { accountId: 'acc-1' },
    issue: { id: '1', key: 'OPS-1', fields: { summary: 'S', status: { id: '3', name: 'Done', statusCategory: { key: 'done' } } } },
    changelog: {
      id: '555',
      items: [
        { field: 'status', fieldId: 'status', from: '1', fromString: 'To Do', to: '3', toString: 'Done' },
        { field: 'resolution', fieldId: 'resolution', toString: 'Fixed' },
        { field: 'labels', fieldId: 'labels', toString: 'x' },
      ],
    },
  });
  assert.deepEqual(out.events.map((e) => [e.id, e.kind]), [['wh-1', 'task.status_changed'], ['wh-1:fields', 'task.updated']]);
  assert.deepEqual(JSON.parse(out.events[0]!.payload), {
    task_id: 'OPS-1',
    title: 'S',
    actor: 'acc-1',
    from: { name: 'To Do' },
    to: { name: 'Done', category: 'done' },
  });
  assert.deepEqual(JSON.parse(out.events[1]!.payload).changed, ['labels'], 'the resolution goes with the status');

  const edit = deliver({
    webhookEvent: 'jira:issue_updated',
    issue: { id: '1', key: 'OPS-1', fields: { summary: 'S2' } },
    changelog: { items: [{ field: 'summary', fieldId: 'summary' }, { field: 'duedate', fieldId: 'duedate' }, { field: 'Priority', fieldId: 'priority' }] },
  });
  assert.deepEqual(edit.events.map((e) => e.kind), ['task.updated']);
  assert.deepEqual(JSON.parse(edit.events[0]!.payload).changed, ['title', 'due', 'priority']);
});

test('events tasks do not cover answer 200 with no events; a signed non-JSON body is invalid input', () => {
  jiraHost();
  assert.deepEqual(deliver({ webhookEvent: 'worklog_created', issue: { id: '1', key: 'OPS-1' } }).events, []);
  const e = thrown(() =>
    webhook.handle({ method: 'POST', path: '/', query: '', headers: [['x-hub-signature', sign('not json')]], body: enc('not json') }),
  );
  assert.equal(e.kind, 'invalid-input');
});

test('an update without changed fields (what Jira sends beside comment_created) yields no event', () => {
  jiraHost();
  const out = deliver({ webhookEvent: 'jira:issue_updated', issue_event_type_name: 'issue_commented', issue: { id: '1', key: 'OPS-1' } });
  assert.deepEqual(out.events, []);
});
