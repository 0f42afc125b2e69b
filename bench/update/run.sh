#!/usr/bin/env bash
# bench/update/run.sh: the costs SPEC §15 and §16 set targets for.
#   1. `cis490-shipper update` with nothing new: CPU time (user + sys) per run
#      (target ≤ 50 ms; one request, a 304, shipper.TestUpdateInstallsTheNewRelease
#      counts it);
#   2. a 10 MiB release artifact downloaded the way update does (hashed into a
#      file) against `curl -o file` from the same receiver (target ≥ 0.8×);
#   3. `cis490-receiver fleet --json` over the 1 000 000-row data directory of
#      bench/fleethealth (target ≤ 200 ms wall, ≤ 20 MiB peak RSS).
#   bench/update/run.sh [runs]      (default 7)
# Data goes to bench/out/update (and bench/out/fleethealth for the index).
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-7}
out=bench/out/update
rm -rf "$out/run"
mkdir -p "$out/bin" "$out/run"
V=bench-1
LDF="-X cis490/internal/buildinfo.Version=$V"
go build -ldflags "$LDF" -o "$out/bin/cis490-receiver" ./receiver
go build -ldflags "$LDF" -o "$out/bin/cis490-shipper" ./shipper
go build -o "$out/bin/download" ./bench/update/download
go build -o "$out/bin/gen" ./bench/fleethealth/gen
recv=$out/bin/cis490-receiver
run=$out/run

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# A receiver with a published release: version $V (what the shipper says it
# is) and a 10 MiB artifact of random bytes.
"$recv" release keygen --out "$run/keys" >/dev/null
mkdir -p "$run/dist"
head -c $((10 << 20)) /dev/urandom > "$run/dist/cis490-$V-linux-$(go env GOARCH).tar.gz"
f=$run/dist/cis490-$V-linux-$(go env GOARCH).tar.gz
printf '{"type":"cis490-release","version":"%s","commit":"unknown","created_at":"2026-12-04T00:00:00.000Z","artifacts":{"linux-%s":{"file":"%s","sha256":"%s","bytes":%s}}}\n' \
  "$V" "$(go env GOARCH)" "$(basename "$f")" "$(sha256sum "$f" | cut -d' ' -f1)" "$(stat -c %s "$f")" > "$run/dist/release.json"
"$recv" release sign --key "$run/keys/release.key" --rollout-hours 0 "$run/dist" >/dev/null
echo "bench-token-0123456789" > "$run/token"
chmod 600 "$run/token"
cat > "$run/receiver.toml" <<TOML
[server]
listen = "127.0.0.1:18491"
data_dir = "$PWD/$run/data"
[auth.hosts]
lab1 = "$PWD/$run/token"
[version_gate]
enabled = false
[releases]
public_key_file = "$PWD/$run/keys/release.pub"
TOML
"$recv" release publish --config "$run/receiver.toml" "$run/dist" >/dev/null
"$recv" serve --config "$run/receiver.toml" 2>"$run/receiver.log" &
rpid=$!
trap 'kill $rpid 2>/dev/null' EXIT
for _ in $(seq 50); do curl -fs http://127.0.0.1:18491/healthz >/dev/null && break; sleep 0.1; done

# 1. update with nothing new, on a host whose shipper is version $V.
root=$run/host
mkdir -p "$root/usr/local/bin" "$root/etc/cis490"
cp "$out/bin/cis490-shipper" "$root/usr/local/bin/"
cp "$run/keys/release.pub" "$root/etc/cis490/release.pub"
printf 'host_id = "lab1"\n[receiver]\nurl = "http://127.0.0.1:18491"\ntoken_file = "%s"\n' "$PWD/$run/token" > "$root/etc/cis490/lab-host.toml"
export DESTDIR=$PWD/$root SYSTEMCTL=true
"$root/usr/local/bin/cis490-shipper" update --json --config "$root/etc/cis490/lab-host.toml" >/dev/null # keeps the manifest
cpu=()
for _ in $(seq "$runs"); do
  /usr/bin/time -f '%U %S' -o "$run/time.txt" "$root/usr/local/bin/cis490-shipper" update --json \
    --config "$root/etc/cis490/lab-host.toml" > "$run/update.json"
  cpu+=("$(awk '{printf "%d", ($1 + $2) * 1000}' "$run/time.txt")")
done
unset DESTDIR SYSTEMCTL
grep -q '"status":"current"' "$run/update.json" || { echo "update did not say current: $(cat "$run/update.json")" >&2; exit 1; }
echo "update, nothing new: runs $runs  median CPU $(printf '%s\n' "${cpu[@]}" | median) ms  max $(printf '%s\n' "${cpu[@]}" | sort -n | tail -1) ms"

# 2. 10 MiB download: curl against the update's own path, alternating.
path=/v1/releases/files/$(basename "$f")
c=() u=() cs=()
for _ in $(seq "$runs"); do
  rm -f "$run/curl.out" "$run/dl.out"
  c+=("$(curl -fs -H "Authorization: Bearer $(cat "$run/token")" -o "$run/curl.out" -w '%{time_total}' "http://127.0.0.1:18491$path")")
  # curl with the check update makes: the sha256 of what it wrote.
  start=$(date +%s%N)
  curl -fs -H "Authorization: Bearer $(cat "$run/token")" -o "$run/curl.out" "http://127.0.0.1:18491$path"
  sha256sum "$run/curl.out" >/dev/null
  cs+=("$(awk -v n="$(( $(date +%s%N) - start ))" 'BEGIN {printf "%.4f", n / 1e9}')")
  u+=("$("$out/bin/download" --url http://127.0.0.1:18491 --token-file "$run/token" --file "$(basename "$f")" \
    --sha256 "$(sha256sum "$f" | cut -d' ' -f1)" --bytes "$(stat -c %s "$f")" --out "$run/dl.out" | cut -d' ' -f2)")
done
cm=$(printf '%s\n' "${c[@]}" | median) um=$(printf '%s\n' "${u[@]}" | median) csm=$(printf '%s\n' "${cs[@]}" | median)
awk -v c="$cm" -v u="$um" -v cs="$csm" 'BEGIN { printf "10 MiB download: curl median %.1f ms (%.0f MiB/s); curl + sha256sum %.1f ms; update path (size and sha256 checked) median %.1f ms (%.0f MiB/s): %.2f x curl, %.2f x curl + sha256sum\n", c*1000, 10/c, cs*1000, u*1000, 10/u, c/u, cs/u }'

# 3. fleet over the 1 000 000-row data directory of bench/fleethealth.
fh=bench/out/fleethealth
now=2026-11-23T14:30:00Z
[ -s "$fh/1m/index.jsonl" ] || "$out/bin/gen" --dir "$fh/1m" --now "$now" --index 1000000 --attempts 200000 --days 30
times=() cpu=() maxrss=0
for _ in $(seq "$runs"); do
  start=$(date +%s%N)
  /usr/bin/time -f '%M %U %S' -o "$run/time.txt" "$recv" fleet --json --data-dir "$fh/1m" --now "$now" > "$run/fleet.json" 2>/dev/null
  end=$(date +%s%N)
  times+=("$(( (end - start) / 1000000 ))")
  read -r rss us ss < <(tail -1 "$run/time.txt")
  cpu+=("$(awk -v u="$us" -v s="$ss" 'BEGIN {printf "%d", (u + s) * 1000}')")
  [ "$rss" -gt "$maxrss" ] && maxrss=$rss
done
echo "fleet, 1m index ($(stat -c %s "$fh/1m/index.jsonl") B, $(grep -o '"host":' "$run/fleet.json" | wc -l) hosts): median wall $(printf '%s\n' "${times[@]}" | median) ms  max $(printf '%s\n' "${times[@]}" | sort -n | tail -1) ms  median CPU $(printf '%s\n' "${cpu[@]}" | median) ms  peak RSS $(awk -v k="$maxrss" 'BEGIN {printf "%.1f", k/1024}') MiB"
