#!/usr/bin/env bash
# Printed when a build or test step of `make test` fails. CI shows only the end of the output: this repeats the
# compiler's errors (when given its log) and shows the machine, since a compiler or linker killed for lack of
# disk or memory otherwise reads like any other failed build.
if [ -n "${1:-}" ] && [ -f "$1" ]; then
  echo "== errors in $1:"
  grep -E -A12 '^error' "$1" | tail -60
fi
echo "== machine at failure: $(date -u +%FT%TZ)"
df -h . /tmp 2>/dev/null | sort -u
free -m 2>/dev/null
dmesg 2>/dev/null | grep -iE 'out of memory|oom|killed process' | tail -3 || true
du -sh target 2>/dev/null || true
