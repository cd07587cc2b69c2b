// Calls to Jira Cloud's REST API v3, and what its failures mean in the contract's terms: the status picks the
// kind, Jira's own `{errorMessages, errors}` is kept (field names included) so an operator sees what Jira said, and
// a 429 says which of Jira's three limits was hit (RateLimit-Reason), because each wants a different wait.

import {
  conflict,
  type ConnectorError,
  error,
  forbidden,
  internal,
  invalidInput,
  jsonHttp,
  notFound,
  query as queryString,
  type QueryValue,
  rateLimited,
  unauthorized,
  unsupported,
} from '@qiao/connector-sdk';
import { apiBase, authorization } from './settings.js';

export interface CallOptions {
  query?: Record<string, QueryValue>;
  body?: unknown;
  /** The issue the call is about, named in errors (a per-issue rate limit applies to it alone). */
  issue?: string;
}

/** Jira's answer as JSON (undefined for 204), or the contract error its status means. */
export function call<T = unknown>(method: jsonHttp.Method, path: string, options: CallOptions = {}): T {
  const qs = options.query === undefined ? '' : queryString(options.query);
  const url = `${apiBase()}${path}${qs === '' ? '' : `?${qs}`}`;
  const headers = { accept: 'application/json', authorization: authorization() };
  const response = jsonHttp.send(method, url, headers, options.body);
  if (response.isSuccess()) {
    return response.status === 204 || response.body.length === 0 ? (undefined as T) : response.json<T>();
  }
  throw jiraError(response.status, response.headers, response.text(), options.issue);
}

/** Jira's error body, as one line: its messages, then each field with its message. */
export function jiraMessage(body: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    const text = body.trim();
    return text === '' ? undefined : text.slice(0, 500);
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { errorMessages, errors, message } = parsed as { errorMessages?: unknown; errors?: unknown; message?: unknown };
  const parts: string[] = [];
  if (Array.isArray(errorMessages)) parts.push(...errorMessages.filter((m): m is string => typeof m === 'string'));
  if (typeof errors === 'object' && errors !== null) {
    for (const [field, text] of Object.entries(errors)) parts.push(`${field}: ${String(text)}`);
  }
  if (parts.length === 0 && typeof message === 'string') parts.push(message);
  return parts.length === 0 ? undefined : parts.join('; ').slice(0, 1000);
}

type Headers = ReadonlyArray<readonly [string, string]>;
const header = (headers: Headers, name: string) => headers.find(([k]) => k.toLowerCase() === name)?.[1];

/** The error a failed answer means. `issue` is the issue the request was about, if any. */
export function jiraError(status: number, headers: Headers, body: string, issue?: string): ConnectorError {
  const said = jiraMessage(body);
  const details = { platformCode: status, platformMessage: said };
  const jira = (what: string) => (said === undefined ? `${what} (Jira ${status})` : `${what} (Jira ${status}: ${said})`);
  switch (status) {
    case 400:
      return invalidInput(jira('Jira refused the request as invalid'), details);
    case 401:
      return unauthorized(jira('Jira refused the credentials (API tokens expire: check api_token or oauth_token)'), details);
    case 403:
      return forbidden(jira('the Jira account lacks a permission or scope for this'), details);
    case 404:
      return notFound(jira(issue === undefined ? 'not found in Jira' : `issue ${issue} not found in Jira, or not visible to this account`), details);
    case 409:
      return conflict(jira('Jira reports a conflicting change'), details);
    case 410:
      return unsupported(jira('Jira has removed this API'), details);
    case 429:
      return throttled(headers, said, issue);
    default: {
      if (status >= 500) {
        const wait = retryAfterMs(headers);
        return error('unavailable', jira('Jira is unavailable'), { ...details, retryAfterMs: wait });
      }
      return internal(jira(`unexpected answer from Jira`), details);
    }
  }
}

/** Jira's three limits (developer.atlassian.com, rate limiting): which one, and the wait it wants. */
function throttled(headers: Headers, said: string | undefined, issue: string | undefined): ConnectorError {
  const reason = header(headers, 'ratelimit-reason')?.trim();
  const wait = retryAfterMs(headers);
  const detail = { platformCode: reason ?? '429', platformMessage: said };
  let message: string;
  switch (reason) {
    case 'jira-per-issue-on-write':
      message = `Jira throttled writes to ${issue === undefined ? 'this issue' : `issue ${issue}`} only (per-issue write limit: 20 per 2 s, 100 per 30 s); other issues can still be written`;
      break;
    case 'jira-burst-based':
      message = 'Jira throttled this endpoint (per-second burst limit); slow down calls to it';
      break;
    case 'jira-quota-global-based':
    case 'jira-quota-tenant-based':
    case 'jira-cost-based':
      message = `Jira's hourly points quota is used up (${reason}); every call is refused until the quota resets at the top of the UTC hour`;
      break;
    default:
      message = reason === undefined ? 'Jira rate limit hit' : `Jira rate limit hit (${reason})`;
  }
  if (said !== undefined) message += `: ${said}`;
  const waitMs = wait ?? resetMs(headers) ?? defaultWait(reason);
  // `rate-limited` holds every write of the connection for the wait; a limit on one issue must hold that issue's
  // writes only, which `unavailable` with a wait does (the contract lets it carry retry-after-ms).
  if (reason === 'jira-per-issue-on-write') return error('unavailable', message, { ...detail, retryAfterMs: waitMs });
  return rateLimited(message, waitMs, detail);
}

/** `Retry-After` in seconds (Jira sends seconds), as ms. */
export function retryAfterMs(headers: Headers): number | undefined {
  const value = header(headers, 'retry-after') ?? header(headers, 'beta-retry-after');
  if (value === undefined || !/^\s*\d+(\.\d+)?\s*$/.test(value)) return undefined;
  return Math.min(Number(value), 24 * 3600) * 1000;
}

/** `X-RateLimit-Reset` (ISO-8601) as a wait from now. */
function resetMs(headers: Headers): number | undefined {
  const value = header(headers, 'x-ratelimit-reset');
  if (value === undefined) return undefined;
  const at = Date.parse(value);
  if (!Number.isFinite(at)) return undefined;
  const wait = at - Date.now();
  return wait > 0 && wait <= 3600_000 ? wait : undefined;
}

/** Without a header: the per-issue window is 2 s, a burst bucket refills within a second, a quota within the hour. */
function defaultWait(reason: string | undefined): number {
  if (reason === 'jira-per-issue-on-write') return 2000;
  if (reason === 'jira-burst-based') return 1000;
  if (reason?.startsWith('jira-quota') || reason === 'jira-cost-based') return 60_000;
  return 5000;
}

