// Encodings connectors need for signatures, URLs and bodies: UTF-8, hex, base64, query strings.

// The componentize-js runtime (StarlingMonkey) has TextEncoder/TextDecoder, but neither TypeScript's "ES2022" lib
// nor a connector's tsconfig (no "DOM": the sandbox has no fetch, timers or DOM) declares them; typed here locally
// so the SDK compiles with or without Node's or the DOM's declarations.
interface Codecs {
  TextEncoder: new () => { encode(input: string): Uint8Array };
  TextDecoder: new (label: string, options: { fatal?: boolean; ignoreBOM?: boolean }) => {
    decode(input: Uint8Array): string;
  };
}
const web = globalThis as unknown as Codecs;
const encoder = new web.TextEncoder();
// ignoreBOM: a leading U+FEFF is content, kept as Rust's `String::from_utf8` keeps it.
const lossyDecoder = new web.TextDecoder('utf-8', { ignoreBOM: true });
const strictDecoder = new web.TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Bytes as text; invalid UTF-8 becomes U+FFFD. */
export function fromUtf8(bytes: Uint8Array): string {
  return lossyDecoder.decode(bytes);
}

/** Bytes as text, or undefined when they are not valid UTF-8. */
export function fromUtf8Strict(bytes: Uint8Array): string | undefined {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return undefined;
  }
}

export function hex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const BASE64_VALUE = new Map([...BASE64].map((c, i) => [c, i]));

/** Standard base64 with padding (RFC 4648 §4). */
export function base64Encode(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += BASE64[n >> 18]! + BASE64[(n >> 12) & 63]!;
    out += i + 1 < bytes.length ? BASE64[(n >> 6) & 63]! : '=';
    out += i + 2 < bytes.length ? BASE64[n & 63]! : '=';
  }
  return out;
}

/**
 * Standard, padded base64, or undefined when `text` is not that. Strict like Rust's `base64::STANDARD` (which
 * the Rust SDK uses): the length is a multiple of 4 and the unused low bits of the last character are zero, unless
 * `allowTrailingBits` (for DingTalk/WeCom console keys, whose last character carries such bits).
 */
export function base64Decode(text: string, options: { allowTrailingBits?: boolean } = {}): Uint8Array | undefined {
  if (text.length % 4 !== 0) return undefined;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const body = text.slice(0, text.length - padding);
  const out = new Uint8Array((body.length * 6) >> 3);
  let bits = 0;
  let acc = 0;
  let at = 0;
  for (const c of body) {
    const v = BASE64_VALUE.get(c);
    if (v === undefined) return undefined;
    acc = ((acc << 6) | v) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (acc >> bits) & 0xff;
    }
  }
  if (!options.allowTrailingBits && (acc & ((1 << bits) - 1)) !== 0) return undefined;
  return out;
}

/** Percent-encodes everything but RFC 3986 unreserved characters (for query values). */
export function urlencode(text: string): string {
  let out = '';
  for (const b of utf8(text)) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export type QueryValue = string | number | boolean | null | undefined;

/**
 * A query string (without `?`) from pairs, keys and values percent-encoded; `undefined` and `null` values are left
 * out, so optional parameters need no `if`: `query({ cursor, size: 100 })`.
 */
export function query(params: Record<string, QueryValue> | Iterable<readonly [string, QueryValue]>): string {
  const pairs = Symbol.iterator in params ? [...(params as Iterable<readonly [string, QueryValue]>)] : Object.entries(params);
  return pairs
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([key, value]) => `${urlencode(key)}=${urlencode(String(value))}`)
    .join('&');
}

/** The value of `name` in a raw query string (`a=1&b=x%20y`), percent-decoded (`+` as a space). */
export function queryParam(queryString: string, name: string): string | undefined {
  for (const pair of queryString.split('&')) {
    const at = pair.indexOf('=');
    const [key, value] = at < 0 ? [pair, ''] : [pair.slice(0, at), pair.slice(at + 1)];
    if (percentDecode(key) === name) return percentDecode(value);
  }
  return undefined;
}

function percentDecode(text: string): string {
  const bytes = utf8(text);
  const out: number[] = [];
  const hexDigit = (b: number | undefined) =>
    b === undefined ? -1 : b >= 48 && b <= 57 ? b - 48 : b >= 65 && b <= 70 ? b - 55 : b >= 97 && b <= 102 ? b - 87 : -1;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const hi = hexDigit(bytes[i + 1]);
    const lo = hexDigit(bytes[i + 2]);
    if (b === 37 && hi >= 0 && lo >= 0) {
      out.push(hi * 16 + lo);
      i += 2;
    } else {
      out.push(b === 43 ? 32 : b);
    }
  }
  return fromUtf8(new Uint8Array(out));
}
