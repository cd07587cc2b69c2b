// The __NAME__ connector: what it is (describe) and the capabilities it exports. componentize-js takes each export
// named after a WIT interface of the world in wit/world.wit (`user-status` is `userStatus`) as that interface.
// The import/export types come from the contract: `npm run build` generates them into generated/ (jco guest-types).

import type { Info } from 'qiao:connector/describe@0.2.0';

export const describe: typeof import('qiao:connector/describe@0.2.0') = {
  describe(): Info {
    return {
      id: '__NAME__',
      name: '__NAME_PASCAL__',
      version: '0.1.0',
      vendor: 'TODO: your company',
      platform: '__NAME__',
      // Host names the connector reaches over https (no scheme, port or wildcard), e.g. `api.example.com`. The
      // operator grants them per connection. Empty: only the `api_base` the operator configures is reachable.
      hosts: [],
      config: [
        {
          key: 'api_base',
          description: 'Base URL of the platform API, e.g. https://api.example.com',
          required: true,
          secret: false,
          // The host adds its origin to this connection's allow-list; point it at a simulator in tests.
          apiBase: true,
        },
        { key: 'token', description: 'API token, sent as a bearer token', required: false, secret: true, apiBase: false },
      ],
      // The platform's documented request rates, e.g. { operation: '*', perSecond: 20, source: 'API docs: 20 QPS' }.
      rateHints: [],
    };
  },
};

export { __CAP_CAMEL__ } from './capabilities/__CAP__.js';__EACH_CAPABILITY__
