"""Writes a tiny checkpoint the way score_sde_pytorch's save_checkpoint does, plus per-tensor statistics.

The network is the parity fixture's (weights made by score_sde_pytorch's own model code, see
tests/fixtures/parity/README.md); the reference's parameter and state_dict order come from
tests/fixtures/convert/*_order.json. The checkpoint holds what a real one holds:
- 'model': a DataParallel state_dict (OrderedDict with _metadata, keys 'module.<name>') of weights that a
  few real Adam updates moved away from the parity weights; 'sigmas' float64, the frozen Fourier W untouched;
- 'ema': {'decay', 'num_updates', 'shadow_params'}: the parity weights of the trainable parameters, in
  parameter order, so the EMA network reproduces the parity fixture's reference output;
- 'optimizer': torch.optim.Adam(model.parameters()).state_dict() after those updates, with the learning
  rate set as score_sde's warm-up sets it (a numpy.float64);
- 'step': an int.
--expected gets {'model'|'ema'|'optimizer': {name: [sum, sum of |x|, first element]}, scalars} for checks
that do not depend on scorch's reader.
"""
import argparse
import collections
import json

import numpy as np
import torch
from safetensors.torch import load_file

parser = argparse.ArgumentParser()
parser.add_argument("--weights", required=True, help="parity fixture (param/<name> tensors)")
parser.add_argument("--order", required=True, help="reference state_dict / named_parameters order (json)")
parser.add_argument("--out", required=True, help="the .pth to write")
parser.add_argument("--expected", required=True, help="json of per-tensor statistics to write")
parser.add_argument("--legacy", action="store_true", help="torch's pre-1.6 (non-zip) serialization")
args = parser.parse_args()

torch.manual_seed(0)
weights = {k[len("param/"):]: v for k, v in load_file(args.weights).items() if k.startswith("param/")}
order = json.load(open(args.order))
params = [(name, torch.nn.Parameter(weights[name].clone(), requires_grad=trainable))
          for name, trainable in order["parameters"]]
by_name = dict(params)

# Large steps so that the raw weights differ visibly from the EMA (= parity) weights.
lr, warmup, steps = 1e-2, 2, 3
optimizer = torch.optim.Adam([p for _, p in params], lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)
for step in range(1, steps + 1):
    for _, p in params:
        if p.requires_grad:
            p.grad = torch.randn_like(p)
    for group in optimizer.param_groups:
        group["lr"] = lr * np.minimum(step / warmup, 1.0)
    optimizer.step()

model = collections.OrderedDict()
for name in order["state_dict"]:
    model["module." + name] = (by_name[name].detach() if name in by_name else weights[name]).clone()
model._metadata = collections.OrderedDict([("", {"version": 1}), ("module", {"version": 1})])
ema = {"decay": 0.999, "num_updates": steps,
       "shadow_params": [weights[name].clone() for name, p in params if p.requires_grad]}
state = {"optimizer": optimizer.state_dict(), "model": model, "ema": ema, "step": steps}
torch.save(state, args.out, _use_new_zipfile_serialization=not args.legacy)


def stats(t):
    d = t.detach().double().reshape(-1)
    return [float(d.sum()), float(d.abs().sum()), float(d[0])]


adam = {}
for index, s in optimizer.state_dict()["state"].items():
    for key in ("exp_avg", "exp_avg_sq"):
        adam[f"{key}.{params[index][0]}"] = stats(s[key])
expected = {
    "step": steps, "adam_step": steps, "num_updates": steps, "decay": 0.999,
    "model": {k[len("module."):]: stats(v) for k, v in model.items()},
    "ema": {name: stats(weights[name]) for name, p in params if p.requires_grad},
    "optimizer": adam,
}
with open(args.expected, "w") as f:
    json.dump(expected, f, indent=0)
