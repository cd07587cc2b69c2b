// `roles`: the platform's roles, tags or user groups, which the enterprise's roles map to. Every function answers
// `unsupported` until you write it; the types are the contract's (wit/deps/connector/connector.wit).
import { implement, unsupported } from '@qiao/connector-sdk';

const todo = (name: string) => unsupported(`roles.${name} is not written yet: see src/capabilities/roles.ts`);

export const roles = implement<typeof import('qiao:connector/roles@0.2.0')>({
  listRoles() {
    throw todo('listRoles');
  },
  createRole(name) {
    throw todo('createRole');
  },
  listMembers(roleId) {
    throw todo('listMembers');
  },
  addMembers(roleId, userIds) {
    // Split long lists into the batches the platform accepts; users holding the role already are no error.
    throw todo('addMembers');
  },
  removeMembers(roleId, userIds) {
    throw todo('removeMembers');
  },
});
