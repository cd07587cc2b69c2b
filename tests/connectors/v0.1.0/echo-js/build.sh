#!/usr/bin/env bash
# Builds the JavaScript echo connector with componentize-js: a compatibility fixture, frozen at contract 0.1.0
# (every future host must keep loading it), which scripts/build-connectors.sh builds into target/test-connectors.
#   tests/connectors/v0.1.0/echo-js/build.sh TEST_OUT_DIR
# Writes TEST_OUT_DIR/echo-js.wasm. Needs Node.js >= 20 with npm; the toolchain is the exact version pinned in
# package-lock.json, installed with `npm ci` into node_modules/ here when that is missing or was installed from a
# different lock file. package.json overrides componentize-js's @bytecodealliance/jco (^1.15.1) to 1.24.6: newer jco
# pulls in rolldown and componentize-qjs, whose per-platform optional packages the registry mirror here does not
# serve, which leaves a lock file that `npm ci` rejects (and jco 1.24.6 is all componentize-js needs: component-new,
# metadata-add and the preview1 adapter). The world is wit/world.wit; wit/deps/connector is a symlink to the
# frozen contract wit/v0.1.0 at the repository root.
# Features `http` (fetch) and `fetch-event` are disabled, so the component imports no wasi:http: its only way out is
# the host's qiao:connector/http import. To see what it imports and exports:
#   node_modules/.bin/jco wit TEST_OUT_DIR/echo-js.wasm
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
out=$(realpath -m "${1:?usage: build.sh TEST_OUT_DIR}")

command -v node >/dev/null && command -v npm >/dev/null || { echo "echo-js needs node and npm on PATH" >&2; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || { echo "echo-js needs Node.js >= 20 (found $(node --version))" >&2; exit 1; }

cd "$here"
source "$root/scripts/unchanged.sh"
inputs=(app.js package.json package-lock.json build.sh wit/world.wit "$root/wit/v0.1.0")
if unchanged "$out/echo-js.wasm" "${inputs[@]}"; then
  echo "echo-js.wasm is up to date"
  exit 0
fi
# The stamp records which package.json + package-lock.json node_modules/ was installed from.
stamp=node_modules/.echo-js-installed
want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [ ! -d node_modules ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing the echo-js toolchain (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

mkdir -p "$out"
tmp="$out/.echo-js.wasm.tmp"
trap 'rm -f "$tmp"' EXIT
node node_modules/@bytecodealliance/componentize-js/src/cli.js app.js \
  --wit wit --world-name echo-js --disable http fetch-event --out "$tmp"
# Renamed into place so a connector directory being watched never sees a half-written file.
mv -f "$tmp" "$out/echo-js.wasm"
record "$out/echo-js.wasm" "${inputs[@]}"
