// JSON values and counters in the connection's `kv` store.

import { delete as kvDelete, get as kvGet, set as kvSet } from 'qiao:connector/kv@0.2.0';
import { internal, isConnectorError, payloadOf } from './errors.js';
import * as logging from './logging.js';
import { fromUtf8, utf8 } from './text.js';

/** A stored value, or undefined if missing (or unreadable: treated as missing, to be rewritten). */
export function get<T = unknown>(key: string): T | undefined {
  const bytes = kvGet(key);
  if (bytes === undefined) return undefined;
  try {
    return JSON.parse(fromUtf8(bytes)) as T;
  } catch {
    return undefined;
  }
}

/** Stores `value` as JSON; `ttlSeconds`: it disappears after that long. The host's refusal is passed on as is. */
export function set(key: string, value: unknown, ttlSeconds?: number): void {
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw internal(`cannot serialise ${key}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    kvSet(key, utf8(text), ttlSeconds);
  } catch (e) {
    const payload = payloadOf(e);
    throw isConnectorError(payload) ? payload : internal(`kv set failed: ${String(e)}`);
  }
}

/**
 * `set` for what a call can do without once the platform has acted (a cache, a note for a later call): a refusal
 * (the connection's kv quota is full, the store unavailable) is logged as a warning, not thrown. Failing a call whose
 * work is done would make the outbox retry it (a second message, a second to-do) or give up on it although it
 * happened.
 */
export function keep(key: string, value: unknown, ttlSeconds?: number): void {
  try {
    set(key, value, ttlSeconds);
  } catch (e) {
    const error = isConnectorError(e) ? e.message : String(e);
    logging.warn('a kv value was not stored; the call goes on without it', { key, error });
  }
}

export function remove(key: string): void {
  kvDelete(key);
}

/**
 * Adds one to a counter and returns the new value (1 the first time). Not atomic across concurrent calls of one
 * connection: use it for ids in tests and demos, not for money.
 */
export function next(key: string): number {
  const stored = get<unknown>(key);
  const n = (typeof stored === 'number' && Number.isSafeInteger(stored) ? stored : 0) + 1;
  set(key, n);
  return n;
}
