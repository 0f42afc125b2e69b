#!/usr/bin/env bash
# bench/pack/run.sh: pack one synthetic episode with package pack and with
#   tar -cf - DIR | zstd -3 -T1 | openssl dgst -sha256
# in the same run, and print wall time, CPU seconds (user+sys), peak RSS and
# compressed size of both, with the ratios ours/pipeline. Both read the tree
# from the page cache (it is read once before measuring).
#
#   bench/pack/run.sh [SIZE_MIB [RUNS]]      defaults: 1024 MiB, 5 runs
#
# Environment: SEED (generator seed, default 1), LEVEL (default 3),
# OUT (work directory, default bench/out/pack; the tree is cached there).
# Each figure is the median of RUNS runs; the runs alternate between the two.
set -euo pipefail
cd "$(dirname "$0")/../.."

SIZE_MIB=${1:-1024}
RUNS=${2:-5}
SEED=${SEED:-1}
LEVEL=${LEVEL:-3}
OUT=${OUT:-bench/out/pack}
ID=ep-bench
TREE_PARENT=$OUT/tree-s$SEED-$SIZE_MIB
TREE=$TREE_PARENT/$ID

mkdir -p "$OUT"
go build -trimpath -o "$OUT/packbench" ./bench/pack

if [ ! -e "$TREE_PARENT/.complete" ]; then
  echo "generating $SIZE_MIB MiB episode (seed $SEED) in $TREE" >&2
  rm -rf "$TREE_PARENT"
  mkdir -p "$TREE_PARENT"
  "$OUT/packbench" gen -out "$TREE" -seed "$SEED" -size $((SIZE_MIB << 20))
  touch "$TREE_PARENT/.complete"
fi

# Warm the page cache so both sides read from memory.
tar -cf - -C "$TREE_PARENT" "$ID" | cat >/dev/null

# measure NAME CMD...: append "wall cpu rss_kib" for one run to $OUT/NAME.times.
measure() {
  local name=$1; shift
  /usr/bin/time -f '%e %U %S %M' -o "$OUT/time.tmp" "$@" >/dev/null
  awk '{printf "%.2f %.2f %d\n", $1, $2 + $3, $4}' "$OUT/time.tmp" >>"$OUT/$name.times"
}
rm -f "$OUT/ours.times" "$OUT/pipe.times"
for _ in $(seq "$RUNS"); do
  measure ours "$OUT/packbench" pack -root "$TREE" -id "$ID" -level "$LEVEL"
  measure pipe bash -c "tar -cf - -C '$TREE_PARENT' '$ID' | zstd -$LEVEL -T1 -q | openssl dgst -sha256"
done

ours_bytes=$("$OUT/packbench" pack -root "$TREE" -id "$ID" -level "$LEVEL" | sed 's/.*"bytes":\([0-9]*\).*/\1/')
pipe_bytes=$(tar -cf - -C "$TREE_PARENT" "$ID" | zstd "-$LEVEL" -T1 -q | wc -c)
tree_bytes=$(du -sb "$TREE" | cut -f1)

# median FILE COLUMN
median() { cut -d' ' -f"$2" "$1" | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

ow=$(median "$OUT/ours.times" 1); oc=$(median "$OUT/ours.times" 2); orss=$(median "$OUT/ours.times" 3)
pw=$(median "$OUT/pipe.times" 1); pc=$(median "$OUT/pipe.times" 2); prss=$(median "$OUT/pipe.times" 3)

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tree: $tree_bytes bytes, $(find "$TREE" -type f | wc -l) files, seed $SEED; level $LEVEL; median of $RUNS runs"
echo "runs (wall s, cpu s, rss KiB): ours [$(paste -sd';' "$OUT/ours.times")] pipeline [$(paste -sd';' "$OUT/pipe.times")]"
printf '%-10s %8s %8s %10s %14s\n' "" "wall s" "cpu s" "rss MiB" "bytes"
printf '%-10s %8.2f %8.2f %10.1f %14d\n' ours "$ow" "$oc" "$(echo "$orss / 1024" | bc -l)" "$ours_bytes"
printf '%-10s %8.2f %8.2f %10.1f %14d\n' pipeline "$pw" "$pc" "$(echo "$prss / 1024" | bc -l)" "$pipe_bytes"
printf '%-10s %8.2f %8.2f %10s %14.3f\n' ratio "$(echo "$ow / $pw" | bc -l)" "$(echo "$oc / $pc" | bc -l)" "" "$(echo "$ours_bytes / $pipe_bytes" | bc -l)"
