import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tasks } from '../src/capabilities/tasks.js';
import { chooseTransition } from '../src/transitions.js';
import { API, BASE, issue, jiraHost, thrown } from './helpers.js';

const TRANSITIONS = [
  { id: '11', name: 'Start progress', to: { name: 'In Progress', statusCategory: { key: 'indeterminate' } } },
  { id: '21', name: 'Send to review', to: { name: 'In Review', statusCategory: { key: 'indeterminate' } } },
  { id: '31', name: 'Resolve', to: { name: 'Done', statusCategory: { key: 'done' } } },
];

test('transitions: by target status name (any case), by transition name, by category (the first)', () => {
  assert.equal(chooseTransition(TRANSITIONS, { tag: 'transition', val: 'in review' }, 'OPS-1').id, '21');
  assert.equal(chooseTransition(TRANSITIONS, { tag: 'transition', val: 'Resolve' }, 'OPS-1').id, '31');
  assert.equal(chooseTransition(TRANSITIONS, { tag: 'status', val: 'in-progress' }, 'OPS-1').id, '11');
  const e = thrown(() => chooseTransition(TRANSITIONS, { tag: 'status', val: 'open' }, 'OPS-1', 'To Do'));
  assert.equal(e.kind, 'conflict');
  assert.match(e.message, /OPS-1 from "To Do" leads to a status in category open; allowed: Start progress → In Progress \(in-progress\), Send to review → In Review/);
});

test('get maps an issue: key, ADF description, status category, assignee, due date, browse url', () => {
  const host = jiraHost();
  host.on('get', `${API}/issue/OPS-7`, {
    json: issue('OPS-7', {
      description: { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: 'Steps', marks: [{ type: 'strong' }] }] }] },
      status: { id: '3', name: 'In Review', statusCategory: { key: 'indeterminate' } },
      assignee: { accountId: 'acc-1' },
      duedate: '2026-02-01',
      labels: ['web'],
      priority: { name: 'High' },
    }),
  });
  const task = tasks.get('ops-7');
  assert.equal(task.id, 'OPS-7');
  assert.equal(task.description, '**Steps**');
  assert.deepEqual(task.status, { category: 'in-progress', name: 'In Review' });
  assert.deepEqual(task.assignees, ['acc-1']);
  assert.equal(task.dueMs, BigInt(Date.UTC(2026, 1, 1)));
  assert.equal(task.url, `${BASE}/browse/OPS-7`);
  assert.equal(task.createdMs, BigInt(Date.parse('2026-01-02T03:04:05.000Z')));
  assert.deepEqual(JSON.parse(task.extra!), { id: '10001', project: 'OPS', issuetype: 'Task', priority: 'High', status_id: '3' });
  assert.equal(host.requests[0]!.header('authorization'), `Basic ${Buffer.from('bot@acme.test:tok3n').toString('base64')}`);
});

test('an OAuth token is sent as Bearer when there is no API token', () => {
  const host = jiraHost({ api_token: '', oauth_token: 'oauth-abc' });
  host.on('get', `${API}/issue/OPS-7`, { json: issue('OPS-7') });
  tasks.get('OPS-7');
  assert.equal(host.requests[0]!.header('authorization'), 'Bearer oauth-abc');
});

test('ids that are not issue keys never reach a URL', () => {
  jiraHost();
  for (const id of ['', '../x', 'OPS-1/comment', 'a b']) assert.equal(thrown(() => tasks.get(id)).kind, 'invalid-input');
});

test('create sends the fields, the default project and issue type, and watchers; an idempotency key is remembered', () => {
  const host = jiraHost();
  host.on('post', `${API}/issue`, { status: 201, json: { id: '10002', key: 'OPS-8' } }, { times: 1 });
  host.on('post', `${API}/issue/OPS-8/watchers`, { status: 204 });
  host.on('get', `${API}/issue/OPS-8`, { json: issue('OPS-8') });
  const task = tasks.create(
    {
      title: 'New thing',
      description: 'Do **it**',
      assignees: ['acc-1'],
      followers: ['acc-2'],
      dueMs: BigInt(Date.UTC(2026, 2, 4, 15)),
      labels: ['a', 'b'],
      extra: JSON.stringify({ priority: 'High', customfield_10010: 5 }),
    },
    'idem-1',
  );
  assert.equal(task.id, 'OPS-8');
  const body = host.requests[0]!.json();
  assert.deepEqual(body.fields, {
    summary: 'New thing',
    priority: { name: 'High' },
    customfield_10010: 5,
    project: { key: 'OPS' },
    issuetype: { name: 'Task' },
    description: { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: 'Do ' }, { type: 'text', text: 'it', marks: [{ type: 'strong' }] }] }] },
    assignee: { accountId: 'acc-1' },
    labels: ['a', 'b'],
    duedate: '2026-03-04',
  });
  assert.equal(host.requests[1]!.json(), 'acc-2');
  // The same key again (a retry after the watcher failed, say): no second issue, and the watcher added again.
  tasks.create({ title: 'New thing', assignees: [], followers: ['acc-2'], labels: [] }, 'idem-1');
  assert.equal(host.requests.filter((r) => r.method === 'post' && r.url === `${API}/issue`).length, 1);
  assert.equal(host.requests.filter((r) => r.url === `${API}/issue/OPS-8/watchers`).length, 2);
  // Any key the host accepts (up to 255 characters) fits: it is remembered by its digest.
  host.on('post', `${API}/issue`, { status: 201, json: { id: '10002', key: 'OPS-8' } }, { times: 1 });
  tasks.create({ title: 'Long key', assignees: [], followers: [], labels: [] }, 'k'.repeat(255));
});

test('create refuses what Jira cannot hold', () => {
  jiraHost();
  const base = { title: 'x', assignees: [], followers: [], labels: [] };
  assert.equal(thrown(() => tasks.create({ ...base, assignees: ['a', 'b'] }, undefined)).kind, 'invalid-input');
  assert.equal(thrown(() => tasks.create({ ...base, title: 'x'.repeat(256) }, undefined)).kind, 'invalid-input');
  assert.equal(thrown(() => tasks.create({ ...base, labels: ['has space'] }, undefined)).kind, 'invalid-input');
  assert.equal(thrown(() => tasks.create({ ...base, extra: '[1]' }, undefined)).kind, 'invalid-input');
  jiraHost({ project: '' });
  assert.match(thrown(() => tasks.create(base, undefined)).message, /extra.project is required/);
});

test('update: set, clear and keep per field; the assignee through the assignee field', () => {
  const host = jiraHost();
  host.on('put', `${API}/issue/OPS-7`, { status: 204 });
  host.on('get', `${API}/issue/OPS-7`, { json: issue('OPS-7') });
  tasks.update('OPS-7', {
    title: 'Renamed',
    description: { tag: 'clear' },
    dueMs: { tag: 'set', val: BigInt(Date.UTC(2026, 0, 31)) },
    assignees: [],
    labels: ['x'],
    extra: JSON.stringify({ priority: null }),
  });
  assert.deepEqual(host.requests[0]!.json(), {
    fields: { priority: null, summary: 'Renamed', description: null, duedate: '2026-01-31', labels: ['x'], assignee: null },
  });
  host.requests.length = 0;
  tasks.update('OPS-7', { description: { tag: 'keep' }, dueMs: { tag: 'keep' }, assignees: ['acc-9'] });
  assert.deepEqual(host.requests[0]!.json(), { fields: { assignee: { accountId: 'acc-9' } } });
  host.requests.length = 0;
  tasks.update('OPS-7', { description: { tag: 'keep' }, dueMs: { tag: 'keep' } });
  assert.deepEqual(host.requests.map((r) => r.method), ['get'], 'nothing to change: only the read');
});

test('move-to posts the chosen transition; already there is no call; none is a conflict listing the allowed ones', () => {
  const host = jiraHost();
  let status = { id: '1', name: 'To Do', statusCategory: { key: 'new' } };
  host.on('get', `${API}/issue/OPS-7`, () => ({ json: issue('OPS-7', { status }) }));
  host.on('get', `${API}/issue/OPS-7/transitions`, { json: { transitions: TRANSITIONS } });
  host.on('post', `${API}/issue/OPS-7/transitions`, (req) => {
    const to = TRANSITIONS.find((t) => t.id === req.json().transition.id)!.to;
    status = { id: '9', ...to };
    return { status: 204 };
  });
  assert.deepEqual(tasks.moveTo('OPS-7', { tag: 'transition', val: 'IN REVIEW' }).status, { category: 'in-progress', name: 'In Review' });
  assert.deepEqual(host.requests.find((r) => r.method === 'post')!.json(), { transition: { id: '21' } });
  host.requests.length = 0;
  tasks.moveTo('OPS-7', { tag: 'status', val: 'in-progress' });
  assert.ok(!host.requests.some((r) => r.method === 'post'), 'already in that category');
  const e = thrown(() => tasks.moveTo('OPS-7', { tag: 'transition', val: 'Blocked' }));
  assert.equal(e.kind, 'conflict');
  assert.match(e.message, /allowed: Start progress → In Progress/);
  assert.equal(tasks.complete('OPS-7').status.category, 'done');
  assert.equal(tasks.complete('OPS-7').status.category, 'done', 'completing a done task is no error');
});

test('reopen goes back to an open status when the workflow has one', () => {
  const host = jiraHost();
  let status = { id: '5', name: 'Done', statusCategory: { key: 'done' } };
  host.on('get', `${API}/issue/OPS-7`, () => ({ json: issue('OPS-7', { status }) }));
  host.on('get', `${API}/issue/OPS-7/transitions`, {
    json: { transitions: [{ id: '41', name: 'Reopen', to: { name: 'To Do', statusCategory: { key: 'new' } } }] },
  });
  host.on('post', `${API}/issue/OPS-7/transitions`, () => {
    status = { id: '1', name: 'To Do', statusCategory: { key: 'new' } };
    return { status: 204 };
  });
  assert.deepEqual(tasks.reopen('OPS-7').status, { category: 'open', name: 'To Do' });
});

test('comment sends ADF and answers the comment in Markdown', () => {
  const host = jiraHost();
  host.on('post', `${API}/issue/OPS-7/comment`, (req) => ({
    status: 201,
    json: { id: '100', author: { accountId: 'bot' }, body: req.json().body, created: '2026-01-02T03:04:05.000+0800' },
  }));
  const comment = tasks.comment('OPS-7', 'Looks *good*', undefined);
  assert.deepEqual(host.requests[0]!.json().body.content[0].content[1], { type: 'text', text: 'good', marks: [{ type: 'em' }] });
  assert.deepEqual(comment, { id: '100', author: 'bot', text: 'Looks *good*', timeMs: BigInt(Date.parse('2026-01-01T19:04:05.000Z')) });
  // An author Jira cannot record is refused, not dropped.
  assert.throws(() => tasks.comment('OPS-7', 'as someone', 'acc-9'), (e: { kind?: string }) => e.kind === 'unsupported');
});

test('list uses /search/jql with nextPageToken, never /search, and checks updated-after exactly', () => {
  const host = jiraHost();
  host.on('post', `${API}/search/jql`, (req) => {
    const body = req.json();
    return body.nextPageToken === undefined
      ? { json: { issues: [issue('OPS-1', { updated: '2026-01-05T00:00:00.000+0000' }), issue('OPS-2', { updated: '2025-12-01T00:00:00.000+0000' })], nextPageToken: 'tok-2', isLast: false } }
      : { json: { issues: [issue('OPS-3', { updated: '2026-01-06T00:00:00.000+0000' })], isLast: true } };
  });
  const first = tasks.list({ limit: 2, status: 'open', updatedAfterMs: BigInt(Date.UTC(2026, 0, 1)) });
  assert.deepEqual(first.tasks.map((t) => t.id), ['OPS-1']);
  assert.equal(first.nextCursor, 'tok-2');
  const sent = host.requests[0]!.json();
  assert.equal(sent.maxResults, 2);
  assert.match(sent.jql, /^statusCategory = "new" AND updated >= "2025-12-31 00:00" ORDER BY/);
  assert.ok(sent.fields.includes('summary'));
  const second = tasks.list({ limit: 2, cursor: 'tok-2', updatedAfterMs: BigInt(Date.UTC(2026, 0, 1)) });
  assert.deepEqual(second.tasks.map((t) => t.id), ['OPS-3']);
  assert.equal(second.nextCursor, undefined);
  assert.equal(host.requests[1]!.json().nextPageToken, 'tok-2');
  assert.ok(host.requests.every((r) => !r.url.endsWith('/rest/api/3/search')));
});

test('complete walks a workflow forward to done when no transition leads there directly', () => {
  const host = jiraHost();
  const statuses: Record<string, { name: string; statusCategory: { key: string } }> = {
    todo: { name: 'To Do', statusCategory: { key: 'new' } },
    progress: { name: 'In Progress', statusCategory: { key: 'indeterminate' } },
    review: { name: '测试中', statusCategory: { key: 'indeterminate' } },
    done: { name: 'Done', statusCategory: { key: 'done' } },
  };
  const workflow: Record<string, Array<{ id: string; name: string; to: string }>> = {
    todo: [{ id: '11', name: 'Start', to: 'progress' }],
    progress: [{ id: '0', name: 'Stop', to: 'todo' }, { id: '21', name: 'Test', to: 'review' }],
    review: [{ id: '12', name: 'Back', to: 'progress' }, { id: '31', name: 'Pass', to: 'done' }],
    done: [],
  };
  let at = 'todo';
  host.on('get', `${API}/issue/OPS-7`, () => ({ json: issue('OPS-7', { status: statuses[at] }) }));
  host.on('get', `${API}/issue/OPS-7/transitions`, () => ({
    json: { transitions: workflow[at]!.map((t) => ({ id: t.id, name: t.name, to: statuses[t.to] })) },
  }));
  host.on('post', `${API}/issue/OPS-7/transitions`, (req) => {
    at = workflow[at]!.find((t) => t.id === req.json().transition.id)!.to;
    return { status: 204 };
  });
  assert.deepEqual(tasks.complete('OPS-7').status, { category: 'done', name: 'Done' });
  const taken = host.requests.filter((r) => r.method === 'post').map((r) => r.json().transition.id);
  assert.deepEqual(taken, ['11', '21', '31']);
});
