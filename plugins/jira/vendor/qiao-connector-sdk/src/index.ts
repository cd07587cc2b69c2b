// @qiao/connector-sdk: the helpers every Qiao connector written in TypeScript needs, with the same concepts and
// names as the Rust SDK (`qiao-sdk`): errors, JSON over the host's `http`, JSON in `kv`, logging, cached access
// tokens, the DingTalk/WeCom callback crypto, config checks, query strings and pagination.
//
// The host's imports themselves (`qiao:connector/http@0.2.0`...) are typed by the declarations a project generates
// from its WIT (`jco guest-types`); this package uses them and needs nothing else from the runtime.

export * from './errors.js';
export * from './config.js';
export * from './text.js';
export { implement } from './implement.js';
export { paginate, type Page, type PaginateOptions } from './paginate.js';
export { MsgCrypt, nonce } from './msgCrypt.js';
export * as jsonHttp from './jsonHttp.js';
export * as jsonKv from './jsonKv.js';
export * as logging from './logging.js';
export * as token from './token.js';
export * as msgCrypt from './msgCrypt.js';
