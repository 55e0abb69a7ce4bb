# shellcheck shell=bash
# What the reliability campaigns share: paths, the mpirun command, failing with a message, and finding the
# processes of a job. Sourced after the campaign sets CAMPAIGN (the name its failures carry).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SCORCH=${SCORCH:-$ROOT/build/bin/scorch}
MPI=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && MPI+=(--allow-run-as-root)
export OMP_NUM_THREADS=1

fail() {
  echo "$CAMPAIGN: FAILED: $*" >&2
  exit 1
}

# Every process under $1 (children, their children, ...). Open MPI starts each rank in a process group of its
# own, so a job is this tree rather than a process group.
descendants() {
  local p
  for p in $(pgrep -P "$1" || true); do
    echo "$p"
    descendants "$p"
  done
}

# The MPI rank of process $1, or nothing when it is not a rank (mpirun itself) or is gone.
rank_of() {
  (tr '\0' '\n' <"/proc/$1/environ") 2>/dev/null | sed -n 's/^OMPI_COMM_WORLD_RANK=//p' || true
}
