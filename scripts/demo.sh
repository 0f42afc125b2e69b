#!/usr/bin/env bash
# demo.sh: the main job on built-in defaults, on this machine only. Builds the
# three binaries, starts a loopback receiver (127.0.0.1:8490, no config file),
# writes sample episodes, ships them with one shipper pass, and shows the index.
# Everything lives in a scratch directory that the script prints at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d "${TMPDIR:-/tmp}/cis490-demo.XXXXXX")
bin=$work/bin
mkdir -p "$bin"
echo "== building into $bin"
for b in receiver shipper doctor; do
  CGO_ENABLED=0 go build -trimpath -o "$bin/cis490-$b" "./$b"
done

echo "== starting the receiver (built-in defaults, data in $work/receiver)"
"$bin/cis490-receiver" serve --data-dir "$work/receiver" 2>"$work/receiver.log" &
receiver=$!
trap 'kill "$receiver" 2>/dev/null || true; wait "$receiver" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if curl -fsS http://127.0.0.1:8490/healthz >/dev/null 2>&1; then break; fi
  if ! kill -0 "$receiver" 2>/dev/null; then cat "$work/receiver.log" >&2; exit 1; fi
  sleep 0.1
done

echo "== writing three sample episodes under $work/lab/episodes"
for i in 1 2 3; do
  ep=$work/lab/episodes/demo-ep-000$i
  mkdir -p "$ep/frames"
  for f in 1 2 3 4; do
    head -c 65536 /dev/urandom >"$ep/frames/frame-$f.bin"
  done
  seq 1 2000 | awk '{print $1 "," $1*$1}' >"$ep/samples.csv"
  printf '{"episode":"demo-ep-000%s","host_id":"demo"}\n' "$i" >"$ep/meta.json"
  # Episodes count as ready once nothing changed for settle_s (10 s): age them.
  find "$ep" -exec touch -d '1 minute ago' {} +
done

echo "== one shipper pass (built-in defaults, data in $work/lab)"
"$bin/cis490-shipper" --once --json --data-dir "$work/lab"
echo "== shipper status"
"$bin/cis490-shipper" status --data-dir "$work/lab"
echo "== the receiver's index ($work/receiver/index.jsonl)"
cat "$work/receiver/index.jsonl"
echo "== fsck --verify"
"$bin/cis490-receiver" fsck --verify --data-dir "$work/receiver"
echo
echo "demo data left in $work (receiver log: $work/receiver.log)"
