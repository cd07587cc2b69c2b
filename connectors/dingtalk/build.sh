#!/usr/bin/env bash
# Builds this connector: connectors/dingtalk/build.sh OUT_DIR  ->  OUT_DIR/dingtalk.wasm
exec "$(dirname "$0")/../../scripts/build-rust-connector.sh" dingtalk "${1:?usage: build.sh OUT_DIR}"
