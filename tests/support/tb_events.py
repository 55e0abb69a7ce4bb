"""Prints what TensorBoard itself reads from a log dir, as JSON, for the C++ tests to compare.

Usage: tb_events.py LOGDIR  ->  {"scalars": {tag: [[step, value], ...]}, "images": {tag: [[step, w, h], ...]},
                                 "files": N}
Uses the tensorboard package's EventAccumulator with nothing sampled away, so the restart purging and the
record CRC checks are TensorBoard's own.
"""
import glob
import json
import os
import sys

from tensorboard.backend.event_processing import event_accumulator as ea

logdir = sys.argv[1]
acc = ea.EventAccumulator(logdir, size_guidance={ea.SCALARS: 0, ea.IMAGES: 0})
acc.Reload()
tags = acc.Tags()
out = {
    "scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]},
    "images": {t: [[e.step, e.width, e.height] for e in acc.Images(t)] for t in tags["images"]},
    "files": len(glob.glob(os.path.join(logdir, "*tfevents*"))),
}
print(json.dumps(out))
