// `approval`: approval workflows (and, for ERP, bills that go through approval). Every function answers
// `unsupported` until you write it; the types are the contract's (wit/deps/connector/connector.wit).
import { implement, unsupported } from '@qiao/connector-sdk';

const todo = (name: string) => unsupported(`approval.${name} is not written yet: see src/capabilities/approval.ts`);

export const approval = implement<typeof import('qiao:connector/approval@0.2.0')>({
  create(request) {
    throw todo('create');
  },
  get(id, template) {
    throw todo('get');
  },
  act(request) {
    throw todo('act');
  },
  cancel(request) {
    throw todo('cancel');
  },
  remind(request) {
    // Platforms without reminders answer `unsupported` with the reason.
    throw todo('remind');
  },
});
