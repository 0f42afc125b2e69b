#!/usr/bin/env bash
# bench/doctor/run.sh: wall time of one `cis490-doctor --json` run on this
# machine, (a) with a live receiver on loopback, every external command
# answering, and (b) with a receiver that accepts connections and never
# answers, which the doctor must bound (SPEC §9: ≤ 2 s and ≤ 12 s).
#   bench/doctor/run.sh [runs]     (default 5 runs per case)
# Scratch files go to bench/out/doctor.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
out=$PWD/bench/out/doctor
rm -rf "$out" && mkdir -p "$out/bin" "$out/data/episodes" "$out/rdata"

go build -o "$out/bin/cis490-doctor" ./doctor
go build -o "$out/bin/cis490-receiver" ./receiver
go build -o "$out/bin/blackhole" ./bench/doctor/blackhole

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

port=18490
"$out/bin/cis490-receiver" serve --data-dir "$out/rdata" --listen "127.0.0.1:$port" 2>"$out/receiver.log" &
pids+=($!)
# Bench script, not a test: wait for the receiver to answer.
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done

"$out/bin/blackhole" --listen 127.0.0.1:0 >"$out/blackhole.addr" &
pids+=($!)
for _ in $(seq 100); do [ -s "$out/blackhole.addr" ] && break; sleep 0.05; done

config() { # config NAME URL
  printf 'host_id = "bench1"\n[paths]\ndata_dir = "%s"\n[receiver]\nurl = "%s"\n' "$out/data" "$2" >"$out/$1.toml"
}
config live "http://127.0.0.1:$port"
config dead "http://$(cat "$out/blackhole.addr")"

measure() { # measure NAME
  local times=() start end
  for _ in $(seq "$runs"); do
    start=$(date +%s%N)
    "$out/bin/cis490-doctor" --config "$out/$1.toml" --json >"$out/$1.json" 2>/dev/null || true
    end=$(date +%s%N)
    times+=("$(( (end - start) / 1000000 ))")
  done
  printf '%-5s runs %s  median %s ms  max %s ms  receiver check: %s\n' "$1" "$runs" \
    "$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" \
    "$(printf '%s\n' "${times[@]}" | sort -n | tail -1)" \
    "$(grep -o '"check":"receiver","status":"[a-z]*"' "$out/$1.json" | cut -d'"' -f8)"
}
measure live
measure dead
