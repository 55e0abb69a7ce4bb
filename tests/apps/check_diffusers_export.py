"""Checks a folder that `scorch convert export-diffusers` wrote, with diffusers itself.

1. UNet2DModel.from_pretrained(DIR/unet) must hold exactly the tensors of the file, with the shapes diffusers
   builds from config.json (no missing, extra or reshaped parameter).
2. Its output on input/x at noise level input/time_cond (σ: the ScoreSdeVe pipeline passes σ as the timestep)
   must match scorch's `model forward` output (output/model in --expected): per sample,
   max |diffusers - scorch| / max |scorch| <= --tol.
3. ScoreSdeVePipeline.from_pretrained(DIR) must sample a few steps into finite images in [0, 1].
Prints the measured difference, then OK, or raises.
"""
import argparse
import json
import os

import torch
from diffusers import ScoreSdeVePipeline, UNet2DModel
from safetensors.torch import load_file

parser = argparse.ArgumentParser()
parser.add_argument("--pipeline", required=True)
parser.add_argument("--inputs", required=True)
parser.add_argument("--expected", required=True)
parser.add_argument("--tol", type=float, default=1e-4)
parser.add_argument("--steps", type=int, default=3)
args = parser.parse_args()

torch.set_grad_enabled(False)
unet_dir = os.path.join(args.pipeline, "unet")
stored = load_file(os.path.join(unet_dir, "diffusion_pytorch_model.safetensors"))
unet = UNet2DModel.from_pretrained(unet_dir).eval()
built = unet.state_dict()
assert set(built) == set(stored), f"missing {sorted(set(built) - set(stored))[:5]}, extra {sorted(set(stored) - set(built))[:5]}"
for name, t in stored.items():
    assert built[name].shape == t.shape, f"{name}: diffusers builds {tuple(built[name].shape)}, file has {tuple(t.shape)}"
    assert torch.equal(built[name], t), f"{name}: loaded values differ from the file"

inputs = load_file(args.inputs)
x, sigma = inputs["input/x"], inputs["input/time_cond"]
want = load_file(args.expected)["output/model"]
got = unet(x, sigma).sample
assert got.shape == want.shape, (got.shape, want.shape)
rel = [((g - w).abs().max() / w.abs().max()).item() for g, w in zip(got.double(), want.double())]
print("sigma:", [round(s, 4) for s in sigma.tolist()])
print("max relative difference per sample:", ["%.3g" % r for r in rel])
assert max(rel) <= args.tol, f"diffusers' UNet differs from scorch by {max(rel):.3g} > {args.tol}"

pipe = ScoreSdeVePipeline.from_pretrained(args.pipeline)
pipe.set_progress_bar_config(disable=True)
with open(os.path.join(args.pipeline, "scheduler", "scheduler_config.json")) as f:
    sched = json.load(f)
for key in ("sigma_min", "sigma_max", "snr", "sampling_eps", "correct_steps", "num_train_timesteps"):
    assert pipe.scheduler.config[key] == sched[key], (key, pipe.scheduler.config[key], sched[key])
size = unet.config.sample_size
images = pipe(batch_size=2, num_inference_steps=args.steps, generator=torch.manual_seed(0), output_type="np").images
assert images.shape == (2, size, size, 3), images.shape
assert (images >= 0).all() and (images <= 1).all(), "pipeline images outside [0, 1]"
print("pipeline: %d steps, images %s" % (args.steps, images.shape))
print("OK")
