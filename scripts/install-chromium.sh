#!/usr/bin/env bash
# What the console's browser test (tests/tests/e2e/console.rs) needs: Debian's chromium at /usr/bin/chromium, and
# playwright-core (pinned in tests/console/package-lock.json) to drive it. Playwright's own browser download is
# never used: the test launches the system chromium by path, which works offline.
#   scripts/install-chromium.sh
# Installs only what is missing, so `make test` can run it every time; apt-get needs root (CI runs as root).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-chromium: /usr/bin/chromium is missing; run this as root (apt-get install chromium)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
fi

if [ ! -d "$root/tests/console/node_modules/playwright-core" ]; then
    # The browser download is playwright's, not ours: skip it whatever the package's version would do.
    (cd "$root/tests/console" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi
