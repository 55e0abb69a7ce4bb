# shellcheck shell=bash
# The mpirun command line shared by launch/mpirun/{train,sample,fid}.sh: one rank per GPU, ranks pinned to
# their own cores, the NCCL/scorch environment carried to every node. Sourced, not run.
#
# Settings (environment):
#   SCORCH_HOSTFILE      Open MPI hostfile for several machines, lines like `node01 slots=8`; unset: this machine
#   SCORCH_NP            ranks in all (default: the hostfile's slots, else this machine's GPUs, else 1)
#   SCORCH_PER_NODE      ranks per machine (default: this machine's GPUs, else the hostfile's largest slots,
#                        else SCORCH_NP)
#   SCORCH_CORES_PER_RANK  cores pinned to each rank (default: this machine's cores / SCORCH_PER_NODE; set it
#                        when launching from a login node unlike the compute nodes)
#   SCORCH_BIN           the scorch binary (default: `scorch` on PATH, else build/bin/scorch of this checkout)
#   SCORCH_MPIRUN_ARGS   extra mpirun options, split on spaces (e.g. "--report-bindings --mca btl ^openib")
#   SCORCH_DRY_RUN=1     print the command instead of running it

scorch_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

scorch_gpu_count() {
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true
  else
    echo 0
  fi
}

# "TOTAL MAX": the sum and the largest of `slots=N` over a hostfile's lines (a host without slots counts 1).
scorch_hostfile_slots() {
  awk '/^[[:space:]]*(#|$)/ { next }
       { n = 1; for (i = 2; i <= NF; i++) if ($i ~ /^slots=/) { split($i, kv, "="); n = kv[2] }
         total += n; if (n > max) max = n }
       END { print total + 0, max + 0 }' "$1"
}

# scorch_check_count NAME: NAME, when set, must be a positive whole number. Bash arithmetic would read a typo as 0
# (or as another variable's value) and place the ranks by it.
scorch_check_count() {
  local value=${!1-1}
  case $value in
    '' | *[!0-9]* | 0*)
      echo "$1='$value': expected a positive whole number" >&2
      return 1
      ;;
  esac
}

# scorch_mpirun SUBCOMMAND [ARGS...]: prints the mpirun command, then runs it in place of this shell.
scorch_mpirun() {
  local scorch gpus np per_node cores pe slots=() hostfile=${SCORCH_HOSTFILE:-}
  scorch=${SCORCH_BIN:-$(command -v scorch || echo "$scorch_root/build/bin/scorch")}
  if [ ! -x "$scorch" ] && [ "${SCORCH_DRY_RUN:-0}" != 1 ]; then
    echo "no scorch binary at '$scorch': build it (launch/setup) or set SCORCH_BIN" >&2
    return 1
  fi
  local var
  for var in SCORCH_NP SCORCH_PER_NODE SCORCH_CORES_PER_RANK; do
    scorch_check_count "$var" || return 1
  done
  if [ -n "$hostfile" ] && [ ! -r "$hostfile" ]; then
    echo "SCORCH_HOSTFILE='$hostfile': no such readable file (an Open MPI hostfile, lines like 'node01 slots=8')" >&2
    return 1
  fi
  gpus=$(scorch_gpu_count)
  if [ -n "$hostfile" ]; then
    read -r -a slots < <(scorch_hostfile_slots "$hostfile")
    np=${SCORCH_NP:-${slots[0]}}
    per_node=${SCORCH_PER_NODE:-$((gpus > 0 ? gpus : slots[1]))}
  else
    np=${SCORCH_NP:-$((gpus > 0 ? gpus : 1))}
    per_node=${SCORCH_PER_NODE:-$((gpus > 0 ? gpus : np))}
  fi
  # GNU nproc answers OMP_NUM_THREADS when it is set; the cores are wanted here.
  cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
  pe=${SCORCH_CORES_PER_RANK:-$((cores / per_node > 0 ? cores / per_node : 1))}

  local cmd=(mpirun -np "$np")
  # Several machines: the hostfile names them and how many ranks each takes (slots).
  [ -z "$hostfile" ] || cmd+=(--hostfile "$hostfile")
  if [ -n "${SCORCH_CORES_PER_RANK:-}" ] || [ $((per_node * pe)) -le "$cores" ]; then
    # ppr:N:node puts N ranks on each machine (one per GPU, filling machines in turn); PE=k gives each rank
    # k cores of its own, and --bind-to core pins it there, so its data-loader threads stay on those cores
    # and never compete with another rank's.
    cmd+=(--map-by "ppr:$per_node:node:PE=$pe" --bind-to core)
  else
    # More ranks than cores (a CPU test on a small machine): pinning would stack ranks; let the OS place them.
    cmd+=(--map-by "ppr:$per_node:node" --bind-to none)
  fi
  # mpirun starts remote ranks with its own environment, not the login shell's: pass on where scorch and
  # its libraries are, plus every NCCL_*, SCORCH_*, UCX_* and OMP_* setting made here (but the settings of
  # this script, which mean nothing to the ranks).
  cmd+=(-x PATH)
  [ -z "${LD_LIBRARY_PATH:-}" ] || cmd+=(-x LD_LIBRARY_PATH)
  while IFS= read -r var; do
    cmd+=(-x "$var")
  done < <(compgen -e | grep -E '^(NCCL_|SCORCH_|UCX_|OMP_|CUDA_DEVICE_ORDER$)' |
    grep -vE '^SCORCH_(HOSTFILE|NP|PER_NODE|CORES_PER_RANK|BIN|MPIRUN_ARGS|DRY_RUN)$' || true)
  # shellcheck disable=SC2206 # SCORCH_MPIRUN_ARGS is split on spaces on purpose
  [ -z "${SCORCH_MPIRUN_ARGS:-}" ] || cmd+=(${SCORCH_MPIRUN_ARGS})
  cmd+=("$scorch" "$@")

  printf '%q ' "${cmd[@]}" >&2
  printf '\n' >&2
  [ "${SCORCH_DRY_RUN:-0}" = 1 ] && return 0
  exec "${cmd[@]}"
}
