"""Times pytorch-fid's own InceptionV3 feature extraction on CPU, for bench/fid_bench.cpp.

Usage: pytorch_fid_speed.py WEIGHTS.pth IMAGES.npz BATCH REPEATS [channels_last | cli PNG_DIR OUT.npz]. Loads the state_dict into pytorch-fid's
network (in place of its download), runs the uint8 images under key "images" (N, H, W, 3) as its
fid_score.py does (ToTensor, then the model's own resize and scaling) and prints "images_per_s X".
With channels_last, the model and its input are converted to that layout first (not what pytorch-fid does:
it shows where scorch's CPU gain comes from). With cli PNG_DIR OUT.npz it runs
`python -m pytorch_fid --save-stats PNG_DIR OUT.npz --device cpu --batch-size BATCH` (its CLI's default
worker count) with WEIGHTS.pth in place of the download, for the caller to time as a whole process.
"""
import sys
import time

import numpy as np
import torch
import pytorch_fid.inception as pfi

weights, images, batch, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
pfi.load_state_dict_from_url = lambda *args, **kwargs: torch.load(weights)
model = pfi.InceptionV3([3]).eval()
x = torch.from_numpy(np.load(images)["images"]).permute(0, 3, 1, 2).contiguous().float() / 255.0
if sys.argv[5:6] == ["cli"]:
    import pytorch_fid.fid_score as pfs
    sys.argv = ["pytorch_fid", "--save-stats", sys.argv[6], sys.argv[7], "--device", "cpu", "--batch-size", str(batch)]
    pfs.main()
    sys.exit(0)
if sys.argv[5:] == ["channels_last"]:
    model = model.to(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)
with torch.no_grad():
    model(x[:batch])  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(x), batch):
            model(x[i:i + batch])
        best = min(best, time.perf_counter() - start)
print("images_per_s", len(x) / best)
