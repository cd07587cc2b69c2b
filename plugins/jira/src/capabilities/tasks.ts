// `tasks`: Jira issues. Ids are issue keys (OPS-12). Descriptions and comments are ADF on Jira's side, Markdown
// here; statuses move only through the workflow's transitions; listing is JQL through /rest/api/3/search/jql with
// its nextPageToken (the old /search is gone: 410).

import { hex, implement, invalidInput, jsonKv, jsonObject, unsupported, utf8 } from '@qiao/connector-sdk';
import { sha256 } from 'qiao:connector/crypto@0.2.0';
import type { NewTask, Target, Task, TaskChanges, TaskComment, TaskPage, TaskQuery } from 'qiao:connector/tasks@0.2.0';
import { adfToMarkdown, markdownToAdf } from '../adf.js';
import { call } from '../api.js';
import { accountId, category, dueDate, FIELDS, issueKey, type JiraIssue, labels, richText, summary, timeMs, toTask } from '../issues.js';
import { buildJql } from '../jql.js';
import { defaultIssueType, defaultProject } from '../settings.js';
import { chooseTransition, type Transition } from '../transitions.js';

/** How long an idempotency key remembers the issue it created (the outbox retries within hours). */
const IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600;
/** Transitions `complete` takes at most on its way to a done status. */
const MAX_STEPS = 4;
/** Jira returns at most 100 issues with fields per page of /search/jql. */
const MAX_PAGE = 100;

export const tasks = implement<typeof import('qiao:connector/tasks@0.2.0')>({
  create(task, idempotencyKey) {
    const remembered = idempotencyKey === undefined ? undefined : kvKey(idempotencyKey);
    if (remembered !== undefined) {
      const key = jsonKv.get<string>(remembered);
      if (typeof key === 'string') {
        // A retry of a create whose issue exists: what failed after the POST (adding a watcher) is done again;
        // adding a watcher twice is no error in Jira.
        for (const follower of task.followers) addWatcher(key, follower);
        return fetchTask(key);
      }
    }
    const created = call<{ id: string; key: string }>('post', '/rest/api/3/issue', { body: { fields: createFields(task) } });
    // Kept, not required: the issue exists now, and failing its create would make the caller retry into a second.
    if (remembered !== undefined) jsonKv.keep(remembered, created.key, IDEMPOTENCY_TTL_SECONDS);
    for (const follower of task.followers) addWatcher(created.key, follower);
    return fetchTask(created.key);
  },

  get(id) {
    return fetchTask(issueKey(id));
  },

  update(id, changes) {
    const key = issueKey(id);
    const fields = updateFields(changes);
    if (Object.keys(fields).length > 0) call('put', `/rest/api/3/issue/${key}`, { body: { fields }, issue: key });
    if (changes.followers !== undefined) setWatchers(key, changes.followers);
    return fetchTask(key);
  },

  moveTo(id, target) {
    return move(issueKey(id), target);
  },

  complete(id) {
    const key = issueKey(id);
    let task = fetchTask(key);
    // A workflow that reaches Done only through the statuses between (To Do → In Progress → Review → Done) is
    // walked forward, a few steps at most and never through a status twice: "complete" means done.
    const seen = new Set<string>();
    for (let step = 0; task.status.category !== 'done'; step++) {
      seen.add(task.status.name ?? '');
      const transitions = listTransitions(key);
      const done = transitions.find((t) => category(t.to?.statusCategory?.key) === 'done');
      const onward = transitions.find((t) => category(t.to?.statusCategory?.key) === 'in-progress' && !seen.has(t.to?.name ?? ''));
      if (done === undefined && (onward === undefined || step >= MAX_STEPS)) {
        return transition(key, chooseTransition(transitions, { tag: 'status', val: 'done' }, key, task.status.name));
      }
      task = transition(key, done ?? onward!);
    }
    return task;
  },

  reopen(id) {
    const key = issueKey(id);
    const task = fetchTask(key);
    if (task.status.category !== 'done') return task;
    const transitions = listTransitions(key);
    // Back to the start of the workflow where it has a way there, else into work.
    const open = transitions.some((t) => t.to?.statusCategory?.key === 'new') ? 'open' : 'in-progress';
    return transition(key, chooseTransition(transitions, { tag: 'status', val: open }, key, task.status.name));
  },

  comment(id, text, author) {
    const key = issueKey(id);
    if (text.trim() === '') throw invalidInput('comment text is required');
    // Jira records the comment as the connection's own account: an author cannot be chosen through the API, so
    // asking for one is refused rather than dropped in silence.
    if (author !== undefined) throw unsupported('Jira records a comment as the connection\'s own account; an author cannot be set through the API');
    const created = call<{ id: string; author?: { accountId?: string }; body?: unknown; created?: string }>(
      'post',
      `/rest/api/3/issue/${key}/comment`,
      { body: { body: markdownToAdf(richText(text, 'comment text')) }, issue: key },
    );
    const comment: TaskComment = {
      id: String(created.id),
      author: created.author?.accountId,
      text: adfToMarkdown(created.body) ?? text,
      timeMs: timeMs(created.created),
    };
    return comment;
  },

  list(query) {
    return list(query);
  },
});

function fetchTask(key: string): Task {
  return toTask(call<JiraIssue>('get', `/rest/api/3/issue/${key}`, { query: { fields: FIELDS.join(',') }, issue: key }));
}

/** Where a create's idempotency key remembers its issue: a digest, so any key the host accepts fits. */
function kvKey(idempotencyKey: string): string {
  if (idempotencyKey.length === 0) throw invalidInput('the idempotency key is empty');
  return `idempotency:create:${hex(sha256(utf8(idempotencyKey)))}`;
}

/** `extra` values Jira takes as objects by name (or id when numeric), given by callers as plain strings. */
function named(value: unknown, field: string): unknown {
  if (value === null || typeof value === 'object') return value;
  if (typeof value !== 'string' || value.trim() === '') throw invalidInput(`extra.${field} must be a name, an id or an object`);
  return /^\d+$/.test(value) ? { id: value } : { name: value };
}

/** `extra`: project, issuetype, priority and parent by key or name; any other key is a Jira field as is. */
function extraFields(extra: string | undefined, creating: boolean): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(jsonObject(extra, 'extra'))) {
    if (!/^[A-Za-z][A-Za-z0-9_]{0,99}$/.test(field)) throw invalidInput(`extra.${field.slice(0, 40)} is not a Jira field id`);
    switch (field) {
      case 'project':
        if (!creating) throw invalidInput('extra.project cannot change: Jira moves issues between projects only in its UI');
        if (typeof value !== 'string' || value.trim() === '') throw invalidInput('extra.project must be a project key or id');
        fields.project = /^\d+$/.test(value) ? { id: value } : { key: value.trim() };
        break;
      case 'issuetype':
      case 'priority':
        fields[field] = named(value, field);
        break;
      case 'parent':
        fields.parent = typeof value === 'string' ? { key: issueKey(value) } : value;
        break;
      default:
        // Custom fields, and Jira's own fields given as Jira takes them (a description in ADF that Markdown
        // cannot express): Jira validates them, and its refusal names the field. The task's own fields win.
        fields[field] = value;
    }
  }
  return fields;
}

function createFields(task: NewTask): Record<string, unknown> {
  if (task.assignees.length > 1) throw invalidInput('a Jira issue has one assignee; got ' + task.assignees.length);
  const fields: Record<string, unknown> = {
    summary: summary(task.title),
    ...extraFields(task.extra, true),
  };
  if (fields.project === undefined) {
    const project = defaultProject();
    if (project === undefined) throw invalidInput('extra.project is required (no default project is configured)');
    fields.project = { key: project };
  }
  if (fields.issuetype === undefined) fields.issuetype = named(defaultIssueType(), 'issuetype');
  if (task.description !== undefined && task.description.trim() !== '') {
    fields.description = markdownToAdf(richText(task.description, 'description'));
  }
  if (task.assignees[0] !== undefined) fields.assignee = { accountId: accountId(task.assignees[0], 'assignees') };
  if (task.labels.length > 0) fields.labels = labels(task.labels);
  if (task.dueMs !== undefined) fields.duedate = dueDate(task.dueMs);
  for (const follower of task.followers) accountId(follower, 'followers');
  return fields;
}

function updateFields(changes: TaskChanges): Record<string, unknown> {
  const fields: Record<string, unknown> = extraFields(changes.extra, false);
  if (changes.title !== undefined) fields.summary = summary(changes.title);
  if (changes.description.tag === 'set' && changes.description.val.trim() !== '') {
    fields.description = markdownToAdf(richText(changes.description.val, 'description'));
  } else if (changes.description.tag !== 'keep') {
    fields.description = null; // cleared, or set to nothing: Jira keeps no empty document
  }
  if (changes.dueMs.tag === 'set') fields.duedate = dueDate(changes.dueMs.val);
  if (changes.dueMs.tag === 'clear') fields.duedate = null;
  if (changes.labels !== undefined) fields.labels = labels(changes.labels);
  if (changes.assignees !== undefined) {
    if (changes.assignees.length > 1) throw invalidInput('a Jira issue has one assignee; got ' + changes.assignees.length);
    fields.assignee = changes.assignees[0] === undefined ? null : { accountId: accountId(changes.assignees[0], 'assignees') };
  }
  if (changes.followers !== undefined) changes.followers.forEach((f) => accountId(f, 'followers'));
  return fields;
}

function addWatcher(key: string, account: string): void {
  // The body is the account id as a JSON string.
  call('post', `/rest/api/3/issue/${key}/watchers`, { body: accountId(account, 'followers'), issue: key });
}

/** Watchers made exactly `wanted`: add the missing, remove the others. */
function setWatchers(key: string, wanted: string[]): void {
  if (wanted.length > 100) throw invalidInput('at most 100 followers');
  const current = call<{ watchers?: Array<{ accountId?: string }> }>('get', `/rest/api/3/issue/${key}/watchers`, { issue: key });
  const have = new Set((current.watchers ?? []).map((w) => w.accountId).filter((id): id is string => typeof id === 'string'));
  for (const id of wanted) if (!have.has(id)) addWatcher(key, id);
  for (const id of have) {
    if (!wanted.includes(id)) call('delete', `/rest/api/3/issue/${key}/watchers`, { query: { accountId: id }, issue: key });
  }
}

function listTransitions(key: string): Transition[] {
  const answer = call<{ transitions?: Transition[] }>('get', `/rest/api/3/issue/${key}/transitions`, { issue: key });
  return Array.isArray(answer.transitions) ? answer.transitions : [];
}

function transition(key: string, chosen: Transition): Task {
  call('post', `/rest/api/3/issue/${key}/transitions`, { body: { transition: { id: String(chosen.id) } }, issue: key });
  return fetchTask(key);
}

/** Through the transition the target names; already there is no error (nothing to do). */
function move(key: string, target: Target, current: Task = fetchTask(key)): Task {
  if (target.tag === 'status' && current.status.category === target.val) return current;
  if (target.tag === 'transition') {
    const name = target.val.trim();
    if (name === '' || name.length > 255) throw invalidInput('transition must name a status or transition (1-255 characters)');
    if (current.status.name?.toLowerCase() === name.toLowerCase()) return current;
  }
  return transition(key, chooseTransition(listTransitions(key), target, key, current.status.name));
}

function list(query: TaskQuery): TaskPage {
  if (query.assignee !== undefined) accountId(query.assignee, 'assignee');
  if (query.text !== undefined && query.text.length > 1000) throw invalidInput('text is longer than 1000 characters');
  if (query.cursor !== undefined && (query.cursor === '' || query.cursor.length > 2000)) throw invalidInput('cursor is not one this connector gave');
  const jql = buildJql({
    assignee: query.assignee,
    status: query.status,
    updatedAfterMs: query.updatedAfterMs,
    text: query.text,
    platformQuery: query.platformQuery,
    defaultProject: defaultProject(),
  });
  const limit = Math.max(1, Math.min(MAX_PAGE, query.limit));
  const page = call<{ issues?: JiraIssue[]; nextPageToken?: string | null; isLast?: boolean }>('post', '/rest/api/3/search/jql', {
    body: { jql, maxResults: limit, fields: FIELDS, ...(query.cursor === undefined ? {} : { nextPageToken: query.cursor }) },
  });
  const after = query.updatedAfterMs;
  const tasks = (page.issues ?? [])
    .slice(0, limit)
    .map(toTask)
    // JQL's date bound is coarse (minutes, the account's time zone): "strictly after" is exact here.
    .filter((t) => after === undefined || (t.updatedMs !== undefined && t.updatedMs > after));
  const next = page.isLast === true || !page.nextPageToken || page.nextPageToken === query.cursor ? undefined : page.nextPageToken;
  return { tasks, nextCursor: next };
}
