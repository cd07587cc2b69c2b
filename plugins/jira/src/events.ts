// Jira webhook payloads as the shared task events. Dispatch is on the body's `webhookEvent` (Jira sends no event
// header); the event id is the delivery's X-Atlassian-Webhook-Identifier, unchanged across Jira's retries, so a
// redelivery is de-duplicated by the host.

import type { Event } from 'qiao:connector/types@0.2.0';
import { adfToMarkdown } from './adf.js';
import { category, type JiraIssue, type JiraUser } from './issues.js';
import { browseUrl } from './settings.js';

export interface ChangeItem {
  field?: string;
  fieldId?: string;
  from?: string | null;
  fromString?: string | null;
  to?: string | null;
  toString?: string | null;
}

export interface Payload {
  timestamp?: number;
  webhookEvent?: string;
  user?: JiraUser;
  issue?: JiraIssue;
  changelog?: { id?: string; items?: ChangeItem[] };
  comment?: { id?: string | number; body?: unknown; author?: JiraUser };
}

/** The contract's names for the Jira fields it has; any other field keeps Jira's id (`priority`, `customfield_1`). */
const FIELD_NAMES: Record<string, string> = {
  summary: 'title',
  description: 'description',
  duedate: 'due',
  assignee: 'assignees',
  labels: 'labels',
};

/** The events one delivery means (none for the events tasks do not cover). */
export function toEvents(payload: Payload, deliveryId: string): Event[] {
  const issue = payload.issue;
  if (typeof issue?.key !== 'string') return [];
  const time = typeof payload.timestamp === 'number' && Number.isFinite(payload.timestamp) && payload.timestamp >= 0
    ? BigInt(Math.floor(payload.timestamp))
    : undefined;
  const base: Record<string, unknown> = { task_id: issue.key };
  if (issue.fields?.summary) base.title = issue.fields.summary;
  if (payload.user?.accountId) base.actor = payload.user.accountId;
  const event = (kind: string, payloadJson: Record<string, unknown>, suffix = ''): Event => ({
    id: deliveryId + suffix,
    kind,
    timeMs: time,
    subject: issue.key,
    payload: JSON.stringify(payloadJson),
  });
  switch (payload.webhookEvent) {
    case 'jira:issue_created': {
      const url = browseUrl(issue.key);
      return [event('task.created', url === undefined ? base : { ...base, url })];
    }
    case 'jira:issue_deleted':
      return [event('task.deleted', actorOnly(base))];
    case 'comment_created': {
      const comment = payload.comment ?? {};
      const body: Record<string, unknown> = { id: String(comment.id ?? '') };
      const text = adfToMarkdown(comment.body);
      if (text !== undefined) body.text = text;
      const actor = comment.author?.accountId ?? payload.user?.accountId;
      return [event('task.commented', { task_id: issue.key, ...(actor ? { actor } : {}), comment: body })];
    }
    case 'jira:issue_updated':
      return updated(payload, base, event);
    default:
      return [];
  }
}

function actorOnly(base: Record<string, unknown>): Record<string, unknown> {
  return base.actor === undefined ? { task_id: base.task_id } : { task_id: base.task_id, actor: base.actor };
}

function updated(
  payload: Payload,
  base: Record<string, unknown>,
  event: (kind: string, payload: Record<string, unknown>, suffix?: string) => Event,
): Event[] {
  const items = Array.isArray(payload.changelog?.items) ? payload.changelog!.items! : [];
  const out: Event[] = [];
  const status = items.find((item) => item.field === 'status' || item.fieldId === 'status');
  if (status !== undefined) {
    const now = payload.issue?.fields?.status;
    const from: Record<string, unknown> = {};
    const to: Record<string, unknown> = {};
    if (status.fromString) from.name = status.fromString;
    if (status.toString) to.name = status.toString;
    // The issue as sent is the issue after the change: its status category is the target's, when it matches.
    const toCategory = category(now?.statusCategory?.key);
    if (toCategory !== undefined && (now?.name === status.toString || (now?.id !== undefined && now.id === status.to))) {
      // As the tasks API and every other connector's events show it.
      to.category = toCategory.replace('-', '_');
    }
    out.push(event('task.status_changed', { ...base, from, to }));
  }
  // Jira sets the resolution as part of moving to (or out of) a done status: that is the status change itself.
  const own = (item: ChangeItem) => item === status || (status !== undefined && (item.fieldId ?? item.field) === 'resolution');
  const changed = [...new Set(items.filter((item) => !own(item)).map((item) => {
    const field = item.fieldId ?? item.field ?? '';
    return FIELD_NAMES[field] ?? FIELD_NAMES[item.field ?? ''] ?? field;
  }).filter((f) => f !== ''))];
  // An update with no changed field (Jira sends one for a comment, issue_event_type_name `issue_commented`)
  // is told by its own event, or is nothing a task subscriber acts on.
  if (changed.length > 0) {
    // Both in one delivery: the second event needs its own id, stable across redeliveries.
    out.push(event('task.updated', { ...base, changed }, status === undefined ? '' : ':fields'));
  }
  return out;
}
