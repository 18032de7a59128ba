#!/usr/bin/env bash
# Starts a local Redis Cluster of three masters on 127.0.0.1:7000-7002
# (unless one answers there already) and prints the TETHER_REDIS_CLUSTER
# value that makes the Redis Cluster tests run:
#
#	export TETHER_REDIS_CLUSTER=$(./scripts/redis-cluster.sh)
#
# Its data lives in a temporary directory and nothing is saved to disk.
set -euo pipefail
ports=(7000 7001 7002)
addrs=$(printf '127.0.0.1:%s,' "${ports[@]}"); addrs=${addrs%,}

if redis-cli -p "${ports[0]}" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
	echo "$addrs"
	exit 0
fi
dir=$(mktemp -d /tmp/tether-redis-cluster.XXXXXX)
for p in "${ports[@]}"; do
	mkdir -p "$dir/$p"
	redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes \
		--cluster-config-file "$dir/$p/nodes.conf" --save "" --appendonly no \
		--daemonize yes --dir "$dir/$p" --logfile "$dir/$p/redis.log" --pidfile "$dir/$p/redis.pid" >&2
done
for p in "${ports[@]}"; do
	for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
redis-cli --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") --cluster-replicas 0 --cluster-yes >&2
for _ in $(seq 100); do
	redis-cli -p "${ports[0]}" cluster info | grep -q 'cluster_state:ok' && break
	sleep 0.1
done
echo "$addrs"
