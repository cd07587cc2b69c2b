// `chats`: group chats. Every function answers `unsupported` until you write it; the types are the contract's
// (wit/deps/connector/connector.wit).
import { implement, unsupported } from '@qiao/connector-sdk';

const todo = (name: string) => unsupported(`chats.${name} is not written yet: see src/capabilities/chats.ts`);

export const chats = implement<typeof import('qiao:connector/chats@0.2.0')>({
  create(chat, idempotencyKey) {
    throw todo('create');
  },
  get(id) {
    throw todo('get');
  },
  addMembers(chatId, userIds) {
    throw todo('addMembers');
  },
  removeMembers(chatId, userIds) {
    throw todo('removeMembers');
  },
});
