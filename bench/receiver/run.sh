#!/usr/bin/env bash
# bench/receiver/run.sh: the receiver's performance targets (docs/BENCHMARKS.md,
# section "Receiver"). Builds cis490-receiver as the release does and the
# benchmark program, then runs `receiverbench suite`, which
#   - serves the baseline handlers hash, write and serial on loopback,
#   - starts the real receiver (gate off, min_free_bytes 0, one token) and
#     waits for READY=1 on a notify socket it owns,
#   - uploads 1 GiB as 16 × 64 MiB and as 4096 × 256 KiB with 1 and 8
#     clients to every target, repetition by repetition (median reported),
#   - samples the receiver's VmRSS/VmHWM idle and during 8 × 64 MiB,
#   - times start-up over an empty data directory and one holding 100 000
#     index rows and store files,
# and prints markdown tables with pass/fail per target.
#   bench/receiver/run.sh [reps]     (default 5; a full run takes ~6-8 minutes)
# All data goes to bench/out/receiver (same file system as the repository).
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-5}
out=bench/out/receiver
mkdir -p "$out/bin"

CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$out/bin/cis490-receiver" ./receiver
CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -ldflags '-s -w' -o "$out/bin/cis490-receiver-arm64" ./receiver
go build -o "$out/bin/receiverbench" ./bench/receiver

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r)"
echo "data dir file system: $(df --output=fstype,source "$out" | tail -1)"
echo "go: $(go version)"
echo "command: bench/receiver/run.sh $reps"
"$out/bin/receiverbench" suite --receiver "$out/bin/cis490-receiver" --out "$out" --reps "$reps" \
  --arm64 "$out/bin/cis490-receiver-arm64"
