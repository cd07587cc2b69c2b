#!/usr/bin/env bash
# Builds the WeCom connector: plugins/wecom/build.sh OUT_DIR  ->  OUT_DIR/wecom.wasm
set -euo pipefail
out=$(realpath -m "${1:?usage: build.sh OUT_DIR}")
cd "$(dirname "$0")/../.."
mkdir -p "$out"
cargo build --quiet --release --target wasm32-wasip2 -p qiao-wecom
# Copied aside, then renamed: a watched plugins directory never sees a half-written file.
cp target/wasm32-wasip2/release/qiao_wecom.wasm "$out/.wecom.wasm.tmp"
mv -f "$out/.wecom.wasm.tmp" "$out/wecom.wasm"
