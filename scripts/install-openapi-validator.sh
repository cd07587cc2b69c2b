#!/usr/bin/env bash
# Installs the external OpenAPI validator the end-to-end test checks `GET /v1/openapi.json` with
# (tests/tests/e2e/openapi.rs): openapi-spec-validator from PyPI, pinned with its dependencies, into
# target/py-openapi (pip --target: nothing installed system-wide). Needs CPython >= 3.10 with pip, and PyPI on the
# first run; later runs do nothing while the pins are unchanged.
#   scripts/install-openapi-validator.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
dir=$root/target/py-openapi
pins=(
  openapi-spec-validator==0.9.0
  openapi-schema-validator==0.9.0
  jsonschema==4.26.0
  jsonschema-path==0.5.0
  jsonschema-specifications==2025.9.1
  referencing==0.37.0
  rpds-py==2026.9.1
  attrs==26.1.0
  pathable==0.6.0
  lazy-object-proxy==1.13.0
  rfc3339-validator==0.1.4
  six==1.17.0
  pyyaml==6.0.4
  pydantic==2.14.4
  pydantic-core==2.50.5
  pydantic-settings==2.16.3
  python-dotenv==1.2.4
  annotated-types==0.8.0
  typing-extensions==4.16.0
  typing-inspection==0.4.5
)
stamp=$dir/.installed
if [ -e "$stamp" ] && [ "$(cat "$stamp")" = "${pins[*]}" ]; then
  exit 0
fi
rm -rf "$dir"
PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
  --only-binary :all: --target "$dir" "${pins[@]}"
echo "${pins[*]}" >"$stamp"
echo "openapi-spec-validator installed in $dir"
