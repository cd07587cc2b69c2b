// `node --import @qiao/connector-sdk/testing/register`: lets Node import `qiao:connector/*` (see hooks.mjs).
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
