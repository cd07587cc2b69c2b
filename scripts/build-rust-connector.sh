#!/usr/bin/env bash
# Builds a Rust connector crate `qiao-NAME` (connectors/NAME) into OUT_DIR/NAME.wasm:
#   scripts/build-rust-connector.sh NAME OUT_DIR
set -euo pipefail
name=${1:?usage: build-rust-connector.sh NAME OUT_DIR}
out=$(realpath -m "${2:?usage: build-rust-connector.sh NAME OUT_DIR}")
cd "$(dirname "$0")/.."
mkdir -p "$out"
cargo build --quiet --release --target wasm32-wasip2 -p "qiao-$name"
# Copied aside, then renamed: a watched connector directory never sees a half-written file.
cp "target/wasm32-wasip2/release/qiao_$name.wasm" "$out/.$name.wasm.tmp"
mv -f "$out/.$name.wasm.tmp" "$out/$name.wasm"
