#!/usr/bin/env bash
# Type-checks and unit-tests the TypeScript connector SDK (package/) and the template's capability stubs:
#   sdk/typescript/run-tests.sh
# Needs Node.js >= 20.6 with npm. The toolchain is the exact one pinned in package-lock.json, installed with
# `npm ci` into node_modules/ here when missing or installed from a different lock file. The host's import
# declarations are generated from the contract (wit/v0.2.0 at the repository root) with `jco guest-types`, as a
# connector project generates them from its own wit/, so nothing generated is committed to go stale.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$here"

command -v node >/dev/null && command -v npm >/dev/null || { echo "the TypeScript SDK tests need node and npm on PATH" >&2; exit 1; }
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 6) ? 0 : 1)' \
  || { echo "the TypeScript SDK tests need Node.js >= 20.6 (found $(node --version))" >&2; exit 1; }

# The stamp records which package.json + package-lock.json node_modules/ was installed from.
stamp=node_modules/.qiao-sdk-installed
want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [ ! -d node_modules ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing the TypeScript SDK toolchain (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

# The full contract world (every capability exported), so the SDK and every stub are checked against all of it.
rm -rf .generated .build
node node_modules/@bytecodealliance/jco/src/jco.js guest-types "$root/wit/v0.2.0" --world-name connector -o .generated -q
tsc() { node node_modules/typescript/bin/tsc "$@"; }
tsc -p tsconfig.json            # the SDK as a component compiles it: no Node, no DOM
tsc -p tsconfig.template.json   # the template's stubs implement every function of their interface
tsc -p tests/tsconfig.json      # tests + fake host + SDK, emitted to .build/

# The fake host stands in for the imports (package/src/testing: hooks resolve `qiao:connector/*` to it).
node --import ./package/src/testing/register.mjs --test .build/tests/*.test.js
