#!/usr/bin/env bash
# Runs the Python SDK's unit tests against its fake host (qiao_sdk.testing): CPython >= 3.8 and nothing else, no
# network. With --typecheck, also runs mypy (pinned in requirements-dev.txt, installed into .tools/ on first use:
# that one needs PyPI).
#   sdk/python/run-tests.sh [--typecheck]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}
cd "$here"
# PYTHONDONTWRITEBYTECODE: no __pycache__ left in qiao_sdk/, which the scaffolder copies into projects.
PYTHONDONTWRITEBYTECODE=1 "$python" -m unittest discover -s tests
if [ "${1:-}" = --typecheck ]; then
  tools=.tools/$(sed -n 's/^mypy==\([^[:space:]]*\).*/mypy-\1/p' requirements-dev.txt)
  if [ ! -e "$tools/.installed" ]; then
    rm -rf "$tools"
    PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --quiet --disable-pip-version-check --no-warn-script-location --require-hashes \
      --only-binary :all: --target "$tools" -r requirements-dev.txt
    touch "$tools/.installed"
  fi
  PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$tools" "$python" -m mypy
fi
