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

# Every module of the workspace (go.work): the library at the root, the
# standalone binary (cmd/tether) and the benchmark tool (cmd/tether-bench).
# "./..." alone stops at a nested module's go.mod, so each is named.
mods=()
while IFS= read -r dir; do
	rel=${dir#"$PWD"}
	mods+=(".${rel}/...")
done < <(go list -m -f '{{.Dir}}')
if [ ${#mods[@]} -lt 3 ]; then echo "expected the workspace's modules (go.work), got: ${mods[*]}"; exit 1; fi
echo "modules: ${mods[*]}"

step "go.mod files are tidy"
for m in "${mods[@]}"; do
	(cd "${m%/...}" && GOWORK=off go mod tidy -diff) || { echo "${m%/...}: run 'GOWORK=off go mod tidy' there"; exit 1; }
done

step "go vet"
go vet "${mods[@]}"

step "staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 "${mods[@]}"

step "what the library costs its consumers"
./scripts/consumer-modules.sh

# The library module's go directive is the oldest Go it supports: build
# and vet it (tests included) with exactly that Go, outside the workspace.
# The go command fetches that toolchain from the Go module proxy.
step "library module with its oldest Go"
oldest=$(awk '$1 == "go" { print $2; exit }' go.mod)
if GOWORK=off GOTOOLCHAIN="go$oldest" go version >/dev/null 2>&1; then
	GOWORK=off GOTOOLCHAIN="go$oldest" go version
	GOWORK=off GOTOOLCHAIN="go$oldest" go build ./...
	GOWORK=off GOTOOLCHAIN="go$oldest" go vet ./...
else
	skip "library module with go$oldest (its go directive): the toolchain cannot be fetched from the Go module proxy"
fi

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
go test -race -count=1 -timeout 15m "${mods[@]}"

# On Linux the server reads plain TCP connections with a poller (no
# goroutine per idle session); other platforms and TLS connections take
# the portable path, one reader goroutine per connection. The tag forces
# the portable path, so that every test runs on both.
step "go test -race, portable I/O path (-tags tether_portable)"
go vet -tags tether_portable "${mods[@]}"
go test -race -count=1 -timeout 15m -tags tether_portable "${mods[@]}"

# docs/DESIGN.md states the lock order (a server's lock before a session's,
# never after; never two sessions' locks at once): this build records every
# acquisition of both and fails the run on a violation.
step "lock order (-tags tether_lockorder, the root package's tests)"
go vet -tags tether_lockorder .
go test -count=1 -timeout 10m -tags tether_lockorder .

# The budget is a count, not a duration: with -fuzztime 10s, Go before 1.27
# can fail a target with a bare "context deadline exceeded" when the
# deadline races a worker's last input (go.dev/issue/75804); a count has no
# deadline to race. 200,000 inputs take about 10 s per target here.
step "fuzz smoke (200,000 inputs per target, every module)"
nfuzz=0
while IFS=: read -r file name; do
	go test -run '^$' -fuzz "^${name}\$" -fuzztime 200000x "./$(dirname "$file")"
	nfuzz=$((nfuzz + 1))
done < <(grep -rEo --include='*_test.go' --exclude-dir=node_modules '^func Fuzz[A-Za-z0-9_]*' . | sed 's/:func /:/' | sort)
if [ "$nfuzz" -eq 0 ]; then echo "no fuzz target found"; exit 1; fi

step "PHP SDK (sdk/php, PHPUnit against the real binary)"
phpmissing=$(./scripts/php-deps.sh | tr '\n' ' ')
if [ -z "$phpmissing" ]; then
	phpdir=$(mktemp -d)
	go build -o "$phpdir/tether" ./cmd/tether
	(cd sdk/php && TETHER_BIN="$phpdir/tether" phpunit) || { rm -rf "$phpdir"; exit 1; }
	rm -rf "$phpdir"
else
	skip "PHP SDK tests (sdk/php): missing ${phpmissing}(apt-get install -y php-cli php-curl phpunit php-nyholm-psr7)"
fi

step "browser client (js/)"
if command -v npm >/dev/null 2>&1; then
	(cd js && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm test)
	# The build just rewrote js/dist: any change, or a new file git does
	# not track, means the committed (and embedded) copy is stale.
	if [ -n "$(git status --porcelain -- js/dist 2>/dev/null)" ]; then
		echo "js/dist is stale: run 'cd js && npm run build' and commit it"; git status --short -- js/dist; exit 1
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
