// One-line logging through the host's `log` import. The host tags each line with the connection and the call, so
// a connector logs only what it knows: a message and a few fields (never secrets; the host also redacts the
// connection's secret values, but don't rely on it).

import { log } from 'qiao:connector/log@0.2.0';
import type { Level } from 'qiao:connector/log@0.2.0';

/** `{ user: id, attempt: 2 }` (undefined values left out) or `[['user', id]]`. */
export type Fields =
  | Readonly<Record<string, string | number | boolean | bigint | undefined>>
  | ReadonlyArray<readonly [string, string]>;

export const debug = (message: string, fields?: Fields) => emit('debug', message, fields);
export const info = (message: string, fields?: Fields) => emit('info', message, fields);
export const warn = (message: string, fields?: Fields) => emit('warn', message, fields);
export const error = (message: string, fields?: Fields) => emit('error', message, fields);

function emit(level: Level, message: string, fields: Fields = []): void {
  const pairs: Array<[string, string]> = Array.isArray(fields)
    ? fields.map(([key, value]) => [key, value] as [string, string])
    : Object.entries(fields)
        .filter(([, value]) => value !== undefined)
        .map(([key, value]) => [key, String(value)] as [string, string]);
  log(level, message, pairs);
}
