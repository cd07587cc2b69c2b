// Jira admin webhooks sign their body WebSub-style: `X-Hub-Signature: sha256=<lowercase hex>`, an HMAC-SHA256 of
// the raw body keyed by the webhook's secret. The method prefix is parsed (Atlassian may change the algorithm);
// only sha256 is accepted. The HMAC is the host's (crypto import), so the key never meets a JS implementation.

import { hex, utf8 } from '@qiao/connector-sdk';
import { hmacSha256 } from 'qiao:connector/crypto@0.2.0';

/** Why a signature header does not verify, or undefined when it does. */
export function signatureProblem(header: string | undefined, body: Uint8Array, secret: string): string | undefined {
  if (header === undefined || header.trim() === '') return 'the request has no X-Hub-Signature header';
  const at = header.indexOf('=');
  const method = at < 0 ? '' : header.slice(0, at).trim().toLowerCase();
  const given = at < 0 ? '' : header.slice(at + 1).trim().toLowerCase();
  if (method !== 'sha256') return `X-Hub-Signature uses method ${JSON.stringify(method.slice(0, 20))}; only sha256 is accepted`;
  if (!/^[0-9a-f]{64}$/.test(given)) return 'X-Hub-Signature is not a sha256 hex digest';
  const expected = hex(hmacSha256(utf8(secret), body));
  return sameText(expected, given) ? undefined : 'X-Hub-Signature does not match the body (wrong webhook_secret, or a forged request)';
}

/** Equal strings, compared in time independent of where they differ. */
function sameText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
