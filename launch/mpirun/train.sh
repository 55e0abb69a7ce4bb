#!/usr/bin/env bash
# `scorch train` under mpirun, one rank per GPU (mpirun flags explained in common.sh, docs/cluster.md).
# The arguments are those of `scorch train`. This machine, every GPU:
#
#   launch/mpirun/train.sh --config configs/vp/cifar10_ddpmpp_continuous.yaml \
#     --set data.path=/data/cifar10 --workdir runs/cifar10_ddpmpp
#
# Several machines: a hostfile with one `node01 slots=8` line per machine, and the same paths on all:
#
#   SCORCH_HOSTFILE=hosts launch/mpirun/train.sh --config ... --workdir /shared/runs/cifar10_ddpmpp
#
# Two CPU ranks on a machine without GPUs: SCORCH_NP=2 launch/mpirun/train.sh ...
# To stop cleanly, send USR1 to mpirun (`kill -USR1 PID`): it passes it to every rank, which checkpoint and
# exit 3. Running the same command again resumes from the newest checkpoint in the run dir.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
scorch_mpirun train "$@"
