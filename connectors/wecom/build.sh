#!/usr/bin/env bash
# Builds this connector: connectors/wecom/build.sh OUT_DIR  ->  OUT_DIR/wecom.wasm
exec "$(dirname "$0")/../../scripts/build-rust-connector.sh" wecom "${1:?usage: build.sh OUT_DIR}"
