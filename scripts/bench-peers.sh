#!/usr/bin/env bash
# The peers of the throughput bench (tests/benches/throughput.rs): a virtualenv with the official Feishu Python
# SDK, lark-oapi, pinned so that runs on different days measure the same client. Installed once; later runs only
# check it. Prints the virtualenv's python on the last line of its output (the bench runs the peer script with it).
#
#   scripts/bench-peers.sh            # target/bench-venv
#   QIAO_BENCH_VENV=DIR scripts/bench-peers.sh
#
# Needs python3 with the venv module (Debian: python3-venv) and PyPI.
set -euo pipefail

LARK_OAPI_VERSION=1.7.5

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${QIAO_BENCH_VENV:-$root/target/bench-venv}"
python="$venv/bin/python"
stamp="$venv/.lark-oapi-$LARK_OAPI_VERSION"

if [ ! -f "$stamp" ]; then
    echo "bench-peers: installing lark-oapi==$LARK_OAPI_VERSION into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$python" -m pip install --quiet --disable-pip-version-check "lark-oapi==$LARK_OAPI_VERSION" >&2
    # The stamp is written last: an install cut short is redone next time.
    touch "$stamp"
fi
"$python" -c "import lark_oapi" >&2
echo "$python"
