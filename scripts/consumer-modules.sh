#!/usr/bin/env bash
# Checks what importing the library costs an application: a scratch module
# that imports the root package and client/ (this checkout, through a
# replace) must have at most $MAX modules in its graph (`go list -m all`,
# itself included). The binary's and the benchmark tool's dependencies
# (jwt, prometheus, centrifuge-go, x/image) live in their own modules
# (cmd/tether, cmd/tether-bench) and must never show up here.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
MAX=${MAX:-10}

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/go.mod" <<EOF
module example.com/consumer

go 1.21

require github.com/tether-ws/tether v0.0.0-00010101000000-000000000000

replace github.com/tether-ws/tether => $root
EOF
cat >"$dir/main.go" <<'EOF'
package main

import (
	"net/http"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

func main() {
	http.Handle("/ws", tether.NewServer(nil))
	_ = client.Dial
}
EOF

cd "$dir"
export GOWORK=off GOFLAGS=-mod=mod
go mod tidy
mods=$(go list -m all)
n=$(printf '%s\n' "$mods" | wc -l)
edges=$(go mod graph | wc -l)
printf '%s\n' "$mods" | sed 's/^/  /'
echo "consumer of the root package and client/: $n modules in 'go list -m all' (at most $MAX), $edges lines in 'go mod graph', $(grep '^go ' go.mod) after go mod tidy"
if [ "$n" -gt "$MAX" ]; then
	echo "FAIL: the library module pulls $n modules into its consumers (at most $MAX): keep tools' dependencies in cmd/tether or cmd/tether-bench"
	exit 1
fi
if printf '%s\n' "$mods" | grep -E 'centrifug|golang.org/x/image|prometheus|golang-jwt'; then
	echo "FAIL: a dependency of the binary or the benchmark tool reached the library module"
	exit 1
fi
