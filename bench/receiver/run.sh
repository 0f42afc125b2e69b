#!/usr/bin/env bash
# bench/receiver/run.sh: the receiver's performance targets (docs/BENCHMARKS.md,
# section "Receiver"). Builds cis490-receiver as the release does and the
# benchmark program, then runs `receiverbench suite`, which
#   - serves the baseline handlers hash, write and serial on loopback,
#   - starts the real receiver (gate off, min_free_bytes 0, one token) and
#     waits for READY=1 on a notify socket it owns,
#   - puts both servers in a memory cgroup capping their page cache at 2 GiB
#     (a long-running server's steady state; see memcg.go),
#   - uploads 1 GiB as 16 × 64 MiB with 1 and 8 clients to every target,
#     repetition by repetition (median reported),
#   - uploads 1 GiB as 4096 × 256 KiB with 1 and 8 clients to serial, the
#     receiver and rest-server (when found) in alternating slices of
#     $SLICE uploads (default 256), printing the flush latency (fsync of a
#     small write and of a directory) measured before every round,
#   - samples the receiver's VmRSS/VmHWM idle and during 8 × 64 MiB,
#   - times start-up over an empty data directory and one holding 100 000
#     index rows and store files,
# and prints markdown tables with pass/fail per target.
#
#   bench/receiver/run.sh [reps] [root|journaled|both|slowfs|slowdev]
#
# reps defaults to 5 (a full run takes ~6-8 minutes per file system).
#   root       (default) data under bench/out/receiver, on the repository's file system;
#   journaled  data on a fresh ext4 with its default journal (ordered data),
#              as the Pi's root file system is, made in a sparse image under
#              bench/out and loop-mounted through the page cache, so a cache
#              flush writes back what the image holds dirty, as an SD card or
#              SSD drains its write cache (needs root and losetup; skipped with
#              the reason otherwise);
#   both       root, then journaled;
#   slowdev    data on an ext4 (no journal; JOURNAL=1 for a journaled one)
#              on a loop device whose backing file is on slowfs: the slow
#              flush below a real file system;
#   slowfs     data on bench/slowfs, a FUSE passthrough over bench/out whose
#              every fsync (file or directory) waits for an emulated,
#              serialised device cache flush of $FLUSH (default 2ms): the
#              Pi's SD card or NVMe drive on any machine (needs /dev/fuse
#              and the right to mount; skipped with the reason otherwise).
# $ONLY limits the upload shapes (e.g. ONLY=256KiB); $TOTAL sets the bytes
# per measurement (default 1 GiB).
# The default is root: the targets are judged there (docs/BENCHMARKS.md).
# rest-server, the peer, is taken from $REST_SERVER or $(go env GOPATH)/bin
# (see docs/BENCHMARKS.md for how to build v0.14.0 outside go.mod); without
# it the peer's column stays empty and the run says so.
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-5}
which=${2:-root}
out=bench/out/receiver
mkdir -p "$out/bin"

CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$out/bin/cis490-receiver" ./receiver
CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -ldflags '-s -w' -o "$out/bin/cis490-receiver-arm64" ./receiver
go build -o "$out/bin/receiverbench" ./bench/receiver

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r)"
echo "go: $(go version)"
slice=${SLICE:-256}
rest=${REST_SERVER:-$(go env GOPATH)/bin/rest-server}
restArgs=()
if [[ -x $rest ]]; then
  restArgs=(--rest-server "$rest")
  echo "peer: $("$rest" --version)"
else
  echo "peer: no rest-server at $rest; small uploads are compared with serial only"
fi

suite() { # data-dir [more receiverbench flags]
  mkdir -p "$1"
  echo "data dir file system: $(df --output=fstype,source "$1" | tail -1) ($(grep -m1 " $(df --output=target "$1" | tail -1) " /proc/mounts | cut -d' ' -f4))"
  echo "command: bench/receiver/run.sh $reps $which"
  "$out/bin/receiverbench" suite --receiver "$out/bin/cis490-receiver" --out "$1" --reps "$reps" \
    --arm64 "$out/bin/cis490-receiver-arm64" --slice "$slice" --only "${ONLY:-}" \
    --total "${TOTAL:-1073741824}" "${restArgs[@]}" "${@:2}"
}

if [[ $which == root || $which == both ]]; then
  echo "== data on the repository's file system"
  suite "$out"
fi

if [[ $which == journaled || $which == both ]]; then
  echo "== data on a journaled ext4"
  if [[ $(id -u) != 0 ]] || ! command -v losetup >/dev/null || ! command -v mkfs.ext4 >/dev/null; then
    echo "skipped: a loop-mounted ext4 needs root, losetup and mkfs.ext4"
    exit 0
  fi
  img=$PWD/bench/out/receiver-ext4.img mnt=$PWD/bench/out/receiver-ext4
  cleanup() {
    umount "$mnt" 2>/dev/null || true
    if [[ -n ${dev:-} ]]; then losetup -d "$dev" 2>/dev/null || true; fi
    rm -f "$img"
  }
  trap cleanup EXIT
  rm -f "$img" && truncate -s 32G "$img"
  mkfs.ext4 -q -F "$img"
  if ! dev=$(losetup -f --show "$img"); then
    echo "skipped: no loop device available"
    exit 0
  fi
  mkdir -p "$mnt" && mount "$dev" "$mnt"
  # Start-up reads 100 000 files' metadata, not flushes: measured on root.
  suite "$mnt/receiver" --startup=false
fi

if [[ $which == slowfs || $which == slowdev ]]; then
  flush=${FLUSH:-2ms}
  echo "== data on slowfs (FUSE passthrough, device flushes of $flush, serialised)"
  (cd bench/slowfs && go build -o "../../$out/bin/slowfs" .)
  back=$PWD/bench/out/slowfs-back mnt=$PWD/bench/out/slowfs-mnt
  rm -rf "$back" && mkdir -p "$back" "$mnt"
  "$out/bin/slowfs" --flush "$flush" "$back" "$mnt" >"$out/slowfs.out" 2>"$out/slowfs.log" &
  fspid=$!
  for _ in $(seq 100); do
    if grep -q ready "$out/slowfs.out" || ! kill -0 "$fspid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  if ! grep -q ready "$out/slowfs.out"; then
    echo "skipped: slowfs could not mount: $(cat "$out/slowfs.log")"
    kill "$fspid" 2>/dev/null || true
    exit 0
  fi
  unmount() {
    if [[ -n ${emnt:-} ]]; then umount "$emnt" 2>/dev/null || true; fi
    if [[ -n ${dev:-} ]]; then losetup -d "$dev" 2>/dev/null || true; fi
    kill "$fspid"; wait "$fspid" || true; cat "$out/slowfs.log"
  }
  trap unmount EXIT
  if [[ $which == slowfs ]]; then
    # Start-up reads 100 000 files' metadata, not flushes: measured on root.
    suite "$mnt/receiver" --startup=false
    exit 0
  fi
  # slowdev: the slow flush below a real file system. An ext4 on a loop
  # device whose backing file lives on slowfs: every cache flush the ext4
  # sends to its device is an fsync of that one file, so one emulated,
  # serialised device flush, while the locks the servers meet are ext4's
  # (through FUSE directly, the kernel holds a file's lock for the whole of
  # its fsync, which ext4 does not). Without a journal by default, like this
  # VM's root; JOURNAL=1 makes the default journaled ext4 of the Pi's root.
  if [[ $(id -u) != 0 ]] || ! command -v losetup >/dev/null || ! command -v mkfs.ext4 >/dev/null; then
    echo "skipped: a loop-mounted ext4 needs root, losetup and mkfs.ext4"
    exit 0
  fi
  img=$mnt/ext4.img emnt=$PWD/bench/out/slowdev-mnt
  features=(-O ^has_journal)
  if [[ ${JOURNAL:-0} == 1 ]]; then features=(); fi
  truncate -s 16G "$img" && mkfs.ext4 -q -F "${features[@]}" "$img"
  if ! dev=$(losetup -f --show "$img"); then
    echo "skipped: no loop device available"
    exit 0
  fi
  mkdir -p "$emnt" && mount "$dev" "$emnt"
  echo "ext4 over the slow device: $(if [[ ${JOURNAL:-0} == 1 ]]; then echo journaled; else echo no journal; fi)"
  suite "$emnt/receiver" --startup=false
fi
