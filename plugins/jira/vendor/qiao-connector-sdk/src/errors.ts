// Constructors for the contract's error record, so a connector says what went wrong in one line. The kind is what
// the host acts on (HTTP status for API callers, retry or not in the outbox); the message is for people.
//
// componentize-js maps `result<T, error>` of an export to "return T, or throw the error record itself": throw
// these plain objects, never an `Error` (an `Error` thrown out of an export traps the component; `implement`
// turns one into `internal` for you).

import type { Error as ConnectorError, ErrorKind } from 'qiao:connector/types@0.2.0';

export type { ConnectorError, ErrorKind };

const KINDS: ReadonlySet<string> = new Set<ErrorKind>([
  'unauthorized',
  'forbidden',
  'not-found',
  'invalid-input',
  'conflict',
  'rate-limited',
  'unavailable',
  'unsupported',
  'internal',
]);

/** The platform's own code and message (passed on to API callers), and how long to wait before retrying. */
export interface ErrorDetails {
  platformCode?: string | number;
  platformMessage?: string;
  retryAfterMs?: number | bigint;
}

/** `u64` crosses the boundary as a BigInt: a plain number there would trap. */
function u64(value: number | bigint | undefined): bigint | undefined {
  if (typeof value === 'bigint') return value < 0n ? 0n : value;
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
  return BigInt(Math.max(0, Math.ceil(value)));
}

export function error(kind: ErrorKind, message: string, details: ErrorDetails = {}): ConnectorError {
  return {
    kind,
    message,
    platformCode: details.platformCode === undefined ? undefined : String(details.platformCode),
    platformMessage: details.platformMessage,
    retryAfterMs: u64(details.retryAfterMs),
  };
}

/** Credentials or token rejected, after the connector's own token refetch (see `token.withToken`). */
export const unauthorized = (message: string, details?: ErrorDetails) => error('unauthorized', message, details);

/** The app lacks a permission or scope. */
export const forbidden = (message: string, details?: ErrorDetails) => error('forbidden', message, details);

export const notFound = (message: string, details?: ErrorDetails) => error('not-found', message, details);

/** The request can never succeed as sent: the message should name the offending field. */
export const invalidInput = (message: string, details?: ErrorDetails) => error('invalid-input', message, details);

/** Clashes with the platform's current state (duplicate, wrong status). */
export const conflict = (message: string, details?: ErrorDetails) => error('conflict', message, details);

/** Throttled: the host's outbox waits `retryAfterMs` before trying again. */
export const rateLimited = (message: string, retryAfterMs?: number | bigint, details?: ErrorDetails) =>
  error('rate-limited', message, { ...details, retryAfterMs });

/** Down, busy or timed out: retrying later may succeed. */
export const unavailable = (message: string, details?: ErrorDetails) => error('unavailable', message, details);

/** The platform (or this connector) cannot do this at all. */
export const unsupported = (message: string, details?: ErrorDetails) => error('unsupported', message, details);

/** A bug, or an answer the connector did not expect. */
export const internal = (message: string, details?: ErrorDetails) => error('internal', message, details);

/** A copy of `e` keeping the platform's own code and message. */
export function withPlatform(e: ConnectorError, code: string | number, message: string): ConnectorError {
  return { ...e, platformCode: String(code), platformMessage: message };
}

export function withRetryAfterMs(e: ConnectorError, ms: number | bigint): ConnectorError {
  return { ...e, retryAfterMs: u64(ms) };
}

/** Whether a caught value is the contract's error record (thrown by the SDK, or by the connector's own code). */
export function isConnectorError(value: unknown): value is ConnectorError {
  if (typeof value !== 'object' || value === null) return false;
  const { kind, message } = value as { kind?: unknown; message?: unknown };
  return typeof kind === 'string' && KINDS.has(kind) && typeof message === 'string';
}

/** The `.payload` of an error thrown by an import (componentize-js throws an `Error` carrying the WIT error). */
export function payloadOf(e: unknown): unknown {
  return typeof e === 'object' && e !== null && 'payload' in e ? (e as { payload: unknown }).payload : undefined;
}

/**
 * Any caught value as the contract's error: an error record as is (normalised so it crosses the boundary), an
 * import's error record from its `.payload`, anything else (a bug: TypeError, JSON.parse...) as `internal`.
 */
export function toConnectorError(e: unknown): ConnectorError {
  if (isConnectorError(e)) return normalise(e);
  const payload = payloadOf(e);
  if (isConnectorError(payload)) return normalise(payload);
  const why = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return internal(`unexpected failure in the connector: ${why}`);
}

/** Exactly the record's fields, of the types the boundary takes (a `retryAfterMs` number becomes a BigInt). */
function normalise(e: ConnectorError): ConnectorError {
  return error(e.kind, e.message, {
    platformCode: e.platformCode ?? undefined,
    platformMessage: e.platformMessage == null ? undefined : String(e.platformMessage),
    retryAfterMs: e.retryAfterMs as number | bigint | undefined,
  });
}
