#!/usr/bin/env bash
# Builds the Feishu connector: plugins/feishu/build.sh OUT_DIR  ->  OUT_DIR/feishu.wasm
set -euo pipefail
out=$(realpath -m "${1:?usage: build.sh OUT_DIR}")
cd "$(dirname "$0")/../.."
mkdir -p "$out"
cargo build --quiet --release --target wasm32-wasip2 -p qiao-feishu
# Copied aside, then renamed: a watched plugins directory never sees a half-written file.
cp target/wasm32-wasip2/release/qiao_feishu.wasm "$out/.feishu.wasm.tmp"
mv -f "$out/.feishu.wasm.tmp" "$out/feishu.wasm"
