#!/usr/bin/env bash
# Builds every connector from source into WebAssembly components.
#   scripts/build-connectors.sh [OUT_DIR] [TEST_OUT_DIR]
# OUT_DIR (default target/connectors) gets the bundled connectors, ready for `qiao serve --connectors-dir`.
# TEST_OUT_DIR (default target/test-connectors) gets the fixtures only tests use (hostile, echo v2, and the
# connectors frozen at each released contract, tests/connectors/vX.Y.Z/*: echo-v0.1.0, echo-js, echo-py).
# Each connector folder has a build.sh taking the output directory; this script only runs them in turn.
# plugins/NAME/ holds connectors written the way a third party writes one (its own project, made with
# `qiao connectors new`, signed by its own publisher: see scripts/sign-connectors.sh); built into OUT_DIR too.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$root/target/connectors}")
test_out=$(realpath -m "${2:-$root/target/test-connectors}")
mkdir -p "$out" "$test_out"
rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2

for dir in "$root"/connectors/*/; do
  if [ -x "$dir/build.sh" ]; then
    echo "==> building connector $(basename "$dir")"
    "$dir/build.sh" "$out" "$test_out"
  fi
done
for dir in "$root"/plugins/*/; do
  if [ -x "$dir/build.sh" ]; then
    echo "==> building plugin connector $(basename "$dir")"
    "$dir/build.sh" "$out"
  fi
done
for dir in "$root"/tests/connectors/*/ "$root"/tests/connectors/v*/*/; do
  if [ -x "$dir/build.sh" ]; then
    rel=${dir#"$root"/tests/connectors/}
    echo "==> building test connector ${rel%/}"
    "$dir/build.sh" "$test_out"
  fi
done
ls -l "$out" "$test_out"
