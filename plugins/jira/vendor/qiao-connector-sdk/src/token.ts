// Platform access tokens, cached in the connection's `kv` until shortly before they expire. Each call runs in a
// fresh instance, so the cache in `kv` is what lets concurrent and later calls share one token instead of fetching
// their own (platforms rate-limit their token endpoints). Same keys and margins as the Rust SDK's `token`.

import { sha256 } from 'qiao:connector/crypto@0.2.0';
import { delete as kvDelete } from 'qiao:connector/kv@0.2.0';
import { isConnectorError } from './errors.js';
import * as jsonKv from './jsonKv.js';
import * as logging from './logging.js';
import { hex, utf8 } from './text.js';

export interface Token {
  value: string;
  /** Lifetime the platform announced, in seconds. */
  expiresIn: number;
}

/**
 * A kv key for a token of `kind` issued to these credentials: changing a secret in the config must not reuse the
 * old secret's token. The credentials are hashed, so nothing secret is stored as a key.
 */
export function cacheKey(kind: string, credentials: readonly string[]): string {
  const digest = sha256(utf8(credentials.join('\n')));
  return `token:${kind}:${hex(digest.subarray(0, 12))}`;
}

/** The cached token, or a fresh one from `fetch` (then cached for its lifetime minus a safety margin). */
export function get(key: string, fetch: () => Token): string {
  const cached = jsonKv.get<unknown>(key);
  if (typeof cached === 'string') return cached;
  const token = fetch();
  const expiresIn = Number.isFinite(token.expiresIn) ? Math.max(0, Math.floor(token.expiresIn)) : 0;
  // Refresh 5 minutes early (or at half-life for short-lived tokens), so a token never expires mid-call.
  const ttl = expiresIn - Math.min(Math.floor(expiresIn / 2), 300);
  // A token that cannot be cached (a full kv quota) still serves this call; the next fetches its own.
  if (ttl > 0) jsonKv.keep(key, token.value, Math.min(ttl, 0xffff_ffff));
  return token.value;
}

/**
 * Runs `call` with a token. When the platform rejects the token (`call` throws `unauthorized`: expired early,
 * revoked, rotated), the cached one is dropped and `call` runs once more with a fresh token.
 */
export function withToken<T>(key: string, fetch: () => Token, call: (token: string) => T): T {
  const token = get(key, fetch);
  try {
    return call(token);
  } catch (e) {
    if (!isConnectorError(e) || e.kind !== 'unauthorized') throw e;
    logging.info('access token rejected; fetching a new one and retrying once', {
      platform_code: e.platformCode ?? '',
    });
    kvDelete(key);
    return call(get(key, fetch));
  }
}
