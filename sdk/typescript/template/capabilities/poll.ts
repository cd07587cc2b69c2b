// `poll`: events since a cursor, for platforms that cannot call back. Answers `unsupported` until you write it; the
// types are the contract's (wit/deps/connector/connector.wit).
import { implement, unsupported } from '@qiao/connector-sdk';

const todo = (name: string) => unsupported(`poll.${name} is not written yet: see src/capabilities/poll.ts`);

export const poll = implement<typeof import('qiao:connector/poll@0.2.0')>({
  poll(cursor) {
    // The events after `cursor` (undefined the first time) and where to continue; the host persists the cursor.
    throw todo('poll');
  },
});
