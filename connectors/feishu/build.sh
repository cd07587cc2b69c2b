#!/usr/bin/env bash
# Builds this connector: connectors/feishu/build.sh OUT_DIR  ->  OUT_DIR/feishu.wasm
exec "$(dirname "$0")/../../scripts/build-rust-connector.sh" feishu "${1:?usage: build.sh OUT_DIR}"
