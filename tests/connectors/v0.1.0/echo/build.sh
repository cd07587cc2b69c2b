#!/usr/bin/env bash
# Builds the frozen contract-0.1.0 Rust echo connector (a compatibility fixture):
#   tests/connectors/v0.1.0/echo/build.sh TEST_OUT_DIR -> TEST_OUT_DIR/echo-v0.1.0.wasm
set -euo pipefail
out=$(realpath -m "${1:?usage: build.sh TEST_OUT_DIR}")
cd "$(dirname "$0")/../../../.."
cargo build --quiet --release --target wasm32-wasip2 -p qiao-echo-v0-1-0
mkdir -p "$out"
# Copied aside, then renamed: a watched connector directory never sees a half-written file.
cp target/wasm32-wasip2/release/qiao_echo_v0_1_0.wasm "$out/.echo-v0.1.0.wasm.tmp"
mv -f "$out/.echo-v0.1.0.wasm.tmp" "$out/echo-v0.1.0.wasm"
