# chatd — top-level commands. See README.md.
#   make run     whole system: Postgres, Redis, 2x each role, web UI on :3000
#   make run-cluster  the same over a Redis Cluster, a Postgres replica and HAProxy (4010/4020/4050)
#   make test    every test (installs deps, starts throwaway Postgres + Redis)
#   make bench   benchmarks → docs/benchmarks.md (a clean tree at a commit;
#                BENCH_ARGS="--only groups,fanusers" etc. are passed to bench/run)
#   make fuzz    libFuzzer drivers for FUZZ_SECONDS each
#   make soak    SOAK_MINUTES (30) of mixed load on the whole system → bench/results/soak.json (not in make test)
SHELL := /bin/bash
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 20

.PHONY: format-check routing-check node18-check ops-check container-test graphql-diff all deps build debug release test unit fuzz fuzz-build fuzz-smoke integration e2e run run-single run-cluster bench bench-quick soak clean

all: debug

deps:
	scripts/install-deps

debug:
	cmake -S . -B build/debug -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=gcc >/dev/null
	cmake --build build/debug -j $(JOBS)

release:
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc >/dev/null
	cmake --build build/release -j $(JOBS)

build: debug

# Unit tests run against a throwaway Postgres + Redis (scripts/testenv).
unit: debug
	scripts/testenv run -- bash -c 'cd build/debug && ctest --output-on-failure -j $(JOBS)'

fuzz-build:
	cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Debug -DCHATD_FUZZ=ON -DCMAKE_C_COMPILER=clang >/dev/null
	cmake --build build/fuzz -j $(JOBS)

fuzz: deps fuzz-build
	scripts/fuzz-run $(FUZZ_SECONDS)

fuzz-smoke: fuzz-build
	scripts/fuzz-run $(FUZZ_SMOKE_SECONDS)

# (release too: harden-stall.test.js times the Release build)
integration: debug release
	scripts/test-integration

# The web client in Debian's chromium (playwright-core) against 2x each role.
e2e: debug
	tests/e2e/run.sh

# The engine against graphql-js on the same schemas, data and documents.
graphql-diff: debug
	tests/graphql-diff/run.sh build/debug/gqlrun

format-check:
	scripts/check-format

# web/src/routing.generated.js must be what schema/chat.graphql's @owner generates.
routing-check:
	@[ -d web/node_modules/graphql ] || (cd web && npm ci --no-audit --no-fund --loglevel=error)
	node web/scripts/gen-routing.mjs --check

# Under Node 18 (Debian 12's nodejs): the web build (vite), the routing test
# and every browser suite (tests/e2e/run.sh with CHATD_NODE); CHATD_NODE18,
# else the machine's node if it is 18.x, else node@18 from the npm registry
# into build/node18.
node18-check: debug
	scripts/test-node18

# ops/: the Prometheus rules (promtool check + unit tests) and the Grafana
# dashboard's queries; tests/integration/ops-metrics.test.js checks the names.
ops-check:
	ops/check

# The images (Dockerfile) and compose.yaml under podman with a locally made
# debian:12-slim; fails (never skips) when the machine refuses containers.
container-test:
	scripts/container-test

test: deps
	$(MAKE) format-check
	$(MAKE) routing-check
	$(MAKE) ops-check
	$(MAKE) unit
	$(MAKE) fuzz-smoke
	$(MAKE) graphql-diff
	$(MAKE) integration
	$(MAKE) e2e
	$(MAKE) node18-check
	$(MAKE) container-test

run: deps release
	scripts/run-all

run-single: deps release
	scripts/run-all --single

# Redis Cluster + Postgres replica + HAProxy on one machine (not part of make test)
run-cluster: deps release
	scripts/run-cluster

bench: deps release
	bench/run $(BENCH_ARGS)

bench-quick: deps release
	bench/run --quick $(BENCH_ARGS)

# Leak and correctness soak (scripts/soak.mjs): the whole system as make run
# starts it, SOAK_MINUTES of mixed load; streams equal the log, RSS / open
# files / Postgres connections grow < 5% after warm-up. Not part of make test.
soak: deps release
	@[ -d tests/integration/node_modules ] || (cd tests/integration && npm ci --no-audit --no-fund --loglevel=error)
	node scripts/soak.mjs

clean:
	rm -rf build
