#!/usr/bin/env bash
# bench/load/run.sh: load one cis490-receiver on loopback (SPEC §4.2) and
# print throughput, latency, errors and peak RSS; see docs/RELIABILITY.md
# "Load" for the figures of the last run.
#
#   bench/load/run.sh [flags for bench/load]
#
# Defaults: 200 hosts uploading 256 KiB episodes for 60 s, then 5000 idle
# keep-alive connections and 50 slowloris clients beside 20 uploading hosts
# for 30 s. Flags (go run ./bench/load -h): -hosts, -size, -duration, -idle,
# -slowloris, -adv-hosts, -adv-duration, -max-concurrent, -json; the hostile
# phases: -stalled, -flood-stored, -flood-stalled, -flood-duration,
# -fair-duration, -fair-hosts (0 skips a phase).
# Environment: OUT (work directory, default bench/out/load).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench/out/load}
mkdir -p "$OUT"

# The client side holds 5000+ sockets, and so does the receiver: raise the
# soft limit to the hard one when it is lower than that.
need=12000
soft=$(ulimit -Sn)
if [ "$soft" != unlimited ] && [ "$soft" -lt "$need" ]; then
  hard=$(ulimit -Hn)
  if [ "$hard" = unlimited ] || [ "$hard" -ge "$need" ]; then
    ulimit -n "$need"
  else
    ulimit -n "$hard"
    echo "warning: ulimit -n is $hard; -idle 5000 may fail to open every connection" >&2
  fi
fi
echo "ulimit -n: $(ulimit -n)" >&2

CGO_ENABLED=0 go build -trimpath -o "$OUT/cis490-receiver" ./receiver
go build -trimpath -o "$OUT/loadbench" ./bench/load
exec "$OUT/loadbench" -bin "$OUT/cis490-receiver" -out "$OUT" "$@"
