#!/usr/bin/env bash
# Builds the Jira connector, a TypeScript project made with `qiao connectors new` as any vendor would make one:
#   plugins/jira/build.sh OUT_DIR      ->  OUT_DIR/jira.wasm (scripts/build-connectors.sh calls it)
#   plugins/jira/build.sh --test       ->  its unit tests (npm test: node --test against the SDK's fake host)
# Needs Node.js >= 20.6 with npm. The toolchain is the exact one package-lock.json pins, installed with `npm ci`
# (from npm's cache when it can) into node_modules/ here when missing or installed from a different lock file.
# componentize-js is slow and its output not byte-reproducible, so an unchanged project is not rebuilt (a new file
# would make Qiao compile it again): the inputs' hash is kept next to the output as .jira.wasm.inputs.
# Self-contained on purpose: it uses nothing of the Qiao repository but the SDK vendored in vendor/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
case "${1:-}" in
  --test) out= ;;
  "") echo "usage: build.sh OUT_DIR | build.sh --test" >&2; exit 2 ;;
  *) out=$(realpath -m "$1") ;;   # before the cd: OUT_DIR may be relative to the caller's directory
esac
cd "$here"

command -v node >/dev/null && command -v npm >/dev/null || { echo "the jira connector needs node and npm on PATH" >&2; exit 1; }
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 6) ? 0 : 1)' \
  || { echo "the jira connector needs Node.js >= 20.6 (found $(node --version))" >&2; exit 1; }

install() {
  # The stamp records which package.json + package-lock.json node_modules/ was installed from.
  local stamp=node_modules/.jira-installed want
  want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
  if [ ! -d node_modules ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "installing the jira connector's toolchain (npm ci)"
    npm ci --prefer-offline --no-audit --no-fund --loglevel=error
    echo "$want" > "$stamp"
  fi
}

if [ -z "$out" ]; then
  install
  exec npm test --silent
fi

inputs=(build.sh build.mjs package.json package-lock.json tsconfig.json src vendor wit)
hash=$({ find "${inputs[@]}" -type f -print0 | sort -z | xargs -0 sha256sum; } | sha256sum | cut -d' ' -f1)
if [ -f "$out/jira.wasm" ] && [ "$(cat "$out/.jira.wasm.inputs" 2>/dev/null)" = "$hash" ]; then
  echo "jira.wasm is up to date"
  exit 0
fi
install
npm run build --silent
mkdir -p "$out"
# Copied aside, then renamed: a watched connector directory never sees a half-written file.
cp jira.wasm "$out/.jira.wasm.tmp"
mv -f "$out/.jira.wasm.tmp" "$out/jira.wasm"
echo "$hash" > "$out/.jira.wasm.inputs"
