#!/usr/bin/env bash
# bench/fleethealth/run.sh: wall time and peak RSS of one fleet-health run over
# a receiver data directory of 1 000 000 index rows (30 days, 50 hosts, 200 000
# attempts) and one of 100 000 rows at the same rate (3 days, 20 000 attempts).
# The cost should follow the windows, not the index length: both sizes should
# take the same time.
#   bench/fleethealth/run.sh [runs]      (default 7 runs per size)
# Runs `cis490-receiver fleet-health`. Data goes to bench/out/fleethealth.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-7}
out=bench/out/fleethealth
mkdir -p "$out/bin"
now=2026-11-23T14:30:00Z

go build -o "$out/bin/gen" ./bench/fleethealth/gen
go build -o "$out/bin/cis490-receiver" ./receiver
cmd=("$out/bin/cis490-receiver" fleet-health)
echo "binary: ${cmd[*]}"

[ -s "$out/1m/index.jsonl" ] || "$out/bin/gen" --dir "$out/1m" --now "$now" --index 1000000 --attempts 200000 --days 30
[ -s "$out/100k/index.jsonl" ] || "$out/bin/gen" --dir "$out/100k" --now "$now" --index 100000 --attempts 20000 --days 3

for size in 1m 100k; do
  rm -f "$out/$size/alerts.jsonl"
  times=()
  maxrss=0
  for _ in $(seq "$runs"); do
    # Wall time in ms from the clock around the run; %M: peak RSS in KiB.
    start=$(date +%s%N)
    /usr/bin/time -f '%M' -o "$out/time.txt" "${cmd[@]}" --data-dir "$out/$size" --now "$now" >/dev/null 2>&1
    end=$(date +%s%N)
    rss=$(tail -1 "$out/time.txt")
    times+=("$(( (end - start) / 1000000 ))")
    [ "$rss" -gt "$maxrss" ] && maxrss=$rss
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-5s index %9s B  runs %s  median wall %s ms  max wall %s ms  peak RSS %s MiB\n' \
    "$size" "$(stat -c %s "$out/$size/index.jsonl")" "$runs" "$median" \
    "$(printf '%s\n' "${times[@]}" | sort -n | tail -1)" "$(awk -v k="$maxrss" 'BEGIN {printf "%.1f", k/1024}')"
done
