// A fake Qiao host for unit tests in Node: in-memory kv (with TTLs on a clock you move), config, scripted HTTP
// replies, captured logs, and real SHA-1/SHA-256/HMAC/AES/RSA from node:crypto. The `qiao:connector/*@0.2.0`
// imports resolve to it through the loader hook `@qiao/connector-sdk/testing/register`:
//
//     node --import @qiao/connector-sdk/testing/register --test build/tests/*.test.js
//
//     const host = FakeHost.install({ config: { api_base: 'https://api.example.test', token: 't' } });
//     host.on('post', 'https://api.example.test/messages', { json: { id: 'm1' } });
//     messaging.send(message);                       // the connector's code, unchanged
//     assert.equal(host.requests[0].json().text, 'hi');
//
// Import failures behave as in the component: an `Error` whose `.payload` is the WIT error value.

import { constants, createCipheriv, createDecipheriv, createHash, createHmac, publicEncrypt, randomBytes } from 'node:crypto';
import type { Error as ConnectorError } from 'qiao:connector/types@0.2.0';
import type { HttpError, Method, Request, Response } from 'qiao:connector/http@0.2.0';
import type { Level } from 'qiao:connector/log@0.2.0';
import type { Padding, RsaPadding } from 'qiao:connector/crypto@0.2.0';

/** The contract version this fake host serves. */
export const CONTRACT = '0.2.0';

/** Where the loader hook's modules find the installed host. */
const SLOT = Symbol.for('qiao.connector.fakeHost');

/** What componentize-js throws when an import answers the error case of its `result` (as jco's ComponentError). */
export class ComponentError extends Error {
  constructor(readonly payload: unknown) {
    super(typeof payload === 'string' ? payload : `${JSON.stringify(payload, bigints)} (see error.payload)`);
  }
}

const bigints = (_key: string, value: unknown) => (typeof value === 'bigint' ? `${value}` : value);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A request the connector sent, with readers for its body. */
export interface SentRequest extends Request {
  text(): string;
  json<T = any>(): T;
  header(name: string): string | undefined;
}

/** A scripted answer: a body as JSON, text or bytes, or a transport failure (`{ httpError: { tag: 'timeout' } }`). */
export type Reply =
  | {
      status?: number;
      headers?: Record<string, string> | Array<[string, string]>;
      json?: unknown;
      body?: string | Uint8Array;
    }
  | { httpError: HttpError };

export type Responder = Reply | ((request: SentRequest) => Reply);

/** `'https://x/api'` matches that URL with any query string; a RegExp is tested on the whole URL. */
export type UrlMatcher = string | RegExp | ((url: string) => boolean);

interface Route {
  method: Method | '*';
  url: UrlMatcher;
  reply: Responder;
  times: number;
}

export interface LogLine {
  level: Level;
  message: string;
  fields: Record<string, string>;
}

export interface KvEntry {
  value: Uint8Array;
  ttlSeconds?: number;
  /** On the fake clock (`advance`), in seconds. */
  expiresAt?: number;
}

export interface FakeHostOptions {
  config?: Record<string, string>;
  connection?: string;
}

export class FakeHost {
  readonly contract = CONTRACT;
  readonly config = new Map<string, string>();
  connection = 'test';
  readonly kv = new Map<string, KvEntry>();
  readonly requests: SentRequest[] = [];
  readonly logs: LogLine[] = [];
  /** Replace for deterministic "random" bytes (nonces, the callback crypto's random prefix). */
  random: (len: number) => Uint8Array = (len) => new Uint8Array(randomBytes(len));
  /** Set to make every `kv.set` fail with this error, as a full store would. */
  kvSetError: ConnectorError | undefined;
  #routes: Route[] = [];
  #now = 0;

  constructor(options: FakeHostOptions = {}) {
    for (const [key, value] of Object.entries(options.config ?? {})) this.config.set(key, value);
    if (options.connection !== undefined) this.connection = options.connection;
  }

  /** A new host, made the one the `qiao:connector/*` imports talk to (replacing any earlier one). */
  static install(options: FakeHostOptions = {}): FakeHost {
    const host = new FakeHost(options);
    (globalThis as Record<symbol, unknown>)[SLOT] = host;
    return host;
  }

  /**
   * Answers requests of `method` (`'*'`: any) to `url` with `reply`; routes are tried in the order added, and one
   * with `times` stops matching after that many requests. A request that matches nothing fails with `not-allowed`.
   */
  on(method: Method | '*', url: UrlMatcher, reply: Responder, options: { times?: number } = {}): this {
    this.#routes.push({ method, url, reply, times: options.times ?? Infinity });
    return this;
  }

  /** Moves the kv clock on, expiring what was stored with a TTL that has run out. */
  advance(seconds: number): void {
    this.#now += seconds;
  }

  /** A kv value parsed as JSON (undefined when missing or expired). */
  kvJson<T = any>(key: string): T | undefined {
    const bytes = this.imports.kv.get(key);
    return bytes === undefined ? undefined : (JSON.parse(decoder.decode(bytes)) as T);
  }

  /** The functions behind each import, by interface name (what the loader hook's modules call). */
  readonly imports = {
    config: {
      get: (key: string): string | undefined => this.config.get(key),
      connection: (): string => this.connection,
    },
    kv: {
      get: (key: string): Uint8Array | undefined => {
        const entry = this.kv.get(key);
        if (entry?.expiresAt !== undefined && entry.expiresAt <= this.#now) this.kv.delete(key);
        return this.kv.get(key)?.value.slice();
      },
      set: (key: string, value: Uint8Array, ttlSeconds: number | undefined): void => {
        if (this.kvSetError) throw new ComponentError(this.kvSetError);
        const entry: KvEntry = { value: value.slice() };
        if (ttlSeconds !== undefined) {
          entry.ttlSeconds = ttlSeconds;
          entry.expiresAt = this.#now + ttlSeconds;
        }
        this.kv.set(key, entry);
      },
      delete: (key: string): void => {
        this.kv.delete(key);
      },
    },
    log: {
      log: (level: Level, message: string, fields: Array<[string, string]>): void => {
        this.logs.push({ level, message, fields: Object.fromEntries(fields) });
      },
    },
    http: {
      send: (request: Request): Response => this.#send(request),
    },
    crypto: {
      sha1: (data: Uint8Array) => digest('sha1', data),
      sha256: (data: Uint8Array) => digest('sha256', data),
      hmacSha256: (key: Uint8Array, data: Uint8Array) => new Uint8Array(createHmac('sha256', key).update(data).digest()),
      aes256CbcEncrypt: (key: Uint8Array, iv: Uint8Array, data: Uint8Array, padding: Padding) =>
        aes('encrypt', key, iv, data, padding),
      aes256CbcDecrypt: (key: Uint8Array, iv: Uint8Array, data: Uint8Array, padding: Padding) =>
        aes('decrypt', key, iv, data, padding),
      randomBytes: (len: number): Uint8Array => this.random(Math.min(len, 4096)),
      rsaEncrypt: (publicKey: Uint8Array, data: Uint8Array, padding: RsaPadding): Uint8Array => {
        try {
          // PEM (SubjectPublicKeyInfo or PKCS#1) as text, anything else as SubjectPublicKeyInfo DER, as the host takes.
          const text = decoder.decode(publicKey);
          const key = text.includes('-----BEGIN')
            ? { key: text }
            : { key: Buffer.from(publicKey), format: 'der' as const, type: 'spki' as const };
          const options =
            padding === 'pkcs1v15'
              ? { padding: constants.RSA_PKCS1_PADDING }
              : { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' };
          return new Uint8Array(publicEncrypt({ ...key, ...options }, data));
        } catch (e) {
          throw new ComponentError(`rsa-encrypt: ${(e as Error).message}`);
        }
      },
    },
    types: {},
  };

  #send(request: Request): Response {
    const sent = sentRequest(request);
    this.requests.push(sent);
    const route = this.#routes.find((r) => r.times > 0 && (r.method === '*' || r.method === request.method) && matches(r.url, request.url));
    if (route === undefined) {
      throw new ComponentError({
        tag: 'not-allowed',
        val: `the fake host has no reply for ${request.method.toUpperCase()} ${request.url} (add one with FakeHost.on)`,
      } satisfies HttpError);
    }
    route.times--;
    const reply = typeof route.reply === 'function' ? route.reply(sent) : route.reply;
    if ('httpError' in reply) throw new ComponentError(reply.httpError);
    const headers: Array<[string, string]> = Array.isArray(reply.headers)
      ? reply.headers
      : Object.entries(reply.headers ?? {});
    let body: Uint8Array = new Uint8Array();
    if (reply.json !== undefined) {
      body = encoder.encode(JSON.stringify(reply.json));
      headers.push(['content-type', 'application/json']);
    } else if (typeof reply.body === 'string') {
      body = encoder.encode(reply.body);
    } else if (reply.body !== undefined) {
      body = reply.body;
    }
    return {
      status: reply.status ?? 200,
      headers: headers.map(([key, value]) => [key.toLowerCase(), value]),
      body,
    };
  }
}

function matches(matcher: UrlMatcher, url: string): boolean {
  if (typeof matcher === 'function') return matcher(url);
  if (matcher instanceof RegExp) return matcher.test(url);
  return url === matcher || url.startsWith(`${matcher}?`);
}

function sentRequest(request: Request): SentRequest {
  const copy = { ...request, headers: request.headers.map(([k, v]) => [k, v] as [string, string]), body: request.body.slice() };
  return {
    ...copy,
    text: () => decoder.decode(copy.body),
    json: () => JSON.parse(decoder.decode(copy.body)),
    header: (name) => copy.headers.find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1],
  };
}

function digest(algorithm: 'sha1' | 'sha256', data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(algorithm).update(data).digest());
}

function aes(direction: 'encrypt' | 'decrypt', key: Uint8Array, iv: Uint8Array, data: Uint8Array, padding: Padding): Uint8Array {
  // Errors as the host words them: a string payload.
  if (key.length !== 32) throw new ComponentError(`AES-256 key must be 32 bytes, got ${key.length}`);
  if (iv.length !== 16) throw new ComponentError(`IV must be 16 bytes, got ${iv.length}`);
  if (padding === 'none' && data.length % 16 !== 0) {
    throw new ComponentError(`with padding none the data must be a multiple of 16 bytes, got ${data.length}`);
  }
  try {
    const cipher = direction === 'encrypt' ? createCipheriv('aes-256-cbc', key, iv) : createDecipheriv('aes-256-cbc', key, iv);
    cipher.setAutoPadding(padding === 'pkcs7');
    return new Uint8Array(Buffer.concat([cipher.update(data), cipher.final()]));
  } catch (e) {
    throw new ComponentError(`aes-256-cbc ${direction}: ${(e as Error).message}`);
  }
}
