#!/usr/bin/env bash
# The sampler farm under load (docs/reliability.md): RANKS ranks oversubscribed on this machine's cores,
# BATCHES batches of one image from a tiny model. Checks that every batch is there exactly once and that
# the set equals a 2-rank run's bit for bit, and samples each rank's resident memory every second from its own
# first batch (its runinfo names the rank) to the end. A leak grows with the batches, so a rank fails when it
# grew by more than MAX_GROWTH_MB/2 (default 20) in both halves of its run, or by more than STEP_MB (128) in all.
# Usage: tests/reliability/farm_load.sh RANKS BATCHES DIR
set -euo pipefail
if [ $# -ne 3 ]; then
  sed -n '2,7p' "$0"
  exit 2
fi
RANKS=$1 BATCHES=$2 DIR=$3
CAMPAIGN=farm_load
# shellcheck source=tests/reliability/common.sh
source "$(dirname "$0")/common.sh"
MAX_GROWTH_MB=${MAX_GROWTH_MB:-20}
# glibc's allocator may keep a freed block of network workspace on the heap once (its mmap threshold rises to
# that block's size), a one-off step of tens of MiB at any point of the run; only a step past this fails.
STEP_MB=${STEP_MB:-128}
rm -rf "$DIR"
mkdir -p "$DIR"

"$SCORCH" data synth shapes --out "$DIR/data" --count 64 --resolution 16 --channels 3 >/dev/null
"$SCORCH" train --config "$ROOT/configs/small/ve_tiny.yaml" --set data.path="$DIR/data" --set model.nf=8 \
  --set training.n_iters=1 --set training.snapshot_sampling=false --workdir "$DIR/model" >/dev/null 2>&1
sample() {
  "${MPI[@]}" -np "$1" "$SCORCH" sample --ckpt "$DIR/model/checkpoints/latest" --set model.num_scales=4 \
    --num "$BATCHES" --batch 1 --seed 3 --grid 0 --out "$2"
}

# "rank pid rss_kb" for every rank of the job under $1.
rss() {
  local p r kb
  for p in $(descendants "$1"); do
    r=$(rank_of "$p")
    kb=$( (awk '/^VmRSS/ { print $2 }' "/proc/$p/status") 2>/dev/null || true)
    if [ -n "$r" ] && [ -n "$kb" ]; then echo "$r $p $kb"; fi
  done | sort -n
}

start=$(date +%s)
sample "$RANKS" "$DIR/load" >"$DIR/load.log" 2>&1 &
job=$!
# A rank's baseline is taken once it has a batch of its own on disk: on oversubscribed cores a rank may run
# its first network call (which grows the heap by ~100 MiB of workspace) long after the job's first shard.
declare -A series
baselines=0
while kill -0 "$job" 2>/dev/null; do
  # The runinfo files are read only while some rank still waits for its baseline.
  if [ "$baselines" -lt "$RANKS" ]; then
    seen=" $( (cat "$DIR"/load/runinfo/*.json 2>/dev/null || true) | sed -n 's/^ *"rank": \([0-9]*\).*/\1/p' |
      sort -u | tr '\n' ' ')"
  fi
  now=$(rss "$job")
  if [ "$(wc -l <<<"$now")" -eq "$RANKS" ]; then
    while read -r r _ kb; do
      # Runinfo files only accumulate: once a rank is seen, it stays seen.
      if [[ $seen == *" $r "* ]]; then
        [ -n "${series[$r]:-}" ] || baselines=$((baselines + 1))
        series[$r]+="$kb "
      fi
    done <<<"$now"
  fi
  sleep 1
done
wait "$job" || fail "the $RANKS-rank farm failed: $(tail -5 "$DIR/load.log")"
took=$(($(date +%s) - start))

[ "$(find "$DIR/load" -maxdepth 1 -name 'shard-*.h5' | wc -l)" -eq "$BATCHES" ] || fail "not $BATCHES shards"
python3 - "$DIR/load/manifest.json" "$BATCHES" <<'PY' || fail "the manifest does not list every batch exactly once"
import json, sys
shards = [s["file"] for s in json.load(open(sys.argv[1]))["shards"]]
assert len(shards) == int(sys.argv[2]) and len(set(shards)) == len(shards), (len(shards), len(set(shards)))
PY
sample 2 "$DIR/two" >"$DIR/two.log" 2>&1 || fail "the 2-rank farm failed: $(tail -5 "$DIR/two.log")"
cmp -s "$DIR/load/manifest.json" "$DIR/two/manifest.json" || fail "the set differs from a 2-rank run's"

echo "farm_load: $RANKS ranks, $BATCHES batches in $took s: every batch once, equal to a 2-rank run"
echo "rank  RSS after its first batch  halfway  at the end  (KiB)"
for r in $(seq 0 $((RANKS - 1))); do
  [ -n "${series[$r]:-}" ] || fail "rank $r never wrote a batch while it was watched"
  read -r -a s <<<"${series[$r]}"
  first=${s[0]} mid=${s[$((${#s[@]} / 2))]} end=${s[-1]}
  echo "$r  $first  $mid  $end"
  early=$(((mid - first) / 1024)) late=$(((end - mid) / 1024))
  if [ "$early" -gt $((MAX_GROWTH_MB / 2)) ] && [ "$late" -gt $((MAX_GROWTH_MB / 2)) ]; then
    fail "rank $r grew in both halves of its run ($early MiB, then $late MiB): a leak"
  fi
  [ $((end - first)) -le $((STEP_MB * 1024)) ] || fail "rank $r grew by $(((end - first) / 1024)) MiB"
done
