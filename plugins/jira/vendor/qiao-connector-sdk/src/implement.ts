// Typing an exported interface, and keeping its failures typed.

import type { HttpError } from 'qiao:connector/http@0.2.0';
import { type ConnectorError, isConnectorError, payloadOf, toConnectorError } from './errors.js';
import { fromHttpError } from './jsonHttp.js';
import * as logging from './logging.js';

const HTTP_ERRORS = new Set(['not-allowed', 'invalid-request', 'timeout', 'too-large', 'request-limit', 'transport']);

/**
 * The functions of an exported interface, checked against the WIT and wrapped so that whatever they throw reaches the
 * host as the contract's error: a thrown `Error` (a bug, a `TypeError`) would trap the component and the caller
 * would learn nothing; here it becomes `internal` with its message, and its stack goes to the log. A failure of the
 * host's `http.send` called directly becomes what `jsonHttp` makes of it (as `?` does in Rust).
 *
 *     export const messaging = implement<typeof import('qiao:connector/messaging@0.2.0')>({
 *       send(message) { ... },
 *       ...
 *     });
 */
export function implement<T extends object>(functions: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(functions)) {
    if (typeof value !== 'function') {
      wrapped[name] = value;
      continue;
    }
    const f = value as (...args: unknown[]) => unknown;
    wrapped[name] = function (this: unknown, ...args: unknown[]): unknown {
      try {
        return f.apply(this, args);
      } catch (e) {
        throw asContractError(name, e);
      }
    };
  }
  return wrapped as T;
}

function asContractError(name: string, e: unknown): ConnectorError {
  if (isConnectorError(e) || isConnectorError(payloadOf(e))) return toConnectorError(e);
  const payload = payloadOf(e) as { tag?: unknown } | undefined;
  if (typeof payload?.tag === 'string' && HTTP_ERRORS.has(payload.tag)) return fromHttpError(payload as HttpError);
  logging.error(`${name} failed unexpectedly`, { stack: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  return toConnectorError(e);
}
