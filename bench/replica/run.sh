#!/usr/bin/env bash
# bench/replica/run.sh: the replication targets (docs/BENCHMARKS.md, section
# "Replication"). Builds cis490-receiver as the release does and the
# benchmark program, finds versitygw (on PATH or in $(go env GOPATH)/bin;
# .ci/run installs it), then runs `replicabench`, which
#   - replicates 1 GiB as 16 × 64 MiB and as 4096 × 256 KiB to a fresh
#     versitygw on loopback, beside `curl --aws-sigv4` PUTs of the same files
#     (two in parallel, the replicator's default concurrency) to another
#     fresh versitygw, in the same run;
#   - samples the receiver's VmRSS while it replicates 8 × 64 MiB;
#   - uploads 16 × 64 MiB to the receiver (two clients) over a backlog of
#     8 × 64 MiB, once without [replica] and once replicating it all;
# and prints markdown tables with pass/fail per target.
#
#   bench/replica/run.sh [reps] [parts]   (reps defaults to 1, about 4 min per rep here;
#                                          parts: any of large,small,rss,upload)
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-1}
parts=${2:-large,small,rss,upload}
out=bench/out/replica
mkdir -p "$out/bin"
vgw=$(command -v versitygw || true)
[[ -n $vgw ]] || vgw="$(go env GOPATH)/bin/versitygw"
if [[ ! -x $vgw ]]; then
  echo "versitygw not found: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0" >&2
  exit 2
fi
command -v curl >/dev/null || { echo "curl not found" >&2; exit 2; }

CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$out/bin/cis490-receiver" ./receiver
go build -o "$out/bin/replicabench" ./bench/replica

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "go: $(go version); $("$vgw" --version 2>&1 | head -1); $(curl --version | head -1 | cut -d' ' -f1-2)"
echo "command: bench/replica/run.sh $reps $parts"
# Run everything (versitygw, the receiver, curl) in one memory cgroup capped
# at 2 GiB, so the page cache they fill is recycled as on a server that has
# been up for a while. Without it, on a VM that hands free memory back to its
# host, writing into never-used page cache costs ~2.7 CPU-s per GiB and
# penalises whichever run comes last (bench/receiver/memcg.go has the
# measurements). Where no memory cgroup can be made, it says so and runs
# without.
cg=""
cgroot=/sys/fs/cgroup/memory
if [[ -d $cgroot ]] && mkdir "$cgroot/replicabench-$$" 2>/dev/null; then
  cg=$cgroot/replicabench-$$
  echo $((2 << 30)) > "$cg/memory.limit_in_bytes"
  echo $$ > "$cg/cgroup.procs"
  echo "page cache: capped at 2 GiB in memory cgroup $cg"
elif [[ -f /sys/fs/cgroup/cgroup.controllers ]] && grep -qw memory /sys/fs/cgroup/cgroup.controllers &&
  mkdir "/sys/fs/cgroup/replicabench-$$" 2>/dev/null; then
  cg=/sys/fs/cgroup/replicabench-$$
  echo $((2 << 30)) > "$cg/memory.max"
  echo $$ > "$cg/cgroup.procs"
  echo "page cache: capped at 2 GiB in memory cgroup $cg"
else
  echo "page cache: not capped (no memory cgroup could be made here); figures include first-touch costs"
fi
uncap() {
  [[ -n $cg ]] || return 0
  if [[ $cg == "$cgroot"/* ]]; then echo $$ > "$cgroot/cgroup.procs"; else echo $$ > /sys/fs/cgroup/cgroup.procs; fi
  rmdir "$cg" 2>/dev/null || true
}
trap uncap EXIT
"$out/bin/replicabench" --receiver "$out/bin/cis490-receiver" --versitygw "$vgw" --out "$out" --reps "$reps" --parts "$parts"
