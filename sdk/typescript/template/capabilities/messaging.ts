// `messaging`: messages to people (work notifications, cards, urgent reminders). Every function answers
// `unsupported` until you write it; the types are the contract's (wit/deps/connector/connector.wit).
import { implement, unsupported } from '@qiao/connector-sdk';

const todo = (name: string) => unsupported(`messaging.${name} is not written yet: see src/capabilities/messaging.ts`);

export const messaging = implement<typeof import('qiao:connector/messaging@0.2.0')>({
  send(message) {
    // Deliver `message.content` to `message.to` (render `message.mentions` in the platform's syntax); answer the
    // platform's message id, and a `problems` entry per recipient it refused.
    throw todo('send');
  },
  recall(messageId) {
    throw todo('recall');
  },
  readStatus(messageId) {
    throw todo('readStatus');
  },
});
