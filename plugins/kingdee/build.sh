#!/usr/bin/env bash
# Builds the Kingdee connector: plugins/kingdee/build.sh OUT_DIR  ->  OUT_DIR/kingdee.wasm
set -euo pipefail
out=$(realpath -m "${1:?usage: build.sh OUT_DIR}")
cd "$(dirname "$0")/../.."
mkdir -p "$out"
cargo build --quiet --release --target wasm32-wasip2 -p qiao-kingdee
# Copied aside, then renamed: a watched plugins directory never sees a half-written file.
cp target/wasm32-wasip2/release/qiao_kingdee.wasm "$out/.kingdee.wasm.tmp"
mv -f "$out/.kingdee.wasm.tmp" "$out/kingdee.wasm"
