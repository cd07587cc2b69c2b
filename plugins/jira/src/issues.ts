// Jira issues as the contract's tasks, and the checks on what callers pass before it goes into a URL or a body.

import { invalidInput } from '@qiao/connector-sdk';
import type { StatusCategory, Task } from 'qiao:connector/tasks@0.2.0';
import { adfToMarkdown } from './adf.js';
import { browseUrl } from './settings.js';

export interface JiraStatus {
  id?: string;
  name?: string;
  statusCategory?: { key?: string; name?: string };
}

export interface JiraUser {
  accountId?: string;
  displayName?: string;
  emailAddress?: string;
  active?: boolean;
  accountType?: string;
  timeZone?: string;
}

export interface JiraIssue {
  id: string;
  key: string;
  fields?: {
    summary?: string;
    description?: unknown;
    status?: JiraStatus;
    assignee?: JiraUser | null;
    reporter?: JiraUser | null;
    labels?: string[];
    duedate?: string | null;
    created?: string;
    updated?: string;
    project?: { key?: string; id?: string };
    issuetype?: { name?: string; id?: string };
    priority?: { name?: string; id?: string } | null;
    parent?: { key?: string } | null;
  };
}

/** The fields every read asks for: enough for a task, nothing more (a read costs points per object). */
export const FIELDS = ['summary', 'description', 'status', 'assignee', 'reporter', 'labels', 'duedate', 'created', 'updated', 'project', 'issuetype', 'priority', 'parent'];

/** Jira's status category keys (`new`, `indeterminate`, `done`) as the contract's categories. */
export function category(key: string | undefined): StatusCategory | undefined {
  switch (key) {
    case 'new':
      return 'open';
    case 'indeterminate':
      return 'in-progress';
    case 'done':
      return 'done';
    default:
      return undefined;
  }
}

export function toTask(issue: JiraIssue): Task {
  const f = issue.fields ?? {};
  const extra: Record<string, unknown> = { id: issue.id };
  if (f.project?.key) extra.project = f.project.key;
  if (f.issuetype?.name) extra.issuetype = f.issuetype.name;
  if (f.priority?.name) extra.priority = f.priority.name;
  if (f.reporter?.accountId) extra.reporter = f.reporter.accountId;
  if (f.parent?.key) extra.parent = f.parent.key;
  if (f.status?.id) extra.status_id = f.status.id;
  return {
    id: issue.key,
    title: f.summary ?? '',
    description: adfToMarkdown(f.description),
    status: { category: category(f.status?.statusCategory?.key) ?? 'open', name: f.status?.name },
    assignees: f.assignee?.accountId ? [f.assignee.accountId] : [],
    followers: [],
    dueMs: dateMs(f.duedate),
    labels: Array.isArray(f.labels) ? f.labels : [],
    url: browseUrl(issue.key),
    createdMs: timeMs(f.created),
    updatedMs: timeMs(f.updated),
    extra: JSON.stringify(extra),
  };
}

/** `2024-05-01` (a due date has no time) as midnight UTC. */
export function dateMs(date: string | null | undefined): bigint | undefined {
  const m = typeof date === 'string' ? /^(\d{4})-(\d{2})-(\d{2})$/.exec(date) : null;
  return m ? BigInt(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
}

/** Due milliseconds as Jira's `duedate` (the UTC day). */
export function dueDate(ms: bigint): string {
  if (ms > 253402300799999n) throw invalidInput('due_ms is out of range');
  return new Date(Number(ms)).toISOString().slice(0, 10);
}

/** Jira's `2024-05-01T10:00:00.000+0000` (no colon in the offset, which Date.parse does not take everywhere). */
export function timeMs(time: string | undefined): bigint | undefined {
  if (typeof time !== 'string') return undefined;
  const ms = Date.parse(time.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
  return Number.isFinite(ms) ? BigInt(ms) : undefined;
}

/** An issue key (`OPS-12`) or numeric id; anything else never reaches a URL. */
export function issueKey(id: string): string {
  const trimmed = id.trim();
  if (!/^([A-Za-z][A-Za-z0-9_]{0,254}-\d{1,18}|\d{1,18})$/.test(trimmed)) {
    throw invalidInput(`task id must be a Jira issue key such as OPS-12 or a numeric issue id, got ${JSON.stringify(id.slice(0, 40))}`);
  }
  return trimmed.toUpperCase();
}

/** An Atlassian account id (`5b10ac8d82e05b22cc7d4ef5`, `712020:...`). */
export function accountId(id: string, field: string): string {
  if (!/^[A-Za-z0-9:_-]{1,128}$/.test(id)) throw invalidInput(`${field}: ${JSON.stringify(id.slice(0, 40))} is not an Atlassian account id`);
  return id;
}

/** Jira's summary limit. */
export function summary(title: string): string {
  const text = title.trim();
  if (text === '') throw invalidInput('title is required');
  if (text.length > 255) throw invalidInput(`title is ${text.length} characters; Jira takes at most 255`);
  if (/[\r\n]/.test(text)) throw invalidInput('title must be one line (Jira summaries have no line breaks)');
  return text;
}

/** Jira's limit for a rich-text field, checked before converting it. */
export function richText(text: string, field: string): string {
  if (text.length > 32767) throw invalidInput(`${field} is ${text.length} characters; Jira takes at most 32767`);
  return text;
}

/** Jira labels have no spaces and at most 255 characters. */
export function labels(values: string[]): string[] {
  if (values.length > 100) throw invalidInput('at most 100 labels');
  for (const label of values) {
    if (label === '' || label.length > 255 || /\s/.test(label)) {
      throw invalidInput(`label ${JSON.stringify(label.slice(0, 40))} is not a Jira label (1-255 characters, no spaces)`);
    }
  }
  return values;
}
