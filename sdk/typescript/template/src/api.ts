// Calls to the platform's API: where it is, how to authenticate, and what its failures mean in the contract's
// terms. A starting point: adapt it to the platform (its error bodies, its token endpoint: see `token.withToken`).

import { conflict, forbidden, invalidInput, internal, jsonHttp, notFound, rateLimited, requireConfig, unauthorized, unavailable } from '@qiao/connector-sdk';
import { get as config } from 'qiao:connector/config@0.2.0';

/** The platform's answer as JSON, or the contract error its status means. */
export function call<T = unknown>(method: jsonHttp.Method, path: string, body?: unknown): T {
  const base = requireConfig('api_base').replace(/\/+$/, '');
  const token = config('token');
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = jsonHttp.send(method, `${base}${path}`, headers, body);
  if (response.isSuccess()) return response.status === 204 ? (undefined as T) : response.json<T>();
  throw statusError(response);
}

function statusError(response: jsonHttp.Response) {
  const what = `${response.status} from the platform`;
  const detail = { platformCode: response.status, platformMessage: response.text().slice(0, 500) };
  switch (response.status) {
    case 400:
    case 422:
      return invalidInput(what, detail);
    case 401:
      return unauthorized(what, detail);
    case 403:
      return forbidden(what, detail);
    case 404:
      return notFound(what, detail);
    case 409:
      return conflict(what, detail);
    case 429: {
      const seconds = Number(response.header('retry-after'));
      return rateLimited(what, Number.isFinite(seconds) ? seconds * 1000 : undefined, detail);
    }
    default:
      return response.status >= 500 ? unavailable(what, detail) : internal(what, detail);
  }
}
