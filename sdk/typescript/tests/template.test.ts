// The template agrees with the contract and with the toolchain tested here (cheap checks; try-template.sh builds it).

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';

// From .build/tests/ (where this runs).
const sdkDir = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, sdkDir), 'utf8');
const json = (path: string) => JSON.parse(read(path));
const camel = (cap: string) => cap.replace(/-(.)/g, (_, c: string) => c.toUpperCase());

test('a stub for every capability of the contract, exported under its componentize-js name', () => {
  const world = /world connector \{([^}]*)\}/.exec(read('../../wit/v0.2.0/connector.wit'))![1]!;
  const caps = [...world.matchAll(/export ([a-z-]+);/g)].map((m) => m[1]!).filter((c) => c !== 'describe');
  assert.equal(caps.length, 9);
  assert.deepEqual(readdirSync(new URL('template/capabilities/', sdkDir)).sort(), caps.map((c) => `${c}.ts`).sort());
  for (const cap of caps) {
    const source = read(`template/capabilities/${cap}.ts`);
    assert.ok(
      source.includes(`export const ${camel(cap)} = implement<typeof import('qiao:connector/${cap}@0.2.0')>({`),
      `${cap}.ts exports ${camel(cap)}`,
    );
  }
  const index = read('template/src/index.ts');
  assert.ok(index.includes("export { __CAP_CAMEL__ } from './capabilities/__CAP__.js';__EACH_CAPABILITY__"));
});

test("the template pins this toolchain, and its lock file matches its package.json", () => {
  const dev = json('package.json').devDependencies as Record<string, string>;
  const project = json('template/package.json');
  for (const [name, version] of Object.entries(dev)) assert.equal(project.devDependencies[name], version, name);
  assert.deepEqual(project.overrides, json('package.json').overrides);
  const lock = json('template/package-lock.json');
  assert.equal(lock.name, '__NAME__');
  assert.deepEqual(lock.packages[''].devDependencies, project.devDependencies);
  assert.equal(lock.packages['vendor/qiao-connector-sdk'].version, json('package/package.json').version);
  for (const name of Object.keys(project.devDependencies).filter((n) => !n.startsWith('@qiao/'))) {
    assert.equal(lock.packages[`node_modules/${name}`].version, project.devDependencies[name], `${name} locked`);
  }
});
