// JSON requests through the host's `http` import. Transport failures become the contract's errors (also for a
// raw request, through `sendRequest`), so a connector only decides what the platform's *answers* mean.

import { send as hostSend } from 'qiao:connector/http@0.2.0';
import type { HttpError, Method, Request } from 'qiao:connector/http@0.2.0';
import { type ConnectorError, forbidden, internal, invalidInput, payloadOf, unavailable } from './errors.js';
import { fromUtf8, utf8 } from './text.js';

export type { Method };

/** Request headers: `{ authorization: 'Bearer …' }` or `[['authorization', 'Bearer …']]`. */
export type Headers = Readonly<Record<string, string>> | ReadonlyArray<readonly [string, string]>;

export class Response {
  constructor(
    readonly status: number,
    /** Names are lower case. */
    readonly headers: Array<[string, string]>,
    readonly body: Uint8Array,
  ) {}

  isSuccess(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  /** The body as JSON, or an `internal` error quoting the start of what came instead. */
  json<T = unknown>(): T {
    try {
      return JSON.parse(this.text()) as T;
    } catch (e) {
      const start = fromUtf8(this.body.subarray(0, 200));
      throw internal(`expected JSON from the platform (${e instanceof Error ? e.message : String(e)}), got: ${start}`);
    }
  }

  header(name: string): string | undefined {
    const lower = name.toLowerCase();
    return this.headers.find(([key]) => key.toLowerCase() === lower)?.[1];
  }

  text(): string {
    return fromUtf8(this.body);
  }
}

export interface SendOptions {
  /** Per-request timeout; the host caps it at the call's remaining wall time. */
  timeoutMs?: number;
}

/** Sends a request; a JSON body (any value but `undefined`) sets `content-type: application/json`. */
export function send(method: Method, url: string, headers: Headers = [], json?: unknown, options: SendOptions = {}): Response {
  const all: Array<[string, string]> = Array.isArray(headers)
    ? headers.map(([key, value]) => [key, value] as [string, string])
    : Object.entries(headers);
  let body: Uint8Array = new Uint8Array();
  if (json !== undefined) {
    all.push(['content-type', 'application/json; charset=utf-8']);
    let text: string;
    try {
      text = JSON.stringify(json);
    } catch (e) {
      throw internal(`cannot serialise the request body: ${e instanceof Error ? e.message : String(e)}`);
    }
    body = utf8(text);
  }
  return sendRequest({ method, url, headers: all, body, timeoutMs: options.timeoutMs });
}

export function get(url: string, headers?: Headers): Response {
  return send('get', url, headers);
}

export function post(url: string, headers: Headers, json: unknown): Response {
  return send('post', url, headers, json);
}

/** The host's `http.send` for a request built by hand (a form body, bytes), its failures as contract errors. */
export function sendRequest(request: Request): Response {
  try {
    const response = hostSend(request);
    return new Response(response.status, response.headers, response.body);
  } catch (e) {
    const payload = payloadOf(e) as HttpError | undefined;
    if (payload === undefined || typeof payload.tag !== 'string') {
      throw internal(`http send failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    throw fromHttpError(payload);
  }
}

/**
 * What each transport failure means to a caller: a refused host is a configuration problem (`forbidden`); the rest
 * may pass (`unavailable`), except a malformed request and an oversized answer, which retrying won't fix.
 */
export function fromHttpError(e: HttpError): ConnectorError {
  switch (e.tag) {
    case 'not-allowed':
      return forbidden(e.val);
    case 'invalid-request':
      return invalidInput(`invalid outbound request: ${e.val}`);
    case 'timeout':
      return unavailable('the platform did not answer in time');
    case 'too-large':
      return internal(`the platform's response exceeds the host's limit of ${e.val} bytes`);
    case 'request-limit':
      return unavailable(`this call used up its allowance of ${e.val} outbound requests`);
    case 'transport':
      return unavailable(`cannot reach the platform: ${e.val}`);
  }
}
