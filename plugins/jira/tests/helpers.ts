// Shared by the tests: a fake host configured as a Jira connection, and assertions on contract errors.

import assert from 'node:assert/strict';
import { type ConnectorError, isConnectorError } from '@qiao/connector-sdk';
import { FakeHost } from '@qiao/connector-sdk/testing';

export const BASE = 'https://acme.atlassian.net';
export const API = `${BASE}/rest/api/3`;

export function jiraHost(config: Record<string, string> = {}): FakeHost {
  return FakeHost.install({
    config: { base_url: BASE, email: 'bot@acme.test', api_token: 'tok3n', project: 'OPS', webhook_secret: "It's a Secret to Everybody", ...config },
  });
}

/** The contract error `f` throws. */
export function thrown(f: () => unknown): ConnectorError {
  try {
    f();
  } catch (e) {
    assert.ok(isConnectorError(e), `expected a contract error, got ${String(e)}`);
    return e;
  }
  assert.fail('expected an error');
}

export function issue(key: string, fields: Record<string, unknown> = {}) {
  return {
    id: '10001',
    key,
    fields: {
      summary: 'Fix the login page',
      status: { id: '1', name: 'To Do', statusCategory: { key: 'new' } },
      labels: [],
      created: '2026-01-02T03:04:05.000+0000',
      updated: '2026-01-03T03:04:05.000+0000',
      project: { key: 'OPS' },
      issuetype: { name: 'Task' },
      ...fields,
    },
  };
}
