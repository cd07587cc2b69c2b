// `tasks`: tasks and to-dos. Every function answers `unsupported` until you write it; the types are the contract's
// (wit/deps/connector/connector.wit).
import { implement, unsupported } from '@qiao/connector-sdk';

const todo = (name: string) => unsupported(`tasks.${name} is not written yet: see src/capabilities/tasks.ts`);

export const tasks = implement<typeof import('qiao:connector/tasks@0.2.0')>({
  create(task, idempotencyKey) {
    throw todo('create');
  },
  get(id) {
    throw todo('get');
  },
  update(id, changes) {
    throw todo('update');
  },
  moveTo(id, target) {
    // `target.tag` is 'status' (a category) or 'transition' (a named workflow transition).
    throw todo('moveTo');
  },
  complete(id) {
    throw todo('complete');
  },
  reopen(id) {
    throw todo('reopen');
  },
  comment(id, text, author) {
    throw todo('comment');
  },
  list(query) {
    // At most `query.limit` tasks and the next cursor; a cursor must never repeat.
    throw todo('list');
  },
});
