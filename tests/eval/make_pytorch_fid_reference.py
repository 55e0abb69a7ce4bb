"""Reference features from pytorch-fid's own InceptionV3 with random weights, for inception_test.cpp.

Usage: make_pytorch_fid_reference.py OUT_DIR. Writes OUT_DIR/weights.pth (the state_dict, torch.save zip),
OUT_DIR/weights.safetensors when safetensors is installed, and OUT_DIR/reference.npz with the uint8
images (N, H, W, 3), pytorch-fid's 2048-d features and the bias-free logits.
"""
import sys

import numpy as np
import torch
import torchvision
import pytorch_fid.inception as pfi

out = sys.argv[1]
torch.manual_seed(0)

# Build pytorch-fid's network without downloading weights: skip the download and the strict load,
# and keep a handle on the torchvision-named network that the weight file describes.
pfi.load_state_dict_from_url = lambda *args, **kwargs: None
torchvision.models.inception.Inception3.load_state_dict = lambda self, *args, **kwargs: None
built = {}
real_builder = pfi.fid_inception_v3


def capture():
    built["net"] = real_builder()
    return built["net"]


pfi.fid_inception_v3 = capture
model = pfi.InceptionV3([3]).eval()
net = built["net"]

# Random but well-scaled weights: batch-norm statistics measured on random inputs (cumulative average),
# non-trivial affine parameters, so every layer matters.
with torch.no_grad():
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
    net.train()
    for _ in range(2):
        for block in model.blocks:
            block.train()
        model(torch.rand(4, 3, 96, 96))
    model.eval()
    net.fc.weight.normal_(0, 0.05)
    net.fc.bias.normal_(0, 0.05)

state = net.state_dict()  # an OrderedDict, as pytorch-fid's own weights file holds
torch.save(state, f"{out}/weights.pth")
try:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, f"{out}/weights.safetensors")
except ImportError:
    pass

rng = np.random.RandomState(0)
# Smooth-ish images (low-frequency pattern + noise) of a non-299 size, so the resize matters.
yy, xx = np.mgrid[0:40, 0:40]
base = 127 + 100 * np.sin(xx[None, :, :, None] / 5.0 + np.arange(3) + rng.rand(2, 1, 1, 1) * 3) * np.cos(yy[None, :, :, None] / 7.0)
images = np.clip(base + rng.randn(2, 40, 40, 3) * 20, 0, 255).astype(np.uint8)
with torch.no_grad():
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0  # ToTensor
    feats = model(x)[0].squeeze(-1).squeeze(-1)
    logits = feats @ net.fc.weight.t()
np.savez(f"{out}/reference.npz", images=images, features=feats.double().numpy(), logits=logits.double().numpy())
print("ok", feats.shape, float(feats.abs().max()))
