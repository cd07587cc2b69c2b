// `user-status`: turning an account off and on without deleting it. Answers `unsupported` until you write it; the
// types are the contract's (wit/deps/connector/connector.wit).
import { implement, unsupported } from '@qiao/connector-sdk';

const todo = (name: string) => unsupported(`user-status.${name} is not written yet: see src/capabilities/user-status.ts`);

export const userStatus = implement<typeof import('qiao:connector/user-status@0.2.0')>({
  setActive(userId, active) {
    throw todo('setActive');
  },
});
