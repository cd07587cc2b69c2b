// `identity`: the organisation directory (departments, users) and single sign-on. Every function answers
// `unsupported` until you write it; the types are the contract's (wit/deps/connector/connector.wit).
import { implement, unsupported } from '@qiao/connector-sdk';

const todo = (name: string) => unsupported(`identity.${name} is not written yet: see src/capabilities/identity.ts`);

export const identity = implement<typeof import('qiao:connector/identity@0.2.0')>({
  listDepartments(parentId, recursive) {
    // Children of `parentId` (the root when undefined), or the whole subtree when `recursive`.
    throw todo('listDepartments');
  },
  getDepartment(id) {
    throw todo('getDepartment');
  },
  createDepartment(fields, idempotencyKey) {
    throw todo('createDepartment');
  },
  updateDepartment(id, fields) {
    throw todo('updateDepartment');
  },
  deleteDepartment(id) {
    throw todo('deleteDepartment');
  },
  listUsers(departmentId, cursor, limit) {
    // One page of at most `limit` users, and the cursor of the next page (undefined on the last one).
    throw todo('listUsers');
  },
  getUser(id) {
    throw todo('getUser');
  },
  findUser(key) {
    // `key.tag` is 'mobile', 'email' or 'union-id'; answer the user's id.
    throw todo('findUser');
  },
  createUser(fields, idempotencyKey) {
    throw todo('createUser');
  },
  updateUser(id, fields) {
    // `fields.clear` lists fields to remove; one both set and cleared is invalid input.
    throw todo('updateUser');
  },
  deleteUser(id) {
    throw todo('deleteUser');
  },
  ssoAuthorizeUrl(redirectUri, state, flow) {
    throw todo('ssoAuthorizeUrl');
  },
  ssoResolve(request) {
    throw todo('ssoResolve');
  },
  loginUrl(userId, target) {
    // Only for systems that trust Qiao as an identity broker; chat platforms answer `unsupported`.
    throw todo('loginUrl');
  },
});
