import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildJql, quote, splitOrderBy, textSearch } from '../src/jql.js';

test('values are quoted with their quotes and backslashes escaped', () => {
  assert.equal(quote('plain'), '"plain"');
  assert.equal(quote('a "b" \\ c'), '"a \\"b\\" \\\\ c"');
  assert.equal(quote('x" OR project = "SECRET'), '"x\\" OR project = \\"SECRET"');
  assert.equal(quote('new\nline\u0000'), '"new line "');
});

test('free text escapes Lucene reserved characters so they match literally', () => {
  assert.equal(textSearch('a-b'), '"a\\\\-b"');
  assert.equal(textSearch('say "hi"'), '"say \\\\\\"hi\\\\\\""');
});

test('every query field becomes a clause, joined with AND, newest first', () => {
  const jql = buildJql({ assignee: '5b10ac8d', status: 'in-progress', updatedAfterMs: 1767225600000n + 86_400_000n, text: 'login' });
  assert.equal(
    jql,
    'assignee = "5b10ac8d" AND statusCategory = "indeterminate" AND updated >= "2026-01-01 00:00" AND text ~ "login" ORDER BY updated DESC, key DESC',
  );
});

test("the caller's JQL is kept whole in parentheses, and its ORDER BY moves to the end", () => {
  assert.equal(
    buildJql({ platformQuery: 'project = OPS OR labels = x order by created ASC', status: 'done' }),
    '(project = OPS OR labels = x) AND statusCategory = "done" ORDER BY created ASC',
  );
  assert.deepEqual(splitOrderBy('summary ~ "order by" ORDER BY rank'), ['summary ~ "order by"', 'rank']);
  assert.deepEqual(splitOrderBy('border = 1'), ['border = 1', undefined]);
});

test('an unrestricted query is bounded by the default project, or by a bound that matches every issue', () => {
  assert.equal(buildJql({ defaultProject: 'OPS' }), 'project = "OPS" ORDER BY updated DESC, key DESC');
  assert.equal(buildJql({}), 'created >= "1970-01-01" ORDER BY updated DESC, key DESC');
  assert.equal(buildJql({ platformQuery: 'ORDER BY created' }), 'created >= "1970-01-01" ORDER BY created');
});
