#!/usr/bin/env bash
# `scorch sample` under mpirun: the sampler farm hands batches to all ranks (one per GPU) and writes them as
# shards; running the same command again skips the batches already written. The arguments are those of
# `scorch sample` (mpirun flags explained in common.sh, docs/cluster.md):
#
#   launch/mpirun/sample.sh --ckpt runs/cifar10_ddpmpp/checkpoints/latest --num 50000 --batch 500 \
#     --out samples/cifar10_ddpmpp
#   SCORCH_HOSTFILE=hosts launch/mpirun/sample.sh --ckpt ... --out /shared/samples/...   # several machines
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
scorch_mpirun sample "$@"
