// The Jira Cloud connector: issues as tasks, Atlassian accounts as users, and admin webhooks as task events, over
// Jira's REST API v3. componentize-js takes each export named after a WIT interface of the world in wit/world.wit
// as that interface.

import type { ConfigField, Info } from 'qiao:connector/describe@0.2.0';
import { GATEWAY_HOST } from './settings.js';

const field = (key: string, description: string, more: Partial<ConfigField> = {}): ConfigField => ({
  key,
  description,
  required: false,
  secret: false,
  apiBase: false,
  ...more,
});

export const describe: typeof import('qiao:connector/describe@0.2.0') = {
  describe(): Info {
    return {
      id: 'jira',
      name: 'Jira Cloud',
      version: '0.1.0',
      vendor: 'Acme Labs',
      platform: 'jira',
      // The site itself (https://<site>.atlassian.net) is reached as base_url's origin; the gateway serves
      // OAuth 2.0 tokens and scoped API tokens by cloud id.
      hosts: [GATEWAY_HOST],
      config: [
        field('base_url', 'The Jira site, https://<site>.atlassian.net (or a simulator); issue links point here', { apiBase: true }),
        field('cloud_id', `The site's cloud id, to call it through https://${GATEWAY_HOST}/ex/jira/<cloud_id> when base_url is not set (OAuth 2.0, scoped API tokens)`),
        field('email', 'The Atlassian account email the api_token belongs to'),
        field('api_token', 'An Atlassian API token, sent as Basic email:api_token (tokens expire: 1 year by default)', { secret: true }),
        field('oauth_token', 'An OAuth 2.0 (3LO) access token, sent as Bearer, when no api_token is set', { secret: true }),
        field('webhook_secret', 'The secret the Jira admin webhook was created with (X-Hub-Signature: sha256=...)', { secret: true }),
        field('project', 'The project key new issues go to when extra.project is not given, and the bound of unfiltered lists'),
        field('issue_type', 'The issue type new issues get when extra.issuetype is not given (default Task)'),
      ],
      rateHints: [
        {
          operation: '*',
          perSecond: 10,
          source: 'Jira Cloud rate limiting: writes to one issue 20 per 2 s and 100 per 30 s; burst 50-100 requests/s per endpoint',
        },
      ],
    };
  },
};

export { tasks } from './capabilities/tasks.js';
export { identity } from './capabilities/identity.js';
export { webhook } from './capabilities/webhook.js';
