#!/usr/bin/env bash
# Differential tests of chatd's GraphQL engine against graphql-js 16.
# Usage: tests/graphql-diff/run.sh <path to gqlrun> [run.mjs options: --json out.json, --filter s, -v]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
gqlrun="${1:?usage: run.sh <path to gqlrun binary>}"
shift
gqlrun="$(cd "$(dirname "$gqlrun")" && pwd)/$(basename "$gqlrun")"
if [ ! -d "$here/node_modules/graphql" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --silent)
fi
exec node "$here/run.mjs" "$gqlrun" "$@"
