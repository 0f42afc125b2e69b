#!/usr/bin/env bash
# bench/shipper/run.sh: the shipper's memory while it packs and uploads one
# large episode to a real receiver on loopback, and the CPU an idle daemon
# spends over a large shipped/ and quarantine/.
#
#   bench/shipper/run.sh [SIZE_MIB [IDLE_SECONDS]]    defaults: 4096 MiB, 300 s
#
# Needs /usr/bin/time (Debian package time). Work files go to OUT (default
# bench/out/shipper, gitignored); the large episode needs about 3 x SIZE_MIB
# of free disk (the episode, the outbox tarball, the receiver's copy).
set -euo pipefail
cd "$(dirname "$0")/../.."

SIZE_MIB=${1:-4096}
IDLE_S=${2:-300}
OUT=${OUT:-bench/out/shipper}
PORT=${PORT:-18491}
SHIPPED=10000
QUARANTINED=1000

rm -rf "$OUT/lab" "$OUT/receiver"
mkdir -p "$OUT/bin" "$OUT/lab/episodes"
for b in receiver shipper; do
  CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$OUT/bin/cis490-$b" "./$b"
done
go build -trimpath -o "$OUT/bin/packbench" ./bench/pack

cat >"$OUT/receiver.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
data_dir = "$PWD/$OUT/receiver"
min_free_bytes = 0
max_body_bytes = 68_719_476_736
[version_gate]
enabled = false
TOML
cat >"$OUT/lab-host.toml" <<TOML
host_id = "bench"
[paths]
data_dir = "$PWD/$OUT/lab"
[receiver]
url = "http://127.0.0.1:$PORT"
[shipper]
settle_s = 0
TOML

"$OUT/bin/cis490-receiver" serve --config "$OUT/receiver.toml" 2>"$OUT/receiver.log" &
receiver=$!
daemon=
cleanup() { kill $receiver $daemon 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

echo "== generating a $SIZE_MIB MiB episode"
"$OUT/bin/packbench" gen -out "$OUT/lab/episodes/ep-big" -seed 7 -size $((SIZE_MIB << 20))
echo '{"code_version":{"commit":""}}' >"$OUT/lab/episodes/ep-big/meta.json"
sync

echo "== one pass: pack + upload (wall s, user s, sys s, peak RSS KiB)"
/usr/bin/time -f "%e %U %S %M" -o "$OUT/once.time" \
  "$OUT/bin/cis490-shipper" --once --json --config "$OUT/lab-host.toml" >"$OUT/once.json" 2>"$OUT/once.log"
read -r wall user sys rss <"$OUT/once.time"
cat "$OUT/once.json"
stored=$(stat -c %s "$OUT/receiver/store/ep-big.tar.zst")
awk -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v b="$stored" -v m="$SIZE_MIB" 'BEGIN {
  printf "pack+upload %d MiB: wall %.1f s, cpu %.1f s, %.0f MB/s of episode, tarball %.0f MiB\n", m, w, u+s, m*1.048576/w, b/1048576
  printf "shipper peak RSS: %.1f MiB (target <= 40 MiB): %s\n", r/1024, (r/1024 <= 40 ? "PASS" : "FAIL")
}'
rm -rf "$OUT/lab/shipped/ep-big" "$OUT/receiver/store/ep-big.tar.zst"

echo "== idle daemon over $SHIPPED shipped and $QUARANTINED quarantined episodes, ${IDLE_S} s"
now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
for i in $(seq -w 1 $SHIPPED); do
  mkdir -p "$OUT/lab/shipped/ep-$i"
  echo '{}' >"$OUT/lab/shipped/ep-$i/meta.json"
done
for i in $(seq -w 1 $QUARANTINED); do
  mkdir -p "$OUT/lab/quarantine/q-$i"
  printf '{"status":412,"error":"commit-not-in-window","detail":"","remediation":"","at":"%s","receiver":""}\n' "$now" \
    >"$OUT/lab/quarantine/q-$i/quarantine_reason.json"
done
"$OUT/bin/cis490-shipper" --config "$OUT/lab-host.toml" 2>"$OUT/daemon.log" &
daemon=$!
sleep 15 # start-up and the first full pass (cleanup included) are not idle time
ticks() { awk '{print $14 + $15}' "/proc/$daemon/stat"; }
t0=$(ticks)
sleep "$IDLE_S"
t1=$(ticks)
hz=$(getconf CLK_TCK)
awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$IDLE_S" 'BEGIN {
  cpu = d / hz; per_hour = cpu * 3600 / s
  printf "idle daemon: %.2f s CPU in %d s = %.2f s per hour (target < 1 s): %s\n", cpu, s, per_hour, (per_hour < 1 ? "PASS" : "FAIL")
}'
grep -c . "$OUT/daemon.log" | xargs -I{} echo "daemon log lines during the idle run: {}"
