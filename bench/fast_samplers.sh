#!/usr/bin/env bash
# FID against network evaluations for every sampler on one trained model (docs/benchmarks.md "Few-step
# samplers"): the same NUM images per sampler from the same seed, FID against REF, seconds per image (one
# rank, one thread: each batch's time summed), and ratios against PC with N = 1000 (2,000 evaluations)
# from the same run. Validates first: one small batch of every row must report the evaluations its
# settings promise (the ODE's count is adaptive).
# Usage: bench/fast_samplers.sh CKPT REF.npz OUT [NUM=2000] [BATCH=100] [RANKS=2]
# Writes OUT/ROW/ (samples), OUT/table.csv, OUT/table.md and OUT/fid-vs-nfe.png; rows already in
# OUT/table.csv are kept.
set -euo pipefail
if [ $# -lt 3 ]; then
  sed -n '2,9p' "$0"
  exit 2
fi
CKPT=$1 REF=$2 OUT=$3 NUM=${4:-2000} BATCH=${5:-100} RANKS=${6:-2}
SCORCH=${SCORCH:-$(cd "$(dirname "$0")/.." && pwd)/build/bin/scorch}
MPI=(mpirun -np "$RANKS")
[ "$(id -u)" -eq 0 ] && MPI+=(--allow-run-as-root)

# name | promised evaluations per image ("-": adaptive) | settings. PC comes last: it takes ~100x as long
# as the rest, and the table can be read before it ends.
ROWS=(
  "ode_rk45|-|--set sampling.method=ode --set sampling.rtol=1e-5 --set sampling.atol=1e-5"
  "dpm_2m_10|10|--set sampling.method=dpm_solver --set sampling.solver_order=2 --set sampling.steps=10"
  "dpm_2m_15|15|--set sampling.method=dpm_solver --set sampling.solver_order=2 --set sampling.steps=15"
  "dpm_2m_20|20|--set sampling.method=dpm_solver --set sampling.solver_order=2 --set sampling.steps=20"
  "dpm_2m_35|35|--set sampling.method=dpm_solver --set sampling.solver_order=2 --set sampling.steps=35"
  "dpm_3m_10|10|--set sampling.method=dpm_solver --set sampling.solver_order=3 --set sampling.steps=10"
  "dpm_3m_15|15|--set sampling.method=dpm_solver --set sampling.solver_order=3 --set sampling.steps=15"
  "dpm_3m_20|20|--set sampling.method=dpm_solver --set sampling.solver_order=3 --set sampling.steps=20"
  "dpm_3m_35|35|--set sampling.method=dpm_solver --set sampling.solver_order=3 --set sampling.steps=35"
  "edm_heun_35|35|--set sampling.method=edm --set sampling.steps=35"
  "ddim_50|50|--set sampling.method=ddim --set sampling.steps=50"
  "ddim_eta1_20|20|--set sampling.method=ddim --set sampling.steps=20 --set sampling.ddim_eta=1"
  "ddim_eta1_35|35|--set sampling.method=ddim --set sampling.steps=35 --set sampling.ddim_eta=1"
  "edm_churn_35|35|--set sampling.method=edm --set sampling.steps=35 --set sampling.edm_churn=40"
  "ddpm_20|20|--set sampling.method=ddpm --set sampling.steps=20"
  "ddpm_50|50|--set sampling.method=ddpm --set sampling.steps=50"
  "pc_1000|2000|--set model.num_scales=1000 --set sampling.method=pc --set sampling.predictor=reverse_diffusion --set sampling.corrector=langevin"
)

mkdir -p "$OUT"
nfe_of() { sed -n 's/.*mean NFE per batch \([0-9.]*\)).*/\1/p' <<<"$1" | tail -1; }

echo "validate: one batch of 4 per row"
for row in "${ROWS[@]}"; do
  IFS='|' read -r name promised settings <<<"$row"
  # shellcheck disable=SC2086  # settings are words
  log=$("$SCORCH" sample --ckpt "$CKPT" --num 4 --batch 4 --grid 0 --overwrite --out "$OUT/.validate/$name" $settings 2>&1)
  nfe=$(nfe_of "$log")
  if [ "$promised" != "-" ] && [ "${nfe%.*}" != "$promised" ]; then
    echo "validate: $name made $nfe evaluations per batch, its settings promise $promised" >&2
    exit 1
  fi
  echo "  $name: $nfe evaluations"
done
rm -rf "$OUT/.validate"

CSV=$OUT/table.csv
[ -f "$CSV" ] || echo "name,nfe,seconds_per_image,fid,settings" >"$CSV"
for row in "${ROWS[@]}"; do
  IFS='|' read -r name _ settings <<<"$row"
  if grep -q "^$name," "$CSV"; then
    echo "$name: in $CSV already"
    continue
  fi
  # shellcheck disable=SC2086
  log=$("${MPI[@]}" "$SCORCH" sample --ckpt "$CKPT" --num "$NUM" --batch "$BATCH" --out "$OUT/$name" $settings 2>&1)
  nfe=$(nfe_of "$log")
  # Summed from each batch's runinfo rather than the run's wall clock, so a run resumed after a kill
  # still counts every batch once.
  seconds=$(cat "$OUT/$name"/runinfo/shard-*.json | sed -n 's/.*"seconds": \([0-9.e+-]*\).*/\1/p' |
    awk '{ s += $1 } END { print s }')
  fid=$("${MPI[@]}" "$SCORCH" fid --samples "$OUT/$name" --ref "$REF" 2>&1 | sed -n 's/^FID \([0-9.]*\) .*/\1/p')
  per_image=$(awk -v s="$seconds" -v n="$NUM" 'BEGIN { printf "%.4f", s / n }') # one rank, one thread
  echo "$name,$nfe,$per_image,$fid,$settings" >>"$CSV"
  echo "$name: NFE $nfe, $per_image s/image, FID $fid"
done

awk -F, 'NR == 1 { next }
  $1 == "pc_1000" { pc_fid = $4; pc_t = $3 }
  { name[NR] = $1; nfe[NR] = $2; t[NR] = $3; fid[NR] = $4; n = NR }
  END {
    print "| sampler | NFE | CPU s/image | FID | FID / PC | speed vs PC |"
    print "|---|---|---|---|---|---|"
    for (i = 2; i <= n; ++i)
      printf "| %s | %s | %s | %s | %s | %s |\n", name[i], nfe[i], t[i], fid[i],
             pc_fid ? sprintf("%.2f", fid[i] / pc_fid) : "-", pc_t ? sprintf("%.0fx", pc_t / t[i]) : "-"
  }' "$CSV" >"$OUT/table.md"
cat "$OUT/table.md"
PLOT=${PLOT:-$(dirname "$SCORCH")/fast_samplers_plot}
if [ -x "$PLOT" ]; then
  "$PLOT" "$CSV" "$OUT/fid-vs-nfe.png"
else
  echo "no $PLOT (ninja -C build fast_samplers_plot): the plot is not drawn"
fi
