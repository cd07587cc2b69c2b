#!/usr/bin/env bash
# Builds the Python echo connector with componentize-py: a compatibility fixture, frozen at contract 0.1.0 (every
# future host must keep loading it), which scripts/build-connectors.sh builds into target/test-connectors.
#   tests/connectors/v0.1.0/echo-py/build.sh TEST_OUT_DIR
# Writes TEST_OUT_DIR/echo-py.wasm. Uses `componentize-py` from PATH when it is the version pinned in requirements.txt;
# otherwise pip-installs that version into target/echo-py-tools/ (needs Python >= 3.9 with pip; nothing else is
# touched). The Python bindings (`wit_world`) are generated during the build from wit/ (wit/deps/connector is a
# symlink to the frozen contract wit/v0.1.0 at the repository root); to read them:
#   componentize-py -d wit -w echo-py bindings /tmp/echo-py-bindings
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
out=$(realpath -m "${1:?usage: build.sh TEST_OUT_DIR}")
python=${PYTHON:-python3}
version=$(sed -n 's/^componentize-py==\([^[:space:]]*\).*/\1/p' "$here/requirements.txt")
[ -n "$version" ] || { echo "requirements.txt pins no componentize-py version" >&2; exit 1; }
source "$root/scripts/unchanged.sh"
inputs=("$here/app.py" "$here/requirements.txt" "$here/build.sh" "$here/wit/world.wit" "$root/wit/v0.1.0")
if unchanged "$out/echo-py.wasm" "${inputs[@]}"; then
  echo "echo-py.wasm is up to date"
  exit 0
fi

if [ "$(componentize-py --version 2>/dev/null)" = "componentize-py $version" ]; then
  cpy() { componentize-py "$@"; }
else
  tools="$root/target/echo-py-tools/componentize-py-$version"
  if [ ! -e "$tools/.installed" ]; then
    echo "installing componentize-py $version into $tools"
    rm -rf "$tools"
    PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
      --target "$tools" -r "$here/requirements.txt"
    touch "$tools/.installed"
  fi
  cpy() {
    PYTHONPATH="$tools${PYTHONPATH:+:$PYTHONPATH}" "$python" -c \
      'import sys; from componentize_py import script; sys.argv[0] = "componentize-py"; sys.exit(script())' "$@"
  }
fi

mkdir -p "$out"
tmp="$out/.echo-py.wasm.tmp"
trap 'rm -f "$tmp"' EXIT
cd "$here"
cpy -d wit -w echo-py componentize -p "$here" app -o "$tmp"
# Renamed into place so a connector directory being watched never sees a half-written file.
mv -f "$tmp" "$out/echo-py.wasm"
record "$out/echo-py.wasm" "${inputs[@]}"
