#!/usr/bin/env bash
# Runs every check Tether has. Parts that need software from outside Go
# (Redis, Node, Chromium, PHP) skip with a loud line when it is missing,
# unless TETHER_REQUIRE_ALL=1 (CI sets it), which turns such a skip into a
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
skip() {
	if [ "${TETHER_REQUIRE_ALL:-}" = 1 ]; then
		printf '\nFAIL: %s (TETHER_REQUIRE_ALL=1)\n' "$*"
		exit 1
	fi
	printf '\n!!!!!!!!!! SKIP: %s !!!!!!!!!!\n' "$*"
}

step "gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './js/node_modules/*'))
if [ -n "$bad" ]; then echo "not gofmt-clean:"; echo "$bad"; exit 1; fi

step "go vet"
go vet ./...

step "staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# Parts that need software from outside Go say so here, loudly, before
# the tests that would skip without them run (go test hides a skip). The
# Redis store's tests need the Redis the machine runs at 127.0.0.1:6379
# and fail, saying how to start it, without it.
if [ -z "${TETHER_REDIS_CLUSTER:-}" ]; then
	skip "Redis Cluster tests: TETHER_REDIS_CLUSTER is not set (export TETHER_REDIS_CLUSTER=\$(./scripts/redis-cluster.sh))"
fi
if ! command -v php >/dev/null 2>&1; then
	skip "PHP example test (examples/php): php-cli not installed (apt-get install -y php-cli)"
fi

step "go test -race"
go test -race -count=1 -timeout 15m ./...

step "fuzz smoke (10s per target)"
go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime 10s ./internal/wire
go test -run '^$' -fuzz '^FuzzReadMessage$' -fuzztime 10s ./internal/ws

step "browser client (js/)"
if command -v npm >/dev/null 2>&1; then
	(cd js && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm test)
	if ! git diff --quiet -- js/dist 2>/dev/null; then
		echo "js/dist is stale: run 'cd js && npm run build' and commit it"; git diff --stat -- js/dist; exit 1
	fi
	if [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
		(cd js && npm run e2e)
	else
		skip "browser end-to-end tests: Chromium not installed at ${CHROMIUM:-/usr/bin/chromium} (apt-get install -y chromium, or set CHROMIUM=)"
	fi
else
	skip "browser client tests: Node.js/npm not installed"
fi

printf '\nall checks passed\n'
