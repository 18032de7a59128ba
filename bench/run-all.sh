#!/usr/bin/env bash
# Runs the measurements of BENCHMARKS.md: one tether-bench invocation per
# scenario family, each against Tether and its peers, twice, interleaved;
# then the chart. About 90 minutes on the 2-core machine.
#
#   bench/run-all.sh            # all families
#   bench/run-all.sh idle storm # some
#
# Needs: Go; Node 20 with bench/socketio/node_modules (cd bench/socketio && npm ci);
# Centrifugo v6.9.1 in bench/.bin (GOBIN=$PWD/bench/.bin go install github.com/centrifugal/centrifugo/v6@v6.9.1).
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/results
mkdir -p "$out"
go build -o "$out/tether-bench" ./cmd/tether-bench
bench="$out/tether-bench"
families=("$@")
[ ${#families[@]} -gt 0 ] || families=(idle fanout storm chaos)
{
	echo "commit $(git rev-parse HEAD) $(git status --porcelain -- '*.go' | wc -l) Go files changed since"
	date -u
} >"$out/revision.txt"
for f in "${families[@]}"; do
	case $f in
	idle) args=(-scenarios idle -idle-n 5000,19000 -idle-for 30s -repeat 2) ;;
	fanout) args=(-scenarios fanout -fanout-members 2000 -fanout-msgs 2000 -fanout-rate 20 -fanout-size 100 -repeat 2) ;;
	storm) args=(-scenarios storm -storm-n 1000,10000 -repeat 2) ;;
	chaos) args=(-scenarios chaos -chaos-n 300 -chaos-for 45s -repeat 2) ;;
	*) echo "unknown family $f"; exit 2 ;;
	esac
	echo "== $f: tether-bench run -targets tether,raw,centrifugo,socketio ${args[*]} -json $out/$f.json"
	"$bench" run -targets tether,raw,centrifugo,socketio "${args[@]}" -json "$out/$f.json" 2>"$out/$f.log" | tee "$out/$f.md" || true
done
jsons=$(ls "$out"/{idle,fanout,storm,chaos}.json 2>/dev/null | paste -sd, -)
"$bench" chart -in "$jsons" -out bench/chart.png
