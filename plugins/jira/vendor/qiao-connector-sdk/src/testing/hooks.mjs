// Node module hooks that resolve the host's imports (`qiao:connector/<interface>@0.2.0`) to tiny modules calling
// the installed FakeHost (see index.ts), so a connector's code runs in Node unchanged. Plain JavaScript: Node loads
// it before any TypeScript is compiled. Installed by register.mjs.

// The functions of each host interface, as componentize-js names them (camelCase).
const FUNCTIONS = {
  config: ['get', 'connection'],
  crypto: ['sha1', 'sha256', 'hmacSha256', 'aes256CbcEncrypt', 'aes256CbcDecrypt', 'randomBytes', 'rsaEncrypt'],
  http: ['send'],
  kv: ['get', 'set', 'delete'],
  log: ['log'],
  types: [],
};
const CONTRACT = '0.2.0';
const IMPORT = /^qiao:connector\/([a-z][a-z-]*)@(\d+\.\d+\.\d+)$/;

export async function resolve(specifier, context, nextResolve) {
  if (specifier.startsWith('qiao:')) return { url: specifier, shortCircuit: true };
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('qiao:')) return nextLoad(url, context);
  const [, name, version] = IMPORT.exec(url) ?? [];
  const functions = FUNCTIONS[name];
  if (functions === undefined || version !== CONTRACT) {
    throw new Error(`${url}: the fake host serves qiao:connector/{${Object.keys(FUNCTIONS)}}@${CONTRACT} only`);
  }
  const source = [
    `const host = () => {`,
    `  const h = globalThis[Symbol.for('qiao.connector.fakeHost')];`,
    `  if (!h) throw new Error('${url}: no fake host installed (call FakeHost.install() first)');`,
    `  return h.imports[${JSON.stringify(name)}];`,
    `};`,
    ...functions.map((f) => `function _${f}(...args) { return host()[${JSON.stringify(f)}](...args); }\nexport { _${f} as ${f} };`),
  ].join('\n');
  return { format: 'module', source, shortCircuit: true };
}
