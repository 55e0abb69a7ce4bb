"""pytorch_fid_ref.py: times pytorch-fid's own InceptionV3 feature extraction (the reference side of bench/device).

Usage: python3 pytorch_fid_ref.py [--device cuda|cpu] [--batch 200] [--images 2000] [--image-size 32] [--warmup 2]
       [--repeats 3] [--weights pt_inception-2015-12-05.pth] [--precision fp32|tf32|torch-default] [--out FILE.json]
pytorch_fid comes from the carried wheel (PYTHONPATH or an installed --target dir). Nothing is downloaded: its
load_state_dict_from_url returns --weights, or, without it, the randomly initialised network's own state_dict
(speed is what is measured). The loop is fid_score.get_activations' without the file decoding: N random uint8
images (N, 3, S, S) as ToTensor gives them (float in [0, 1], NCHW, their own size; the model resizes to 299),
each batch copied to the device, the 2048-d pool features copied back. One JSON object goes to stdout and --out.
"""
import argparse
import json
import sys
import time

import torch
import pytorch_fid.inception as pfi


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--warmup", type=int, default=2, help="untimed batches")
    p.add_argument("--repeats", type=int, default=3, help="timed passes over the images (the best is reported)")
    p.add_argument("--weights", help="pytorch-fid's pt_inception state_dict (default: random init)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "torch-default"],
                   help="fp32: TF32 off; tf32: TF32 on; torch-default: PyTorch's defaults (cuDNN convolutions TF32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out")
    return p.parse_args()


def own_state_dict(*args, **kwargs):
    """In place of the download: the state_dict of the network fid_inception_v3 is building (its local 'inception')."""
    return sys._getframe(1).f_locals["inception"].state_dict()


def main():
    args = parse_args()
    if args.precision != "torch-default":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = args.precision == "tf32"
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    pfi.load_state_dict_from_url = (lambda *a, **k: torch.load(args.weights, map_location="cpu")) if args.weights \
        else own_state_dict
    model = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).to(device).eval()  # as fid_score builds it
    images = torch.randint(0, 256, (args.images, 3, args.image_size, args.image_size), dtype=torch.uint8)
    x = images.float() / 255.0  # TF.ToTensor
    cuda = device.type == "cuda"

    def features(batch):
        with torch.no_grad():
            return model(batch.to(device))[0].squeeze(3).squeeze(2).cpu()

    for i in range(args.warmup):
        features(x[i * args.batch % len(x):][:args.batch])
    best = float("inf")
    for _ in range(args.repeats):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        feats = [features(x[i:i + args.batch]) for i in range(0, len(x), args.batch)]
        if cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    feats = torch.cat(feats)
    if feats.shape != (args.images, 2048) or not torch.isfinite(feats).all():
        raise SystemExit(f"bad features: shape {tuple(feats.shape)}, finite {bool(torch.isfinite(feats).all())}")
    result = dict(task="fid_features", model="pytorch-fid InceptionV3 (2048-d pool3)", batch=args.batch,
                  images=args.images, image_size=args.image_size, device=str(device), precision=args.precision,
                  weights=args.weights or "random init", images_per_s=args.images / best, seconds=best,
                  batch_ms=1e3 * best / -(-args.images // args.batch), feature_mean=feats.mean().item(),
                  torch=torch.__version__, gpu=torch.cuda.get_device_name(device) if cuda else None,
                  threads=torch.get_num_threads())
    text = json.dumps(result)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
