import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jiraError } from '../src/api.js';
import { tasks } from '../src/capabilities/tasks.js';
import { API, jiraHost, thrown } from './helpers.js';

const body = (v: unknown) => JSON.stringify(v);

test("Jira's messages and field names are kept in the error", () => {
  const e = jiraError(400, [], body({ errorMessages: ['Bad thing'], errors: { summary: 'You must specify a summary of the issue.' } }));
  assert.equal(e.kind, 'invalid-input');
  assert.equal(e.platformCode, '400');
  assert.equal(e.platformMessage, 'Bad thing; summary: You must specify a summary of the issue.');
  assert.match(e.message, /summary: You must specify a summary/);
});

test('statuses map to kinds', () => {
  const kinds = Object.fromEntries([401, 403, 404, 409, 410, 418, 500, 503].map((s) => [s, jiraError(s, [], '').kind]));
  assert.deepEqual(kinds, {
    401: 'unauthorized',
    403: 'forbidden',
    404: 'not-found',
    409: 'conflict',
    410: 'unsupported',
    418: 'internal',
    500: 'unavailable',
    503: 'unavailable',
  });
  assert.equal(jiraError(503, [['retry-after', '7']], '').retryAfterMs, 7000n);
});

test('429: Retry-After, and which limit from RateLimit-Reason', () => {
  const perIssue = jiraError(429, [['retry-after', '3'], ['ratelimit-reason', 'jira-per-issue-on-write']], '', 'OPS-7');
  assert.equal(perIssue.kind, 'unavailable', 'held for this write only, not the whole connection');
  assert.equal(perIssue.retryAfterMs, 3000n);
  assert.equal(perIssue.platformCode, 'jira-per-issue-on-write');
  assert.match(perIssue.message, /writes to issue OPS-7 only/);
  assert.match(perIssue.message, /other issues can still be written/);

  const burst = jiraError(429, [['ratelimit-reason', 'jira-burst-based']], '');
  assert.equal(burst.kind, 'rate-limited');
  assert.equal(burst.platformCode, 'jira-burst-based');
  assert.match(burst.message, /burst/);
  assert.equal(burst.retryAfterMs, 1000n, 'without Retry-After: a burst bucket refills within a second');

  const quota = jiraError(429, [['retry-after', '1200'], ['ratelimit-reason', 'jira-quota-tenant-based']], body({ errorMessages: ['Rate limit exceeded'] }));
  assert.match(quota.message, /hourly points quota.*Rate limit exceeded/);
  assert.equal(quota.retryAfterMs, 1_200_000n);

  const plain = jiraError(429, [['Retry-After', '2']], '');
  assert.equal(plain.platformCode, '429');
  assert.equal(plain.retryAfterMs, 2000n);
});

test('a 404 names the issue; a removed API (410) is never called', () => {
  const host = jiraHost();
  host.on('get', `${API}/issue/OPS-404`, { status: 404, json: { errorMessages: ['Issue does not exist or you do not have permission to see it.'], errors: {} } });
  const e = thrown(() => tasks.get('OPS-404'));
  assert.equal(e.kind, 'not-found');
  assert.match(e.message, /issue OPS-404 not found.*Issue does not exist/);
});

test('a per-issue 429 on an update names that issue', () => {
  const host = jiraHost();
  host.on('put', `${API}/issue/OPS-9`, { status: 429, headers: { 'Retry-After': '2', 'RateLimit-Reason': 'jira-per-issue-on-write' } });
  const e = thrown(() => tasks.update('OPS-9', { title: 'x', description: { tag: 'keep' }, dueMs: { tag: 'keep' } }));
  assert.equal(e.kind, 'unavailable');
  assert.equal(e.retryAfterMs, 2000n);
  assert.match(e.message, /issue OPS-9 only/);
});

test('missing settings are invalid input naming them; secrets never appear in errors', () => {
  jiraHost({ base_url: '' });
  assert.match(thrown(() => tasks.get('OPS-1')).message, /base_url is not configured/);
  const host = jiraHost({ email: '', oauth_token: '' });
  void host;
  const e = thrown(() => tasks.get('OPS-1'));
  assert.match(e.message, /email is not configured/);
  assert.ok(!JSON.stringify(e).includes('tok3n'));
});

test("a Jira field in extra goes to Jira as is, and Jira's refusal names it", () => {
  const host = jiraHost();
  host.on('post', `${API}/issue`, {
    status: 400,
    json: { errorMessages: [], errors: { description: 'Operation value must be an Atlassian Document (see the Atlassian Document Format)' } },
  });
  const e = thrown(() => tasks.create({ title: 'plain', assignees: [], followers: [], labels: [], extra: JSON.stringify({ description: 'plain text' }) }, undefined));
  assert.equal(host.requests[0]!.json().fields.description, 'plain text');
  assert.equal(e.kind, 'invalid-input');
  assert.match(e.message, /description: Operation value must be an Atlassian Document/);
});
