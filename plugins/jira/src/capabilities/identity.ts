// `identity`: Jira's users, read-only. Jira Cloud has no departments, and its accounts belong to Atlassian (made,
// changed and removed there, not through a site's REST API), so the directory writes and sign-in answer
// `unsupported`. A user is found by email through /user/search, which matches prefixes of names and emails: only
// an exact email match counts.

import { implement, invalidInput, notFound, unsupported } from '@qiao/connector-sdk';
import type { User } from 'qiao:connector/identity@0.2.0';
import { call } from '../api.js';
import { accountId, type JiraUser } from '../issues.js';

const no = (what: string) => unsupported(`Jira has no ${what} through its REST API`);

export const identity = implement<typeof import('qiao:connector/identity@0.2.0')>({
  listDepartments() {
    throw no('departments');
  },
  getDepartment() {
    throw no('departments');
  },
  createDepartment() {
    throw no('departments');
  },
  updateDepartment() {
    throw no('departments');
  },
  deleteDepartment() {
    throw no('departments');
  },
  listUsers() {
    throw no('departments to list users by');
  },
  getUser(id) {
    const user = call<JiraUser>('get', '/rest/api/3/user', { query: { accountId: accountId(id, 'id') } });
    return toUser(user);
  },
  findUser(key) {
    if (key.tag !== 'email') throw unsupported(`Jira finds users by email only, not by ${key.tag}`);
    const email = key.val.trim();
    if (!/^[^\s@]{1,64}@[^\s@]{1,255}$/.test(email)) throw invalidInput('email is not an email address');
    const found = call<JiraUser[]>('get', '/rest/api/3/user/search', { query: { query: email, maxResults: 50 } });
    const matches = (Array.isArray(found) ? found : []).filter(
      (u) => typeof u.accountId === 'string' && u.emailAddress?.toLowerCase() === email.toLowerCase(),
    );
    if (matches.length === 0) {
      throw notFound(
        `no Jira user with email ${email} (Jira hides emails per the user's profile visibility, and the account needs the Browse users and groups permission)`,
      );
    }
    return matches[0]!.accountId!;
  },
  createUser() {
    throw no('user creation (Atlassian accounts are managed by Atlassian)');
  },
  updateUser() {
    throw no('user updates (Atlassian accounts are managed by Atlassian)');
  },
  deleteUser() {
    throw no('user deletion (Atlassian accounts are managed by Atlassian)');
  },
  ssoAuthorizeUrl() {
    throw no('single sign-on for Qiao');
  },
  ssoResolve() {
    throw no('single sign-on for Qiao');
  },
  loginUrl() {
    throw no('sign-in links');
  },
});

function toUser(user: JiraUser): User {
  if (typeof user.accountId !== 'string') throw notFound('Jira answered no account');
  const extra: Record<string, unknown> = {};
  if (user.accountType) extra.account_type = user.accountType;
  if (user.timeZone) extra.time_zone = user.timeZone;
  return {
    id: user.accountId,
    name: user.displayName ?? '',
    email: user.emailAddress || undefined,
    departmentIds: [],
    active: user.active !== false,
    extra: Object.keys(extra).length > 0 ? JSON.stringify(extra) : undefined,
  };
}
