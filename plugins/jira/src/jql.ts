// JQL from the contract's task query: each field a clause with its value quoted, the caller's own JQL kept whole in
// parentheses, and one ORDER BY at the end (the caller's, or the newest first). Jira's /search/jql refuses an
// unbounded query, so a query with no restriction gets the default project, or a bound that matches every issue.

import { invalidInput } from '@qiao/connector-sdk';

type Category = 'open' | 'in-progress' | 'done';

/** Jira's status category keys for the contract's categories. */
export const CATEGORY_KEYS: Record<Category, string> = { open: 'new', 'in-progress': 'indeterminate', done: 'done' };

export interface JqlQuery {
  assignee?: string;
  status?: Category;
  updatedAfterMs?: bigint | number;
  text?: string;
  platformQuery?: string;
  /** Used when nothing else restricts the query. */
  defaultProject?: string;
}

/** A JQL string literal: double-quoted, with `"` and `\` escaped; control characters (never meaningful) as spaces. */
export function quote(value: string): string {
  // eslint-disable-next-line no-control-regex
  return `"${value.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/**
 * A `text ~` phrase: Lucene's reserved characters escaped (`\\` in JQL) so they match literally instead of
 * making the query invalid, then quoted as a JQL string.
 */
export function textSearch(text: string): string {
  const escaped = text.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/[+\-&|!(){}[\]^~*?:\\/"]/g, (c) => `\\\\${c}`);
  return `"${escaped.replace(/"/g, '\\"')}"`;
}

const MAX_JQL = 8000;

export function buildJql(q: JqlQuery): string {
  const clauses: string[] = [];
  let order: string | undefined;
  if (q.platformQuery !== undefined && q.platformQuery.trim() !== '') {
    const [where, by] = splitOrderBy(q.platformQuery.trim());
    if (where !== '') clauses.push(`(${where})`);
    order = by;
  }
  if (q.assignee !== undefined && q.assignee !== '') clauses.push(`assignee = ${quote(q.assignee)}`);
  if (q.status !== undefined) clauses.push(`statusCategory = ${quote(CATEGORY_KEYS[q.status])}`);
  if (q.updatedAfterMs !== undefined) {
    // JQL compares dates to the minute, so "strictly after" is checked again on each issue (see tasks.list).
    clauses.push(`updated >= ${quote(jqlMinute(Number(q.updatedAfterMs)))}`);
  }
  if (q.text !== undefined && q.text.trim() !== '') clauses.push(`text ~ ${textSearch(q.text.trim())}`);
  if (clauses.length === 0) {
    clauses.push(q.defaultProject !== undefined ? `project = ${quote(q.defaultProject)}` : 'created >= "1970-01-01"');
  }
  const jql = `${clauses.join(' AND ')} ORDER BY ${order ?? 'updated DESC, key DESC'}`;
  if (jql.length > MAX_JQL) throw invalidInput(`the JQL query is too long (${jql.length} characters, at most ${MAX_JQL})`);
  return jql;
}

/** `yyyy-MM-dd HH:mm` in UTC, the JQL date form (Jira reads it in the account's time zone: a minute early is safe). */
export function jqlMinute(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0 || ms > 253402300799999) throw invalidInput('updated_after_ms is out of range');
  // A day early covers any account time zone; exactness comes from the per-issue check.
  const d = new Date(Math.max(0, ms - 24 * 3600_000));
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/** The caller's JQL split at a top-level ORDER BY (outside quotes), so the combined clauses can precede it. */
export function splitOrderBy(jql: string): [string, string | undefined] {
  let quoteChar: string | undefined;
  let depth = 0;
  for (let i = 0; i < jql.length; i++) {
    const c = jql[i]!;
    if (quoteChar !== undefined) {
      if (c === '\\') i++;
      else if (c === quoteChar) quoteChar = undefined;
      continue;
    }
    if (c === '"' || c === "'") quoteChar = c;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (depth === 0 && /^order\s+by\b/i.test(jql.slice(i, i + 32)) && (i === 0 || /\s|\)/.test(jql[i - 1]!))) {
      const by = jql.slice(i).replace(/^order\s+by\s*/i, '').trim();
      return [jql.slice(0, i).trim(), by === '' ? undefined : by];
    }
  }
  return [jql, undefined];
}
