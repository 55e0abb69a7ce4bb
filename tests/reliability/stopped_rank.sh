#!/usr/bin/env bash
# A rank that stops answering mid-training (docs/reliability.md): SIGSTOPs rank 1 of a 2-rank run once its
# first checkpoint is written and checks that rank 0's watchdog ends the whole job within a few seconds of
# dist.timeout_s (TIMEOUT, default 3), with an error naming the section it stalled in, instead of a hang.
# Usage: tests/reliability/stopped_rank.sh DIR [TIMEOUT]
set -euo pipefail
if [ $# -lt 1 ]; then
  sed -n '2,5p' "$0"
  exit 2
fi
DIR=$1 TIMEOUT=${2:-3}
CAMPAIGN=stopped_rank
# shellcheck source=tests/reliability/common.sh
source "$(dirname "$0")/common.sh"
MPI+=(-np 2)
rm -rf "$DIR"
mkdir -p "$DIR"

"$SCORCH" data synth shapes --out "$DIR/data" --count 64 --resolution 8 --channels 1 >/dev/null 2>&1
"${MPI[@]}" "$SCORCH" train --config "$ROOT/configs/small/ve_tiny.yaml" --set data.path="$DIR/data" \
  --set data.image_size=8 --set data.num_channels=1 --set model.nf=8 --set model.attn_resolutions=[4] \
  --set training.batch_size=8 --set training.snapshot_sampling=false --set training.snapshot_freq_for_preemption=20 \
  --set training.n_iters=1000000 --set dist.timeout_s="$TIMEOUT" --workdir "$DIR/run" >"$DIR/train.log" 2>&1 &
job=$!
while [ ! -e "$DIR/run/checkpoints/step-000000020" ] && kill -0 "$job" 2>/dev/null; do sleep 0.1; done
victim=""
for p in $(pgrep -P "$job" || true); do
  if [ "$(rank_of "$p")" = 1 ]; then victim=$p; fi
done
[ -n "$victim" ] || fail "rank 1 of the job was not found: $(tail -5 "$DIR/train.log")"
kill -STOP "$victim"
start=$(date +%s)
limit=$((TIMEOUT + 30))
while kill -0 "$job" 2>/dev/null && [ $(($(date +%s) - start)) -lt "$limit" ]; do sleep 0.2; done
if kill -0 "$job" 2>/dev/null; then
  kill -9 "$victim" "$job" 2>/dev/null || true
  fail "the job still ran ${limit} s after rank 1 stopped"
fi
rc=0
wait "$job" || rc=$?
took=$(($(date +%s) - start))
[ "$rc" -ne 0 ] || fail "the job exited 0 with a stopped rank"
grep -q "stalled for" "$DIR/train.log" || fail "no watchdog message: $(tail -5 "$DIR/train.log")"
echo "stopped_rank: the job ended (exit $rc) $took s after rank 1 stopped (dist.timeout_s = $TIMEOUT):"
grep -m1 "stalled for" "$DIR/train.log"
