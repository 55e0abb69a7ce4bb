"""Checks a checkpoint that `scorch convert export` wrote against the score_sde checkpoint it came from.

Loads the export with torch.load(weights_only=True) (the default of torch >= 2.6, which score_sde's
restore_checkpoint then gets), compares every entry exactly, then restores it the way score_sde's
restore_checkpoint does — optimizer.load_state_dict, model.load_state_dict (strict here, stricter than the
reference's strict=False), the EMA dict, the step — into a DataParallel-shaped module tree with the
reference's parameter names and order, and takes one more Adam step. Prints OK or raises.
"""
import argparse
import json

import torch

parser = argparse.ArgumentParser()
parser.add_argument("--exported", required=True)
parser.add_argument("--source", required=True)
parser.add_argument("--order", required=True)
args = parser.parse_args()

# The source holds a numpy.float64 learning rate (score_sde's warm-up), which weights_only refuses.
src = torch.load(args.source, weights_only=False)
got = torch.load(args.exported, weights_only=True)
order = json.load(open(args.order))


def same(a, b, what):
    assert a.dtype == b.dtype and a.shape == b.shape, f"{what}: {a.dtype} {tuple(a.shape)} vs {b.dtype} {tuple(b.shape)}"
    assert torch.equal(a, b), f"{what}: values differ"


assert set(got) == {"optimizer", "model", "ema", "step"}, sorted(got)
assert isinstance(got["step"], int) and got["step"] == src["step"], (got["step"], src["step"])
assert set(got["model"]) == set(src["model"]), set(got["model"]) ^ set(src["model"])
for k in src["model"]:
    same(got["model"][k], src["model"][k], f"model[{k}]")
assert got["ema"]["decay"] == src["ema"]["decay"] and got["ema"]["num_updates"] == src["ema"]["num_updates"]
assert len(got["ema"]["shadow_params"]) == len(src["ema"]["shadow_params"])
for i, (a, b) in enumerate(zip(got["ema"]["shadow_params"], src["ema"]["shadow_params"])):
    same(a, b, f"ema.shadow_params[{i}]")
gs, ss = got["optimizer"]["state"], src["optimizer"]["state"]
assert set(gs) == set(ss), set(gs) ^ set(ss)
for i in ss:
    assert int(gs[i]["step"]) == int(ss[i]["step"]), (i, gs[i]["step"], ss[i]["step"])
    for key in ("exp_avg", "exp_avg_sq"):
        same(gs[i][key], ss[i][key], f"optimizer.state[{i}][{key}]")
gg, sg = got["optimizer"]["param_groups"][0], src["optimizer"]["param_groups"][0]
assert gg["params"] == sg["params"] and tuple(gg["betas"]) == tuple(sg["betas"]) and gg["eps"] == sg["eps"]


class Node(torch.nn.Module):
    pass


class DataParallelLike(torch.nn.Module):
    def __init__(self, module):
        super().__init__()
        self.module = module


net = Node()
param_names = set()
for name, trainable in order["parameters"]:
    *path, leaf = name.split(".")
    m = net
    for part in path:
        if part not in m._modules:
            m.add_module(part, Node())
        m = m._modules[part]
    shape = src["model"]["module." + name].shape
    m.register_parameter(leaf, torch.nn.Parameter(torch.zeros(shape), requires_grad=trainable))
    param_names.add(name)
for name in order["state_dict"]:
    if name not in param_names:
        net.register_buffer(name, torch.zeros_like(src["model"]["module." + name]))
model = DataParallelLike(net)
assert [n for n, _ in net.named_parameters()] == [n for n, _ in order["parameters"]]

# restore_checkpoint, as score_sde runs it
optimizer = torch.optim.Adam(model.parameters(), lr=2e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)
optimizer.load_state_dict(got["optimizer"])
model.load_state_dict(got["model"], strict=True)
shadow = got["ema"]["shadow_params"]
trainable = [p for p in model.parameters() if p.requires_grad]
assert [s.shape for s in shadow] == [p.shape for p in trainable]
step = got["step"]

for p in trainable:
    p.grad = torch.ones_like(p)
optimizer.step()
assert all(int(optimizer.state[p]["step"]) == int(next(iter(ss.values()))["step"]) + 1 for p in trainable)
print("OK")
