#!/usr/bin/env bash
# Does by hand what `qiao connectors new NAME --lang typescript --capabilities CAPS` does (see kit.toml and the kit
# conventions), then builds and tests the project with its own commands, and inspects the component:
#   sdk/typescript/try-template.sh OUT_DIR [CAPS]        e.g. /tmp/acme-crm messaging,tasks
# NAME is OUT_DIR's last component (kebab-case); CAPS defaults to messaging, `all` means the nine. OUT_DIR must not
# exist or be empty. Needs Node.js >= 20.6 and npm; the project installs its own toolchain from the npm registry.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$(realpath -m "${1:?usage: try-template.sh OUT_DIR [CAPS]}")
caps=${2:-messaging}
[ "$caps" = all ] && caps=identity,roles,user-status,messaging,approval,tasks,chats,webhook,poll
name=$(basename "$out")
[[ "$name" =~ ^[a-z][a-z0-9-]*$ ]] || { echo "NAME must be kebab-case: $name" >&2; exit 1; }
[ ! -e "$out" ] || [ -z "$(ls -A "$out")" ] || { echo "$out exists and is not empty" >&2; exit 1; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)

# Copy with substitutions: the scaffolder's job, in Node (which the project needs anyway).
NAME="$name" CAPS="$caps" QIAO_VERSION="$version" node --input-type=module - "$here/template" "$here/package" "$root/wit/v0.2.0" "$out" <<'JS'
import { cpSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
const [template, sdk, contract, out] = process.argv.slice(2);
const name = process.env.NAME;
const caps = process.env.CAPS.split(',');
const words = (s) => s.split('-');
const pascal = (s) => words(s).map((w) => w[0].toUpperCase() + w.slice(1)).join('');
const camel = (s) => pascal(s)[0].toLowerCase() + pascal(s).slice(1);
const kit = Object.fromEntries(
  readFileSync(join(template, 'kit.toml'), 'utf8').split('\n')
    .map((line) => /^(\w+)\s*=\s*"([^"]*)"/.exec(line)).filter(Boolean).map((m) => [m[1], m[2]]),
);
const vars = (text) => text
  .replaceAll('__NAME_SNAKE__', name.replaceAll('-', '_')).replaceAll('__NAME_PASCAL__', pascal(name))
  .replaceAll('__NAME__', name).replaceAll('__CONTRACT__', '0.2.0').replaceAll('__QIAO_VERSION__', process.env.QIAO_VERSION);
const capVars = (text, cap) => text
  .replaceAll('__CAP_SNAKE__', cap.replaceAll('-', '_')).replaceAll('__CAP_CAMEL__', camel(cap))
  .replaceAll('__CAP_PASCAL__', pascal(cap)).replaceAll('__CAP__', cap);
const substitute = (text) => text.split('\n').flatMap((line) =>
  line.includes('__EACH_CAPABILITY__')
    ? caps.map((cap) => vars(capVars(line.replace('__EACH_CAPABILITY__', ''), cap)))
    : [vars(line)]).join('\n');
const write = (path, text) => { mkdirSync(dirname(path), { recursive: true }); writeFileSync(path, text); };
const walk = (dir) => readdirSync(dir).flatMap((f) => statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)]);

for (const file of walk(template)) {
  const rel = relative(template, file);
  if (rel === 'kit.toml' || rel.startsWith('capabilities/')) continue;
  write(join(out, rel), substitute(readFileSync(file, 'utf8')));
}
for (const cap of caps) {
  write(join(out, kit.capabilities_dir, `${cap}.ts`), substitute(readFileSync(join(template, 'capabilities', `${cap}.ts`), 'utf8')));
}
cpSync(sdk, join(out, kit.sdk_dir), { recursive: true, filter: (src) => !src.includes('node_modules') });
write(join(out, kit.wit_dir, 'world.wit'), [
  `package vendor:${name};`, `world ${name} {`, '    include qiao:connector/host@0.2.0;',
  '    export qiao:connector/describe@0.2.0;', ...caps.map((cap) => `    export qiao:connector/${cap}@0.2.0;`), '}', '',
].join('\n'));
for (const f of readdirSync(contract)) cpSync(join(contract, f), join(out, kit.wit_dir, 'deps', 'connector', f));

JS
build=$(sed -n 's/^build = "\([^"]*\)".*/\1/p' "$here/template/kit.toml")
cd "$out"
echo "== $name ($caps): $build"
start=$(date +%s%N)
bash -c "$build"
end=$(date +%s%N)
echo "== build took $(( (end - start) / 1000000 )) ms; $name.wasm is $(stat -c %s "$name.wasm") bytes"
echo "== npm test"
npm test
qiao="$root/target/debug/qiao"
if [ -x "$qiao" ]; then
  echo "== qiao connectors inspect"
  "$qiao" connectors inspect "$name.wasm"
fi
