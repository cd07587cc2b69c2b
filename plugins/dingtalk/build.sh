#!/usr/bin/env bash
# Builds the DingTalk connector: plugins/dingtalk/build.sh OUT_DIR  ->  OUT_DIR/dingtalk.wasm
set -euo pipefail
out=$(realpath -m "${1:?usage: build.sh OUT_DIR}")
cd "$(dirname "$0")/../.."
mkdir -p "$out"
cargo build --quiet --release --target wasm32-wasip2 -p qiao-dingtalk
# Copied aside, then renamed: a watched plugins directory never sees a half-written file.
cp target/wasm32-wasip2/release/qiao_dingtalk.wasm "$out/.dingtalk.wasm.tmp"
mv -f "$out/.dingtalk.wasm.tmp" "$out/dingtalk.wasm"
