#!/usr/bin/env bash
# Browser tests of the web client (make e2e; part of make test): builds
# web/dist if needed, then under a throwaway Postgres + Redis (scripts/testenv
# run) runs tests/e2e/*.test.js with Node's test runner. Each suite starts
# its own chatd processes (2 × user, 2 × sender, 2 × receiver; CHATD_BIN,
# default build/debug/chatd), the static web server, and Debian's chromium
# via playwright-core (headless; nothing downloads a browser).
#
# Usage: tests/e2e/run.sh [test files...]
# Env:   CHATD_BIN, CHATD_CHROMIUM (default /usr/bin/chromium),
#        CHATD_E2E_SCREENSHOTS (dir relative to the repo, default
#        build/e2e-screenshots; "off" = none; docs/screenshots refreshes the README's),
#        CHATD_NODE (the node that runs the tests, default node; Node 18 works:
#        each file runs in its own node --test, as Node 18 has no --test-concurrency)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export CHATD_BIN="${CHATD_BIN:-$ROOT/build/debug/chatd}"
[ -x "$CHATD_BIN" ] || { echo "e2e: $CHATD_BIN missing (run: make debug)" >&2; exit 1; }
[ -x "${CHATD_CHROMIUM:-/usr/bin/chromium}" ] || { echo "e2e: chromium missing (run: scripts/install-deps)" >&2; exit 1; }

for d in web tests/e2e; do
  stamp="$ROOT/$d/node_modules/.chatd-lock-stamp"
  if [ ! -f "$stamp" ] || ! cmp -s "$ROOT/$d/package-lock.json" "$stamp"; then
    (cd "$ROOT/$d" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$ROOT/$d/package-lock.json" "$stamp"
  fi
done

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  mapfile -t files < <(cd tests/e2e && ls -1 *.test.js)
fi
export CHATD_NODE="${CHATD_NODE:-node}"
exec scripts/testenv run -- bash -c '
  cd "$1" && shift
  rc=0
  for f in "$@"; do
    timeout 600 "$CHATD_NODE" --test --test-reporter=spec "$f" || rc=1
  done
  exit $rc
' e2e "$ROOT/tests/e2e" "${files[@]}"
