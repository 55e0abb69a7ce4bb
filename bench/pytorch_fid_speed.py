"""Times pytorch-fid's own InceptionV3 feature extraction on CPU, for bench/fid_bench.cpp.

Usage: pytorch_fid_speed.py WEIGHTS.pth IMAGES.npz BATCH REPEATS. Loads the state_dict into pytorch-fid's
network (in place of its download), runs the uint8 images under key "images" (N, H, W, 3) as its
fid_score.py does (ToTensor, then the model's own resize and scaling) and prints "images_per_s X".
"""
import sys
import time

import numpy as np
import torch
import pytorch_fid.inception as pfi

weights, images, batch, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
pfi.load_state_dict_from_url = lambda *args, **kwargs: torch.load(weights)
model = pfi.InceptionV3([3]).eval()
x = torch.from_numpy(np.load(images)["images"]).permute(0, 3, 1, 2).float() / 255.0
with torch.no_grad():
    model(x[:batch])  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(x), batch):
            model(x[i:i + batch])
        best = min(best, time.perf_counter() - start)
print("images_per_s", len(x) / best)
