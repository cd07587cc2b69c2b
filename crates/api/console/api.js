// The console's only way to the server: the public REST API, with the operator's key as a bearer token. The key
// lives in sessionStorage (this tab only, gone when it closes) and is never written into the page.

const STORAGE = 'qiao.key';
/** Keys are `qiao_<12 hex>_<43 base64url>`; anything much longer is not one. */
export const MAX_KEY_CHARS = 200;

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export const key = () => sessionStorage.getItem(STORAGE);
export const forget = () => sessionStorage.removeItem(STORAGE);
export function remember(value) {
  sessionStorage.setItem(STORAGE, value);
}

/** `path?query`, leaving out empty values. */
export function withQuery(path, query = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** One request; answers the JSON body (or null), or throws an ApiError with the API's error code. */
export async function call(method, path, body, { as } = {}) {
  const headers = { Accept: 'application/json', Authorization: `Bearer ${as ?? key() ?? ''}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store', credentials: 'omit', redirect: 'error',
    });
  } catch (e) {
    throw new ApiError(0, 'unreachable', `cannot reach the server: ${e.message}`);
  }
  const text = await response.text();
  let value = null;
  try { value = text ? JSON.parse(text) : null; } catch { value = null; }
  if (!response.ok) {
    const error = value?.error ?? {};
    const failed = new ApiError(response.status, error.code ?? `http_${response.status}`,
      error.message ?? `${method} ${path} answered ${response.status}`, error.details);
    // A key revoked or expired while the console is open: back to the sign-in screen.
    if (response.status === 401 && !as) window.dispatchEvent(new CustomEvent('qiao:signed-out', { detail: failed }));
    throw failed;
  }
  return value;
}

export const get = (path, query) => call('GET', withQuery(path, query));
export const post = (path, body = {}) => call('POST', path, body);
export const del = path => call('DELETE', path);

/**
 * The `after` cursor of the newest page of a listing read forward by a cursor (`/v1/events`, `/v1/operations`,
 * `/v1/audit`): these list oldest first, so the newest `limit` items are found by searching for the largest
 * `after` that still leaves a full page — about 2·log2(newest id) small requests, whatever the log's size.
 */
export async function newestAfter(path, query, limit, itemsOf) {
  const full = async after => itemsOf(await get(path, { ...query, after, limit })).length >= limit;
  if (!(await full(0))) return 0;
  let lo = 0;
  let hi = 1;
  while (await full(hi)) {
    lo = hi;
    hi *= 2;
    if (hi > Number.MAX_SAFE_INTEGER / 2) break;
  }
  // full(lo) holds, full(hi) does not: narrow until they are neighbours; then exactly `limit` items follow lo.
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (await full(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}
