#!/usr/bin/env bash
# Signs every connector built on this machine with a local key of its publisher.
#   scripts/sign-connectors.sh QIAO_BINARY [DIR...]
# QIAO_BINARY is a built `qiao` (e.g. target/debug/qiao). DIRs default to target/connectors and
# target/test-connectors; each NAME.wasm in them gets NAME.wasm.sig.
#
# The publisher is `qiao-build` for the bundled connectors (connectors/*, tests/connectors/*). A connector built
# from plugins/NAME (written as a third party writes one) is signed as the publisher its plugins/NAME/kit.toml
# names, `publisher = "acme-labs"`, with that publisher's own key, so operators trust it apart from the bundled ones.
#
# Each publisher's key is made on first use (`qiao connectors keygen`) as target/signing/PUBLISHER.key (mode 0600),
# with its public key next to it as target/signing/PUBLISHER.pub, which a config trusts with
#   [trust]
#   publishers = { qiao-build = { key_file = "path/to/target/signing/qiao-build.pub" },
#                  acme-labs = { key_file = "path/to/target/signing/acme-labs.pub" } }
# Later builds reuse them; a fresh clone (CI) makes fresh ones. They are keys for the connectors built here, not
# release keys: a connector from anyone else comes with its publisher's own .sig (`qiao connectors sign`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 QIAO_BINARY [DIR...]   (QIAO_BINARY: a built qiao, e.g. target/debug/qiao)" >&2
  exit 2
fi
qiao=$(realpath "$1")
shift
if [ $# -eq 0 ]; then
  set -- "$root/target/connectors" "$root/target/test-connectors"
fi
keys="$root/target/signing"
mkdir -p "$keys"
chmod 700 "$keys"

# The publisher of NAME.wasm: plugins/NAME/kit.toml's `publisher`, else qiao-build.
publisher_of() {
  local kit="$root/plugins/$1/kit.toml" name
  if [ -f "$kit" ]; then
    name=$(sed -n 's/^publisher *= *"\([a-z0-9][a-z0-9-]*\)".*/\1/p' "$kit" | head -1)
    if [ -z "$name" ]; then
      echo "$kit has no publisher = \"name\" (lowercase letters, digits, hyphens)" >&2
      return 1
    fi
    echo "$name"
  else
    echo qiao-build
  fi
}

declare -A signed_by=() last_by=()
for dir in "$@"; do
  [ -d "$dir" ] || continue
  for file in "$dir"/*.wasm; do
    [ -f "$file" ] || continue
    publisher=$(publisher_of "$(basename "$file" .wasm)")
    key="$keys/$publisher.key"
    if [ ! -f "$key" ]; then
      echo "==> making the signing key $key"
      "$qiao" connectors keygen --out "$key" >"$keys/$publisher.pub.tmp"
      mv "$keys/$publisher.pub.tmp" "$keys/$publisher.pub"
    fi
    "$qiao" connectors sign "$file" --key "$key" --publisher "$publisher" >/dev/null
    signed_by[$publisher]=$(( ${signed_by[$publisher]:-0} + 1 ))
    last_by[$publisher]="$file.sig"
  done
done
if [ ${#signed_by[@]} -eq 0 ]; then
  echo "no .wasm files to sign in: $*" >&2
  exit 1
fi

for publisher in "${!signed_by[@]}"; do
  # The public key is derived data: (re)written from what the key actually signs with, so a lost or stale .pub
  # cannot make a config trust another key.
  last=${last_by[$publisher]}
  pub="$keys/$publisher.pub"
  actual=$(sed -n 's/^ *"public_key": *"\([^"]*\)".*/\1/p' "$last")
  if [ -z "$actual" ]; then
    echo "cannot read the public key from $last" >&2
    exit 1
  fi
  if [ ! -f "$pub" ] || [ "$(tr -d '[:space:]' <"$pub")" != "$actual" ]; then
    echo "$actual" >"$pub.tmp"
    mv "$pub.tmp" "$pub"
    echo "==> wrote $publisher's public key to $pub"
  fi
  echo "==> signed ${signed_by[$publisher]} connectors as $publisher (public key $actual, in $pub)"
done
