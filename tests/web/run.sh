#!/usr/bin/env bash
# run.sh -- ctest it_web: the web page in headless chromium (web.test.mjs).
#
# Installs playwright-core (package-lock.json) into BUILD/node with npm's
# cache in BUILD/npm-cache, once: again only when the lock file changes, so
# the npm registry is needed on the first run only. Then runs the test, its
# temporary files under BUILD/tmp and its screenshots in BUILD/shots.
# Exits 77 (ctest: skipped) with the reason when chromium, node or npm is
# missing; scripts/deps.sh installs them.
# Usage: run.sh COFFER SRC_DIR BUILD_DIR
set -euo pipefail
coffer=$1 src=$2 build=$3

for tool in /usr/bin/chromium node npm; do
    if ! command -v "$tool" >/dev/null; then
        echo "it_web: SKIPPED: $tool is missing (scripts/deps.sh installs chromium, nodejs and npm)"
        exit 77
    fi
done
nd=$build/node
mkdir -p "$nd"
if ! cmp -s "$src/package-lock.json" "$nd/package-lock.json" ||
    [ ! -d "$nd/node_modules/playwright-core" ]; then
    cp "$src/package.json" "$src/package-lock.json" "$nd/"
    if ! (cd "$nd" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund \
        --cache "$build/npm-cache"); then
        rm -f "$nd/package-lock.json"
        echo "it_web: FAILED: npm ci in $nd (the npm registry must be reachable on the first run)"
        exit 1
    fi
fi
exec node "$src/web.test.mjs" "$coffer" "$build/tmp" "$nd" "$build/shots"
