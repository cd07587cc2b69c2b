// `webhook`: Jira admin webhooks (Settings → System → WebHooks, or POST /rest/webhooks/1.0/webhook) created with a
// secret, delivered to /v1/hooks/{connection}. Nothing is believed before the signature verifies: an unsigned or
// forged request is refused (the host answers 401) and yields no events. Dynamic webhooks of OAuth apps carry a
// JWT instead of a signature and are not accepted here.

import { fromUtf8Strict, implement, invalidInput, unauthorized } from '@qiao/connector-sdk';
import { get } from 'qiao:connector/config@0.2.0';
import type { Response } from 'qiao:connector/webhook@0.2.0';
import { toEvents, type Payload } from '../events.js';
import { signatureProblem } from '../signature.js';

const OK: Response = { status: 200, headers: [['content-type', 'text/plain']], body: new Uint8Array() };

export const webhook = implement<typeof import('qiao:connector/webhook@0.2.0')>({
  handle(request) {
    const secret = get('webhook_secret');
    if (!secret) throw unauthorized('webhook_secret is not configured: Jira webhooks are refused until it is (create the webhook with a secret)');
    const header = (name: string) => request.headers.find(([k]) => k === name)?.[1];
    const problem = signatureProblem(header('x-hub-signature'), request.body, secret);
    if (problem !== undefined) throw unauthorized(problem);
    const text = fromUtf8Strict(request.body);
    let payload: unknown;
    try {
      payload = text === undefined ? undefined : JSON.parse(text);
    } catch {
      payload = undefined;
    }
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      throw invalidInput('the webhook body is not a JSON object');
    }
    const p = payload as Payload;
    const delivery = header('x-atlassian-webhook-identifier')?.trim();
    const id = delivery && delivery.length <= 200
      ? delivery
      : `${p.webhookEvent ?? 'event'}:${p.issue?.id ?? ''}:${p.comment?.id ?? p.changelog?.id ?? ''}:${p.timestamp ?? ''}`;
    return { response: OK, events: toEvents(p, id) };
  },
});
