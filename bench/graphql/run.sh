#!/usr/bin/env bash
# GraphQL engine micro-benchmark: chatd (bench/tools/gqlbench.c, Release build) vs
# graphql-js 16 (bench.mjs) on the same chat-list query (query.graphql, 42
# fields, fragments, variables, @include) and in-memory data, for a page of 10
# chats (data.json) and for a single chat (data-1chat.json). Prints markdown
# tables with both engines and the ratio.
# Usage: bench/graphql/run.sh [path to a Release gqlbench] [--ms N] [--repeat N]
# With --repeat N each engine runs N times (alternating) and the fastest run of
# each stage counts: the least disturbed by other work on the machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin=""
ms=1000
repeat=1
while [ $# -gt 0 ]; do
  case "$1" in
    --ms) ms="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    *) bin="$1"; shift ;;
  esac
done
if [ -z "$bin" ]; then
  bin="$root/build/release/gqlbench"
  if [ ! -x "$bin" ]; then
    cmake -S "$root" -B "$root/build/release" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc >/dev/null
    cmake --build "$root/build/release" -j "$(nproc)" --target gqlbench >/dev/null
  fi
fi
if [ ! -d "$here/node_modules/graphql" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --silent)
fi
for data in data.json data-1chat.json; do
  c_out=""
  js_out=""
  for _ in $(seq "$repeat"); do
    c_out+="$("$bin" --schema "$root/schema/chat.graphql" --dir "$here" --data "$data" --ms "$ms")"$'\n'
    js_out+="$(node "$here/bench.mjs" --schema "$root/schema/chat.graphql" --data "$data" --ms "$ms")"$'\n'
  done
  DATA="$data" MS="$ms" C_OUT="$c_out" JS_OUT="$js_out" node --input-type=module -e '
const parse = (s) => {
  const best = {};
  for (const o of s.trim().split("\n").map((l) => JSON.parse(l)))
    if (!best[o.stage] || o.ns_per_op < best[o.stage].ns_per_op) best[o.stage] = o;
  return best;
};
const c = parse(process.env.C_OUT), js = parse(process.env.JS_OUT);
const fmt = (ns) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);
const rows = [
  ["parse", "parse"],
  ["validate", "validate"],
  ["execute a prepared document (+ JSON write)", "execute"],
  ["request without cache (parse + validate + execute + JSON)", "uncached"],
  ["request with cached document (chatd: cache hit + execute + JSON; graphql-js: execute + JSON)", "cached"],
];
console.log(`\n**${process.env.DATA}** — response ${c.response_bytes.bytes} bytes (graphql-js: ${js.response_bytes.bytes})\n`);
console.log("| stage | chatd (C, -O2) | graphql-js 16 (node " + process.versions.node + ") | graphql-js / chatd |");
console.log("|---|---:|---:|---:|");
for (const [label, k] of rows) {
  const a = c[k].ns_per_op, b = js[k].ns_per_op;
  console.log(`| ${label} | ${fmt(a)} | ${fmt(b)} | ${(b / a).toFixed(1)}× |`);
}
'
done
echo
echo "ns/op averaged over >= ${ms} ms per stage after a warm-up, best of ${repeat} run(s); both engines on the same machine, alternating."
