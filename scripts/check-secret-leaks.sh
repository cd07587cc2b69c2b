#!/usr/bin/env bash
# Checks that no secret reached a log line or an API response in a whole test run.
#   scripts/check-secret-leaks.sh [DIR]    (DIR: target/test-logs, written by tests/src/logs.rs)
# Each test binary leaves NAME-PID.log (Qiao's log at debug, connectors' lines, every response body the tests
# received, child processes' logs) and NAME-PID.secrets (every secret its configs held, and its API keys).
# Every log is grepped for every secret. Leaks are reported by file and line, never by printing the secret.
set -euo pipefail
dir=${1:-target/test-logs}
secrets=$(mktemp)
trap 'rm -f "$secrets"' EXIT
shopt -s nullglob
lists=("$dir"/*.secrets)
logs=("$dir"/*.log)
cat /dev/null "${lists[@]}" | sort -u >"$secrets"
count=$(wc -l <"$secrets")
# Guard against a check that cannot fail: a run that logged nothing, or configured no secrets, proves nothing.
if [ "${#logs[@]}" -lt 10 ] || [ "$count" -lt 20 ]; then
  echo "check-secret-leaks: only ${#logs[@]} logs and $count secrets in $dir: run the tests first (make test)" >&2
  exit 2
fi
bytes=$(cat "${logs[@]}" | wc -c)
if hits=$(grep -F -n -o -f "$secrets" "${logs[@]}" | cut -d: -f1,2 | sort -u); then
  echo "check-secret-leaks: a test secret appears in $(echo "$hits" | wc -l) log or response lines:" >&2
  echo "$hits" | head -50 >&2
  exit 1
fi
echo "check-secret-leaks: $count secrets, none in ${#logs[@]} logs ($bytes bytes of log lines and responses)"
