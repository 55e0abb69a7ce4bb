"""Writes a checkpoint in the layout of ermongroup/ncsnv2 (or ncsn) from a parity fixture's weights, for
tests/apps/convert_ncsn_cmd_test.cpp: torch.save([model state_dict with 'module.' keys, Adam state_dict,
epoch, step, EMA shadow]) — the shadow only with --ema — or [model, optimizer] with --v1.

Usage: make_ncsn_checkpoint.py FIXTURE.npz OUT.pth [--ema] [--v1]
The Adam state comes from three steps with seeded random gradients; the EMA shadow is half the weights, so a
test can tell the two apart.
"""
import sys

import numpy as np
import torch

npz, out = sys.argv[1], sys.argv[2]
d = np.load(npz)
state = {k[len("param/"):]: torch.from_numpy(d[k]) for k in d.files if k.startswith("param/")}
params = [torch.nn.Parameter(v.clone()) for k, v in state.items() if k != "sigmas"]
opt = torch.optim.Adam(params, lr=1e-4)
gen = torch.Generator().manual_seed(0)
for _ in range(3):
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen)
    opt.step()
model = {"module." + k: v for k, v in state.items()}
if "--v1" in sys.argv:
    torch.save([model, opt.state_dict()], out)
else:
    entries = [model, opt.state_dict(), 7, 123]
    if "--ema" in sys.argv:
        entries.append({k: v * 0.5 for k, v in state.items() if k != "sigmas"})
    torch.save(entries, out)
print("OK")
