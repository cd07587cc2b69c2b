// The connection's settings: where the Jira site's REST API is, how to authenticate, and the defaults for new
// issues. Read per call (a fresh instance per call: nothing to cache).

import { base64Encode, configOr, invalidInput, utf8 } from '@qiao/connector-sdk';
import { get } from 'qiao:connector/config@0.2.0';

/** The Atlassian gateway, for OAuth 2.0 (3LO) tokens and scoped API tokens: `/ex/jira/{cloudId}`. */
export const GATEWAY_HOST = 'api.atlassian.com';

const set = (key: string): string | undefined => {
  const value = get(key);
  return value === undefined || value.trim() === '' ? undefined : value.trim();
};

/**
 * Where `/rest/api/3/...` is: `base_url` (the site, `https://acme.atlassian.net`, or a simulator), else the
 * gateway for `cloud_id`. No trailing slash.
 */
export function apiBase(): string {
  const base = set('base_url');
  if (base !== undefined) return checkedBase(base);
  const cloudId = set('cloud_id');
  if (cloudId !== undefined) {
    if (!/^[A-Za-z0-9-]{1,64}$/.test(cloudId)) throw invalidInput('cloud_id is not a Jira cloud id (letters, digits, hyphens)');
    return `https://${GATEWAY_HOST}/ex/jira/${cloudId}`;
  }
  throw invalidInput('base_url is not configured (https://<site>.atlassian.net), nor cloud_id');
}

/** Where a person opens an issue: the site, which the gateway is not. */
export function browseUrl(key: string): string | undefined {
  const base = set('base_url');
  return base === undefined ? undefined : `${checkedBase(base)}/browse/${encodeURIComponent(key)}`;
}

function checkedBase(base: string): string {
  if (!/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(base)) throw invalidInput('base_url must be an http(s) URL such as https://acme.atlassian.net');
  return base.replace(/\/+$/, '');
}

/**
 * The Authorization header: Basic email:api_token (API tokens), else Bearer oauth_token (an OAuth 2.0 access
 * token, refreshed by whoever configured it).
 */
export function authorization(): string {
  const email = set('email');
  const apiToken = get('api_token');
  if (email !== undefined && apiToken) return `Basic ${base64Encode(utf8(`${email}:${apiToken}`))}`;
  const oauth = get('oauth_token');
  if (oauth) return `Bearer ${oauth}`;
  if (apiToken) throw invalidInput('email is not configured (api_token is sent as Basic email:api_token)');
  throw invalidInput('no credentials configured: set email and api_token, or oauth_token');
}

export const defaultProject = (): string | undefined => set('project');
export const defaultIssueType = (): string => configOr('issue_type', 'Task');
