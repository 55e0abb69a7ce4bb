#!/usr/bin/env bash
# kill -9 at random moments (docs/reliability.md): runs a 2-rank job, SIGKILLs the whole job or one rank at
# a random time, restarts the same command, KILLS times, then lets it finish, and checks that
#   - after every kill each checkpoint on disk is complete (meta.json, every file at its recorded size);
#   - every restart resumes from the newest complete checkpoint (never an older one, never from scratch);
#   - the final result is bitwise equal to an uninterrupted run (train: model, EMA and optimizer; sample:
#     the manifest with every shard's SHA-256, so every batch is there exactly once with the same images).
# Usage: tests/reliability/kill_campaign.sh train|sample KILLS SEED DIR
# Kill times are uniform in [0.2 s, WINDOW] from each start, WINDOW = the uninterrupted run's time /
# KILLS (so KILLS kills land before the job is done; env KILL_WINDOW overrides it); SEED fixes them and the
# victims, so a failure reproduces. TRAIN_STEPS (400) and SAMPLE_IMAGES (300) size the job.
# Exit 0 and "survived K/K" when everything held.
set -euo pipefail
if [ $# -ne 4 ]; then
  sed -n '2,12p' "$0"
  exit 2
fi
MODE=$1 KILLS=$2 SEED=$3 DIR=$4
CAMPAIGN="kill_campaign $MODE seed $SEED"
# shellcheck source=tests/reliability/common.sh
source "$(dirname "$0")/common.sh"
MPI+=(-np 2)
export TRAIN_STEPS=${TRAIN_STEPS:-400} SAMPLE_IMAGES=${SAMPLE_IMAGES:-300}
RANDOM=$SEED
rm -rf "$DIR"
mkdir -p "$DIR"

case $MODE in
  train)
    "$SCORCH" data synth shapes --out "$DIR/data" --count 64 --resolution 8 --channels 1 >/dev/null
    cmd() {
      "${MPI[@]}" "$SCORCH" train --config "$ROOT/configs/small/ve_tiny.yaml" --set data.path="$DIR/data" \
        --set data.image_size=8 --set data.num_channels=1 --set model.nf=8 --set model.attn_resolutions=[4] \
        --set training.batch_size=8 --set training.snapshot_sampling=false --set training.snapshot_freq=1000000 \
        --set training.snapshot_freq_for_preemption=20 --set training.n_iters="$TRAIN_STEPS" --workdir "$1"
    }
    ;;
  sample)
    "$SCORCH" data synth shapes --out "$DIR/data" --count 64 --resolution 16 --channels 3 >/dev/null
    "$SCORCH" train --config "$ROOT/configs/small/ve_tiny.yaml" --set data.path="$DIR/data" --set model.nf=8 \
      --set training.n_iters=1 --set training.snapshot_sampling=false --workdir "$DIR/model" >/dev/null
    cmd() {
      "${MPI[@]}" "$SCORCH" sample --ckpt "$DIR/model/checkpoints/latest" --set model.num_scales=10 \
        --num "$SAMPLE_IMAGES" --batch 2 --seed 7 --grid 0 --out "$1"
    }
    ;;
  *) fail "mode must be train or sample, not '$MODE'" ;;
esac

# Checkpoint directories are renamed into place only when complete: each step-* must hold its meta.json
# and every file it lists at the recorded size.
check_checkpoints() {
  [ "$MODE" = train ] || return 0
  local d
  for d in "$DIR/run/checkpoints"/step-*; do
    [ -d "$d" ] || continue
    python3 - "$d" <<'PY' || fail "incomplete checkpoint $d"
import json, os, sys
d = sys.argv[1]
meta = json.load(open(os.path.join(d, "meta.json")))
for name, size in meta["files"].items():
    assert os.path.getsize(os.path.join(d, name)) == size, name
PY
  done
}

newest_checkpoint() {
  local newest=""
  for d in "$DIR/run/checkpoints"/step-*; do [ -d "$d" ] && newest=$d; done
  echo "$newest"
}

echo "uninterrupted reference run"
start=$(date +%s.%N)
cmd "$DIR/whole" >"$DIR/whole.log" 2>&1 || fail "the uninterrupted run failed: $(tail -5 "$DIR/whole.log")"
took=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
WINDOW_MS=$(awk -v t="$took" -v k="$KILLS" -v w="${KILL_WINDOW:-}" \
  'BEGIN { m = w != "" ? 1000 * w : 1000 * t / k; printf "%d", m < 1000 ? 1000 : m }')
echo "  $took s; kills at 0.2 s to $WINDOW_MS ms after each start"

landed=0 early="" attempt=0
while [ "$landed" -lt "$KILLS" ]; do
  attempt=$((attempt + 1))
  expect=$(newest_checkpoint)
  delay_ms=$((200 + (RANDOM * 32768 + RANDOM) % (WINDOW_MS - 200)))
  victim=$((RANDOM % 3)) # 0: the whole job, 1 or 2: that rank (rank victim - 1)
  bash -c "$(declare -f cmd); $(declare -p MPI SCORCH ROOT DIR); cmd '$DIR/run'" >"$DIR/attempt-$attempt.log" 2>&1 &
  pid=$!
  sleep "$(awk -v m="$delay_ms" 'BEGIN { print m / 1000 }')"
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" || fail "attempt $attempt exited on its own with an error: $(tail -5 "$DIR/attempt-$attempt.log")"
    early=1
    echo "attempt $attempt: finished before its kill at ${delay_ms} ms"
    break
  fi
  job=$(descendants "$pid")
  if [ "$victim" -eq 0 ]; then
    # shellcheck disable=SC2086  # a list of pids
    kill -9 $job "$pid" 2>/dev/null || true
    what="the whole job"
  else
    rank=$((victim - 1))
    target=""
    for p in $job; do
      if [ "$(rank_of "$p")" = "$rank" ]; then target=$p; fi
    done
    if [ -n "$target" ]; then
      kill -9 "$target" 2>/dev/null || true
      what="rank $rank"
    else
      # shellcheck disable=SC2086
      kill -9 $job "$pid" 2>/dev/null || true
      what="the whole job (rank $rank not started yet)"
    fi
  fi
  # The job must end by itself once one rank is gone (mpirun ends the others): a hang fails the campaign.
  for _ in $(seq 1 300); do
    alive=""
    for p in $job $pid; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
    [ -n "$alive" ] || break
    sleep 0.1
  done
  if [ -n "$alive" ]; then
    # shellcheck disable=SC2086
    kill -9 $alive 2>/dev/null || true
    fail "attempt $attempt: processes$alive still ran 30 s after $what was killed"
  fi
  { wait "$pid"; } 2>/dev/null || true
  landed=$((landed + 1))
  if [ "$MODE" = train ] && [ -n "$expect" ]; then
    line=$(grep -o "resumed from [^ ]*" "$DIR/attempt-$attempt.log" | head -1 || true)
    [ -z "$line" ] || [ "$line" = "resumed from $expect" ] ||
      fail "attempt $attempt: '$line', but the newest complete checkpoint was $expect"
  fi
  check_checkpoints
  if [ "$MODE" = train ]; then
    progress="newest checkpoint now $(basename "$(newest_checkpoint)")"
  else
    progress="$( (find "$DIR/run" -maxdepth 1 -name 'shard-*.h5' 2>/dev/null || true) | wc -l) batches on disk"
  fi
  echo "attempt $attempt: killed $what at ${delay_ms} ms; $progress"
done

cmd "$DIR/run" >"$DIR/final.log" 2>&1 || fail "the final run failed: $(tail -5 "$DIR/final.log")"
check_checkpoints
# What the killed writes left behind is cleared when the command starts again.
leftover=$(find "$DIR/run" -name '.*tmp*' | head -1)
[ -z "$leftover" ] || fail "a killed write's temporary file is still there after the final run: $leftover"
if [ "$MODE" = train ]; then
  last=$(basename "$(newest_checkpoint)")
  for f in model ema optimizer; do
    cmp -s "$DIR/run/checkpoints/$last/$f.safetensors" "$DIR/whole/checkpoints/$last/$f.safetensors" ||
      fail "$last/$f.safetensors differs from the uninterrupted run's"
  done
else
  cmp -s "$DIR/run/manifest.json" "$DIR/whole/manifest.json" ||
    fail "the manifest (every shard's SHA-256) differs from the uninterrupted run's"
fi
echo "kill_campaign $MODE seed $SEED: survived $landed/$landed kills (${early:+one run finished before its kill; }final result bitwise equal to the uninterrupted run)"
