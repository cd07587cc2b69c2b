// `webhook`: the platform's event callbacks, received by the host at `/v1/hooks/{connection}`. Answers
// `unsupported` until you write it; the types are the contract's (wit/deps/connector/connector.wit).
import { implement, unsupported } from '@qiao/connector-sdk';

const todo = (name: string) => unsupported(`webhook.${name} is not written yet: see src/capabilities/webhook.ts`);

export const webhook = implement<typeof import('qiao:connector/webhook@0.2.0')>({
  handle(request) {
    // Verify the platform's signature over `request.body` first (DingTalk/WeCom: `MsgCrypt` from the SDK) and
    // refuse with `unauthorized` what does not verify; then answer the platform's expected response and the
    // normalised events.
    throw todo('handle');
  },
});
