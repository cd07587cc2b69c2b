#!/usr/bin/env bash
# Builds the Weaver e-cology connector, a Python project made with `qiao connectors new --lang python` as any vendor
# would make one:
#   plugins/ecology/build.sh OUT_DIR   ->  OUT_DIR/ecology.wasm (scripts/build-connectors.sh calls it)
#   plugins/ecology/build.sh --test    ->  its unit tests (CPython against the SDK's fake host)
# Needs Python >= 3.11 with pip. The only tool, componentize-py, is installed by `make` from PyPI at the version and
# hashes requirements.txt pins, into .tools/ here (COMPONENTIZE_PY_TOOLS=DIR to share one install).
# componentize-py is slow and its output is not byte-reproducible, so an unchanged project is not rebuilt (a new
# file would make Qiao compile it again): the inputs' hash is kept next to the output as .ecology.wasm.inputs.
# Self-contained on purpose: it uses nothing of the Qiao repository but the SDK copied into qiao_sdk/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
case "${1:-}" in
  --test) out= ;;
  "") echo "usage: build.sh OUT_DIR | build.sh --test" >&2; exit 2 ;;
  *) out=$(realpath -m "$1") ;;   # before the cd: OUT_DIR may be relative to the caller's directory
esac
cd "$here"

PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null || { echo "the ecology connector needs $PYTHON on PATH" >&2; exit 1; }
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "the ecology connector needs Python >= 3.11 (found $("$PYTHON" --version 2>&1))" >&2; exit 1; }
command -v make >/dev/null || { echo "the ecology connector needs make on PATH" >&2; exit 1; }

if [ -z "$out" ]; then
  exec make --no-print-directory PYTHON="$PYTHON" test
fi

inputs=(build.sh Makefile requirements.txt app.py api.py settings.py directory.py events.py capabilities qiao_sdk wit)
hash=$({ find "${inputs[@]}" -type f -not -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum; } \
  | sha256sum | cut -d' ' -f1)
if [ -f "$out/ecology.wasm" ] && [ "$(cat "$out/.ecology.wasm.inputs" 2>/dev/null)" = "$hash" ]; then
  echo "ecology.wasm is up to date"
  exit 0
fi
make --no-print-directory PYTHON="$PYTHON" ecology.wasm
mkdir -p "$out"
# Copied aside, then renamed: a watched connector directory never sees a half-written file.
cp ecology.wasm "$out/.ecology.wasm.tmp"
mv -f "$out/.ecology.wasm.tmp" "$out/ecology.wasm"
echo "$hash" > "$out/.ecology.wasm.inputs"
