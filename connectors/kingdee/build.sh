#!/usr/bin/env bash
# Builds this connector: connectors/kingdee/build.sh OUT_DIR  ->  OUT_DIR/kingdee.wasm
exec "$(dirname "$0")/../../scripts/build-rust-connector.sh" kingdee "${1:?usage: build.sh OUT_DIR}"
