// The echo connector in JavaScript (componentize-js): the same behaviour as the Rust `echo` and Python `echo-py`
// connectors, against the echo test server. Built by build.sh against the world in wit/.
//
// How componentize-js maps the WIT (the bindings are generated at build time, nothing is checked in):
// - an interface import `qiao:connector/kv@0.1.0` is an ES module of that name; kebab-case names become camelCase
//   (functions `hmacSha256`, record fields `timeoutMs`, `messageId`, `platformCode`, ...);
// - an interface export is an exported object named after the interface (`describe`, `messaging`, `webhook`);
// - `option<T>` is `T` or `undefined` (test for none with `== null`); `list<u8>` is a `Uint8Array`; `u64` is a
//   `BigInt`; enums are their WIT names as strings (`'invalid-input'`); variants are `{ tag, val }`; tuples are arrays;
// - `result<T, E>`: an export returns `T`, or throws the `E` value itself (a plain object, not an `Error`: an `Error`
//   thrown from an export traps the component); an import returns `T`, or throws an `Error` whose `.payload` is `E`.

import { get as configGet } from 'qiao:connector/config@0.1.0';
import { hmacSha256, sha256 } from 'qiao:connector/crypto@0.1.0';
import { send as httpSend } from 'qiao:connector/http@0.1.0';
import { get as kvGet, set as kvSet, delete as kvDelete } from 'qiao:connector/kv@0.1.0';

const encoder = new TextEncoder();
const decoder = new TextDecoder(); // not fatal: invalid UTF-8 becomes U+FFFD

const utf8 = (text) => encoder.encode(text);
const text = (bytes) => decoder.decode(bytes);
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** The `types.error` record, to be thrown from an export (its `result`'s error case). */
function error(kind, message, platformCode) {
  return { kind, message, platformCode, platformMessage: undefined, retryAfterMs: undefined };
}

function header(headers, name) {
  for (const [key, value] of headers) {
    if (key.toLowerCase() === name) return value;
  }
  return undefined;
}

export const describe = {
  describe() {
    return {
      id: 'echo-js',
      name: 'Echo (JavaScript)',
      version: '1.0.0',
      vendor: 'Qiao',
      platform: 'echo',
      hosts: ['echo.invalid'],
      config: [
        { key: 'api_base', description: 'Base URL of the echo test server', required: false, secret: false, apiBase: true },
        { key: 'greeting', description: 'A greeting (unused; shows a plain setting)', required: false, secret: false, apiBase: false },
        { key: 'token', description: 'Sent as x-echo-token; the webhook signing key', required: false, secret: true, apiBase: false },
      ],
    };
  },
};

function contentText(content) {
  switch (content.tag) {
    case 'text':
      return content.val;
    case 'markdown':
      return content.val.text;
    default:
      return content.val.title;
  }
}

function httpError(e) {
  switch (e.tag) {
    case 'not-allowed':
      return error('forbidden', `echo server not allowed: ${e.val}`);
    case 'invalid-request':
      return error('unavailable', `invalid request to the echo server: ${e.val}`);
    case 'timeout':
      return error('unavailable', 'echo server timed out');
    case 'too-large':
      return error('unavailable', `echo server response larger than ${e.val} bytes`);
    case 'request-limit':
      return error('unavailable', `outbound request limit (${e.val}) reached`);
    default:
      return error('unavailable', `echo server unreachable: ${e.val}`);
  }
}

/** kv.set, whose own error (a `types.error`) is passed on as this call's error. */
function store(key, value) {
  try {
    kvSet(key, utf8(value), undefined);
  } catch (e) {
    throw e.payload ?? error('internal', `kv set failed: ${e}`);
  }
}

export const messaging = {
  send(message) {
    const base = configGet('api_base');
    if (!base) throw error('invalid-input', 'api_base is not configured');

    const stored = kvGet('sent');
    const n = (stored == null ? 0 : parseInt(text(stored), 10) || 0) + 1;
    store('sent', String(n));
    const messageId = `msg-${n}`;

    const users = message.to.users.filter((u) => !u.startsWith('bad-'));
    const problems = message.to.users
      .filter((u) => u.startsWith('bad-'))
      .map((u) => ({ recipient: u, code: 'invalid-user', reason: 'unknown user' }));

    const body = JSON.stringify({
      id: messageId,
      to: users,
      content: contentText(message.content),
      urgent: message.urgent,
      idempotency_key: message.idempotencyKey ?? null,
    });
    const headers = [['content-type', 'application/json']];
    const token = configGet('token');
    if (token != null) headers.push(['x-echo-token', token]);

    let response;
    try {
      response = httpSend({
        method: 'post',
        url: `${base.replace(/\/+$/, '')}/echo`,
        headers,
        body: utf8(body),
        timeoutMs: undefined,
      });
    } catch (e) {
      if (e.payload === undefined) throw error('internal', `http send failed: ${e}`);
      throw httpError(e.payload);
    }
    const reply = text(response.body);
    if (response.status < 200 || response.status >= 300) {
      throw error('unavailable', `echo server answered ${response.status}: ${reply.slice(0, 200)}`, String(response.status));
    }

    store(`msg:${messageId}`, JSON.stringify({ users }));
    return { messageId, problems, extra: reply };
  },

  recall(messageId) {
    const key = `msg:${messageId}`;
    if (kvGet(key) == null) throw error('not-found', `no message ${messageId}`);
    kvDelete(key);
  },

  readStatus(messageId) {
    const stored = kvGet(`msg:${messageId}`);
    if (stored == null) throw error('not-found', `no message ${messageId}`);
    const users = JSON.parse(text(stored)).users ?? [];
    return { read: [], unread: users, problems: [] };
  },
};

export const webhook = {
  handle(request) {
    const body = request.body;
    const signature = header(request.headers, 'x-echo-signature');
    if (signature !== undefined) {
      const key = utf8(configGet('token') ?? '');
      if (signature !== hex(hmacSha256(key, body))) throw error('unauthorized', 'bad signature');
    }

    const contentType = header(request.headers, 'content-type') ?? 'text/plain';
    const eventId = header(request.headers, 'x-event-id') ?? hex(sha256(body));
    const payload = JSON.stringify({ body: text(body), method: request.method, query: request.query });
    const event = { id: eventId, kind: 'echo.received', timeMs: undefined, subject: request.path, payload };
    return {
      response: { status: 200, headers: [['content-type', contentType]], body },
      events: [event],
    };
  },
};
