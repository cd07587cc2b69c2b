#!/usr/bin/env bash
# Builds the hostile test connector: tests/connectors/hostile/build.sh TEST_OUT_DIR -> TEST_OUT_DIR/hostile.wasm
set -euo pipefail
out=$(realpath -m "${1:?usage: build.sh TEST_OUT_DIR}")
cd "$(dirname "$0")/../../.."
cargo build --quiet --release --target wasm32-wasip2 -p qiao-hostile
mkdir -p "$out"
cp target/wasm32-wasip2/release/qiao_hostile.wasm "$out/.hostile.wasm.tmp"
mv -f "$out/.hostile.wasm.tmp" "$out/hostile.wasm"
