#!/usr/bin/env bash
# Builds the Rust echo connector: connectors/echo/build.sh OUT_DIR [TEST_OUT_DIR]
#   OUT_DIR/echo.wasm          the connector
#   TEST_OUT_DIR/echo-v2.wasm  the same, reporting version 2.0.0 (for the hot-reload test)
set -euo pipefail
out=$(realpath -m "${1:?usage: build.sh OUT_DIR [TEST_OUT_DIR]}")
test_out=$(realpath -m "${2:-$out}")
cd "$(dirname "$0")/../.."
mkdir -p "$out" "$test_out"
# Copied aside, then renamed: a watched connector directory never sees a half-written file.
install_as() {
  cp target/wasm32-wasip2/release/qiao_echo.wasm "$(dirname "$1")/.$(basename "$1").tmp"
  mv -f "$(dirname "$1")/.$(basename "$1").tmp" "$1"
}
cargo build --quiet --release --target wasm32-wasip2 -p qiao-echo
install_as "$out/echo.wasm"
cargo build --quiet --release --target wasm32-wasip2 -p qiao-echo --features v2
install_as "$test_out/echo-v2.wasm"
