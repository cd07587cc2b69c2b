// Builds jira.wasm (`npm run build`) or runs the unit tests (`npm test`). One Node script, so it runs the same
// on Linux, macOS and Windows; every tool is the exact version package-lock.json pins.
//
//   build: WIT -> TypeScript declarations (jco guest-types) -> type-check (tsc) -> one ES module (esbuild, the host's
//          `qiao:*` imports left as imports) -> WebAssembly component (componentize-js) -> jira.wasm
//   test:  the same declarations -> type-check src/ and tests/ -> bundle each tests/*.test.ts for Node -> node --test,
//          with the SDK's fake host standing in for the `qiao:*` imports

import { spawnSync } from 'node:child_process';
import { readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const NAME = 'jira';
const started = Date.now();

/** Runs Node on a script (a tool's entry point: no shell, no node_modules/.bin, so it works on Windows too). */
function node(...args) {
  const result = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

/** A tool's entry point; its package's `exports` hide it from require.resolve, npm installs it here. */
const tool = (pkg, file) => join('node_modules', pkg, file);

function generateTypes() {
  // Declarations for `qiao:connector/*@0.2.0` from the world in wit/, so an editor completes the imports and tsc
  // checks each export against its interface. Generated at every build: they never go stale.
  rmSync('generated', { recursive: true, force: true });
  node(tool('@bytecodealliance/jco', 'src/jco.js'), 'guest-types', 'wit', '--world-name', NAME, '-o', 'generated', '-q');
}

const tsc = (project) => node(tool('typescript', 'bin/tsc'), '-p', project);

async function build() {
  generateTypes();
  tsc('tsconfig.json');
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: ['src/index.ts'],
    outfile: `build/${NAME}.js`,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    // The host's interfaces: componentize-js binds these imports to the WIT imports of the world.
    external: ['qiao:*'],
    logLevel: 'warning',
  });
  const { componentize } = await import('@bytecodealliance/componentize-js');
  const { component } = await componentize({
    sourcePath: `build/${NAME}.js`,
    witPath: 'wit',
    worldName: NAME,
    // No wasi:http (fetch): the only way out is the host's qiao:connector/http import, which the sandbox allows.
    disableFeatures: ['http', 'fetch-event'],
  });
  // Renamed into place, so a connector directory being watched never sees a half-written file.
  writeFileSync(`${NAME}.wasm.tmp`, component);
  renameSync(`${NAME}.wasm.tmp`, `${NAME}.wasm`);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`${NAME}.wasm: ${(component.length / 1024 / 1024).toFixed(1)} MiB in ${seconds}s`);
  console.log(`check it: qiao connectors test ${NAME}.wasm`);
}

async function test() {
  generateTypes();
  tsc('tests/tsconfig.json');
  const files = readdirSync('tests').filter((f) => f.endsWith('.test.ts'));
  const esbuild = await import('esbuild');
  rmSync('build/tests', { recursive: true, force: true });
  await esbuild.build({
    entryPoints: files.map((f) => `tests/${f}`),
    outdir: 'build/tests',
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: ['qiao:*'],
    logLevel: 'warning',
  });
  const register = '@qiao/connector-sdk/testing/register';
  node('--import', register, '--test', ...files.map((f) => `build/tests/${f.replace(/\.ts$/, '.js')}`));
}

await (process.argv[2] === 'test' ? test() : build());
