#!/usr/bin/env bash
# `scorch fid` under mpirun: images split over the ranks (one per GPU), statistics all-reduced, one result
# whatever the rank count. The arguments are those of `scorch fid` (flags explained in common.sh,
# docs/cluster.md):
#
#   launch/mpirun/fid.sh --samples samples/cifar10_ddpmpp --ref cifar10_train.npz
#   launch/mpirun/fid.sh --ckpts 'runs/cifar10_ddpmpp/checkpoints/step-*' --num 10000 --ref cifar10_train.npz
#   SCORCH_HOSTFILE=hosts launch/mpirun/fid.sh --samples /shared/samples/... --ref ...   # several machines
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
scorch_mpirun fid "$@"
