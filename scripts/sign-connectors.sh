#!/usr/bin/env bash
# Signs every connector built on this machine with the local build key, publisher `qiao-build`.
#   scripts/sign-connectors.sh QIAO_BINARY [DIR...]
# QIAO_BINARY is a built `qiao` (e.g. target/debug/qiao). DIRs default to target/connectors and
# target/test-connectors; each NAME.wasm in them gets NAME.wasm.sig.
#
# The key is made on first use (`qiao connectors keygen`) as target/signing/qiao-build.key (mode 0600), with its
# public key next to it as target/signing/qiao-build.pub, which a config trusts with
#   [trust]
#   publishers = { qiao-build = { key_file = "path/to/target/signing/qiao-build.pub" } }
# Later builds reuse it; a fresh clone (CI) makes a fresh one. It is a key for the bundled connectors built here,
# not a release key: a connector from anyone else comes with its publisher's own .sig (`qiao connectors sign`).
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
publisher=qiao-build
keys="$root/target/signing"
key="$keys/$publisher.key"
pub="$keys/$publisher.pub"

mkdir -p "$keys"
chmod 700 "$keys"
if [ ! -f "$key" ]; then
  echo "==> making the build signing key $key"
  "$qiao" connectors keygen --out "$key" >"$pub.tmp"
  mv "$pub.tmp" "$pub"
fi

signed=0
for dir in "$@"; do
  [ -d "$dir" ] || continue
  for file in "$dir"/*.wasm; do
    [ -f "$file" ] || continue
    "$qiao" connectors sign "$file" --key "$key" --publisher "$publisher" >/dev/null
    signed=$((signed + 1))
    last="$file.sig"
  done
done
if [ "$signed" -eq 0 ]; then
  echo "no .wasm files to sign in: $*" >&2
  exit 1
fi

# The public key is derived data: (re)written from what the key actually signs with, so a lost or stale .pub
# cannot make a config trust another key.
actual=$(sed -n 's/^ *"public_key": *"\([^"]*\)".*/\1/p' "$last")
if [ -z "$actual" ]; then
  echo "cannot read the public key from $last" >&2
  exit 1
fi
if [ ! -f "$pub" ] || [ "$(tr -d '[:space:]' <"$pub")" != "$actual" ]; then
  echo "$actual" >"$pub.tmp"
  mv "$pub.tmp" "$pub"
  echo "==> wrote the build key's public key to $pub"
fi
echo "==> signed $signed connectors as $publisher (public key $actual, in $pub)"
